"""Colab: the shared first cell, and an install plan that never touches Colab's own packages."""

import json
from pathlib import Path

from paperlib import colab

ROOT = Path(__file__).resolve().parents[1]
# What a Colab runtime has (versions as reported by Colab in 2026; no umap-learn, ripser, persim).
COLAB = {"torch": "2.5.1+cu121", "numpy": "1.26.4", "scipy": "1.13.1", "scikit-learn": "1.5.2", "matplotlib": "3.8.0",
         "tqdm": "4.66.6", "safetensors": "0.4.5", "filelock": "3.16.1", "packaging": "24.2", "ipykernel": "5.5.6",
         "ipywidgets": "7.7.1", "umap-learn": None, "ripser": None, "persim": None}


def test_install_plan_on_a_simulated_colab_installs_only_what_is_missing():
    plan, constraints = colab.install_plan(colab.requirements(), COLAB)
    names = sorted(r.split(">")[0].split("=")[0] for r in plan)
    assert names == ["persim", "ripser", "umap-learn"]
    assert not any(p.startswith(("torch", "ipykernel", "ipywidgets", "numpy")) for p in plan)
    assert {"torch==2.5.1+cu121", "ipykernel==5.5.6", "ipywidgets==7.7.1", "numpy==1.26.4"} <= set(constraints)


def test_a_protected_package_is_never_upgraded_even_when_older_than_asked():
    old = {**COLAB, "torch": "2.1.0", "numpy": "1.21.0"}
    plan, constraints = colab.install_plan(colab.requirements(), old)
    assert not any(p.startswith(("torch", "numpy")) for p in plan) and "torch==2.1.0" in constraints
    plan, _ = colab.install_plan(["torch>=2.4"], {"torch": None})
    assert plan == ["torch>=2.4"]  # missing altogether: installed (not on Colab)


def test_every_notebook_starts_with_the_shared_cell_and_the_readme_links_to_colab():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        first = next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        assert "".join(first["source"]) == colab.cell_source(), f"{path.name}: run python -m paperlib.colab"
        assert colab.notebook_url(path.name) in (ROOT / "README.md").read_text(), f"README lacks the Colab link of {path.name}"
    assert colab.REPOSITORY in colab.cell_source()
