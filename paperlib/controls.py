"""Controls: what a claim's reading gives without any learning (docs/conventions.md, "Claims").

A claim about a trained model is evidence only where the model differs, in the paper's direction,
from what the same reading gives for
- the oracle: the exact image of every label (what a perfect model scores);
- the memorizer: every label drawn as the image of its nearest training label (what a model
  that only recalls its training set scores; labels on a held-out region's edge lie a fraction
  of a pixel from training labels, so a memorizer can score there);
- the input images themselves, an untrained network and the conditioning as the network receives
  it (the label encodings), for representation geometry (section 3.1: the images of a torus are a
  torus; an additive code with harmonics passes the ring tests; periodic label frequencies make
  the encodings themselves a Clifford torus).
Each control is scored by `evaluate.score` like a model's images, so every region and reading is
available for it.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from . import data as datamod
from .config import DataConfig, RunConfig
from .evaluate import Evaluation, ideal_shape, score
from .model import LABEL_FREQS, sinusoidal


def oracle(config: DataConfig, labels=None) -> Evaluation:
    """The exact image of every evaluation label, scored."""
    labels = datamod.eval_labels(config.N) if labels is None else np.asarray(labels, float)
    images = datamod.render(labels, config.N, config.sigma_x, config.sigma_y, ideal_shape(config), config.periodic).numpy()
    return score(images.astype(np.float16), labels, config)


def nearest_training(config: DataConfig, labels) -> np.ndarray:
    """Index into the training set of each label's nearest training label (wrapping on the torus)."""
    train = datamod.make_dataset(config).labels
    labels = np.asarray(labels, float)
    if config.periodic:
        return cKDTree(np.mod(train, config.N), boxsize=config.N).query(np.mod(labels, config.N))[1]
    return cKDTree(train).query(labels)[1]


def memorizer(config: DataConfig, labels=None) -> Evaluation:
    """Each evaluation label drawn as the training image of its nearest training label (its own
    kind and shape: a stripe where the nearest is a stripe), scored against the label asked for."""
    labels = datamod.eval_labels(config.N) if labels is None else np.asarray(labels, float)
    dataset = datamod.make_dataset(config)
    images = dataset.images(nearest_training(config, labels)).numpy()
    return score(images.astype(np.float16), labels, config)


def input_images(config: DataConfig, labels=None) -> np.ndarray:
    """The training family's images at the labels, flattened: the data's own geometry (n, N * N)."""
    labels = datamod.eval_labels(config.N) if labels is None else np.asarray(labels, float)
    images = datamod.render(labels, config.N, config.sigma_x, config.sigma_y, ideal_shape(config), config.periodic).numpy()
    return images.reshape(len(labels), -1)


def label_encodings(run: RunConfig, labels=None) -> np.ndarray:
    """The conditioning as the network receives it, per label: the concatenated encodings of x and
    y (App. A.1; the timestep's encoding is the same for every label at a given step), at the
    run's label frequencies (n, 2 * enc_dim). A recipe's coordinate features are the same for every
    label, so they add nothing here."""
    labels = datamod.eval_labels(run.data.N) if labels is None else np.asarray(labels, float)
    freqs = LABEL_FREQS[run.model.label_encoding](run.model.enc_dim, run.data.N)
    values = torch.as_tensor(labels, dtype=torch.float32)
    return torch.cat([sinusoidal(values[:, 0], run.model.enc_dim, freqs), sinusoidal(values[:, 1], run.model.enc_dim, freqs)], 1).numpy()
