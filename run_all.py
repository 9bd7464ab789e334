"""Rebuild every figure: train every model the chosen sections need, then execute each section's
notebook with papermill under one preset, and write the claims table and a report page.

    python run_all.py [--preset auto|smoke|laptop|gpu|paper] [--only 1 3 ...] [--workers K]
    python run_all.py --preset gpu --dry-run [--gpu H100]      # models, status and estimated hours
    python run_all.py --preset gpu --launcher slurm --partition P --runs /shared/runs [--no-wait]
    python run_all.py --preset smoke --launcher local          # submitit's local executor
    python run_all.py --status                                 # done / running / partial / missing

Training comes first, all sections' models together, most expensive first: compatible small
models as stacks (`paperlib.stack`) where the measured throughput table says it pays, in
`--workers` processes (default: one single-threaded process per CPU core; one per GPU, or per
`--devices`), or as a submitit job array (`--launcher`). Trained models and their evaluations are
cached by configuration hash under runs/ (results/smoke/runs for smoke), shared by all notebooks,
so a second run trains nothing and an interrupted one resumes. Executed notebooks, figures (PNG
and PDF), `claims.json` / `claims.md` and `index.html` go to results/<preset>/. A failing
notebook does not stop the others; the exit code is non-zero when any failed.
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

from paperlib import claims, cost, paths, provenance, report, store
from paperlib.config import PRESETS, RunConfig, resolve_preset
from paperlib.train import save_on_signal

ROOT = Path(__file__).resolve().parent
NOTEBOOKS = ROOT / "notebooks"
# Minutes to execute each notebook once its models are trained (analysis and figures): the laptop
# run's on the project's 2-core CPU (2.3-2.8 min for all five in session 3), rounded up; the same
# analyses for the GPU presets.
NOTEBOOK_MINUTES = {"01_datasets": 0.2, "02_factorization": 1.5, "03_compose_interpolate": 0.6, "04_sample_efficiency": 0.3,
                    "05_percolation": 0.8}
SMOKE_NOTEBOOK_MINUTES = 0.5


def section_of(path: Path) -> str:
    return path.stem.split("_")[0].lstrip("0")


def notebook_minutes(path: Path, preset: str) -> float:
    return SMOKE_NOTEBOOK_MINUTES if preset == "smoke" else NOTEBOOK_MINUTES.get(path.stem, 2.0)


def section_runs(path: Path, preset: str) -> list[RunConfig]:
    """The models a section's notebook trains: `paperlib.experiments.<name>.runs(preset)`, where
    the notebook is `NN_<name>.ipynb`; none for a section without such a module."""
    name = f"paperlib.experiments.{path.stem.split('_', 1)[-1]}"
    if importlib.util.find_spec(name) is None:
        return []
    module = importlib.import_module(name)
    return module.runs(preset) if hasattr(module, "runs") else []


def run_minutes(run: RunConfig, preset: str, gpu: str | None = None) -> float:
    """Minutes to train and evaluate one run on one worker: measured throughput on this device
    (`paperlib.cost`), or a GPU's nominal peak at an assumed efficiency (`--gpu`)."""
    seconds = cost.nominal_seconds(run, gpu) if gpu else cost.run_seconds(run)
    return seconds / 60


def plan_minutes(runs: list[RunConfig], runs_dir: Path, workers: int, gpu: str | None) -> float:
    """Wall minutes of training the runs not yet evaluated: the plan's jobs (stacks included)
    spread over the workers."""
    if gpu:
        return sum(run_minutes(r, "", gpu) for r in runs if not store.is_evaluated(r, runs_dir)) / workers
    jobs = store.plan(runs, runs_dir)
    return sum(cost.run_seconds(r, stack=len(job)) for job in jobs for r in job) / 60 / max(1, workers)


def dry_run(notebooks: list[Path], preset: str, runs_dir: Path, workers: int, gpu: str | None) -> int:
    """List every model (hash, section, N, status, estimated minutes) and the hours per section."""
    where = f"a {gpu} at an assumed {cost.ASSUMED_FRACTION} of its nominal peak" if gpu else f"this machine ({cost.device_name()})"
    print(f"preset {preset}: estimates for {where}, {workers} worker(s)")
    total_models, total_hours = 0, 0.0
    for path in notebooks:
        mine = section_runs(path, preset)
        if not mine:
            continue
        print(f"\nsection {section_of(path)} ({path.stem}): {len(mine)} model(s)")
        for run in mine:
            print(f"  {run.hash()}  N={run.data.N:<3d} {run.data.family:13s} {store.status(run, runs_dir):8s} "
                  f"{run_minutes(run, preset, gpu):8.1f} min  {cost.run_flops(run):.2e} FLOP")
        hours = sum(run_minutes(r, preset, gpu) for r in mine) / 60
        print(f"  section {section_of(path)}: {hours:.2f} {'GPU-' if gpu else 'worker-'}hours")
        total_models, total_hours = total_models + len(mine), total_hours + hours
    print(f"\nall: {total_models} model(s), {total_hours:.2f} {'GPU-' if gpu else 'worker-'}hours "
          f"(about {total_hours / workers:.2f} h of wall time on {workers} worker(s))")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="auto", choices=("auto", *PRESETS),
                        help="auto (gpu on a GPU, laptop on a CPU; never paper), smoke, laptop, gpu or paper")
    parser.add_argument("--only", nargs="+", metavar="SECTION", help="section numbers to run, e.g. --only 1 3")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="folder of the section notebooks")
    parser.add_argument("--results", type=Path, help="results root, a folder per preset inside (default: results/, $PAPERLIB_RESULTS)")
    parser.add_argument("--runs", type=Path, help="model cache (default: runs/, $PAPERLIB_RUNS, or results/smoke/runs for smoke)")
    parser.add_argument("--workers", type=int, help="training processes (default: one per CPU core, one per GPU)")
    parser.add_argument("--devices", help="GPUs to train on, e.g. 0,1 (a worker per device by default)")
    parser.add_argument("--dry-run", action="store_true", help="list the models, their status and the estimated time; train nothing")
    parser.add_argument("--status", action="store_true", help="list which models are done, running, partial or missing")
    parser.add_argument("--gpu", choices=sorted(cost.NOMINAL_PEAK), help="with --dry-run: estimate for this GPU")
    parser.add_argument("--launcher", choices=("process", "local", "slurm"), default="process",
                        help="process: worker processes here (default); local / slurm: a submitit job array")
    parser.add_argument("--partition", help="SLURM partition (with --launcher slurm)")
    parser.add_argument("--max-parallel", type=int, default=8, help="tasks of the job array running at once")
    parser.add_argument("--timeout-min", type=int, default=240, help="time limit of one task; it is requeued and resumes")
    parser.add_argument("--no-wait", action="store_true", help="submit and return; run again later to make the figures")
    parser.add_argument("--cell-timeout", type=float, default=1800,
                        help="seconds a notebook cell may run once the models are trained; a notebook whose cell runs longer "
                             "is run again once (papermill can wait forever on a lost kernel reply); 0: no limit")
    args = parser.parse_args(argv)
    preset = resolve_preset(args.preset)

    notebooks = sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        wanted = {s.lstrip("0") for s in args.only}
        unknown = wanted - {section_of(p) for p in notebooks}
        if unknown:
            parser.error(f"--only: no notebook for section(s) {sorted(unknown)}; have {[section_of(p) for p in notebooks]}")
        notebooks = [p for p in notebooks if section_of(p) in wanted]
    results = (args.results.resolve() / preset) if args.results else paths.results_dir(preset)
    runs_dir = paths.runs_dir(preset, args.runs, results).resolve()
    devices = [f"cuda:{d}" for d in args.devices.split(",")] if args.devices else None
    workers = args.workers or store.default_workers(devices)
    runs = {run.hash(): run for path in notebooks for run in section_runs(path, preset)}

    if args.dry_run:
        return dry_run(notebooks, preset, runs_dir, args.workers or (1 if args.gpu else workers), args.gpu)
    if args.status:
        states = {h: store.status(r, runs_dir) for h, r in runs.items()}
        for h, r in runs.items():
            print(f"{h}  N={r.data.N:<3d} {r.data.family:13s} {states[h]}")
        print({s: list(states.values()).count(s) for s in sorted(set(states.values()))})
        return 0

    save_on_signal()
    (results / "notebooks").mkdir(parents=True, exist_ok=True)
    todo = [run for run in runs.values() if not store.is_evaluated(run, runs_dir)]
    train_estimate = plan_minutes(todo, runs_dir, workers, None) if preset != "smoke" else 0.05 * len(todo)
    total = train_estimate + sum(notebook_minutes(p, preset) for p in notebooks)
    print(f"preset {preset}: {len(notebooks)} notebook(s), {len(runs)} model(s) of which {len(todo)} to train on {workers} "
          f"worker(s); estimated {total:.0f} min ({train_estimate:.0f} training); results -> {results}, models -> {runs_dir}", flush=True)
    start, failures = time.perf_counter(), []
    if todo:
        try:
            if args.launcher == "process":
                store.train_all(todo, runs_dir, workers, devices=devices)
            else:
                from paperlib import launch

                jobs = launch.submit(todo, runs_dir, args.launcher, args.partition, args.max_parallel, args.timeout_min, wait=not args.no_wait)
                if args.no_wait:
                    print(f"submitted {len(jobs)} task(s) ({args.launcher}); run the same command again when they are done")
                    return 0
            print(f"trained {len(todo)} model(s) in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
        except Exception as error:  # noqa: BLE001  (the notebooks still run; theirs retrain what is missing)
            failures.append(("training", f"{type(error).__name__}: {error}"))
    trained_at = time.perf_counter()
    left = sum(notebook_minutes(p, preset) for p in notebooks)
    bar = tqdm(total=len(notebooks), unit="notebook")
    for path in notebooks:
        bar.set_description(f"{path.stem} (about {left:.0f} min left)")
        given = {"preset": preset, "results_dir": str(results), "runs_dir": str(runs_dir), "workers": workers}
        # No cell limit where training failed: the notebooks then train what is missing themselves.
        timeout = args.cell_timeout if args.cell_timeout > 0 and not failures else None
        try:
            declared = pm.inspect_notebook(str(path))
            for attempt in (1, 2):
                try:
                    pm.execute_notebook(str(path), str(results / "notebooks" / path.name), kernel_name="python3", cwd=str(path.parent),
                                        parameters={k: v for k, v in given.items() if k in declared}, progress_bar=False,
                                        execution_timeout=timeout)
                    break
                except TimeoutError:
                    if attempt == 2:
                        raise
                    tqdm.write(f"{path.name}: a cell ran past --cell-timeout {timeout:g} s; running the notebook again")
        except Exception as error:  # noqa: BLE001  (one notebook's failure must not stop the others)
            failures.append((path.name, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"))
        left -= notebook_minutes(path, preset)
        bar.update(1)
    bar.close()

    entries = claims.collect(results)
    origin = provenance.collect()
    js, md = claims.write(results, entries, origin, preset)
    page = report.build(results, entries, origin, preset)
    minutes = (time.perf_counter() - start) / 60
    print(f"\n{len(notebooks) - len(failures)}/{len(notebooks)} notebooks ran in {minutes:.1f} min (estimated {total:.1f}; "
          f"notebooks {(time.perf_counter() - trained_at) / 60:.1f}); {len(entries)} claims -> {js}, {md}; report -> {page}")
    for path in notebooks:
        mine = section_runs(path, preset)
        if mine:
            spent = sum(store.training_minutes(run, runs_dir) for run in mine)
            print(f"{path.stem}: {len(mine)} model(s), {spent:.1f} min of training in total (per model, a stack's time shared)")
    for name, why in failures:
        print(f"FAILED {name}: {why}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
