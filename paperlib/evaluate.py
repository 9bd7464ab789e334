"""Sample a trained model on evaluation labels, score it with Eq. 1, and read its representation.

The representation is the flattened output of one UNet layer ("layer 4" by default) at the final
denoising step of the sampler, for the same labels whose images are scored (App. A.3).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import data as datamod
from .config import DataConfig
from .diffusion import Schedule, sample
from .metrics import accuracy_by_region, estimate_centres
from .model import UNet, capture


@dataclass
class Evaluation:
    labels: np.ndarray
    images: np.ndarray
    centres: np.ndarray
    scores: dict[str, dict]
    activations: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.scores["all"]["accuracy"]


@torch.no_grad()
def generate(model: UNet, schedule: Schedule, labels, steps: int | None = 50, seed: int = 0,
             layers=(), batch_size: int = 1024) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Images in [0, 255] (n, N, N) and, per requested layer, activations at the last step (n, D)."""
    model.eval()
    labels = np.asarray(labels, dtype=np.float64)
    images, acts = [], {name: [] for name in layers}
    last_step = schedule.T - 1 if steps is None or steps >= schedule.T else steps - 1
    for start in range(0, len(labels), batch_size):
        chunk = labels[start:start + batch_size]
        with capture(model, layers) as records:
            def keep_only_last(i, _t):
                if i != last_step:
                    for r in records.values():
                        r.clear()
            x = sample(model, schedule, chunk, steps, seed + start, keep_only_last if layers else None)
        images.append(datamod.from_model_range(x[:, 0]).cpu().numpy())
        for name in layers:
            acts[name].append(records[name][-1].numpy())
    return np.concatenate(images), {k: np.concatenate(v) for k, v in acts.items()}


def evaluate(model: UNet, schedule: Schedule, data_config: DataConfig, steps: int | None = 50, seed: int = 0,
             layers=(), labels=None) -> Evaluation:
    """Generate the N x N evaluation labels (or `labels`) and score them overall and per region."""
    N = data_config.N
    labels = datamod.eval_labels(N) if labels is None else np.asarray(labels, dtype=np.float64)
    images, acts = generate(model, schedule, labels, steps, seed, layers)
    centres = estimate_centres(images)
    regions = datamod.regions(labels, data_config.holdout, N)
    scores = accuracy_by_region(centres, labels, regions, N, data_config.periodic)
    return Evaluation(labels, images, centres, scores, acts)


def evaluation_callback(results: dict, layers=("layer4",), steps: int | None = None, seed: int = 0, save_dir=None):
    """A `Trainer.fit` callback for the "over training" figures (Fig. 2c-i, 8): at each of the
    run's `eval_steps` it evaluates the EMA model, keeps the `Evaluation` in `results[step]`,
    appends the accuracies to `trainer.history` (saved with the checkpoint) and, with `save_dir`,
    writes labels, images, centres, accuracies and activations to `save_dir/eval_<step>.npz` (atomically)
    so that a cached run still has them (`load_evaluations`)."""

    def callback(trainer) -> None:
        run = trainer.run
        ev = evaluate(trainer.ema, trainer.schedule, run.data, steps or run.diffusion.sample_steps, seed, layers)
        results[trainer.step] = ev
        trainer.history.append({"step": trainer.step, **{name: s["accuracy"] for name, s in ev.scores.items()}})
        if save_dir is not None:
            save_evaluation(ev, Path(save_dir) / f"eval_{trainer.step:08d}.npz")

    return callback


def save_evaluation(ev: Evaluation, path, images: bool = True) -> Path:
    """Write an evaluation to `path` (.npz) atomically; images are kept as float16 when asked."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    extra = {"images": ev.images.astype(np.float16)} if images else {}
    np.savez_compressed(tmp, labels=ev.labels, centres=ev.centres, scores=json.dumps(ev.scores), **extra,
                        **{f"act_{k}": v for k, v in ev.activations.items()})
    os.replace(tmp, path)
    return path


def load_evaluation(path) -> Evaluation:
    with np.load(path) as z:
        acts = {k[4:]: z[k] for k in z.files if k.startswith("act_")}
        images = z["images"].astype(np.float32) if "images" in z.files else np.empty(0)
        return Evaluation(z["labels"], images, z["centres"], json.loads(str(z["scores"])), acts)


def load_evaluations(save_dir) -> dict[int, Evaluation]:
    """The evaluations an `evaluation_callback` saved, by step."""
    return {int(path.stem[5:]): load_evaluation(path) for path in sorted(Path(save_dir).glob("eval_*[0-9].npz"))}
