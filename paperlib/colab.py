"""Colab: the notebooks' first cell, and an install that leaves Colab's own packages alone.

Every notebook starts with the cell `cell_source()` writes, and the README links each notebook
to Colab (`notebook_url`): `python -m paperlib.colab` rewrites both from the repository address
(`[project.urls] Repository` in pyproject.toml, the one place it is written) and the package's
version; it refuses the placeholder address of a fresh checkout (a fork sets its own first, and
pushes the version's tag). On Colab the cell checks that the address holds the tag of that version (failing with a
message that says so when it cannot be reached), installs exactly that version without
dependencies, then `setup()` installs only the requirements Colab lacks, never touching Colab's
torch, ipykernel or ipywidgets (upgrading them is what breaks Colab runtimes and widget
rendering); elsewhere the cell does nothing. With a GPU runtime the run cache and the results go
to Google Drive by default (a T4 trains for hours; a disconnected runtime then loses nothing),
else to /content; the cell's `keep_on_drive` decides otherwise.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

from . import DISTRIBUTION, __version__
from .provenance import installed_versions

TOP = Path(__file__).resolve().parents[1]
NOTEBOOKS = TOP / "notebooks"
PLACEHOLDER = "github.com/OWNER/"  # the address a fresh checkout carries until a fork sets its own
# What Colab reads from a notebook to open it on a GPU runtime (Runtime > Change runtime type).
GPU_METADATA = {"accelerator": "GPU", "colab": {"gpuType": "T4", "provenance": []}}
NEVER_UPGRADE = ("torch", "ipykernel", "ipywidgets", "numpy")
DRIVE = Path("/content/drive/MyDrive/paperlib")
LOCAL = Path("/content/paperlib")


def repository() -> str:
    """The repository's address: `[project.urls] Repository` of pyproject.toml (a checkout), or of
    the installed package's metadata."""
    pyproject = TOP / "pyproject.toml"
    if pyproject.exists():
        found = re.search(r'^Repository\s*=\s*"([^"]+)"', pyproject.read_text(), re.M)
        if found:
            return found.group(1)
    urls = importlib.metadata.metadata(DISTRIBUTION).get_all("Project-URL") or []
    return next(u.split(",", 1)[1].strip() for u in urls if u.lower().startswith("repository"))


def tag(version: str = __version__) -> str:
    """The release tag the notebooks of `version` install: v<version>."""
    return f"v{version}"


def cell_source(address: str | None = None, version: str = __version__) -> str:
    """The first cell of every notebook: installs `version` (its tag) from `address`."""
    address = address or repository()
    return (
        "# Colab only (elsewhere this cell does nothing): install this notebook's version of paperlib, then only\n"
        "# what Colab lacks, never upgrading Colab's torch, ipykernel or ipywidgets (paperlib.colab).\n"
        "# keep_on_drive: None keeps models and results on Google Drive when the runtime has a GPU; True / False decide.\n"
        "keep_on_drive = None\n"
        "import sys\n"
        "\n"
        "if \"google.colab\" in sys.modules:\n"
        "    import subprocess\n"
        "\n"
        f"    repository, version = \"{address}\", \"{tag(version)}\"\n"
        "    if subprocess.run([\"git\", \"ls-remote\", \"--exit-code\", repository, version], capture_output=True).returncode:\n"
        "        raise RuntimeError(f\"paperlib: {repository} cannot be reached or has no tag {version}; this notebook installs that \"\n"
        "                           \"version of paperlib (a fork: set [project.urls] Repository and run python -m paperlib.colab)\")\n"
        "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", \"--no-deps\", f\"git+{repository}@{version}\"], check=True)\n"
        "    from paperlib import colab\n"
        "\n"
        "    colab.setup(drive=keep_on_drive)"
    )


def notebook_url(name: str, address: str | None = None, version: str = __version__) -> str:
    """The "Open in Colab" address of a notebook of the repository, at the version's tag."""
    path = (address or repository()).removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{path}/blob/{tag(version)}/notebooks/{name}"


def requirements() -> list[str]:
    """paperlib's core requirements (no extras)."""
    reqs = importlib.metadata.requires(DISTRIBUTION) or []
    return [r for r in reqs if "extra ==" not in r]


def install_plan(requirements_: list[str], installed: dict[str, str | None]) -> tuple[list[str], list[str]]:
    """What to install: the requirements not met by `installed` (name -> version or None), and
    constraints that pin every NEVER_UPGRADE package present to its installed version. A protected
    package that is present is never in the plan, whatever version the requirement asks for."""
    plan, constraints = [], []
    for text in requirements_:
        req = Requirement(text)
        have = installed.get(req.name)
        if req.name in NEVER_UPGRADE and have is not None:
            continue
        if have is None or not req.specifier.contains(have, prereleases=True):
            plan.append(text)
    for name in NEVER_UPGRADE:
        if installed.get(name):
            constraints.append(f"{name}=={installed[name]}")
    return plan, constraints


def setup(drive: bool | None = None) -> list[str]:
    """Install what Colab lacks (pinning the protected packages), and choose where the run cache
    and the results go: Google Drive (mounted) with `drive`, by default when the runtime has a GPU;
    else /content (visible in Colab's file browser). Returns what was installed."""
    reqs = requirements()
    plan, constraints = install_plan(reqs, installed_versions({Requirement(r).name for r in reqs} | set(NEVER_UPGRADE)))
    if plan:
        pins = Path("/tmp/paperlib-constraints.txt")
        pins.write_text("\n".join(constraints) + "\n")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", str(pins), *plan], check=True)
    if drive is None:
        import torch

        drive = torch.cuda.is_available()
    if drive:
        from google.colab import drive as colab_drive  # only importable on Colab

        colab_drive.mount("/content/drive")
    for name, sub in (("PAPERLIB_RUNS", "runs"), ("PAPERLIB_RESULTS", "results")):
        (storage(drive) / sub).mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(storage(drive) / sub)
    return plan


def storage(drive: bool) -> Path:
    return DRIVE if drive else LOCAL


def is_placeholder(address: str | None = None) -> bool:
    """Whether the repository address is still the placeholder of a fresh checkout."""
    return PLACEHOLDER in (address or repository())


def write_cells(folder: Path = NOTEBOOKS) -> list[Path]:
    """Make the first code cell of every notebook `cell_source()` and give it Colab's GPU runtime
    metadata; returns the notebooks changed."""
    changed = []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text())
        first = next(c for c in nb["cells"] if c["cell_type"] == "code")
        lines = cell_source().splitlines(keepends=True)
        metadata = {**nb.get("metadata", {}), **GPU_METADATA}
        if first["source"] != lines or nb.get("metadata") != metadata:
            first["source"] = lines
            nb["metadata"] = metadata
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            changed.append(path)
    return changed


def write_readme_links(readme: Path = TOP / "README.md") -> bool:
    """Point the README's Colab column (cells marked `<!-- colab NAME -->`) at the repository and the
    version's tag; True if it changed."""
    text = readme.read_text()
    new = re.sub(r"<!-- colab (\S+) -->[^|\n]*", lambda m: f"<!-- colab {m.group(1)} -->[open]({notebook_url(m.group(1))}) ", text)
    if new != text:
        readme.write_text(new)
    return new != text


def main() -> int:
    """Write the notebooks' first cells and the README's Colab links for this repository's
    address; refuse the placeholder address (its links would serve whoever owns that account)."""
    if is_placeholder():
        print(f"python -m paperlib.colab: error: [project.urls] Repository in pyproject.toml is still the placeholder "
              f"{repository()}. Set it to your repository's address, push a tag {tag()} (git tag {tag()} && git push "
              "origin --tags), then run this again: the notebooks install that tag on Colab.", file=sys.stderr)
        return 1
    for p in write_cells():
        print(f"updated the Colab cell of {p.name}")
    if write_readme_links():
        print("updated the README's Colab links")
    print(f"the notebooks install {tag()} from {repository()}: push that tag before opening them on Colab")
    return 0


if __name__ == "__main__":
    sys.exit(main())
