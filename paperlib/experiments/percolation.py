"""Section 3.3 and App. D: percolation of bump overlaps and the onset of learning (Fig. 6, 13, 14, 15).

The simulation is exact and fast; the training sweep trains one bump model per (sigma, lambda)
on the nested datasets of App. D.2 (the same lattice points for every sigma, each larger lambda a
superset), every model with the same number of optimiser steps so that the total number of
training batches is constant, as the paper does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import percolation
from ..config import RunConfig, preset
from ..evaluate import evaluate
from ..store import train_or_load

# Sweep points per preset: (sigmas, lambdas) of the training experiment.
TRAINING_SWEEPS = {
    "smoke": ((0.5, 1.0), (0.3, 1.0)),
    "laptop": ((0.1, 0.5, 1.0), (0.2, 0.5, 0.9)),
    "paper": ((0.1, 0.3, 0.5, 1.0, 2.0), tuple(np.round(np.arange(0.1, 1.01, 0.1), 2))),
}


def simulate(sigmas=(0.1, 0.3, 0.5, 1.0, 2.0), fractions=None, thresholds=(0.005,), seeds=range(5)) -> percolation.Percolation:
    """Fig. 6(c) (threshold 0.005), Fig. 13 (several thresholds), Fig. 14(b) (0.05)."""
    fractions = np.round(np.arange(0.1, 1.01, 0.1), 2) if fractions is None else fractions
    return percolation.simulate(sigmas, fractions, thresholds, seeds)


def run_config(preset_name: str, sigma: float, fraction: float, data_seed: int = 0) -> RunConfig:
    """The model of one sweep point: the preset's bump model on the nested lambda subsample."""
    return preset(preset_name, sigma_x=sigma, sigma_y=sigma, fraction=fraction, seed=data_seed)


@dataclass
class SweepPoint:
    sigma: float
    fraction: float
    n_images: int
    accuracy: float
    final_loss: float
    activations: np.ndarray
    labels: np.ndarray


def train_sweep(preset_name: str, sigmas=None, fractions=None, root=None, progress: bool = True) -> list[SweepPoint]:
    """Fig. 6(e), 14(c), 15: train (or load from the run cache) one model per sweep point and
    evaluate it on the N x N labels, keeping its layer-4 representation."""
    default_sigmas, default_fractions = TRAINING_SWEEPS[preset_name]
    points = []
    for sigma in sigmas or default_sigmas:
        for fraction in fractions or default_fractions:
            run = run_config(preset_name, sigma, fraction)
            trainer = train_or_load(run, root, progress=progress)
            ev = evaluate(trainer.ema, trainer.schedule, run.data, steps=run.diffusion.sample_steps, layers=("layer4",))
            points.append(SweepPoint(sigma, fraction, len(trainer.dataset), ev.accuracy, _final_loss(trainer), ev.activations["layer4"], ev.labels))
    return points


def _final_loss(trainer, batches: int = 8) -> float:
    """Mean training loss of the EMA model over a few seeded batches of its own data."""
    import torch

    from .. import data

    model, ds = trainer.ema, trainer.dataset
    g = torch.Generator().manual_seed(0)
    losses = []
    with torch.no_grad():
        for _ in range(batches):
            idx = torch.randint(0, len(ds), (min(64, len(ds)),), generator=g).numpy()
            x0 = data.to_model_range(ds.images(idx))[:, None].to(trainer.device)
            labels = torch.as_tensor(ds.labels[idx], dtype=torch.float32, device=trainer.device)
            losses.append(float(trainer.schedule.loss(model, x0, labels, g)))
    return float(np.mean(losses))


def accuracy_table(points: list[SweepPoint]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sigmas, fractions, accuracy[sigma, fraction]) from a sweep."""
    sigmas = np.array(sorted({p.sigma for p in points}))
    fractions = np.array(sorted({p.fraction for p in points}))
    acc = np.full((len(sigmas), len(fractions)), np.nan)
    for p in points:
        acc[np.searchsorted(sigmas, p.sigma), np.searchsorted(fractions, p.fraction)] = p.accuracy
    return sigmas, fractions, acc
