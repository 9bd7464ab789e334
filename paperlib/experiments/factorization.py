"""Section 3.1, App. B: does the model learn a factorized (Clifford-like) torus? (Fig. 2, 3, 8)

One model trains on the periodic bump set (the torus of section 3.1); at checkpoints over
training its layer-4 representation of the N x N labels is read at the final denoising step and
saved with the run, so a cached run keeps its history. Each checkpoint gets accuracy, the PCA
eigenspectrum, the participation ratio and the Wasserstein distances of its ring statistics to
ideal 3D and Clifford tori; the final one also persistence diagrams and the ring histograms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import geometry as G
from ..config import RunConfig, preset
from ..store import evaluations_over_training, train_all

CHECKPOINTS = {"smoke": 4, "laptop": 6, "paper": 11}


def torus_run(preset_name: str) -> RunConfig:
    """The preset's bump model on the periodic set, evaluated at evenly spaced checkpoints."""
    run = preset(preset_name, periodic=True)
    steps = run.train.steps
    eval_steps = tuple(int(s) for s in np.linspace(0, steps, CHECKPOINTS[preset_name]).round())
    return run.replace(train={"eval_steps": eval_steps})


@dataclass
class Checkpoint:
    step: int
    accuracy: float
    spectrum: np.ndarray
    participation_ratio: float
    explained_top4: float
    pca3: np.ndarray
    labels: np.ndarray
    distances: dict
    activations: np.ndarray


def runs(preset_name: str) -> list[RunConfig]:
    """Every model this section trains (`run_all.py` trains them all up front, in parallel)."""
    return [torus_run(preset_name)]


def over_training(preset_name: str, root=None, progress: bool = True, workers: int | None = None) -> tuple[RunConfig, list[Checkpoint]]:
    """Train (or load) the torus model and analyse every saved checkpoint (Fig. 2c-g, 8)."""
    run = torus_run(preset_name)
    train_all([run], root, workers, progress)
    out = []
    for step, ev in sorted(evaluations_over_training(run, root).items()):
        X = ev.activations["layer4"]
        order, n_x, n_y = G.grid_from_labels(ev.labels)
        X, labels = X[order], ev.labels[order]
        out.append(Checkpoint(step, ev.accuracy, G.pca_spectrum(X), G.participation_ratio(X), G.explained_variance(X, 4),
                              G.pca_project(X, 3), labels, G.torus_distances(X, n_x, n_y), X))
    return run, out


def final_geometry(checkpoint: Checkpoint, n_landmarks: int = 300) -> dict:
    """Fig. 2(b) and Fig. 3: persistence of the model and of an ideal torus, and the ring
    statistics of the ideal 3D torus, the model and the ideal Clifford torus."""
    n = int(np.sqrt(len(checkpoint.labels)))
    return {
        "model_homology": G.persistence(checkpoint.activations, n_landmarks=n_landmarks),
        "torus_homology": G.persistence(G.standard_torus(n, n), n_landmarks=n_landmarks),
        "rings": {"3D torus": G.ring_tests(G.standard_torus(n, n), n, n),
                  "model": G.ring_tests(checkpoint.activations, n, n),
                  "Clifford torus": G.ring_tests(G.clifford_torus(n, n), n, n)},
    }
