"""A content-addressed cache of trained runs, safe for many writers: a run lives in `root/<hash>/`.

Asking twice for the same configuration trains once; asking after an interruption resumes from
the last checkpoint. Notebooks, `run_all.py`, worker processes and cluster jobs share models
through it. A run folder holds its `config.json` (from the start), checkpoints, `log.jsonl`,
`model.safetensors` and `run.json` (see `paperlib.train`), the evaluations at the config's
`eval_steps` (`evaluations/eval_<step>.npz`, the "over training" figures) and `evaluation.npz`,
the standard final evaluation (the N x N labels, the config's sampler steps, seed 0, layer 4).

Many writers: each run folder has a lock (`.lock`, via the `filelock` package), held while a
process trains or evaluates the run; another process that wants the run moves on to other work
and waits for it last. Every file is written through `files.atomic_write` with a temporary name
of its own. A damaged checkpoint or evaluation is reported with its path, set aside as
`*.damaged` and rebuilt from what is intact. Folders named by the old hash (when execution
settings were part of it) are found and renamed.

`train_all` fills the cache for many runs: compatible runs train as stacks (`paperlib.stack`)
where the measured throughput table says it pays (`paperlib.cost`), in worker processes with
one CPU thread each, or one per GPU (`devices`).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import torch
from filelock import FileLock, Timeout
from tqdm.auto import tqdm

from . import cost
from .config import RunConfig
from .device import enable_tf32
from .evaluate import Evaluation, evaluate, evaluation_callback, load_evaluation, load_evaluations, save_evaluation
from .stack import StackedTrainer, evaluate_stack, stack_key
from .train import Trainer, read_log

DEFAULT_ROOT = Path(os.environ.get("PAPERLIB_RUNS", "runs"))
LAYERS = ("layer4",)


def run_dir(run: RunConfig, root=None) -> Path:
    """The run's folder; one named by the run's legacy hash is renamed to the current name."""
    root = Path(root if root is not None else DEFAULT_ROOT)
    folder = root / run.hash()
    legacy = root / run.legacy_hash()
    if not folder.exists() and legacy != folder and legacy.exists():
        with contextlib.suppress(OSError):  # another process may be renaming it too
            legacy.rename(folder)
    return folder


def is_trained(run: RunConfig, root=None) -> bool:
    return (run_dir(run, root) / "model.safetensors").exists()


def is_evaluated(run: RunConfig, root=None) -> bool:
    return (run_dir(run, root) / "evaluation.npz").exists()


def status(run: RunConfig, root=None) -> str:
    """"done" (evaluated), "trained", "running" (locked by a process now), "partial" (a
    checkpoint, nobody training) or "missing"."""
    folder = run_dir(run, root)
    if (folder / "evaluation.npz").exists():
        return "done"
    if (folder / "model.safetensors").exists():
        return "trained"
    if folder.exists():
        try:
            with lock(run, root, timeout=0):
                pass
        except Timeout:
            return "running"
    return "partial" if (folder / "checkpoint.pt").exists() else "missing"


def lock(run: RunConfig, root=None, timeout: float = -1) -> FileLock:
    """The run folder's lock (blocking by default; `timeout=0` fails at once with filelock.Timeout)."""
    folder = run_dir(run, root)
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / ".lock"), timeout=timeout)


def _set_aside(path: Path, error: Exception) -> None:
    damaged = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.damaged")
    path.replace(damaged)
    warnings.warn(f"damaged {path} ({type(error).__name__}: {error}); moved to {damaged.name}, rebuilding", stacklevel=3)


def _load_or_set_aside(path: Path, run: RunConfig) -> Evaluation | None:
    if not path.exists():
        return None
    try:
        return load_evaluation(path, run.data)
    except Exception as error:  # noqa: BLE001  (numpy raises many kinds for a truncated file)
        _set_aside(path, error)
        return None


def train_or_load(run: RunConfig, root=None, callbacks=(), progress: bool = True, device: str = "auto") -> Trainer:
    """The trained run: loaded when its folder holds a finished checkpoint, resumed when it holds
    a partial one, trained from scratch otherwise, under the run's lock. A run with `eval_steps`
    is evaluated at those steps and the evaluations saved with it (`evaluations_over_training`)."""
    folder = run_dir(run, root)
    with lock(run, root):
        trainer = Trainer(run, out_dir=folder, device=device)
        if trainer.step < run.train.steps:
            if run.train.eval_steps:
                callbacks = (evaluation_callback({}, LAYERS, save_dir=folder / "evaluations"), *callbacks)
            trainer.fit(callbacks, progress=progress)
    return trainer


def training_minutes(run: RunConfig, root=None) -> float:
    """Minutes of training the run's log records (its share of a stack's time); NaN if none."""
    log = read_log(run_dir(run, root))
    return log[-1]["elapsed_s"] / 60 if log else float("nan")


def evaluations_over_training(run: RunConfig, root=None) -> dict[int, Evaluation]:
    """The evaluations saved at the run's `eval_steps`, by step, rescored."""
    return load_evaluations(run_dir(run, root) / "evaluations", run.data)


def evaluation(run: RunConfig, root=None, progress: bool = True, device: str = "auto") -> Evaluation:
    """The run's standard final evaluation, computed (training first if needed) once and cached;
    a run evaluated at its last step during training reuses that evaluation."""
    path = run_dir(run, root) / "evaluation.npz"
    ev = _load_or_set_aside(path, run)
    if ev is not None:
        return ev
    trainer = train_or_load(run, root, progress=progress, device=device)
    with lock(run, root):
        ev = _load_or_set_aside(path, run)  # another process may have finished it meanwhile
        if ev is None:
            last = run_dir(run, root) / "evaluations" / f"eval_{run.train.steps:08d}.npz"
            ev = _load_or_set_aside(last, run) or evaluate(trainer.ema, trainer.schedule, run.data, run.diffusion.sample_steps,
                                                           0, LAYERS, progress=progress)
            save_evaluation(ev, path)
    return ev


def default_workers(devices=None) -> int:
    """One process per GPU (per listed device); on a CPU one single-threaded process per core
    (two 1-thread workers train four small models 1.69x faster than one 2-thread process:
    `python -m paperlib.bench workers`)."""
    if devices:
        return len(devices)
    return torch.cuda.device_count() if torch.cuda.is_available() else max(1, os.cpu_count() or 1)


# --- many runs --------------------------------------------------------------------------------

def plan(runs, root=None, device=None, tables: dict | None = None) -> list[list[RunConfig]]:
    """Jobs for `train_all`: the runs not evaluated yet, deduplicated, runs that share a
    `stack_key` and have not started packed into stacks of the size `cost.best_stack` measured
    for their N (runs already started, or with `eval_steps`, alone), most expensive job first."""
    todo = {run.hash(): run for run in runs if not is_evaluated(run, root)}
    groups: dict[str, list[RunConfig]] = {}
    jobs = []
    for run in todo.values():
        key = stack_key(run)
        if key is None or (run_dir(run, root) / "checkpoint.pt").exists() or is_trained(run, root):
            jobs.append([run])
        else:
            groups.setdefault(key, []).append(run)
    for members in groups.values():
        size = cost.best_stack(members[0], device, tables)
        jobs += [members[i:i + size] for i in range(0, len(members), size)]
    return sorted(jobs, key=lambda job: sum(cost.run_seconds(r, device, tables, len(job)) for r in job), reverse=True)


def run_job(job: list[RunConfig], root=None, device: str = "auto", progress: bool = False, wait: bool = True) -> list[str]:
    """Train and evaluate one job (a run, or a stack of runs) into the cache. Runs another
    process holds are left to it and, with `wait`, waited for at the end (and done here if that
    process stopped before finishing them). Returns the hashes of the runs this call trained or
    evaluated."""
    held, busy = [], []
    with contextlib.ExitStack() as locks:
        for run in job:
            try:
                locks.enter_context(lock(run, root, timeout=0))
                held.append(run)
            except Timeout:
                busy.append(run)
        held = [r for r in held if not is_evaluated(r, root)]
        if len(held) > 1:
            trainers = [Trainer(r, out_dir=run_dir(r, root), device=device) for r in held]
            if len({t.step for t in trainers}) == 1 and held[0].train.steps > trainers[0].step:
                StackedTrainer(trainers).fit(progress=progress)
            for t in trainers:  # runs at different steps (after an odd interruption) finish alone
                if t.step < t.run.train.steps:
                    t.fit(progress=progress)
            for r, ev in zip(held, evaluate_stack(trainers, layers=LAYERS, progress=progress)):
                save_evaluation(ev, run_dir(r, root) / "evaluation.npz")
    if len(held) == 1:
        evaluation(held[0], root, progress=progress, device=device)
    done = [r.hash() for r in held]
    if wait:
        for run in busy:
            with lock(run, root):
                pass
        orphans = [r for r in busy if not is_evaluated(r, root)]  # the other process stopped before finishing
        if orphans:
            done += run_job(orphans, root, device, progress, wait)
    return done


_WORKER_DEVICE = "auto"


def _init_worker(devices) -> None:
    """A worker process: one CPU thread; on a GPU machine the next device of the queue, TF32 on."""
    global _WORKER_DEVICE
    torch.set_num_threads(1)
    if devices is not None:
        _WORKER_DEVICE = devices.get()
        enable_tf32()


def _run_job_in_worker(job_dicts: list[dict], root: str) -> list[str]:
    return run_job([RunConfig.from_dict(d) for d in job_dicts], root, device=_WORKER_DEVICE)


def steps_done(run: RunConfig, root=None) -> int:
    """The last step the run's log records (what a progress display can read without a lock)."""
    if is_trained(run, root):
        return run.train.steps
    log = run_dir(run, root) / "log.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    for line in reversed(lines):
        with contextlib.suppress(ValueError, KeyError):
            return int(json.loads(line)["step"])
    return 0


def train_all(runs, root=None, workers: int | None = None, progress: bool = True, devices=None) -> None:
    """Train and evaluate every run whose evaluation is not cached yet (`plan`), in `workers`
    processes (default `default_workers(devices)`; 1: in this process). `devices` lists the GPUs
    to spread the workers over, e.g. ["cuda:0", "cuda:1"] (several workers may share a device).
    The progress bar counts training steps over all runs, read from their logs."""
    root = str(root if root is not None else DEFAULT_ROOT)
    jobs = plan(runs, root, devices[0] if devices else None)
    if not jobs:
        return
    workers = min(len(jobs), workers or default_workers(devices))
    every = [run for job in jobs for run in job]
    if workers <= 1:
        for job in jobs:
            run_job(job, root, device=devices[0] if devices else "auto", progress=progress)
        return
    bar = tqdm(total=sum(r.train.steps for r in every), disable=not progress, unit="step",
               desc=f"train {len(every)} run(s) in {len(jobs)} job(s) on {workers} worker(s)")
    context = multiprocessing.get_context("spawn")
    queue = None
    if devices:
        queue = context.Manager().Queue()
        for i in range(workers):
            queue.put(devices[i % len(devices)])
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(queue,)) as pool:
        pending = {pool.submit(_run_job_in_worker, [r.to_dict() for r in job], root) for job in jobs}
        while pending:
            done, pending = wait(pending, timeout=5, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
            if progress:
                bar.n = sum(steps_done(r, root) for r in every)
                bar.refresh()
    bar.close()
