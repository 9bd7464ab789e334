"""Rebuild every figure: train every model the chosen sections need, then execute each
section's notebook with papermill under one preset.

    python run_all.py [--preset auto|smoke|laptop|paper] [--only 1 3 ...] [--workers K]

Training comes first, all sections' models together, longest first, in `--workers` processes
(default: one single-threaded process per CPU core; one process on a GPU). Trained models and
their evaluations are cached by configuration hash under runs/ (results/smoke/runs for smoke),
shared by all notebooks, so a second run trains nothing and an interrupted one resumes.
Executed notebooks, figures (PNG and PDF) and the claims table go to results/<preset>/. A
failing notebook does not stop the others; the exit code is non-zero when any failed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
from pathlib import Path

import papermill as pm
from tqdm.auto import tqdm

from paperlib import claims, store
from paperlib.config import RunConfig, resolve_preset

ROOT = Path(__file__).resolve().parent
NOTEBOOKS = ROOT / "notebooks"
# Expected minutes per notebook once its models are trained (analysis and figures), and
# single-thread minutes to train and evaluate one laptop model by image size N, per 1000 steps
# and per evaluation of the N x N labels; measured on the project's 2-core CPU. The paper preset
# is meant for a GPU, where these numbers are not measured.
NOTEBOOK_MINUTES = {
    "01_datasets": {"smoke": 0.3, "laptop": 0.3, "paper": 0.3},
    "02_factorization": {"smoke": 0.7, "laptop": 1.5, "paper": 5.0},
    "03_compose_interpolate": {"smoke": 0.7, "laptop": 2.0, "paper": 5.0},
    "04_sample_efficiency": {"smoke": 0.5, "laptop": 0.5, "paper": 1.0},
    "05_percolation": {"smoke": 0.5, "laptop": 2.0, "paper": 5.0},
}
DEFAULT_NOTEBOOK_MINUTES = {"smoke": 1.0, "laptop": 2.0, "paper": 5.0}
TRAIN_MINUTES_PER_1000_STEPS = {8: 0.9, 16: 1.3, 32: 3.1}
EVAL_MINUTES = {8: 0.1, 16: 0.4, 32: 3.0}


def section_of(path: Path) -> str:
    return path.stem.split("_")[0].lstrip("0")


def notebook_minutes(path: Path, preset: str) -> float:
    return NOTEBOOK_MINUTES.get(path.stem, DEFAULT_NOTEBOOK_MINUTES)[preset]


def section_runs(path: Path, preset: str) -> list[RunConfig]:
    """The models a section's notebook trains: `paperlib.experiments.<name>.runs(preset)`, where
    the notebook is `NN_<name>.ipynb`; none for a section without such a module."""
    name = f"paperlib.experiments.{path.stem.split('_', 1)[-1]}"
    if importlib.util.find_spec(name) is None:
        return []
    module = importlib.import_module(name)
    return module.runs(preset) if hasattr(module, "runs") else []


def run_minutes(run: RunConfig, preset: str) -> float:
    """Single-thread minutes to train and evaluate one run (rough outside the measured sizes)."""
    if preset == "smoke":
        return 0.05
    N = run.data.N
    train = TRAIN_MINUTES_PER_1000_STEPS.get(N, 3.1 * (N / 32) ** 2) * run.train.steps / 1000
    return train * run.train.batch_size / 32 + EVAL_MINUTES.get(N, 3.0 * (N / 32) ** 2) * (1 + len(run.train.eval_steps))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="auto", help="auto (paper on a GPU, laptop on a CPU), smoke, laptop or paper")
    parser.add_argument("--only", nargs="+", metavar="SECTION", help="section numbers to run, e.g. --only 1 3")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="folder of the section notebooks")
    parser.add_argument("--results", type=Path, default=ROOT / "results", help="results root; a folder per preset inside")
    parser.add_argument("--runs", type=Path, help="model cache (default: runs/, or results/smoke/runs for smoke)")
    parser.add_argument("--workers", type=int, help="training processes (default: one per CPU core, one on a GPU)")
    args = parser.parse_args(argv)
    preset = resolve_preset(args.preset)

    notebooks = sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        wanted = {s.lstrip("0") for s in args.only}
        unknown = wanted - {section_of(p) for p in notebooks}
        if unknown:
            parser.error(f"--only: no notebook for section(s) {sorted(unknown)}; have {[section_of(p) for p in notebooks]}")
        notebooks = [p for p in notebooks if section_of(p) in wanted]
    results = args.results.resolve() / preset
    (results / "notebooks").mkdir(parents=True, exist_ok=True)
    runs_dir = (args.runs or (results / "runs" if preset == "smoke" else ROOT / "runs")).resolve()
    workers = args.workers or store.default_workers()

    runs = {run.hash(): run for path in notebooks for run in section_runs(path, preset)}
    todo = [run for run in runs.values() if not store.is_evaluated(run, runs_dir)]
    train_estimate = sum(run_minutes(run, preset) for run in todo) / workers
    total = train_estimate + sum(notebook_minutes(p, preset) for p in notebooks)
    print(f"preset {preset}: {len(notebooks)} notebook(s), {len(runs)} model(s) of which {len(todo)} to train on {workers} "
          f"worker(s); estimated {total:.0f} min ({train_estimate:.0f} training); results -> {results}, models -> {runs_dir}", flush=True)
    start, failures = time.perf_counter(), []
    if todo:
        try:
            store.train_all(todo, runs_dir, workers)
            print(f"trained {len(todo)} model(s) in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
        except Exception as error:  # noqa: BLE001  (the notebooks still run; theirs retrain what is missing)
            failures.append(("training", f"{type(error).__name__}: {error}"))
    left = sum(notebook_minutes(p, preset) for p in notebooks)
    bar = tqdm(total=len(notebooks), unit="notebook")
    for path in notebooks:
        bar.set_description(f"{path.stem} (about {left:.0f} min left)")
        given = {"preset": preset, "results_dir": str(results), "runs_dir": str(runs_dir), "workers": workers}
        try:
            declared = pm.inspect_notebook(str(path))
            pm.execute_notebook(str(path), str(results / "notebooks" / path.name), kernel_name="python3", cwd=str(path.parent),
                                parameters={k: v for k, v in given.items() if k in declared}, progress_bar=False)
        except Exception as error:  # noqa: BLE001  (one notebook's failure must not stop the others)
            failures.append((path.name, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"))
        left -= notebook_minutes(path, preset)
        bar.update(1)
    bar.close()

    entries = claims.collect(results)
    js, md = claims.write(results, entries)
    minutes = (time.perf_counter() - start) / 60
    print(f"\n{len(notebooks) - len(failures)}/{len(notebooks)} notebooks ran in {minutes:.1f} min (estimated {total:.1f}); "
          f"{len(entries)} claims -> {js}, {md}")
    for path in notebooks:
        mine = section_runs(path, preset)
        if mine:
            spent = sum(store.training_minutes(run, runs_dir) for run in mine)
            print(f"{path.stem}: {len(mine)} model(s), {spent:.1f} min of training in total (per process, before evaluation)")
    for name, why in failures:
        print(f"FAILED {name}: {why}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
