"""A content-addressed cache of trained runs: a run lives in `root/<config hash>/`.

Asking twice for the same configuration trains once; asking after an interruption resumes from
the last checkpoint. Notebooks share models through it, so a second `run_all.py` trains nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import RunConfig
from .train import Trainer

DEFAULT_ROOT = Path(os.environ.get("PAPERLIB_RUNS", "runs"))


def run_dir(run: RunConfig, root=None) -> Path:
    return Path(root if root is not None else DEFAULT_ROOT) / run.hash()


def is_trained(run: RunConfig, root=None) -> bool:
    return (run_dir(run, root) / "model.safetensors").exists()


def train_or_load(run: RunConfig, root=None, callbacks=(), progress: bool = True, device: str = "auto") -> Trainer:
    """The trained run: loaded when its directory holds a finished checkpoint, resumed when it
    holds a partial one, trained from scratch otherwise."""
    trainer = Trainer(run, out_dir=run_dir(run, root), device=device)
    if trainer.step < run.train.steps:
        trainer.fit(callbacks, progress=progress)
    return trainer
