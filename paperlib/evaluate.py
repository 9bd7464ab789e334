"""Sample a trained model on evaluation labels, score the images, and read the representation.

The representation is the flattened output of one UNet layer ("layer 4" by default) at the final
denoising step of the sampler, for the same labels whose images are scored (App. A.3). Scores are
always computed from the images (`score`), never stored alone: a cached evaluation is rescored
when it is loaded, so a corrected metric applies to every model already trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import data as datamod
from . import metrics
from .config import DataConfig
from .device import autocast_dtype
from .diffusion import Schedule, sample
from .files import atomic_write
from .model import UNet, capture

SOS_FAMILIES = ("sos", "sos+stripes", "stripes")


@dataclass
class Evaluation:
    """Generated images of `labels` with every reading of them (see `paperlib.metrics`):
    `outcome[name]` holds one boolean per label, `scores[region][name]` its mean per region."""

    labels: np.ndarray
    images: np.ndarray
    centres: np.ndarray
    profiles: np.ndarray
    correlation: np.ndarray
    outcome: dict[str, np.ndarray]
    scores: dict[str, dict]
    activations: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.scores["all"]["accuracy"]


def ideal_shape(config: DataConfig) -> str:
    """What an evaluation label's image should look like: a sum of stripes for the SOS and
    stripe families, a bump otherwise."""
    return "sos" if config.family in SOS_FAMILIES else "bump"


def evaluation_regions(labels: np.ndarray, config: DataConfig) -> dict[str, np.ndarray]:
    """`data.regions` of the config's held-out region, plus "seen" / "unseen" (evaluation labels
    in / not in the training set) when lambda < 1 subsamples the 2D images."""
    regions = datamod.regions(labels, config.holdout, config.N)
    if config.fraction < 1:
        seen = datamod.seen_mask(labels, datamod.make_dataset(config))
        regions.update(seen=seen, unseen=~seen & regions["in_distribution"])
    return regions


def score(images, labels, config: DataConfig, activations=None, regions=None) -> Evaluation:
    """Every reading of `images` generated for `labels` by a model trained on `config`, averaged
    over `regions` (default: `evaluation_regions`)."""
    labels = np.asarray(labels, dtype=np.float64)
    images = np.asarray(images, dtype=np.float32)
    centres, fallback = metrics.locate(images, config.periodic)
    profiles = metrics.profile_centres(images)
    correlation = metrics.validity(images, labels, config.N, config.sigma_x, config.sigma_y, ideal_shape(config), config.periodic)
    outcome = metrics.outcomes(centres, profiles, correlation >= metrics.VALID_CORRELATION, fallback, labels, config.N, config.periodic)
    regions = evaluation_regions(labels, config) if regions is None else regions
    return Evaluation(labels, images, centres, profiles, correlation, outcome, metrics.by_region(outcome, regions), dict(activations or {}))


@torch.no_grad()
def generate(model: UNet, schedule: Schedule, labels, steps: int | None = 50, seed: int = 0,
             layers=(), batch_size: int = 1024, progress: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Images in [0, 255] (n, N, N) and, per requested layer, activations at the last step (n, D).
    Sampling runs under the device's mixed precision (`device.autocast_dtype`; fp32 on a CPU);
    activations stay on the model's device until the last step has run."""
    model.eval()
    device = next(model.parameters()).device
    dtype = autocast_dtype(device)
    labels = np.asarray(labels, dtype=np.float64)
    images, acts = [], {name: [] for name in layers}
    n_steps = schedule.T if steps is None or steps >= schedule.T else steps
    bar = tqdm(total=n_steps * -(-len(labels) // batch_size), disable=not progress, desc="sample", unit="step", leave=False)
    for start in range(0, len(labels), batch_size):
        chunk = labels[start:start + batch_size]
        with capture(model, layers) as records, torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            def on_step(i, _t):
                bar.update(1)
                if i != n_steps - 1:
                    for r in records.values():
                        r.clear()
            x = sample(model, schedule, chunk, steps, seed + start, on_step)
        images.append(datamod.from_model_range(x[:, 0]).cpu().numpy())
        for name in layers:
            acts[name].append(records[name][-1].float().cpu().numpy())
    bar.close()
    return np.concatenate(images), {k: np.concatenate(v) for k, v in acts.items()}


def evaluate(model: UNet, schedule: Schedule, data_config: DataConfig, steps: int | None = 50, seed: int = 0,
             layers=(), labels=None, progress: bool = False) -> Evaluation:
    """Generate the N x N evaluation labels (or `labels`) and score them overall and per region.
    Images are rounded to float16, the precision the cache keeps, so a reloaded evaluation scores
    exactly as the fresh one."""
    labels = datamod.eval_labels(data_config.N) if labels is None else np.asarray(labels, dtype=np.float64)
    images, acts = generate(model, schedule, labels, steps, seed, layers, progress=progress)
    return score(images.astype(np.float16), labels, data_config, acts)


def evaluation_callback(results: dict, layers=("layer4",), steps: int | None = None, seed: int = 0, save_dir=None):
    """A `Trainer.fit` callback for the "over training" figures (Fig. 2c-i, 8): at each of the
    run's `eval_steps` it evaluates the EMA model, keeps the `Evaluation` in `results[step]`,
    appends the accuracies to `trainer.history` (saved with the checkpoint) and, with `save_dir`,
    writes it to `save_dir/eval_<step>.npz` so that a cached run still has it (`load_evaluations`)."""

    def callback(trainer) -> None:
        run = trainer.run
        ev = evaluate(trainer.ema, trainer.schedule, run.data, steps or run.diffusion.sample_steps, seed, layers)
        results[trainer.step] = ev
        trainer.history.append({"step": trainer.step, **{name: s["accuracy"] for name, s in ev.scores.items()}})
        if save_dir is not None:
            save_evaluation(ev, Path(save_dir) / f"eval_{trainer.step:08d}.npz")

    return callback


def save_evaluation(ev: Evaluation, path) -> Path:
    """Write an evaluation's labels, images (float16) and activations to `path` (.npz), atomically;
    its scores are written alongside for reading by eye and recomputed from the images on load."""
    arrays = {"labels": ev.labels, "images": ev.images.astype(np.float16), "scores": json.dumps(ev.scores),
              **{f"act_{k}": v for k, v in ev.activations.items()}}
    return atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays))


def load_evaluation(path, config: DataConfig) -> Evaluation:
    """A saved evaluation, rescored with today's metrics for a model trained on `config`."""
    with np.load(path) as z:
        if "images" not in z.files:
            raise ValueError(f"{path}: an evaluation without images cannot be rescored; delete it to evaluate again")
        acts = {k[4:]: z[k] for k in z.files if k.startswith("act_")}
        return score(z["images"].astype(np.float32), z["labels"], config, acts)


def load_evaluations(save_dir, config: DataConfig) -> dict[int, Evaluation]:
    """The evaluations an `evaluation_callback` saved, by step, rescored."""
    return {int(path.stem[5:]): load_evaluation(path, config) for path in sorted(Path(save_dir).glob("eval_*[0-9].npz"))}
