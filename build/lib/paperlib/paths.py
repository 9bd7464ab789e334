"""Where results and trained models go, for notebooks and `run_all.py` alike.

Results (executed notebooks, figures, claims) go to `<results>/<preset>/`, models to the run
cache. Defaults: `$PAPERLIB_RESULTS` and `$PAPERLIB_RUNS` when set (Colab sets them to Google
Drive with `paperlib.colab.setup(drive=True)`), else `results/` and `runs/` at the top of the
checkout, or of the working directory where paperlib was installed from a package (never under
site-packages); the `smoke` preset keeps its throwaway models under its results folder.
"""

from __future__ import annotations

import os
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


def checkout() -> Path | None:
    """The source tree paperlib runs from (an editable install or a clone), None for a package install."""
    return CHECKOUT if (CHECKOUT / "pyproject.toml").exists() and (CHECKOUT / "paperlib").is_dir() else None


def top() -> Path:
    """Where results/ and runs/ go by default: the checkout, else the working directory."""
    return checkout() or Path.cwd()


def runs_root() -> Path:
    """The run cache shared by every preset but `smoke`: $PAPERLIB_RUNS, else runs/ at the top."""
    return Path(os.environ.get("PAPERLIB_RUNS") or top() / "runs")


def results_root() -> Path:
    return Path(os.environ.get("PAPERLIB_RESULTS") or top() / "results")


def results_dir(preset: str, given=None) -> Path:
    """The results folder of a preset (`given` wins)."""
    return Path(given) if given else results_root() / preset


def runs_dir(preset: str, given=None, results=None) -> Path:
    """The run cache (`given` wins; smoke models live in their results folder)."""
    if given:
        return Path(given)
    if preset == "smoke" and not os.environ.get("PAPERLIB_RUNS"):
        return (Path(results) if results else results_dir(preset)) / "runs"
    return runs_root()
