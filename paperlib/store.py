"""The run cache and its scheduler: a trained run lives in `root/<hash>/` (a `RunFolder`).

Asking twice for the same configuration trains once; asking after an interruption resumes from
the last checkpoint. Notebooks, `run_all.py`, worker processes and cluster jobs share models
through it; each run folder's lock keeps two processes off one run (another process that wants
the run moves on to other work and waits for it last). The default cache is `paths.runs_root()`.

`plan` cuts many runs into jobs (a run alone, or a stack of compatible runs where the throughput
table says stacking pays, `paperlib.cost`), and `train_all` runs the jobs in worker processes:
one single-threaded process per CPU core, or one per GPU (`device.worker_devices`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import Timeout
from safetensors.torch import load_file
from tqdm.auto import tqdm

from . import claims as C
from . import cost, curves, paths
from .config import RunConfig
from .device import init_worker, pick_device, worker_devices
from .diffusion import Schedule
from .evaluate import Evaluation, evaluate, evaluation_callback, load_evaluation, load_evaluations, save_evaluation
from .model import UNet
from .runfolder import RunFolder
from .stack import StackedTrainer, evaluate_stack, stack_key
from .train import Trainer, new_model, stop_on_signals

LAYERS = ("layer4",)


def folder(run: RunConfig, root=None) -> RunFolder:
    """The run's folder in the cache `root` (default `paths.runs_root()`)."""
    return RunFolder.of(run, root if root is not None else paths.runs_root())


def run_dir(run: RunConfig, root=None) -> Path:
    return folder(run, root).path


def is_trained(run: RunConfig, root=None) -> bool:
    return folder(run, root).trained


def is_evaluated(run: RunConfig, root=None) -> bool:
    return folder(run, root).evaluated


def status(run: RunConfig, root=None) -> str:
    """"done", "trained", "running", "partial" or "missing" (`RunFolder.status`)."""
    return folder(run, root).status()


def train_or_load(run: RunConfig, root=None, callbacks=(), progress: bool = True, device: str = "auto", **execution) -> Trainer:
    """The trained run: loaded when its folder holds a finished checkpoint, resumed when it holds
    a partial one, trained from scratch otherwise, under the run's lock. A run with `eval_steps`
    is evaluated at those steps and the evaluations saved with it (`evaluations_over_training`).
    `execution` passes execution settings to the Trainer (precision, compile)."""
    here = folder(run, root)
    with here.lock():
        trainer = Trainer(run, out_dir=here.path, device=device, **execution)
        if not trainer.finished and here.trained and not here.has_checkpoint:  # imported or pruned: its weights, no optimiser state
            trainer.load_weights(here.weights_path)
            return trainer
        if not trainer.finished:
            if run.train.eval_steps:
                callbacks = (evaluation_callback(here, LAYERS), *callbacks)
            trainer.fit(callbacks, progress=progress)
    return trainer


def load_model(run, root=None, device: str = "cpu") -> UNet:
    """The EMA model of a trained run (a `RunConfig` or its hash) from its `model.safetensors`, in
    eval mode. It never trains: a run without weights raises FileNotFoundError naming what trains it."""
    here = folder(run, root) if isinstance(run, RunConfig) else RunFolder(Path(root if root is not None else paths.runs_root()) / run)
    if not here.trained:
        raise FileNotFoundError(f"run {here.path.name} is not trained in {here.path.parent}: train it with "
                                "`python run_all.py --preset <preset>` (or `paperlib.store.train_or_load(config, root)`), "
                                "or import a trained cache with `python -m paperlib.runs import <archive>`")
    config = run if isinstance(run, RunConfig) else RunConfig.from_dict(here.read_config())
    model = UNet(config.model, config.data.N)
    model.load_state_dict(load_file(str(here.weights_path)))
    return model.to(device).eval()


def training_minutes(run: RunConfig, root=None) -> float:
    """Minutes of training the run's log records (its share of a stack's time); NaN if none."""
    log = folder(run, root).read_log()
    return log[-1]["elapsed_s"] / 60 if log else float("nan")


def evaluations_over_training(run: RunConfig, root=None) -> dict[int, Evaluation]:
    """The evaluations saved at the run's `eval_steps`, by step, rescored."""
    return load_evaluations(folder(run, root), run.data)


def evaluation(run: RunConfig, root=None, progress: bool = True, device: str = "auto", layers=LAYERS) -> Evaluation:
    """The run's standard final evaluation, computed (training first if needed) once and cached;
    a run evaluated at its last step during training reuses that evaluation. Asking for `layers`
    the cached one lacks evaluates again with all of them (the same images: the sampler is
    deterministic) and caches that."""
    here = folder(run, root)
    load = lambda path: load_evaluation(path, run.data)  # noqa: E731
    ev = here.read_or_set_aside(here.evaluation_path, load)
    if ev is not None and set(layers) <= set(ev.activations):
        return ev
    trainer = train_or_load(run, root, progress=progress, device=device)
    with here.lock():
        ev = here.read_or_set_aside(here.evaluation_path, load)  # another process may have finished it meanwhile
        if ev is None or not set(layers) <= set(ev.activations):
            wanted = tuple(dict.fromkeys((*LAYERS, *layers, *(ev.activations if ev else ()))))
            over = here.read_or_set_aside(here.evaluation_at(trainer.step), load)  # a run stopped at its plateau: its last step
            ev = over if over is not None and set(wanted) <= set(over.activations) else \
                evaluate(trainer.ema, trainer.schedule, run.data, run.diffusion.sample_steps, 0, wanted, progress=progress)
            save_evaluation(ev, here.evaluation_path)
    return ev


def untrained_evaluation(run: RunConfig, root=None, layers=LAYERS, device: str = "auto") -> Evaluation:
    """The standard evaluation of the run's network as initialised, never trained: the untrained
    control of the representation claims (cached in the run's folder)."""
    here = folder(run, root)
    load = lambda path: load_evaluation(path, run.data)  # noqa: E731
    ev = here.read_or_set_aside(here.untrained_path, load)
    if ev is None or not set(layers) <= set(ev.activations):
        model = new_model(run, pick_device(device))
        ev = evaluate(model, Schedule(run.diffusion, next(model.parameters()).device), run.data, run.diffusion.sample_steps, 0, tuple(layers))
        save_evaluation(ev, here.untrained_path)
    return ev


def training_record(run_hash: str, root=None) -> dict:
    """How a run trained, for the claims that rest on it: its hash, steps, and the convergence
    statement of its learning curve ("no curve" for runs trained before curves were kept)."""
    here = RunFolder(Path(root if root is not None else paths.runs_root()) / run_hash)
    record, curve = here.read_record() or {}, here.read_curve()
    verdict = curves.convergence(curve) if curve else None
    return {"hash": run_hash, "steps": record.get("steps", here.last_logged_step()),
            "convergence": verdict.status if verdict else "no curve", "rising": verdict.rising() if verdict else []}


def check_training(found: list, root=None) -> list:
    """The claims with the training of the runs each rests on attached (`claims.guard`)."""
    return [C.guard(c, [training_record(r["hash"], root) for r in c.runs]) if c.runs else c for c in found]


# --- many runs ---------------------------------------------------------------------------------------

@dataclass
class Plan:
    """The jobs that fill the cache for some runs (each a run alone or a stack), most expensive
    first, with each job's estimated worker-seconds on the device planned for."""

    jobs: list[list[RunConfig]]
    seconds: list[float]

    @property
    def runs(self) -> list[RunConfig]:
        return [run for job in self.jobs for run in job]

    def run_seconds(self) -> dict[str, float]:
        """Each run's share of its job's estimated seconds, by hash."""
        return {run.hash(): s / len(job) for job, s in zip(self.jobs, self.seconds) for run in job}

    def __len__(self) -> int:
        return len(self.jobs)


def plan(runs, root=None, device=None, tables: dict | None = None) -> Plan:
    """Jobs for `train_all`: the runs not evaluated yet, deduplicated; runs that share a
    `stack_key` and have not started are packed into stacks of the size `cost.best_stack` gives
    for `device` (a device name of the throughput tables, a torch device, or None for this
    machine) from `tables`, by default the shipped ones (not this machine's own measurements: the
    stacks are part of the numerics, `paperlib.cost`); runs already started, or with `eval_steps`,
    alone. The estimated seconds use `tables`, by default this machine's."""
    todo = {run.hash(): run for run in runs if not is_evaluated(run, root)}
    groups: dict[str, list[RunConfig]] = {}
    jobs = []
    for run in todo.values():
        key = stack_key(run)
        here = folder(run, root)
        if key is None or here.has_checkpoint or here.trained:
            jobs.append([run])
        else:
            groups.setdefault(key, []).append(run)
    for members in groups.values():
        size = cost.best_stack(members[0], device, tables if tables is not None else cost.shipped_tables())
        jobs += [members[i:i + size] for i in range(0, len(members), size)]
    seconds = [sum(cost.run_seconds(r, device, tables, len(job)) for r in job) for job in jobs]
    order = sorted(range(len(jobs)), key=lambda i: seconds[i], reverse=True)
    return Plan([jobs[i] for i in order], [seconds[i] for i in order])


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
        evaluation(held[0], root, progress=progress, device=device)
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
    found at different steps (after an odd interruption) finish alone first."""
    compile_ = execution.pop("compile", None)
    trainers = [Trainer(r, out_dir=folder(r, root).path, device=device, **execution) for r in runs]
    if compile_ is None:
        compile_ = trainers[0].device.type == "cuda"  # CUDA graphs pay on a GPU; on a CPU compiling costs more than it saves
    if len({t.step for t in trainers}) == 1 and not any(t.finished for t in trainers):
        StackedTrainer(trainers, compile=compile_).fit(progress=progress)
    for t in trainers:
        if not t.finished:
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
    """A worker process: its device from the queue (`device.init_worker`), stops checkpointing."""
    init_worker(devices.get())
    stop_on_signals()


def _run_job_in_worker(job_dicts: list[dict], root: str, execution: dict) -> list[str]:
    return run_job([RunConfig.from_dict(d) for d in job_dicts], root, **execution)


def steps_done(run: RunConfig, root=None) -> int:
    """The last step the run's log records (what a progress display can read without a lock)."""
    here = folder(run, root)
    return run.train.steps if here.trained else here.last_logged_step()


def train_all(runs, root=None, workers: int | None = None, progress: bool = True, devices=None, jobs: Plan | None = None,
              **execution) -> None:
    """Train and evaluate every run whose evaluation is not cached yet (`plan`, or the plan given
    as `jobs`), in `workers` processes (default `default_workers(devices)`; 1: in this process).
    `devices` lists the GPUs to spread the workers over, e.g. ["cuda:0", "cuda:1"] (default:
    every GPU of the machine; several workers may share one). Fewer jobs than workers still go to
    workers: a lone job on the CPU trains on a worker's one thread, as it would beside others, so
    a model's weights do not depend on which other models a run asked for (the thread count
    changes the float rounding, and the cache keeps whichever weights came first). The progress
    bar shows the estimated seconds of training done and left (`cost`), read from the runs' logs."""
    root = str(root if root is not None else paths.runs_root())
    jobs = jobs if jobs is not None else plan(runs, root, devices[0] if devices else None)
    if not jobs:
        return
    requested = workers or default_workers(devices)
    workers = min(len(jobs), requested)
    if requested <= 1:  # one process (a single GPU, Colab): the whole run's estimate, model k of n
        total = len(jobs.runs)
        bar = tqdm(total=round(sum(jobs.seconds)), disable=not progress, unit="s", desc=f"train {total} model(s)")
        done = 0
        for job, seconds in zip(jobs.jobs, jobs.seconds):
            bar.set_description(f"model {done + 1}{f'-{done + len(job)}' if len(job) > 1 else ''} of {total}")
            run_job(job, root, device=devices[0] if devices else "auto", progress=False, **execution)
            done += len(job)
            bar.update(round(seconds))
        bar.close()
        return
    share = jobs.run_seconds()
    every = jobs.runs
    bar = tqdm(total=round(sum(share.values()) / workers), disable=not progress, unit="s",
               desc=f"train {len(every)} run(s) in {len(jobs)} job(s) on {workers} worker(s)")
    context = multiprocessing.get_context("spawn")
    queue = context.Manager().Queue()
    for device in worker_devices(devices, workers, torch.cuda.device_count() if torch.cuda.is_available() else 0):
        queue.put(device)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(queue,)) as pool:
        pending = {pool.submit(_run_job_in_worker, [r.to_dict() for r in job], root, execution) for job in jobs.jobs}
        while pending:
            done, pending = wait(pending, timeout=5, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
            if progress:
                bar.n = round(sum(share[r.hash()] * steps_done(r, root) / r.train.steps for r in every) / workers)
                bar.refresh()
    bar.close()
