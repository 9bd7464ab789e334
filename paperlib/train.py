"""Training: AdamW with warm-up and a cosine or constant learning rate, EMA weights, callbacks,
atomic checkpoints and exact resume (App. A.6).

Every random draw of step s (which images, which timesteps, which noise) comes from a generator
seeded by (seed, s), so a run killed at any point and resumed from its last checkpoint ends with
the same weights as an uninterrupted run on the same machine. Checkpoints are written to a
temporary file then renamed, and loaded with `torch.load(weights_only=True)` (no code runs);
the final EMA weights are also exported as safetensors.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save_file
from tqdm.auto import tqdm

from . import data as datamod
from .config import RunConfig
from .diffusion import Schedule
from .model import UNet

Callback = Callable[["Trainer"], None]


def pick_device(device: str = "auto") -> torch.device:
    """CUDA, then Apple MPS, then the CPU."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def use_bf16(device: torch.device) -> bool:
    """bf16 autocast only where the hardware has it (on this project's CPUs it is ~9x slower)."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def _step_generator(seed: int, step: int) -> torch.Generator:
    state = np.random.SeedSequence([seed, step]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class Trainer:
    """Owns the model, its EMA copy, the optimiser and the step counter of one run.

    `out_dir` (optional) holds `checkpoint.pt` (resumable state), and after `fit` the EMA weights
    `model.safetensors` and `config.json`. A Trainer built on an `out_dir` with a checkpoint
    resumes from it.
    """

    def __init__(self, run: RunConfig, dataset: datamod.Dataset | None = None, out_dir=None, device="auto"):
        self.run = run
        self.device = pick_device(device)
        if run.train.threads:
            torch.set_num_threads(run.train.threads)
        self.dataset = dataset if dataset is not None else datamod.make_dataset(run.data)
        torch.manual_seed(run.train.seed)
        self.model = UNet(run.model, run.data.N).to(self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        tc = run.train
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay, foreach=True)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.lr_factor)
        self.schedule = Schedule(run.diffusion, self.device)
        self.step = 0
        self.elapsed = 0.0
        self.last_loss = float("nan")
        self.history: list[dict] = []
        self._epoch, self._perm = -1, None
        self.out_dir = Path(out_dir) if out_dir is not None else None
        if self.checkpoint_path is not None and self.checkpoint_path.exists():
            self.load(self.checkpoint_path)

    @property
    def checkpoint_path(self) -> Path | None:
        return self.out_dir / "checkpoint.pt" if self.out_dir is not None else None

    def lr_factor(self, step: int) -> float:
        tc = self.run.train
        if step < tc.warmup:
            return (step + 1) / tc.warmup
        if tc.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - tc.warmup) / max(1, tc.steps - tc.warmup))
        return tc.min_lr_ratio + (1 - tc.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

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

    def train_step(self) -> float:
        """One optimiser step; returns the loss."""
        self.model.train()
        idx = self.batch_indices(self.step)
        x0 = datamod.to_model_range(self.dataset.images(idx))[:, None].to(self.device)
        labels = torch.as_tensor(self.dataset.labels[idx], dtype=torch.float32, device=self.device)
        g = _step_generator(self.run.train.seed, self.step)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use_bf16(self.device)):
            loss = self.schedule.loss(self.model, x0, labels, g)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.run.train.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.run.train.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        with torch.no_grad():
            ema_p, p = list(self.ema.parameters()), list(self.model.parameters())
            torch._foreach_lerp_(ema_p, p, 1 - self.run.train.ema)
        self.step += 1
        self.last_loss = float(loss.detach())
        return self.last_loss

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "history": json.dumps(self.history),
            "config_hash": self.run.hash(),
        }

    def save(self, path=None) -> Path:
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            raise ValueError("path: this Trainer has no out_dir; pass a checkpoint path")
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_torch_save(self.state_dict(), path)
        return path

    def load(self, path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        if state["config_hash"] != self.run.hash():
            raise ValueError(f"checkpoint {path} belongs to run {state['config_hash']}, not {self.run.hash()}")
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.history = json.loads(state["history"])

    def export(self) -> Path:
        """Write the EMA weights (safetensors) and the run's config next to the checkpoint."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        weights = self.out_dir / "model.safetensors"
        tmp = weights.with_name(weights.name + ".tmp")
        state = {k: v.detach().cpu().contiguous() for k, v in self.ema.state_dict().items()}
        save_file(state, str(tmp), metadata={"config_hash": self.run.hash(), "step": str(self.step)})
        os.replace(tmp, weights)
        cfg = self.out_dir / "config.json"
        cfg.with_name("config.json.tmp").write_text(json.dumps(self.run.to_dict(), indent=1, sort_keys=True))
        os.replace(cfg.with_name("config.json.tmp"), cfg)
        return weights

    def fit(self, callbacks: tuple[Callback, ...] = (), until: int | None = None, progress: bool = True) -> "Trainer":
        """Train to `until` (default: the config's steps), running `callbacks` at each of the
        config's `eval_steps` and checkpointing every `checkpoint_every` steps (when out_dir is set)."""
        tc = self.run.train
        until = tc.steps if until is None else until
        eval_steps = set(tc.eval_steps)
        if self.step == 0 and 0 in eval_steps and not any(h.get("step") == 0 for h in self.history):
            for cb in callbacks:
                cb(self)
        bar = tqdm(total=until, initial=self.step, disable=not progress, desc=f"train {self.run.hash()}", unit="step")
        t0, step0 = time.perf_counter(), self.step
        while self.step < until:
            start = time.perf_counter()
            loss = self.train_step()
            self.elapsed += time.perf_counter() - start
            bar.update(1)
            if self.step % 20 == 0 or self.step == until:
                rate = (self.step - step0) * tc.batch_size / max(1e-9, time.perf_counter() - t0)
                bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{rate:.0f}")
            if self.step in eval_steps:
                for cb in callbacks:
                    cb(self)
            if self.out_dir is not None and (self.step % tc.checkpoint_every == 0 or self.step == until):
                self.save()
        bar.close()
        if self.out_dir is not None and self.step >= tc.steps:
            self.export()
        return self
