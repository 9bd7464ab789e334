"""Sample a trained model on evaluation labels, score the images, and read the representation.

The representation is the flattened output of one UNet layer ("layer 4" by default) at the final
denoising step of the sampler, for the same labels whose images are scored (App. A.3). Scores are
always computed from the images (`score`), never stored alone: a cached evaluation is rescored
when it is loaded, so a corrected metric applies to every model already trained.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import data as datamod
from . import geometry, metrics
from .config import DataConfig, ModelConfig
from .device import PRECISIONS, autocast, autocast_dtype
from .diffusion import Schedule, initial_noise, sample
from .files import atomic_write
from .model import UNet, capture
from .runfolder import Damaged, RunFolder

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


def evaluation_regions(labels: np.ndarray, config: DataConfig, holdout=None) -> dict[str, np.ndarray]:
    """`data.regions` of a held-out region (default: the config's own), plus, when lambda < 1
    subsamples the 2D images, "seen" (evaluation labels that are training images; they are never
    in the held-out region) and "unseen" (in distribution but not trained on)."""
    regions = datamod.regions(labels, config.holdout if holdout is None else holdout, config.N)
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
    shapes = metrics.shape_correlations(images, labels, config.N, config.sigma_x, config.sigma_y, config.periodic)
    correlation = shapes[ideal_shape(config)]
    outcome = metrics.outcomes(centres, profiles, shapes, ideal_shape(config), fallback, labels, config.N, config.periodic)
    regions = evaluation_regions(labels, config) if regions is None else regions
    return Evaluation(labels, images, centres, profiles, correlation, outcome, metrics.by_region(outcome, regions), dict(activations or {}))


def sample_bytes(model: ModelConfig, N: int) -> int:
    """Bytes one label's forward pass holds at its peak when sampling: the skip connections, the
    largest block's working tensors (about 8 of its size) and the largest attention's scores
    (heads x tokens^2, three such tensors), in float32."""
    channels = [model.width * m for m in model.channel_mult]
    sizes = [c * (N // 2**level) ** 2 for level, c in enumerate(channels)]
    scores = [3 * model.heads * ((N // 2**level) ** 2) ** 2 for level, on in zip((1, 2, 3), model.attention) if on]
    return 4 * (sum(sizes) + 8 * max(sizes) + max(scores, default=0))


# On a CPU a batch pays while its working set stays near the caches: the laptop UNet at N = 32
# samples 2.1-2.3x faster per image in batches of 64 (20 MiB) than of 1024 (320 MiB) on one thread
# (`python -m paperlib.bench sampling-batch`), so CPU batches are sized to this many bytes.
CPU_SAMPLING_BYTES = 24 << 20


def evaluation_batch(model: ModelConfig, N: int, device=None, budget: int | None = None, most: int = 1024) -> int:
    """Labels per sampling batch so that a forward pass fits `budget` bytes (default: a third of
    the GPU's free memory; `CPU_SAMPLING_BYTES` on the CPU), at most `most`."""
    if budget is None:
        device = torch.device(device) if device is not None else torch.device("cpu")
        budget = torch.cuda.mem_get_info(device)[0] // 3 if device.type == "cuda" else CPU_SAMPLING_BYTES
    return int(max(1, min(most, budget // sample_bytes(model, N))))


def starting_noise(n: int, N: int, seed: int) -> torch.Tensor:
    """The starting noise of `n` labels' samples, drawn at once on the host from `seed`, so that a
    label's image does not depend on the batches it is sampled in (nor on the device)."""
    return initial_noise((n, 1, N, N), seed, "cpu")[0]


@torch.no_grad()
def generate(model: UNet, schedule: Schedule, labels, steps: int | None = 50, seed: int = 0,
             layers=(), batch_size: int | None = None, progress: bool = False, precision: str = "auto",
             at_step: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Images in [0, 255] (n, N, N) and, per requested layer, activations at the last step (n, D),
    or at sampling step `at_step` (0 .. steps - 1; App. A.3 reads other steps).
    Sampling runs in the device's precision (`paperlib.device`: bf16 on recent GPUs, fp32 on a
    CPU; `precision` "fp32", "bf16" or "fp16" overrides it), in batches sized to its memory (`evaluation_batch`), from starting noise drawn for all
    labels at once (DDIM's images do not depend on the batches; DDPM's later draws do); activations
    stay on the model's device until the last step has run."""
    model.eval()
    device = next(model.parameters()).device
    dtype = autocast_dtype(device) if precision == "auto" else PRECISIONS[precision]
    batch_size = batch_size or evaluation_batch(model.config, model.N, device)
    labels = np.asarray(labels, dtype=np.float64)
    images, acts = [], {name: [] for name in layers}
    n_steps = schedule.T if steps is None or steps >= schedule.T else steps
    bar = tqdm(total=n_steps * -(-len(labels) // batch_size), disable=not progress, desc="sample", unit="step", leave=False)
    noise = starting_noise(len(labels), model.N, seed)
    keep = n_steps - 1 if at_step is None else at_step
    if not 0 <= keep < n_steps:
        raise ValueError(f"at_step: {at_step} must lie in [0, {n_steps - 1}]")
    for start in range(0, len(labels), batch_size):
        chunk = labels[start:start + batch_size]
        with capture(model, layers) as records, autocast(device, dtype):
            def on_step(i, _t):
                bar.update(1)
                if i <= keep:  # what is recorded from step `keep` on starts with step `keep`'s activations
                    for r in records.values():
                        r.clear()
            x = sample(model, schedule, chunk, steps, seed + start, on_step, noise[start:start + batch_size].to(device))
        images.append(datamod.from_model_range(x[:, 0]).cpu().numpy())
        for name in layers:
            acts[name].append(records[name][0].float().cpu().numpy())
    bar.close()
    return np.concatenate(images), {k: np.concatenate(v) for k, v in acts.items()}


def evaluate(model: UNet, schedule: Schedule, data_config: DataConfig, steps: int | None = 50, seed: int = 0,
             layers=(), labels=None, progress: bool = False, precision: str = "auto", at_step: int | None = None) -> Evaluation:
    """Generate the N x N evaluation labels (or `labels`) and score them overall and per region.
    Images are rounded to float16, the precision the cache keeps, so a reloaded evaluation scores
    exactly as the fresh one."""
    labels = datamod.eval_labels(data_config.N) if labels is None else np.asarray(labels, dtype=np.float64)
    images, acts = generate(model, schedule, labels, steps, seed, layers, progress=progress, precision=precision, at_step=at_step)
    return score(images.astype(np.float16), labels, data_config, acts)


def evaluation_callback(folder: RunFolder, layers=("layer4",), steps: int | None = None, seed: int = 0):
    """A `Trainer.fit` callback for the "over training" figures (Fig. 2c-i, 8): at each of the
    run's `eval_steps` it evaluates the EMA model, appends the accuracies to `trainer.history`
    (saved with the checkpoint) and writes the evaluation into the run folder, so that a cached
    run still has it (`load_evaluations`). For a run trained until its geometry settles
    (`until="geometry"`) the history also keeps each layer's `geometry.shape_summary`, which
    `curves.geometry_settled` reads."""

    def callback(trainer) -> None:
        run = trainer.run
        ev = evaluate(trainer.ema, trainer.schedule, run.data, steps or run.diffusion.sample_steps, seed, layers)
        entry = {"step": trainer.step, **{name: s["accuracy"] for name, s in ev.scores.items()}}
        if run.train.until == "geometry":
            entry["shape"] = {layer: geometry.shape_summary(ev.activations[layer], ev.labels) for layer in layers}
        trainer.history.append(entry)
        save_evaluation(ev, folder.evaluation_at(trainer.step))

    return callback


def save_evaluation(ev: Evaluation, path) -> Path:
    """Write an evaluation's labels, images (float16) and activations to `path` (.npz), atomically;
    its scores are written alongside for reading by eye and recomputed from the images on load."""
    arrays = {"labels": ev.labels, "images": ev.images.astype(np.float16), "scores": json.dumps(ev.scores),
              **{f"act_{k}": v for k, v in ev.activations.items()}}
    return atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays))


def load_evaluation(path, config: DataConfig) -> Evaluation:
    """A saved evaluation, rescored with today's metrics for a model trained on `config`; a file
    numpy cannot read is `Damaged`."""
    try:
        with np.load(path) as z:
            if "images" not in z.files:
                raise ValueError(f"{path}: an evaluation without images cannot be rescored; delete it to evaluate again")
            acts = {k[4:]: z[k] for k in z.files if k.startswith("act_")}
            images, labels = z["images"].astype(np.float32), z["labels"]
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise Damaged(f"cannot read {path}") from error
    return score(images, labels, config, acts)


def load_evaluations(folder: RunFolder, config: DataConfig) -> dict[int, Evaluation]:
    """The evaluations an `evaluation_callback` saved in a run folder, by step, rescored."""
    return {step: load_evaluation(path, config) for step, path in folder.evaluations_over_training().items()}
