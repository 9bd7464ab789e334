"""Training: AdamW with warm-up and a cosine or constant learning rate, EMA weights, atomic
checkpoints and exact resume (App. A.6), and the one fit loop that trains a run alone or a stack.

Every random draw of step s (which images, which timesteps, which noise) comes from a generator
seeded by (seed, s), so a run killed at any point and resumed from its last checkpoint ends with
the same weights as an uninterrupted run on the same kind of device. The run's folder
(`paperlib.runfolder`) holds its checkpoints, log and records.

Stopping: entry points and workers call `stop_on_signals()`, after which SIGTERM, SIGUSR1 and
SIGUSR2 raise `Stopped`. A signal (or Ctrl-C) that arrives during a training step is handed to its
handler when the step and its evaluations are whole (`whole_step`), so a stop always lands between
two steps; `fit` then checkpoints every run it trains and lets the exception end the process.
Under submitit on SLURM, submitit's own handler checkpoints and requeues the task and exits with
SystemExit, which `fit` meets the same way. Nothing here changes process-wide settings beyond a
step (the handlers it swaps are put back).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import pickle
import signal
import threading
import time
from typing import Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from . import curves, provenance
from . import data as datamod
from .config import RunConfig, TrainConfig
from .device import autocast, pick_device, resolve_precision
from .diffusion import Schedule
from .evaluate import Evaluation, evaluate
from .files import atomic_write
from .model import UNet
from .runfolder import Damaged, RunFolder

Callback = Callable[["Trainer"], None]
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGUSR1", "SIGUSR2") if hasattr(signal, name))


class Stopped(SystemExit):
    """Raised between two training steps when the process is told to stop (exit status 128 + signal)."""


@contextlib.contextmanager
def whole_step():
    """Defer the stop signals and Ctrl-C to the end of one step: while it runs, their Python
    handlers (ours, submitit's, Python's KeyboardInterrupt) are swapped for one that notes the
    signal, and a noted signal is handed to its own handler once the step is whole. A signal
    blocked with a mask would not do: another thread (tqdm's monitor) takes a process-directed
    signal, and the handler then runs in this thread at once, mid-step. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    handlers = {sig: signal.getsignal(sig) for sig in (*STOP_SIGNALS, signal.SIGINT)}
    deferred = {sig: h for sig, h in handlers.items() if callable(h)}  # the default action (SIG_DFL) and SIG_IGN stay as they are
    for sig in deferred:
        signal.signal(sig, lambda signum, _frame: noted.append(signum))
    try:
        yield
    finally:
        for sig, handler in deferred.items():
            signal.signal(sig, handler)
        for signum in dict.fromkeys(noted):
            deferred[signum](signum, None)


def stop_on_signals(keep_handlers: bool = False) -> None:
    """Make SIGTERM, SIGUSR1 and SIGUSR2 raise `Stopped` (for entry points and workers; a library
    never installs handlers by itself). `fit` checkpoints before the process exits. With
    `keep_handlers`, a signal that already has a Python handler keeps it (a submitit task's own
    USR2 handler checkpoints and requeues it at its time limit)."""

    def handler(signum, _frame):
        raise Stopped(128 + signum)

    for sig in STOP_SIGNALS:
        if not (keep_handlers and callable(signal.getsignal(sig))):
            signal.signal(sig, handler)


def step_generator(seed: int, step: int, device="cpu") -> torch.Generator:
    """The generator of one training step: seeded by (seed, step) through numpy's SeedSequence. In
    deterministic mode the draws are made on the host (GPU generators' output depends on the model)."""
    state = np.random.SeedSequence([seed, step]).generate_state(2, dtype=np.uint32)
    where = "cpu" if torch.are_deterministic_algorithms_enabled() else device
    return torch.Generator(device=where).manual_seed(int(state[0]) << 32 | int(state[1]))


def lr_factor(tc: TrainConfig, step: int) -> float:
    """Linear warm-up, then constant or cosine down to `min_lr_ratio` at the last step."""
    if step < tc.warmup:
        return (step + 1) / tc.warmup
    if tc.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - tc.warmup) / max(1, tc.steps - tc.warmup))
    return tc.min_lr_ratio + (1 - tc.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def new_model(run: RunConfig, device) -> UNet:
    """The run's UNet, initialised from its seed without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(run.train.seed)
        return UNet(run.model, run.data.N).to(device)


def make_optimizer(params, run: RunConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay; the fused kernel on the CPU and CUDA."""
    tc = run.train
    fused = {"fused": True} if device.type in ("cpu", "cuda") else {"foreach": True}
    return torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay, **fused)


def epoch_batch_indices(seed: int, n: int, batch_size: int, step: int, cache: dict) -> np.ndarray:
    """Indices of step `step`: consecutive slices of one seeded permutation of the n images per
    epoch (`cache` keeps the current epoch's permutation)."""
    positions = np.arange(step * batch_size, (step + 1) * batch_size)
    out = np.empty(batch_size, np.int64)
    for epoch in np.unique(positions // n):
        if cache.get("epoch") != epoch:
            cache.update(epoch=epoch, perm=np.random.default_rng(np.random.SeedSequence([seed, 1, int(epoch)])).permutation(n))
        sel = positions // n == epoch
        out[sel] = cache["perm"][positions[sel] % n]
    return out


class Trainer:
    """Owns the model, its EMA copy, the optimiser and the step counter of one run.

    With `out_dir` it checkpoints there and resumes from the checkpoint it finds. Execution
    settings, which do not change what is computed beyond float rounding: `log_every`,
    `precision` ("auto": the device's policy, `paperlib.device`; or "fp32", "bf16", "fp16") and
    `compile` (`torch.compile` the network for training steps).
    """

    def __init__(self, run: RunConfig, dataset: datamod.Dataset | None = None, out_dir=None, device="auto",
                 log_every: int = 50, precision: str = "auto", compile: bool = False):
        self.run = run
        self.device = pick_device(device)
        self.dataset = dataset if dataset is not None else datamod.make_dataset(run.data)
        self.table = self.dataset.table(self.device)
        self.model = new_model(run, self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.optimizer = make_optimizer(self.model.parameters(), run, self.device)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.lr_factor)
        self.dtype = resolve_precision(self.device, precision)
        self.forward = torch.compile(self.model) if compile else self.model
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)
        self.schedule = Schedule(run.diffusion, self.device)
        self.step, self.elapsed, self.last_loss, self.finished = 0, 0.0, float("nan"), False
        self.history: list[dict] = []
        self.curve: list[dict] = []
        self.stacked_with: list[str] = []  # the runs trained beside this one in a stack: they change its rounding
        self.log_every = log_every
        self._epoch_cache: dict = {}
        self.folder = RunFolder(out_dir) if out_dir is not None else None
        if self.folder is not None:
            self.folder.load_checkpoint(self.load)
            self.curve = [e for e in self.folder.read_curve() if e["step"] <= self.step]

    @property
    def out_dir(self):
        return self.folder.path if self.folder is not None else None

    @property
    def trainers(self) -> list["Trainer"]:
        """The runs this engine trains (`fit` treats a Trainer as a stack of one)."""
        return [self]

    def lr_factor(self, step: int) -> float:
        return lr_factor(self.run.train, step)

    def batch_indices(self, step: int) -> np.ndarray:
        return epoch_batch_indices(self.run.train.seed, len(self.dataset), self.run.train.batch_size, step, self._epoch_cache)

    def training_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x_t, t, target, labels) of step `step`, rendered and drawn on the training device: the
        batch's indices are the one copy from the host."""
        rows = self.table[torch.from_numpy(self.batch_indices(step)).to(self.device, non_blocking=True)]
        x0 = datamod.to_model_range(rows.render())[:, None]
        x_t, t, target = self.schedule.training_inputs(x0, step_generator(self.run.train.seed, step, self.device))
        return x_t, t, target, rows.labels.float()

    def train_step(self) -> torch.Tensor:
        """One optimiser step; returns the loss as a tensor (reading it waits for the device)."""
        self.model.train()
        x_t, t, target, labels = self.training_batch(self.step)
        with autocast(self.device, self.dtype):
            predicted = self.forward(x_t, t, labels)
        loss = self.schedule.weighted_mse(predicted, target, t)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.run.train.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.run.train.grad_clip, foreach=True)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.parameters()), list(self.model.parameters()), 1 - self.run.train.ema)
        self.step += 1
        return loss.detach()

    # --- state ------------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """The resumable state: what a checkpoint holds, and what a stack reads and writes back."""
        return {"step": self.step, "elapsed": self.elapsed, "model": self.model.state_dict(), "ema": self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "history": list(self.history), "finished": self.finished, "config_hash": self.run.hash(),
                "stacked_with": list(self.stacked_with)}

    def load_state_dict(self, state: dict) -> None:
        if state["config_hash"] not in (self.run.hash(), self.run.legacy_hash()):
            raise ValueError(f"state: belongs to run {state['config_hash']}, not {self.run.hash()}")
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler.is_enabled() and state.get("scaler"):  # a run trained without a scaler (fp32, bf16) starts one afresh
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.finished = bool(state.get("finished", self.step >= self.run.train.steps))
        self.history = list(state["history"])
        self.stacked_with = list(state.get("stacked_with", self.stacked_with))  # older checkpoints lack it

    def checkpoint(self) -> None:
        """Save the resumable state into the run folder, if there is one (what a stop does too)."""
        if self.folder is not None:
            state = self.state_dict()
            self.folder.save_checkpoint(lambda tmp: torch.save(state, tmp))

    def load(self, path) -> None:
        """Load a checkpoint file; one torch cannot read is `Damaged` (read on the CPU, so running
        out of device memory is never mistaken for damage); another run's raises ValueError."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as error:  # truncated or corrupt archives
            raise Damaged(f"cannot read {path}") from error
        if isinstance(state["history"], str):  # checkpoints before paperlib 0.3 kept it as JSON text
            state["history"] = json.loads(state["history"])
        self.load_state_dict(state)

    def load_weights(self, path) -> None:
        """A finished run from its exported EMA weights alone (an imported or pruned cache): the
        weights for the model and its EMA, the run finished at its recorded step."""
        state = load_file(str(path))
        self.model.load_state_dict(state)
        self.ema.load_state_dict(state)
        record = self.folder.read_record() if self.folder is not None else None
        self.step = int(record["steps"]) if record else self.run.train.steps
        self.elapsed = float(record.get("train_seconds", 0.0)) if record else 0.0
        self.finished = True
        self.curve = self.folder.read_curve() if self.folder is not None else []

    def sync(self) -> None:
        """Nothing to copy back: a Trainer's state is its own (a stack writes its runs back here)."""

    def read_out(self, labels) -> list[Evaluation]:
        """The learning curve's read-out of the EMA model (`paperlib.curves`), as a stack of one."""
        return [evaluate(self.ema, self.schedule, self.run.data, curves.readout_steps(self.run), 0, labels=labels)]

    def record_curve(self, step: int, ev: Evaluation) -> dict:
        """Append the read-out at `step` to the run's curve (in memory and in its folder)."""
        point = curves.entry(step, ev, self.run.data)
        self.curve.append(point)
        if self.folder is not None:
            self.folder.append_curve(point)
        return point

    # --- records in the run folder ---------------------------------------------------------------

    def start_record(self) -> None:
        """`config.json` (the run's configuration, its hash and provenance) when training starts."""
        if self.folder is not None:
            self.folder.write_config({**self.run.to_dict(), "hash": self.run.hash(), "started": provenance.collect(self.device)})

    def export(self) -> None:
        """Write the EMA weights (safetensors) and `run.json` (how the run went, and where)."""
        state = {k: v.detach().cpu().contiguous() for k, v in self.ema.state_dict().items()}
        meta = {"config_hash": self.run.hash(), "step": str(self.step)}
        atomic_write(self.folder.weights_path, lambda tmp: save_file(state, str(tmp), metadata=meta))
        shape = {"geometry": dict(zip(("status", "measured"), curves.geometry_settled(self.history)))} if self.run.train.until == "geometry" else {}
        self.folder.write_record({"hash": self.run.hash(), "steps": self.step, "train_seconds": round(self.elapsed, 2),
                                  "final_loss": self.last_loss, "convergence": curves.convergence(self.curve).to_dict(), **shape,
                                  "stacked_with": self.stacked_with, "finished": provenance.collect(self.device)})

    def fit(self, callbacks: tuple[Callback, ...] = (), until: int | None = None, progress: bool = True,
            deadline: float | None = None, checkpoint_every: int | None = None) -> "Trainer":
        return fit(self, callbacks, until, progress, deadline, checkpoint_every)


def fit(engine, callbacks: tuple[Callback, ...] = (), until: int | None = None, progress: bool = True,
        deadline: float | None = None, checkpoint_every: int | None = None):
    """Train a `Trainer`, or the runs of a `StackedTrainer` together, to `until` (default: the
    config's steps) or until `deadline` seconds of training time; run `callbacks` at the config's
    `eval_steps` (runs alone) and the learning curve's read-outs at `curves.curve_steps`; log
    every `log_every` steps and checkpoint every `checkpoint_every` (default: the config's) and at
    the end; a stop (see the module) checkpoints, then re-raises. A run that reaches its last step,
    or its plateau under `until="plateau"` (it then leaves its stack), is finished: exported.
    Returns the engine (for a stack, the stack of the runs that trained to the end)."""
    runs = engine.trainers
    tc = runs[0].run.train
    until = tc.steps if until is None else until
    every = checkpoint_every or tc.checkpoint_every
    eval_steps, readouts = set(tc.eval_steps), set(curves.curve_steps(tc))
    if engine.step == 0:
        for trainer in runs:
            trainer.start_record()
        if 0 in eval_steps and not any(h.get("step") == 0 for h in runs[0].history):
            for cb in callbacks:
                cb(runs[0])
    desc = f"train {runs[0].run.hash()}" if len(runs) == 1 else f"train a stack of {len(runs)}"
    bar = tqdm(total=until, initial=engine.step, disable=not progress, desc=desc, unit="step")
    t0, step0, losses = time.perf_counter(), engine.step, None
    try:
        while engine.step < until and not all(t.finished for t in runs) and (deadline is None or runs[0].elapsed < deadline):
            start = time.perf_counter()
            with whole_step():  # a step and its evaluations are never cut apart by a stop signal
                losses = engine.train_step()
                spent = (time.perf_counter() - start) / len(runs)
                for trainer in runs:
                    trainer.elapsed += spent
                    trainer.finished = engine.step >= tc.steps
                if engine.step in eval_steps:
                    for cb in callbacks:
                        cb(runs[0])
                if engine.step in readouts:
                    engine, losses = _read_curve(engine, losses)
                    runs = engine.trainers
            bar.update(1)
            last = engine.step == until or all(t.finished for t in runs) or (deadline is not None and runs[0].elapsed >= deadline)
            if engine.step % runs[0].log_every == 0 or last:
                rate = tc.batch_size * (engine.step - step0) / max(1e-9, time.perf_counter() - t0)
                _log(runs, engine.step, losses, rate)
                bar.set_postfix(loss=f"{runs[0].last_loss:.4f}")
            if engine.step % every == 0 or last:
                engine.checkpoint()
    except (SystemExit, KeyboardInterrupt):
        engine.checkpoint()
        raise
    finally:
        bar.close()
    engine.sync()
    for trainer in runs:
        if trainer.finished and trainer.folder is not None and not trainer.folder.trained:
            trainer.export()
    return engine


def _read_curve(engine, losses: torch.Tensor):
    """Read out every run of the engine; under `until="plateau"` the runs whose curve has
    plateaued finish here and leave the engine (under `until="geometry"`, those whose geometry has
    settled as well). Returns the engine that trains on, and its losses."""
    labels = curves.readout_labels(engine.trainers[0].run.data.N, engine.trainers[0].run.train.curve_labels)
    until = engine.trainers[0].run.train.until
    done = []
    for trainer, ev in zip(engine.trainers, engine.read_out(labels)):
        trainer.record_curve(engine.step, ev)
        if until in ("plateau", "geometry") and curves.convergence(trainer.curve).status == curves.PLATEAUED \
                and (until == "plateau" or curves.geometry_settled(trainer.history)[0] == curves.SETTLED):
            done.append(trainer)
    if not done:
        return engine, losses
    engine.sync()
    for trainer in done:
        trainer.last_loss = float(losses.reshape(-1)[engine.trainers.index(trainer)])
        trainer.finished = True
        trainer.checkpoint()
        if trainer.folder is not None:
            trainer.export()
    if len(done) == len(engine.trainers):
        return engine, losses
    keep = [i for i, t in enumerate(engine.trainers) if t not in done]
    return engine.without(done), losses.reshape(-1)[keep]


def _log(runs: list[Trainer], step: int, losses: torch.Tensor, rate: float) -> None:
    """Read the runs' last losses (one device sync) into their logs, with the learning rate of
    the next step and the images/s of one run."""
    values = losses.reshape(-1).tolist()
    for trainer, loss in zip(runs, values):
        trainer.last_loss = loss
        if trainer.folder is not None:
            trainer.folder.append_log({"step": step, "loss": loss, "lr": trainer.run.train.lr * trainer.lr_factor(step),
                                       "images_per_s": round(rate, 1), "elapsed_s": round(trainer.elapsed, 2)})


def read_log(run_folder) -> list[dict]:
    """The `log.jsonl` of a run folder, one entry per logged step."""
    return RunFolder(run_folder).read_log()
