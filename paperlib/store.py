"""A content-addressed cache of trained runs: a run lives in `root/<config hash>/`.

Asking twice for the same configuration trains once; asking after an interruption resumes from
the last checkpoint. Notebooks share models through it, so a second `run_all.py` trains nothing.
Each run's directory also keeps its evaluations: `evaluations/eval_<step>.npz` at the config's
`eval_steps` (the "over training" figures) and `evaluation.npz`, the standard final evaluation
(the N x N labels, the config's sampler steps, seed 0, layer 4). `train_all` fills the cache for
many runs at once, in parallel worker processes on a CPU.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .config import RunConfig
from .evaluate import Evaluation, evaluate, evaluation_callback, load_evaluation, load_evaluations, save_evaluation
from .train import Trainer

DEFAULT_ROOT = Path(os.environ.get("PAPERLIB_RUNS", "runs"))
LAYERS = ("layer4",)


def run_dir(run: RunConfig, root=None) -> Path:
    return Path(root if root is not None else DEFAULT_ROOT) / run.hash()


def is_trained(run: RunConfig, root=None) -> bool:
    return (run_dir(run, root) / "model.safetensors").exists()


def is_evaluated(run: RunConfig, root=None) -> bool:
    return (run_dir(run, root) / "evaluation.npz").exists()


def train_or_load(run: RunConfig, root=None, callbacks=(), progress: bool = True, device: str = "auto") -> Trainer:
    """The trained run: loaded when its directory holds a finished checkpoint, resumed when it
    holds a partial one, trained from scratch otherwise. A run with `eval_steps` is evaluated at
    those steps and the evaluations saved with it (`evaluations_over_training`)."""
    folder = run_dir(run, root)
    trainer = Trainer(run, out_dir=folder, device=device)
    if trainer.step < run.train.steps:
        if run.train.eval_steps:
            callbacks = (evaluation_callback({}, LAYERS, save_dir=folder / "evaluations"), *callbacks)
        trainer.fit(callbacks, progress=progress)
    return trainer


def training_minutes(run: RunConfig, root=None) -> float:
    """Wall-clock minutes the run's optimiser steps took (kept in its checkpoint); NaN if untrained."""
    path = run_dir(run, root) / "checkpoint.pt"
    return float(torch.load(path, map_location="cpu", weights_only=True)["elapsed"]) / 60 if path.exists() else float("nan")


def evaluations_over_training(run: RunConfig, root=None) -> dict[int, Evaluation]:
    """The evaluations saved at the run's `eval_steps`, by step."""
    return load_evaluations(run_dir(run, root) / "evaluations", run.data)


def evaluation(run: RunConfig, root=None, progress: bool = True, device: str = "auto") -> Evaluation:
    """The run's standard final evaluation, computed (training first if needed) once and cached;
    a run evaluated at its last step during training reuses that evaluation."""
    path = run_dir(run, root) / "evaluation.npz"
    if path.exists():
        return load_evaluation(path, run.data)
    trainer = train_or_load(run, root, progress=progress, device=device)
    last = evaluations_over_training(run, root).get(run.train.steps)
    ev = last if last is not None else evaluate(trainer.ema, trainer.schedule, run.data, run.diffusion.sample_steps, 0, LAYERS)
    save_evaluation(ev, path)
    return ev


def default_workers() -> int:
    """One process on a GPU; on a CPU one single-threaded process per core (two 1-thread workers
    train four small models 1.69x faster than one 2-thread process: `python -m paperlib.bench workers`)."""
    return 1 if torch.cuda.is_available() else max(1, os.cpu_count() or 1)


def _cost(run: RunConfig) -> float:
    """Rough relative cost, to start the longest runs first."""
    return run.train.steps * run.train.batch_size * run.data.N**2 * (1 + 0.3 * len(run.train.eval_steps))


def _one_thread() -> None:
    torch.set_num_threads(1)


def _train_and_evaluate(run_dict: dict, root: str) -> str:
    run = RunConfig.from_dict(run_dict)
    evaluation(run, root, progress=False)
    return run.hash()


def train_all(runs, root=None, workers: int | None = None, progress: bool = True) -> None:
    """Train and evaluate every run whose evaluation is not cached yet, longest first; with
    `workers` > 1, in that many single-threaded processes (default `default_workers()`)."""
    root = str(root if root is not None else DEFAULT_ROOT)
    todo = {run.hash(): run for run in runs if not is_evaluated(run, root)}
    jobs = sorted(todo.values(), key=_cost, reverse=True)
    workers = min(len(jobs), default_workers() if workers is None else workers)
    if not jobs:
        return
    bar = tqdm(total=len(jobs), disable=not progress, desc=f"train {len(jobs)} run(s) on {workers} worker(s)", unit="run")
    if workers <= 1:
        for run in jobs:
            evaluation(run, root, progress=progress)
            bar.update(1)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread) as pool:
            futures = [pool.submit(_train_and_evaluate, run.to_dict(), root) for run in jobs]
            for future in as_completed(futures):
                future.result()
                bar.update(1)
    bar.close()
