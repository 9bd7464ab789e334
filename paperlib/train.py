"""Training: AdamW with warm-up and a cosine or constant learning rate, EMA weights, callbacks,
atomic checkpoints and exact resume (App. A.6).

Every random draw of step s (which images, which timesteps, which noise) comes from a generator
seeded by (seed, s) on the training device, so a run killed at any point and resumed from its
last checkpoint ends with the same weights as an uninterrupted run on the same kind of device.
Checkpoints are written atomically and loaded with `torch.load(weights_only=True)` (no code
runs); the previous one is kept, so a damaged checkpoint is set aside and training resumes from
the one before. A run folder holds `config.json` (written when training starts, with the
provenance), `checkpoint.pt`, `log.jsonl` (loss, learning rate and images/s every `log_every`
steps), and when the run ends `model.safetensors` (EMA weights) and `run.json`.

Nothing here changes process-wide settings (threads, global seeds, backend flags): entry points
and worker processes own those. The model is initialised under a forked RNG.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save_file
from tqdm.auto import tqdm

from . import data as datamod
from . import provenance
from .config import RunConfig
from .device import PRECISIONS, autocast_dtype, pick_device
from .diffusion import Schedule
from .files import atomic_write, atomic_write_json
from .model import UNet

Callback = Callable[["Trainer"], None]

# Trainers (and stacks) inside `fit`, which `checkpoint_active` saves when the process is told to
# stop: SIGTERM (a worker or job being stopped), SIGUSR1/SIGUSR2 (SLURM's and submitit's warning
# before a time limit or preemption). During a training step these signals are held back, so a
# checkpoint is always taken between steps, where the state is whole.
_ACTIVE: list = []
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGUSR1", "SIGUSR2") if hasattr(signal, name))


@contextlib.contextmanager
def whole_step():
    """Hold back the stop signals for the duration of one step (main thread only)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def checkpoint_active() -> int:
    """Save every trainer now inside `fit` (between two steps); returns how many."""
    for trainer in list(_ACTIVE):
        trainer.checkpoint()
    return len(_ACTIVE)


def save_on_signal() -> None:
    """Make SIGTERM checkpoint every training run of this process, then exit (status 143). For
    entry points and worker processes; a library never installs handlers by itself."""

    def handler(signum, _frame):
        checkpoint_active()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def step_generator(seed: int, step: int, device="cpu") -> torch.Generator:
    """The generator of one training step: seeded by (seed, step) through numpy's SeedSequence."""
    state = np.random.SeedSequence([seed, step]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device=device).manual_seed(int(state[0]) << 32 | int(state[1]))


def lr_factor(run: RunConfig, step: int) -> float:
    """Linear warm-up, then constant or cosine down to `min_lr_ratio` at the last step."""
    tc = run.train
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


class Trainer:
    """Owns the model, its EMA copy, the optimiser and the step counter of one run.

    With `out_dir` it checkpoints there and resumes from the checkpoint it finds. Execution
    settings, which do not change what is computed beyond float rounding: `log_every`,
    `checkpoint_every` (default: the config's), `precision` ("auto": `autocast_dtype`, or "fp32",
    "bf16", "fp16") and `compile` (`torch.compile` the network for training steps).
    """

    def __init__(self, run: RunConfig, dataset: datamod.Dataset | None = None, out_dir=None, device="auto",
                 log_every: int = 50, precision: str = "auto", compile: bool = False):
        self.run = run
        self.device = pick_device(device)
        self.dataset = dataset if dataset is not None else datamod.make_dataset(run.data)
        self.model = new_model(run, self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.optimizer = make_optimizer(self.model.parameters(), run, self.device)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.lr_factor)
        self.dtype = autocast_dtype(self.device) if precision == "auto" else PRECISIONS[precision]
        self.forward = torch.compile(self.model) if compile else self.model
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)
        self.schedule = Schedule(run.diffusion, self.device)
        self.step = 0
        self.elapsed = 0.0
        self.last_loss = float("nan")
        self.history: list[dict] = []
        self.log_every = log_every
        self._epoch, self._perm = -1, None
        self._pending_loss: torch.Tensor | None = None
        self.out_dir = Path(out_dir) if out_dir is not None else None
        if self.out_dir is not None:
            self._resume()

    # --- data and schedule ----------------------------------------------------------------------

    def lr_factor(self, step: int) -> float:
        return lr_factor(self.run, step)

    def batch_indices(self, step: int) -> np.ndarray:
        """Indices of step `step`: consecutive slices of one seeded permutation per epoch."""
        n, B = len(self.dataset), self.run.train.batch_size
        positions = np.arange(step * B, (step + 1) * B)
        out = np.empty(B, np.int64)
        for epoch in np.unique(positions // n):
            if epoch != self._epoch:
                seq = np.random.SeedSequence([self.run.train.seed, 1, int(epoch)])
                self._epoch, self._perm = epoch, np.random.default_rng(seq).permutation(n)
            sel = positions // n == epoch
            out[sel] = self._perm[positions[sel] % n]
        return out

    def training_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x_t, t, eps, labels) of step `step`, rendered and drawn on the training device."""
        idx = self.batch_indices(step)
        x0 = datamod.to_model_range(self.dataset.images(idx, self.device))[:, None]
        labels = torch.as_tensor(self.dataset.labels[idx], dtype=torch.float32).to(self.device)
        x_t, t, noise = self.schedule.training_inputs(x0, step_generator(self.run.train.seed, step, self.device))
        return x_t, t, noise, labels

    # --- one step -------------------------------------------------------------------------------

    def train_step(self) -> torch.Tensor:
        """One optimiser step; returns the loss as a tensor (reading it waits for the device)."""
        self.model.train()
        x_t, t, noise, labels = self.training_batch(self.step)
        with torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            predicted = self.forward(x_t, t, labels)
        loss = self.schedule.weighted_mse(predicted, noise, t)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.run.train.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.run.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.parameters()), list(self.model.parameters()), 1 - self.run.train.ema)
        self.step += 1
        self._pending_loss = loss.detach()
        return self._pending_loss

    # --- checkpoints ----------------------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path | None:
        return self.out_dir / "checkpoint.pt" if self.out_dir is not None else None

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "history": json.dumps(self.history),
            "config_hash": self.run.hash(),
        }

    def save(self, path=None) -> Path:
        """Write the resumable state atomically; the previous checkpoint is kept as
        `checkpoint.prev.pt` (the fallback if the new one is ever found damaged)."""
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            raise ValueError("path: this Trainer has no out_dir; pass a checkpoint path")
        state = self.state_dict()
        if path.exists():
            path.replace(path.with_name(path.stem + ".prev.pt"))
        return atomic_write(path, lambda tmp: torch.save(state, tmp))

    def checkpoint(self) -> None:
        """Save now, if this Trainer has a folder (what a stop signal does)."""
        if self.out_dir is not None:
            self.save()

    def load(self, path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        if state["config_hash"] not in (self.run.hash(), self.run.legacy_hash()):
            raise ValueError(f"checkpoint {path} belongs to run {state['config_hash']}, not {self.run.hash()}")
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.history = json.loads(state["history"])

    def _resume(self) -> None:
        """Load the newest intact checkpoint of out_dir; a damaged one is renamed `*.damaged`
        with a warning that names it, and the one before it (or a fresh start) is used."""
        for path in (self.checkpoint_path, self.checkpoint_path.with_name("checkpoint.prev.pt")):
            if not path.exists():
                continue
            try:
                self.load(path)
                return
            except ValueError:
                raise
            except Exception as error:  # noqa: BLE001  (torch raises many kinds for a truncated file)
                damaged = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.damaged")
                path.replace(damaged)
                warnings.warn(f"damaged checkpoint {path} ({type(error).__name__}: {error}); moved to {damaged.name}", stacklevel=2)

    # --- records in the run folder -----------------------------------------------------------------

    def start_record(self) -> None:
        """`config.json` (the run's configuration, its hash and provenance) when training starts."""
        if self.out_dir is not None:
            atomic_write_json(self.out_dir / "config.json", {**self.run.to_dict(), "hash": self.run.hash(),
                                                            "started": provenance.collect(self.device)})

    def log(self, rate: float) -> None:
        """Read the last loss (a device sync, so only every `log_every` steps) into the log, with
        the learning rate of the next step (from the schedule: a stack's Trainers hold no live optimiser)."""
        if self._pending_loss is None:
            return
        self.last_loss = float(self._pending_loss)
        if self.out_dir is not None:
            line = {"step": self.step, "loss": self.last_loss, "lr": self.run.train.lr * self.lr_factor(self.step),
                    "images_per_s": round(rate, 1), "elapsed_s": round(self.elapsed, 2)}
            with open(self.out_dir / "log.jsonl", "a") as f:
                f.write(json.dumps(line) + "\n")

    def export(self) -> Path:
        """Write the EMA weights (safetensors) and `run.json` (how the run went, and where)."""
        weights = self.out_dir / "model.safetensors"
        state = {k: v.detach().cpu().contiguous() for k, v in self.ema.state_dict().items()}
        atomic_write(weights, lambda tmp: save_file(state, str(tmp), metadata={"config_hash": self.run.hash(), "step": str(self.step)}))
        atomic_write_json(self.out_dir / "run.json", {"hash": self.run.hash(), "steps": self.step, "train_seconds": round(self.elapsed, 2),
                                                     "final_loss": self.last_loss, "finished": provenance.collect(self.device)})
        return weights

    # --- the loop ---------------------------------------------------------------------------------

    def fit(self, callbacks: tuple[Callback, ...] = (), until: int | None = None, progress: bool = True,
            deadline: float | None = None, checkpoint_every: int | None = None) -> "Trainer":
        """Train to `until` (default: the config's steps), or until `deadline` seconds of training
        time have passed, running `callbacks` at the config's `eval_steps` and checkpointing every
        `checkpoint_every` steps (default: the config's) when out_dir is set."""
        tc = self.run.train
        until = tc.steps if until is None else until
        every = checkpoint_every or tc.checkpoint_every
        eval_steps = set(tc.eval_steps)
        if self.step == 0:
            self.start_record()
            if 0 in eval_steps and not any(h.get("step") == 0 for h in self.history):
                for cb in callbacks:
                    cb(self)
        bar = tqdm(total=until, initial=self.step, disable=not progress, desc=f"train {self.run.hash()}", unit="step")
        t0, step0 = time.perf_counter(), self.step
        _ACTIVE.append(self)
        try:
            self._loop(callbacks, until, deadline, every, eval_steps, bar, t0, step0)
        finally:
            _ACTIVE.remove(self)
        bar.close()
        if self.out_dir is not None and self.step >= tc.steps:
            self.export()
        return self

    def _loop(self, callbacks, until, deadline, every, eval_steps, bar, t0, step0) -> None:
        while self.step < until and (deadline is None or self.elapsed < deadline):
            start = time.perf_counter()
            with whole_step():  # a step and its evaluation are never cut apart by a stop signal
                self.train_step()
                self.elapsed += time.perf_counter() - start
                if self.step in eval_steps:
                    for cb in callbacks:
                        cb(self)
            bar.update(1)
            last = self.step == until or (deadline is not None and self.elapsed >= deadline)
            if self.step % self.log_every == 0 or last:
                self.log(self.run.train.batch_size * (self.step - step0) / max(1e-9, time.perf_counter() - t0))
                bar.set_postfix(loss=f"{self.last_loss:.4f}")
            if self.out_dir is not None and (self.step % every == 0 or last):
                self.save()


def read_log(run_folder) -> list[dict]:
    """The `log.jsonl` of a run folder, one entry per logged step (a step logged twice, before
    and after a resume, keeps its last entry)."""
    path = Path(run_folder) / "log.jsonl"
    if not path.exists():
        return []
    entries = {}
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # a line cut short when the process was killed
            continue
        entries[entry["step"]] = entry
    return [entries[s] for s in sorted(entries)]
