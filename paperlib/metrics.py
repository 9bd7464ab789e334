"""The accuracy of Eq. 1 (App. A.3): where did the model put the bump?

The centre of a generated image is its darkest pixel; when the image holds no single dark blob
(a blank image, or two bumps) the darkness-weighted centroid is used instead. A sample is correct
when both estimated coordinates lie within 1 pixel of the label; per-axis accuracies count one
coordinate at a time, and `accuracy_by_region` splits them over labelled regions.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

# A dark blob is the set of pixels at least this fraction as dark as the darkest pixel; on a sum of
# stripes only the crossing qualifies (the stripes alone are half as dark).
BLOB_LEVEL = 0.75
# Below this darkness (in 0..255) the image counts as blank.
MIN_DARKNESS = 32.0


def estimate_centres(images) -> np.ndarray:
    """(n, N, N) images in [0, 255] -> (n, 2) estimated centres (x, y) in pixel coordinates 1..N."""
    img = torch.as_tensor(images).detach().cpu().numpy().astype(np.float64)
    if img.ndim == 4:
        img = img[:, 0]
    n, H, W = img.shape
    dark = np.clip(255.0 - img, 0, None)
    flat = dark.reshape(n, -1)
    arg = flat.argmax(1)
    peak = flat.max(1)
    centres = np.stack([arg % W + 1, arg // W + 1], axis=1).astype(np.float64)

    blobs = dark >= BLOB_LEVEL * peak[:, None, None]
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    labelled, _ = ndimage.label(blobs, structure=structure)
    # Components never cross images and are numbered in scan order, so an image's labels are
    # consecutive: their count is max - min + 1.
    per_image = labelled.reshape(n, -1)
    top = per_image.max(1)
    low = np.where(per_image > 0, per_image, np.iinfo(per_image.dtype).max).min(1)
    n_blobs = np.where(top > 0, top - low + 1, 0)
    fallback = (n_blobs != 1) | (peak < MIN_DARKNESS)
    if fallback.any():
        d = dark[fallback]
        mass = d.sum(axis=(1, 2))
        mass[mass == 0] = 1.0
        xs, ys = np.arange(1, W + 1), np.arange(1, H + 1)
        cx = (d.sum(axis=1) * xs).sum(1) / mass
        cy = (d.sum(axis=2) * ys).sum(1) / mass
        centres[fallback] = np.stack([cx, cy], axis=1)
    return centres


def _axis_errors(pred: np.ndarray, labels: np.ndarray, N: int | None, periodic: bool) -> np.ndarray:
    err = np.abs(np.asarray(pred, float) - np.asarray(labels, float))
    if periodic:
        if N is None:
            raise ValueError("N: periodic accuracy needs the canvas size N")
        err = np.minimum(err, N - err)
    return err


def correct(pred, labels, N: int | None = None, periodic: bool = False) -> dict[str, np.ndarray]:
    """Per-sample booleans: x correct, y correct, both (Eq. 1)."""
    pred, labels = np.asarray(pred), np.asarray(labels)
    if pred.shape != labels.shape or pred.ndim != 2 or pred.shape[1] != 2:
        raise ValueError(f"pred/labels: need two (n, 2) arrays of the same shape, got {pred.shape} and {labels.shape}")
    err = _axis_errors(pred, labels, N, periodic) < 1
    return {"x": err[:, 0], "y": err[:, 1], "both": err.all(axis=1)}


def accuracy(pred, labels, N: int | None = None, periodic: bool = False) -> dict[str, float]:
    """Eq. 1 overall ("accuracy") and per axis ("x", "y"), as fractions in [0, 1]."""
    c = correct(pred, labels, N, periodic)
    return {"accuracy": float(c["both"].mean()), "x": float(c["x"].mean()), "y": float(c["y"].mean())}


def accuracy_by_region(pred, labels, regions: dict[str, np.ndarray], N: int | None = None, periodic: bool = False) -> dict[str, dict]:
    """Eq. 1 restricted to each boolean region mask (e.g. from `data.regions`); empty regions give NaN."""
    c = correct(pred, labels, N, periodic)
    out = {}
    for name, mask in regions.items():
        mask = np.asarray(mask, bool)
        if mask.shape != (len(c["both"]),):
            raise ValueError(f"regions[{name!r}]: mask of shape {mask.shape} does not match {len(c['both'])} labels")
        n = int(mask.sum())
        mean = (lambda v: float(v[mask].mean()) if n else float("nan"))
        out[name] = {"n": n, "accuracy": mean(c["both"]), "x": mean(c["x"]), "y": mean(c["y"])}
    return out
