"""Section 3.3 and App. D: percolation of bump overlaps and the onset of learning (Fig. 6, 13, 14, 15).

The simulation is exact and fast; the training sweep trains one bump model per (sigma, lambda)
on the nested datasets of App. D.2 (the same lattice points for every sigma, each larger lambda a
superset), every model with the same number of optimiser steps so that the total number of
training batches is constant, as the paper does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import data, percolation
from ..config import RunConfig, preset
from ..store import evaluation, train_all, train_or_load

# Sweep points per preset: (sigmas, lambdas) of the training experiment, and its image size N
# (the lattice is N x N; the laptop preset trains at N = 16, ~4x cheaper per model, and its
# simulation is shown on the same lattice next to the paper's 32 x 32).
TRAINING_SWEEPS = {
    "smoke": ((0.5, 1.0), (0.3, 1.0)),
    "laptop": ((0.1, 0.5, 1.0), (0.2, 0.5, 0.9)),
    "paper": ((0.1, 0.3, 0.5, 1.0, 2.0), tuple(np.round(np.arange(0.1, 1.01, 0.1), 2))),
}
SWEEP_N = {"smoke": 16, "laptop": 16, "paper": 32}


def simulate(sigmas=(0.1, 0.3, 0.5, 1.0, 2.0), fractions=None, thresholds=(0.005,), seeds=range(5), N: int = 32) -> percolation.Percolation:
    """Fig. 6(c) (threshold 0.005), Fig. 13 (several thresholds), Fig. 14(b) (0.05)."""
    fractions = np.round(np.arange(0.1, 1.01, 0.1), 2) if fractions is None else fractions
    return percolation.simulate(sigmas, fractions, thresholds, seeds, N)


def run_config(preset_name: str, sigma: float, fraction: float, data_seed: int = 0) -> RunConfig:
    """The model of one sweep point: the preset's bump model on the nested lambda subsample."""
    return preset(preset_name, N=SWEEP_N[preset_name], sigma_x=sigma, sigma_y=sigma, fraction=fraction, seed=data_seed)


def runs(preset_name: str) -> list[RunConfig]:
    """Every model this section trains (`run_all.py` trains them all up front, in parallel)."""
    sigmas, fractions = TRAINING_SWEEPS[preset_name]
    return [run_config(preset_name, s, f) for s in sigmas for f in fractions]


@dataclass
class SweepPoint:
    sigma: float
    fraction: float
    n_images: int
    accuracy: float
    train_loss: float
    validation_loss: float
    activations: np.ndarray
    labels: np.ndarray
    sample: np.ndarray  # the generated image at the label (N/2, N/2) (Fig. 6d)


def train_sweep(preset_name: str, root=None, progress: bool = True) -> list[SweepPoint]:
    """Fig. 6(e), 14(c), 15: train (or load from the run cache) one model per sweep point,
    evaluate it on the N x N labels (keeping its layer-4 representation) and measure its final
    loss on its own images and on the lattice images it did not see."""
    wanted = runs(preset_name)
    train_all(wanted, root, progress=progress)
    points = []
    for run in wanted:
        trainer = train_or_load(run, root, progress=progress)
        ev = evaluation(run, root, progress=progress)
        train_loss, validation_loss = final_losses(trainer)
        centre = int(np.flatnonzero((ev.labels == run.data.N / 2).all(axis=1))[0])
        points.append(SweepPoint(run.data.sigma_x, run.data.fraction, len(trainer.dataset), ev.accuracy,
                                 train_loss, validation_loss, ev.activations["layer4"], ev.labels, ev.images[centre]))
    return points


def final_losses(trainer, n: int = 256, repeats: int = 4) -> tuple[float, float]:
    """Fig. 14(c): the training objective of the EMA model, with seeded noise and timesteps, on
    up to `n` of its training images and on up to `n` lattice images left out by the subsample
    (NaN when lambda = 1 leaves none out)."""
    run = trainer.run
    full = data.make_dataset(run.replace(data={"fraction": 1.0}).data)
    seen = {tuple(label) for label in trainer.dataset.labels}
    unseen = np.array([i for i, label in enumerate(full.labels) if tuple(label) not in seen], dtype=np.int64)

    def loss(ds, idx) -> float:
        if len(idx) == 0:
            return float("nan")
        idx = idx[:n]
        x0 = data.to_model_range(ds.images(idx))[:, None].to(trainer.device)
        labels = torch.as_tensor(ds.labels[idx], dtype=torch.float32, device=trainer.device)
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            return float(np.mean([float(trainer.schedule.loss(trainer.ema, x0, labels, g)) for _ in range(repeats)]))

    order = np.random.default_rng(0).permutation
    return loss(trainer.dataset, order(len(trainer.dataset))), loss(full, order(unseen))


def accuracy_table(points: list[SweepPoint]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sigmas, fractions, accuracy[sigma, fraction]) from a sweep."""
    sigmas = np.array(sorted({p.sigma for p in points}))
    fractions = np.array(sorted({p.fraction for p in points}))
    acc = np.full((len(sigmas), len(fractions)), np.nan)
    for p in points:
        acc[np.searchsorted(sigmas, p.sigma), np.searchsorted(fractions, p.fraction)] = p.accuracy
    return sigmas, fractions, acc
