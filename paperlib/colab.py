"""Colab: the notebooks' first cell, and an install that leaves Colab's own packages alone.

Every notebook starts with the cell `cell_source()` writes, and the README links each notebook
to Colab (`notebook_url`): after changing `REPOSITORY`, `python -m paperlib.colab` rewrites both. On Colab it installs paperlib from its
repository without dependencies, then `setup()` installs only the requirements Colab lacks,
never touching Colab's torch, ipykernel or ipywidgets (upgrading them is what breaks Colab
runtimes and widget rendering); elsewhere the cell does nothing. `setup(drive=True)` keeps the
run cache and the results on Google Drive, so they survive a disconnected runtime.
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

from .provenance import installed_versions

# The repository the notebooks install from and the README's "Open in Colab" links point to.
# A fork sets its own URL here and runs `python -m paperlib.colab`.
REPOSITORY = "https://github.com/paperlib/paperlib"
BRANCH = "main"
NEVER_UPGRADE = ("torch", "ipykernel", "ipywidgets", "numpy")
DRIVE = Path("/content/drive/MyDrive/paperlib")
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def cell_source() -> str:
    """The first cell of every notebook."""
    return (
        "# Colab only (elsewhere this cell does nothing): install paperlib from its repository, then only\n"
        "# what Colab lacks, never upgrading Colab's torch, ipykernel or ipywidgets (paperlib.colab).\n"
        "# keep_on_drive = True keeps models and results on Google Drive across disconnects.\n"
        "keep_on_drive = False\n"
        "import sys\n"
        "\n"
        "if \"google.colab\" in sys.modules:\n"
        "    import subprocess\n"
        "\n"
        f"    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", \"--no-deps\", \"git+{REPOSITORY}@{BRANCH}\"], check=True)\n"
        "    from paperlib import colab\n"
        "\n"
        "    colab.setup(drive=keep_on_drive)"
    )


def notebook_url(name: str) -> str:
    """The "Open in Colab" address of a notebook of the repository."""
    path = REPOSITORY.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{path}/blob/{BRANCH}/notebooks/{name}"


def requirements() -> list[str]:
    """paperlib's core requirements (no extras)."""
    reqs = importlib.metadata.requires("paperlib") or []
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


def setup(drive: bool = False) -> list[str]:
    """Install what Colab lacks (pinning the protected packages); with `drive`, mount Google
    Drive and point the run cache and the results there. Returns what was installed."""
    reqs = requirements()
    plan, constraints = install_plan(reqs, installed_versions({Requirement(r).name for r in reqs} | set(NEVER_UPGRADE)))
    if plan:
        pins = Path("/tmp/paperlib-constraints.txt")
        pins.write_text("\n".join(constraints) + "\n")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", str(pins), *plan], check=True)
    if drive:
        from google.colab import drive as colab_drive  # only importable on Colab

        colab_drive.mount("/content/drive")
        for name, sub in (("PAPERLIB_RUNS", "runs"), ("PAPERLIB_RESULTS", "results")):
            (DRIVE / sub).mkdir(parents=True, exist_ok=True)
            os.environ[name] = str(DRIVE / sub)
    return plan


def write_cells(folder: Path = NOTEBOOKS) -> list[Path]:
    """Make the first code cell of every notebook `cell_source()`; returns the notebooks changed."""
    changed = []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text())
        first = next(c for c in nb["cells"] if c["cell_type"] == "code")
        lines = cell_source().splitlines(keepends=True)
        if first["source"] != lines:
            first["source"] = lines
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            changed.append(path)
    return changed


def write_readme_links(readme: Path = NOTEBOOKS.parent / "README.md") -> bool:
    """Point the README's "Open in Colab" links at REPOSITORY and BRANCH; True if it changed."""
    text = readme.read_text()
    new = re.sub(r"https://colab\.research\.google\.com/github/[^)\s]*?/blob/[^/)\s]+/notebooks/", notebook_url(""), text)
    if new != text:
        readme.write_text(new)
    return new != text


if __name__ == "__main__":
    for p in write_cells():
        print(f"updated the Colab cell of {p.name}")
    if write_readme_links():
        print("updated the README's Colab links")
