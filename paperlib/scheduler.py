"""Many runs into the cache: the plan (which runs train alone, which as stacks) and the workers.

`plan` cuts runs into jobs (a run alone, or a stack of compatible runs where the throughput table
or the GPU's cost sheet says stacking pays, `paperlib.cost`); `run_job` trains and evaluates one
job into the run cache (`paperlib.store`); `train_all` runs the jobs in worker processes: one
single-threaded process per CPU core, or one per GPU (`device.worker_devices`). The sections
never call this module: notebooks, `run_all.py`, the launchers and the benchmarks do.

Stopping: a worker stops between two training steps (`train.fit`) and checkpoints. The first
stop signal or Ctrl-C that reaches `train_all` stops every worker the same way and drops the
jobs that had not started; it then raises `train.Stopped` (or KeyboardInterrupt) itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass

import torch
from filelock import Timeout
from tqdm.auto import tqdm

from . import cost, paths
from .config import RunConfig
from .device import init_worker, worker_devices
from .evaluate import save_evaluation
from .stack import StackedTrainer, evaluate_stack, stack_key
from .store import LAYERS, evaluation, folder, is_evaluated
from .train import Stopped, Trainer, stop_on_signals


@dataclass
class Plan:
    """The jobs that fill the cache for some runs (each a run alone or a stack), most expensive
    first, with each job's estimated worker-seconds on the device planned for (`device`: the
    name the cost model knew it by)."""

    jobs: list[list[RunConfig]]
    seconds: list[float]
    device: str = "cpu"

    @property
    def runs(self) -> list[RunConfig]:
        return [run for job in self.jobs for run in job]

    def run_seconds(self) -> dict[str, float]:
        """Each run's share of its job's estimated seconds, by hash."""
        return {run.hash(): s / len(job) for job, s in zip(self.jobs, self.seconds) for run in job}

    def __len__(self) -> int:
        return len(self.jobs)


def plan(runs, root=None, device=None, tables: dict | None = None, launcher: str = "process", precision: str = "auto") -> Plan:
    """Jobs for `train_all`: the runs not evaluated yet, deduplicated; runs that share a
    `stack_key` and have not started are packed into stacks of the size `cost.best_stack` gives
    for `device` (a GPU name of the cost sheets, a torch device or "cuda:N", or None: this
    machine's GPU, else its CPU), from `tables`, by default the shipped ones (not this machine's
    own measurements: the stacks are part of the numerics, `paperlib.cost`); runs already started,
    or with `eval_steps`, alone; no stacks under fp16 (a stack has no per-run gradient scaler).
    The estimated seconds use `tables`, by default this machine's, and count each job's start-up
    and compile under `launcher` (`cost.job_overhead`)."""
    name = cost.device_name(device)
    stacks = precision != "fp16"  # the device's own policy ("auto") is never fp16
    todo = {run.hash(): run for run in runs if not is_evaluated(run, root)}
    groups: dict[str, list[RunConfig]] = {}
    jobs = []
    for run in todo.values():
        key = stack_key(run) if stacks else None
        here = folder(run, root)
        if key is None or here.has_checkpoint or here.trained:
            jobs.append([run])
        else:
            groups.setdefault(key, []).append(run)
    for members in groups.values():
        size = min(len(members), cost.best_stack(members[0], name, tables if tables is not None else cost.shipped_tables(), launcher))
        count = -(-len(members) // size)  # as many stacks as the best size needs, their sizes as even as they can be
        even = -(-len(members) // count)
        jobs += [members[i:i + even] for i in range(0, len(members), even)]
    seconds = [sum(cost.run_seconds(r, name, tables, len(job)) for r in job) + cost.job_overhead(job[0], name, len(job), launcher)
               for job in jobs]
    order = sorted(range(len(jobs)), key=lambda i: seconds[i], reverse=True)
    return Plan([jobs[i] for i in order], [seconds[i] for i in order], name)


def run_job(job: list[RunConfig], root=None, device: str = "auto", progress: bool = False, wait: bool = True, **execution) -> list[str]:
    """Train and evaluate one job (a run, or a stack of runs) into the cache. Runs another
    process holds are left to it and, with `wait`, waited for at the end (and done here if that
    process stopped before finishing them). Returns the hashes of the runs this call trained or
    evaluated. `execution`: the Trainers' execution settings (precision, compile)."""
    held, busy = [], []
    with contextlib.ExitStack() as locks:
        for run in job:
            try:
                locks.enter_context(folder(run, root).lock(timeout=0))
                held.append(run)
            except Timeout:
                busy.append(run)
        held = [r for r in held if not is_evaluated(r, root)]
        if len(held) > 1:
            _train_stack(held, root, device, progress, execution)
    if len(held) == 1:
        evaluation(held[0], root, progress=progress, device=device, **execution)
    done = [r.hash() for r in held]
    if wait:
        for run in busy:
            with folder(run, root).lock():
                pass
        orphans = [r for r in busy if not is_evaluated(r, root)]  # the other process stopped before finishing
        if orphans:
            done += run_job(orphans, root, device, progress, wait, **execution)
    return done


def _train_stack(runs: list[RunConfig], root, device: str, progress: bool, execution: dict) -> None:
    """Train runs (whose locks the caller holds) as one stack, then evaluate them together; runs
    found at different steps (after an odd interruption), or in fp16, train alone."""
    execution = dict(execution)
    compile_ = execution.pop("compile", None)
    trainers = [Trainer(r, out_dir=folder(r, root).path, device=device, **execution) for r in runs]
    if compile_ is None:
        compile_ = trainers[0].device.type == "cuda"  # CUDA graphs pay on a GPU; on a CPU compiling costs more than it saves
    together = len({t.step for t in trainers}) == 1 and not any(t.finished for t in trainers) and trainers[0].dtype != torch.float16
    if together:
        StackedTrainer(trainers, compile=compile_).fit(progress=progress)
    for t in trainers:
        if not (t.finished and t.folder.trained):
            t.fit(progress=progress)
    for r, ev in zip(runs, evaluate_stack(trainers, layers=LAYERS, progress=progress)):
        save_evaluation(ev, folder(r, root).evaluation_path)


def default_workers(devices=None) -> int:
    """One process per GPU (per listed device); on a CPU one single-threaded process per core
    (two 1-thread workers train four small models 1.69x faster than one 2-thread process:
    `python -m paperlib.bench workers`)."""
    if devices:
        return len(devices)
    return torch.cuda.device_count() if torch.cuda.is_available() else max(1, os.cpu_count() or 1)


def _init_worker(devices) -> None:
    """A worker process: its device from the queue and the run's execution settings from the
    environment it inherited (`device.init_worker`); stops checkpoint between steps."""
    init_worker(devices.get())
    stop_on_signals()


_STOPPED: list[BaseException] = []  # in a worker: the stop it met; it then starts no other job


def _run_job_in_worker(job_dicts: list[dict], root: str, execution: dict) -> list[str]:
    if _STOPPED:
        raise _STOPPED[0]
    try:
        return run_job([RunConfig.from_dict(d) for d in job_dicts], root, **execution)
    except (Stopped, KeyboardInterrupt) as stop:
        _STOPPED.append(stop)
        raise


def steps_done(run: RunConfig, root=None) -> int:
    """The last step the run's log records (what a progress display can read without a lock)."""
    here = folder(run, root)
    return run.train.steps if here.trained else here.last_logged_step()


def _stop_workers(pool: ProcessPoolExecutor, pending) -> None:
    """Drop the jobs that have not started and ask every worker to stop between two steps (SIGTERM:
    they checkpoint and exit), then wait for them."""
    for future in pending:
        future.cancel()
    for process in list(getattr(pool, "_processes", {}).values()):
        with contextlib.suppress(ProcessLookupError, OSError):
            os.kill(process.pid, signal.SIGTERM)
    pool.shutdown(wait=True, cancel_futures=True)


def train_all(runs, root=None, workers: int | None = None, progress: bool = True, devices=None, jobs: Plan | None = None,
              **execution) -> None:
    """Train and evaluate every run whose evaluation is not cached yet (`plan`, or the plan given
    as `jobs`), in `workers` processes (default `default_workers(devices)`; 1 on a GPU: in this
    process). `devices` lists the GPUs to spread the workers over, e.g. ["cuda:0", "cuda:1"]
    (default: every GPU of the machine; several workers may share one). On the CPU every job goes
    to a one-thread worker process, however few workers or jobs: a model's weights do not depend
    on the worker count or on which other models a run asked for (the thread count changes the
    float rounding, and the cache keeps whichever weights came first). The progress
    bar counts models done and the estimated minutes left (`cost`), read from the runs' logs. A
    stop signal or Ctrl-C stops every worker between two steps (see the module)."""
    root = str(root if root is not None else paths.runs_root())
    jobs = jobs if jobs is not None else plan(runs, root, devices[0] if devices else None, precision=execution.get("precision", "auto"))
    if not jobs:
        return
    requested = workers or default_workers(devices)
    workers = min(len(jobs), requested)
    every = jobs.runs
    share = jobs.run_seconds()
    bar = tqdm(total=len(every), disable=not progress, unit="model", desc=f"train {len(every)} model(s) in {len(jobs)} job(s)")

    def show(done_models: int, seconds_left: float) -> None:
        bar.n = done_models
        bar.set_postfix_str(f"about {seconds_left / 60 / max(1, workers):.0f} min left (estimate)")
        bar.refresh()

    if requested <= 1 and (devices or torch.cuda.is_available()):  # one process on one GPU (Colab)
        done = 0
        for job in jobs.jobs:
            show(done, sum(share[r.hash()] for r in every[done:]))
            run_job(job, root, device=devices[0] if devices else "auto", progress=False, **execution)
            done += len(job)
        show(done, 0.0)
        bar.close()
        return
    context = multiprocessing.get_context("spawn")
    queue = context.Manager().Queue()
    for device in worker_devices(devices, workers, torch.cuda.device_count() if torch.cuda.is_available() else 0):
        queue.put(device)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(queue,))
    pending = {pool.submit(_run_job_in_worker, [r.to_dict() for r in job], root, execution) for job in jobs.jobs}
    try:
        while pending:
            done, pending = wait(pending, timeout=2, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()  # a worker's Stopped or failure stops the others too (below)
            if progress:
                fractions = {r.hash(): min(1.0, steps_done(r, root) / r.train.steps) for r in every}
                show(sum(is_evaluated(r, root) for r in every), sum(share[h] * (1 - f) for h, f in fractions.items()))
    except BaseException:
        _stop_workers(pool, pending)
        raise
    finally:
        bar.close()
    pool.shutdown(wait=True)


__all__ = ["Plan", "plan", "run_job", "train_all", "default_workers", "steps_done", "Stopped"]
