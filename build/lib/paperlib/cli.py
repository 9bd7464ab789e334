"""Rebuild every figure: train every model the chosen sections need, then execute each section's
notebook with papermill under one preset, and write the claims table and a report page. The
`paperlib` command (`python run_all.py` in a checkout is the same):

    paperlib [--preset auto|smoke|laptop|gpu|paper] [--only 1 3 ...] [--workers K]
    paperlib --preset gpu --dry-run [--gpu H100]      # models, status, hours and their bound
    paperlib --preset gpu --launcher slurm --partition P --gpu A100 --runs /shared/runs [--no-wait]
    paperlib --preset smoke --launcher local          # submitit's local executor
    paperlib --status                                 # done / running / partial / missing

Training comes first, all sections' models together, most expensive first, planned once
(`scheduler.plan`): compatible small models as stacks (`paperlib.stack`) where the throughput table
says it pays, in `--workers` processes (default: one single-threaded process per CPU core; one
per GPU, or per `--devices`), or as a submitit job array (`--launcher`). Trained models and their
evaluations are cached by configuration hash under runs/ (results/smoke/runs for smoke), shared
by all notebooks, so a second run trains nothing and an interrupted one resumes. Executed
notebooks (and their HTML renderings), figures (PNG and PDF), `claims.json` / `claims.md` and
`index.html` go to results/<preset>/. A failing notebook does not stop the others; the exit code
is non-zero when any failed. On x86 CPUs the kernels are capped at AVX2 (`--native-cpu` lifts the
cap), so an AVX-512 CPU trains the same weights as the AVX2 CPUs the README's table came from;
the precision and `--deterministic` reach every worker, task and notebook kernel. The arguments
are read before torch is imported, so `--help` and a mistyped option answer at once.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import paths
from .config import PRESETS
from .gpus import SHEETS

SMOKE_NOTEBOOK_MINUTES = 0.5
UNKNOWN_NOTEBOOK_MINUTES = 2.0


def default_notebooks() -> Path:
    """The section notebooks: the checkout's, else ./notebooks (a pip install has no notebooks:
    clone the repository, or pass --notebooks)."""
    checkout = paths.checkout()
    return checkout / "notebooks" if checkout is not None else Path.cwd() / "notebooks"


def section_number(path: Path) -> str:
    return path.stem.split("_")[0].lstrip("0")


def section_of(path: Path):
    """The registered section of a notebook (`paperlib.experiments.SECTIONS`), None if it has none."""
    from .experiments import BY_NOTEBOOK

    return BY_NOTEBOOK.get(path.stem)


def notebook_minutes(path: Path, preset: str) -> float:
    section = section_of(path)
    return SMOKE_NOTEBOOK_MINUTES if preset == "smoke" else section.minutes if section else UNKNOWN_NOTEBOOK_MINUTES


def section_runs(path: Path, preset: str) -> list:
    """The models a notebook's section trains (none for a notebook the registry does not know)."""
    section = section_of(path)
    return section.runs(preset) if section else []


def choose_notebooks(folder: Path, only, parser) -> list[Path]:
    notebooks = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        parser.error(f"--notebooks: no section notebooks (NN_name.ipynb) in {folder}; clone the repository or pass --notebooks")
    for path in notebooks:
        if section_of(path) is None:
            print(f"{path.name}: not in paperlib.experiments.SECTIONS, so nothing is trained for it up front", file=sys.stderr)
    if only:
        wanted = {s.lstrip("0") for s in only}
        unknown = wanted - {section_number(p) for p in notebooks}
        if unknown:
            parser.error(f"--only: no notebook for section(s) {sorted(unknown)}; have {[section_number(p) for p in notebooks]}")
        notebooks = [p for p in notebooks if section_number(p) in wanted]
    return notebooks


# --- the verbs ---------------------------------------------------------------------------------------

def at_caps(runs) -> str:
    """What an estimate assumes of runs trained to their plateau: they can stop sooner."""
    plateau = sum(r.train.until == "plateau" for r in runs)
    return f"; {plateau} model(s) trained to their plateau counted at their step caps, so an upper bound" if plateau else ""


def dry_run(notebooks: list[Path], preset: str, runs_dir: Path, workers: int, gpu: str | None, precision: str) -> int:
    """List every model (hash, N, family, status, estimated minutes; on a GPU the bound its
    training sits on) and the hours per section, planned as `train` would plan them: for `gpu`,
    else this machine's GPU, else its CPU."""
    from . import cost, scheduler, store

    every = [r for path in notebooks for r in section_runs(path, preset)]
    jobs = scheduler.plan(every, runs_dir, gpu, precision=precision)
    share = jobs.run_seconds()
    sizes = {r.hash(): len(job) for job in jobs.jobs for r in job}
    sheet = cost.sheet(jobs.device)
    where = (f"a {jobs.device} from the sheet of {sheet.name} ({sheet.peak / 1e12:g} TFLOP/s in its training precision, "
             f"{sheet.bandwidth / 1e12:g} TB/s, {sheet.launch * 1e6:g} us per eager op, {cost.COMPUTE_EFFICIENCY:.0%} of peak for "
             f"convolutions, CUDA graphs for stacks, {cost.COMPILE_SECONDS:g} s to compile a stack)"
             if sheet else f"this machine ({jobs.device}, measured throughput table)")
    print(f"preset {preset}: estimates for {where}, {workers} worker(s)")
    total_models, total_hours = 0, 0.0
    for path in notebooks:
        mine = section_runs(path, preset)
        if not mine:
            continue
        print(f"\nsection {section_number(path)} ({path.stem}): {len(mine)} model(s)")
        bounds = {}
        for run in mine:
            minutes = share.get(run.hash(), 0.0) / 60
            bound = cost.bound_of(run, jobs.device, sizes.get(run.hash())) if sheet else "measured"
            bounds[bound] = bounds.get(bound, 0) + 1
            print(f"  {run.hash()}  N={run.data.N:<3d} {run.data.family:13s} {store.status(run, runs_dir):8s} "
                  f"{minutes:8.1f} min  stack {sizes.get(run.hash(), 0):2d}  {bound}")
        hours = sum(share.get(r.hash(), 0.0) for r in mine) / 3600
        print(f"  section {section_number(path)}: {hours:.2f} {'GPU-' if sheet else 'worker-'}hours; "
              + ", ".join(f"{n} {b}" for b, n in sorted(bounds.items())))
        total_models, total_hours = total_models + len(mine), total_hours + hours
    stacks = [len(job) for job in jobs.jobs if len(job) > 1]
    print(f"\nall: {total_models} model(s) in {len(jobs)} job(s) ({len(stacks)} stacks of {sum(stacks)} models), "
          f"{total_hours:.2f} {'GPU-' if sheet else 'worker-'}hours "
          f"(about {total_hours / workers:.2f} h of wall time on {workers} worker(s){at_caps(every)})")
    return 0


def status(runs: dict, runs_dir: Path) -> int:
    from . import store

    states = {h: store.status(r, runs_dir) for h, r in runs.items()}
    for h, r in runs.items():
        print(f"{h}  N={r.data.N:<3d} {r.data.family:13s} {states[h]}")
    counts = {s: list(states.values()).count(s) for s in ("done", "trained", "running", "partial", "missing") if s in states.values()}
    print(f"{len(states)} model(s): " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 0


def train(jobs, runs_dir: Path, args, workers: int, devices) -> list[tuple[str, str]]:
    """Train the planned jobs (worker processes, or a submitit job array); failures are returned."""
    from . import scheduler

    start = time.perf_counter()
    try:
        if args.launcher == "process":
            scheduler.train_all(jobs.runs, runs_dir, workers, devices=devices, jobs=jobs)
        else:
            from . import launch

            launch.submit(jobs.runs, runs_dir, args.launcher, args.partition, args.max_parallel, args.timeout_min, target=args.gpu)
        print(f"trained {len(jobs.runs)} model(s) in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
        return []
    except Exception as error:  # noqa: BLE001  (the notebooks still run; theirs retrain what is missing)
        return [("training", f"{type(error).__name__}: {error}")]


def submit_only(jobs, runs_dir: Path, args) -> int:
    """--no-wait: submit the job array and return (run the command again to make the figures)."""
    from . import launch

    submitted = launch.submit(jobs.runs, runs_dir, args.launcher, args.partition, args.max_parallel, args.timeout_min, wait=False,
                              target=args.gpu)
    print(f"submitted {len(submitted)} task(s) ({args.launcher}); run the same command again when they are done")
    return 0


def run_notebooks(notebooks: list[Path], preset: str, results: Path, runs_dir: Path, workers: int, cell_timeout: float | None) -> list:
    """Execute each notebook with papermill (a notebook whose cell runs past `cell_timeout` is run
    once more: papermill can wait forever on a lost kernel reply) and render it to HTML beside it.
    The kernels run on this machine: local sockets (IPC) instead of TCP on localhost, which also
    spares every notebook ipykernel's warning about unencrypted TCP (Windows has no IPC transport)."""
    import papermill as pm
    from tqdm.auto import tqdm
    from traitlets.config import Config

    config = Config({"KernelManager": {"transport": "ipc"}}) if sys.platform != "win32" else Config()
    failures = []
    left = sum(notebook_minutes(p, preset) for p in notebooks)
    bar = tqdm(total=len(notebooks), unit="notebook")
    for path in notebooks:
        bar.set_description(f"{path.stem} (about {left:.0f} min left)")
        given = {"preset": preset, "results_dir": str(results), "runs_dir": str(runs_dir), "workers": workers}
        out = results / "notebooks" / path.name
        try:
            declared = pm.inspect_notebook(str(path))
            for attempt in (1, 2):
                try:
                    pm.execute_notebook(str(path), str(out), kernel_name="python3", cwd=str(path.parent), progress_bar=False,
                                        parameters={k: v for k, v in given.items() if k in declared}, execution_timeout=cell_timeout,
                                        config=config)
                    break
                except TimeoutError:
                    if attempt == 2:
                        raise
                    tqdm.write(f"{path.name}: a cell ran past --cell-timeout {cell_timeout:g} s; running the notebook again")
            render_html(out)
        except Exception as error:  # noqa: BLE001  (one notebook's failure must not stop the others)
            failures.append((path.name, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"))
        left -= notebook_minutes(path, preset)
        bar.update(1)
    bar.close()
    return failures


def render_html(notebook: Path) -> Path:
    """The executed notebook as a static HTML page beside it (nbconvert), for the report's links."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(notebook))
    out = notebook.with_suffix(".html")
    out.write_text(body)
    return out


def write_report(results: Path, preset: str) -> tuple[Path, Path, Path, list]:
    """`claims.json`, `claims.md` and `index.html` from the claims the notebooks recorded."""
    from . import claims, provenance, report

    found = claims.collect(results)
    origin = provenance.collect()
    js, md = claims.write(results, found, origin, preset)
    return js, md, report.build(results, found, origin, preset), found


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paperlib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="auto", choices=("auto", *PRESETS),
                   help="auto (gpu on a GPU, laptop on a CPU; never paper), smoke, laptop, gpu or paper")
    p.add_argument("--only", nargs="+", metavar="SECTION", help="section numbers to run, e.g. --only 1 3")
    p.add_argument("--notebooks", type=Path, default=None, help="folder of the section notebooks (default: the checkout's, else ./notebooks)")
    p.add_argument("--results", type=Path, help="results root, a folder per preset inside (default: results/, $PAPERLIB_RESULTS)")
    p.add_argument("--runs", type=Path, help="model cache (default: runs/, $PAPERLIB_RUNS, or results/smoke/runs for smoke)")
    p.add_argument("--workers", type=int, help="training processes (default: one per CPU core, one per GPU)")
    p.add_argument("--devices", help="GPUs to train on, e.g. 0,1 (a worker per device by default)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="training precision (auto: bf16 on GPUs of compute capability >= 8, else fp32; fp16 trains runs alone)")
    p.add_argument("--deterministic", action="store_true", help="bit-exact GPU training (deterministic algorithms; slower)")
    p.add_argument("--native-cpu", action="store_true",
                   help="use the CPU's widest vector instructions (e.g. AVX-512) instead of capping them at AVX2 on x86 CPUs; "
                        "faster there, but the models then differ in rounding from those of AVX2 CPUs, the README table's")
    p.add_argument("--dry-run", action="store_true", help="list the models, their status and the estimated time; train nothing")
    p.add_argument("--status", action="store_true", help="list which models are done, running, partial or missing")
    p.add_argument("--gpu", choices=sorted(SHEETS),
                   help="estimate (--dry-run) or plan (--launcher slurm) for this GPU (default: this machine's GPU, else its CPU)")
    p.add_argument("--launcher", choices=("process", "local", "slurm"), default="process",
                   help="process: worker processes here (default); local / slurm: a submitit job array")
    p.add_argument("--partition", help="SLURM partition (with --launcher slurm)")
    p.add_argument("--max-parallel", type=int, default=8, help="tasks of the job array running at once")
    p.add_argument("--timeout-min", type=int, default=240, help="time limit of one task; it is requeued and resumes")
    p.add_argument("--no-wait", action="store_true", help="submit and return; run again later to make the figures")
    p.add_argument("--cell-timeout", type=float, default=1800,
                   help="seconds a notebook cell may run once the models are trained; a notebook whose cell runs longer "
                        "is run again once (papermill can wait forever on a lost kernel reply); 0: no limit")
    return p


def main(argv=None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    if args.launcher == "slurm" and not args.gpu and not (args.dry_run or args.status):
        cli.error("--launcher slurm: name the cluster's GPU with --gpu (the plan's stacks depend on it)")
    from .device import cap_cpu_instruction_set, init_process, set_execution

    if not args.native_cpu:
        cap_cpu_instruction_set()  # before any tensor work here; workers and kernels inherit it
    set_execution(args.precision, args.deterministic)  # likewise, for every process this run starts
    from . import scheduler, store
    from .config import resolve_preset
    from .train import stop_on_signals

    preset = resolve_preset(args.preset)
    notebooks = choose_notebooks(args.notebooks or default_notebooks(), args.only, cli)
    results = (args.results.resolve() / preset) if args.results else paths.results_dir(preset)
    runs_dir = paths.runs_dir(preset, args.runs, results).resolve()
    devices = [f"cuda:{d}" for d in args.devices.split(",")] if args.devices else None
    workers = args.workers or scheduler.default_workers(devices)
    runs = {run.hash(): run for path in notebooks for run in section_runs(path, preset)}
    if args.dry_run:
        return dry_run(notebooks, preset, runs_dir, args.workers or (1 if args.gpu else workers), args.gpu, args.precision)
    if args.status:
        return status(runs, runs_dir)

    stop_on_signals()
    init_process()
    (results / "notebooks").mkdir(parents=True, exist_ok=True)
    target = args.gpu if args.launcher == "slurm" else devices[0] if devices else None
    jobs = scheduler.plan(runs.values(), runs_dir, target, launcher=args.launcher, precision=args.precision)
    train_minutes = sum(jobs.seconds) / 60 / max(1, min(workers, len(jobs) or 1))
    total = train_minutes + sum(notebook_minutes(p, preset) for p in notebooks)
    print(f"preset {preset}: {len(notebooks)} notebook(s), {len(runs)} model(s) of which {len(jobs.runs)} to train in {len(jobs)} job(s) "
          f"on {workers} worker(s) ({jobs.device}); estimated {total:.0f} min ({train_minutes:.0f} training{at_caps(jobs.runs)}); "
          f"results -> {results}, models -> {runs_dir}", flush=True)
    if args.no_wait and args.launcher != "process":
        return submit_only(jobs, runs_dir, args)
    start = time.perf_counter()
    failures = train(jobs, runs_dir, args, workers, devices) if jobs else []
    trained_at = time.perf_counter()
    # No cell limit where training failed: the notebooks then train what is missing themselves.
    timeout = args.cell_timeout if args.cell_timeout > 0 and not failures else None
    failures += run_notebooks(notebooks, preset, results, runs_dir, workers, timeout)
    js, md, page, found = write_report(results, preset)
    minutes = (time.perf_counter() - start) / 60
    print(f"\n{len(notebooks) - sum(name != 'training' for name, _ in failures)}/{len(notebooks)} notebooks ran in {minutes:.1f} min "
          f"(estimated {total:.1f}; notebooks {(time.perf_counter() - trained_at) / 60:.1f}); {len(found)} claims -> {js}, {md}; "
          f"report -> {page}")
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
