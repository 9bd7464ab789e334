"""Colab: the shared first cell, and an install plan that never touches Colab's own packages."""

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import paperlib
from paperlib import colab

ROOT = Path(__file__).resolve().parents[1]
# What a Colab runtime has today (Python 3.13; versions of its image at the end of 2026, by its
# package list: no umap-learn, ripser, persim).
COLAB = {"python": "3.13", "torch": "2.10.0+cu128", "numpy": "2.3.5", "scipy": "1.16.3", "scikit-learn": "1.7.2", "matplotlib": "3.10.7",
         "tqdm": "4.67.1", "safetensors": "0.6.2", "filelock": "3.20.0", "packaging": "25.0", "pooch": "1.8.2", "ipykernel": "6.17.1",
         "ipywidgets": "7.7.1", "umap-learn": None, "ripser": None}


def test_install_plan_on_a_simulated_colab_installs_only_what_is_missing():
    plan, constraints = colab.install_plan(colab.requirements(), COLAB)
    names = sorted(r.split(">")[0].split("=")[0] for r in plan)
    assert names == ["ripser", "umap-learn"]  # only what the notebooks import
    assert not any(p.startswith(("torch", "ipykernel", "ipywidgets", "numpy")) for p in plan)
    assert {"torch==2.10.0+cu128", "ipykernel==6.17.1", "ipywidgets==7.7.1", "numpy==2.3.5"} <= set(constraints)


def test_a_protected_package_is_never_upgraded_even_when_older_than_asked():
    old = {**COLAB, "torch": "2.1.0", "numpy": "1.21.0"}
    plan, constraints = colab.install_plan(colab.requirements(), old)
    assert not any(p.startswith(("torch", "numpy")) for p in plan) and "torch==2.1.0" in constraints
    plan, _ = colab.install_plan(["torch>=2.4"], {"torch": None})
    assert plan == ["torch>=2.4"]  # missing altogether: installed (not on Colab)


def test_every_notebook_starts_with_the_shared_cell_and_opens_on_a_gpu_runtime():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text())
        first = next(c for c in nb["cells"] if c["cell_type"] == "code")
        assert "".join(first["source"]) == colab.cell_source(), f"{path.name}: run python -m paperlib.colab"
        assert nb["metadata"]["accelerator"] == "GPU" and nb["metadata"]["colab"]["gpuType"], f"{path.name}: no GPU runtime for Colab"
        if not colab.is_placeholder():
            assert colab.notebook_url(path.name) in (ROOT / "README.md").read_text(), f"README lacks the Colab link of {path.name}"
    assert colab.repository() in colab.cell_source() and colab.tag() == f"v{paperlib.__version__}"


def test_the_placeholder_address_is_refused_and_the_readme_links_no_account(monkeypatch, capsys):
    """github.com/OWNER is a valid account name: links to it would serve whoever registers it."""
    monkeypatch.setattr(colab, "repository", lambda: "https://github.com/OWNER/diffusion-factorize-compose")
    assert colab.main() == 1
    err = capsys.readouterr().err
    assert "placeholder" in err and "git tag" in err and "git push" in err
    assert "github.com/OWNER" not in (ROOT / "README.md").read_text()


def _run_cell(source: str, monkeypatch, reachable: bool) -> list[list[str]]:
    """Execute a Colab cell as on Colab (a fake google.colab module), recording the commands it runs."""
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(list(cmd))
        return types.SimpleNamespace(returncode=0 if reachable or cmd[0] != "git" else 2)

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(colab, "setup", lambda drive: calls.append(["setup", drive]))
    exec(compile(source, "cell", "exec"), {})
    return calls


def test_the_colab_cell_installs_its_own_version_from_the_address_it_was_written_for(monkeypatch):
    cell = colab.cell_source("https://example.org/fork/paperlib", "1.2.3")
    calls = _run_cell(cell, monkeypatch, reachable=True)
    assert calls[0] == ["git", "ls-remote", "--exit-code", "https://example.org/fork/paperlib", "v1.2.3"]
    assert calls[1][-1] == "git+https://example.org/fork/paperlib@v1.2.3" and "--no-deps" in calls[1]
    assert calls[2] == ["setup", None]  # Drive decided by the runtime: on with a GPU


def test_an_unreachable_address_fails_with_a_message_before_installing(monkeypatch):
    cell = colab.cell_source("https://example.org/nobody/here", "1.2.3")
    with pytest.raises(RuntimeError, match="cannot be reached or has no tag v1.2.3"):
        _run_cell(cell, monkeypatch, reachable=False)


def test_results_go_to_drive_with_a_gpu_and_to_content_without(monkeypatch, tmp_path):
    monkeypatch.setattr(colab, "DRIVE", tmp_path / "drive")
    monkeypatch.setattr(colab, "LOCAL", tmp_path / "content")
    monkeypatch.setattr(colab, "requirements", lambda: [])
    monkeypatch.setenv("PAPERLIB_RUNS", "")  # setup sets these; monkeypatch puts them back afterwards
    monkeypatch.setenv("PAPERLIB_RESULTS", "")
    monkeypatch.setitem(sys.modules, "google.colab", types.SimpleNamespace(drive=types.SimpleNamespace(mount=lambda where: None)))
    import torch

    for gpu, place in ((True, "drive"), (False, "content")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda gpu=gpu: gpu)
        colab.setup()
        assert os.environ["PAPERLIB_RUNS"] == str(tmp_path / place / "runs")


def test_a_fork_gets_links_in_the_readme_at_its_tag(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text())
    monkeypatch.setattr(colab, "repository", lambda: "https://github.com/someone/diffusion-factorize-compose")
    assert colab.write_readme_links(readme)
    text = readme.read_text()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        url = colab.notebook_url(path.name)
        assert "/github/someone/" in url
        assert url in text, [line for line in text.splitlines() if path.name in line]
    assert not colab.write_readme_links(readme)  # written once: nothing more to change
