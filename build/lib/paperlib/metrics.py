"""Where did the model put the bump, and did it draw the right image? (Eq. 1, App. A.3)

Three readings of a generated image, each scored against its label:

- Eq. 1 as the paper states it: the centre is the darkest pixel; when the pixels at least
  `BLOB_LEVEL` as dark as it form no single blob (two bumps, a stripe crossing split in two) or
  the image is nearly blank, the darkness-weighted centroid is used instead. On the torus
  (section 3.1) blobs are labelled with wrap-around and the centroid is a circular mean, so a
  bump on the canvas edge counts as one blob. This is the overall metric of every figure.
- Per-axis positions from the darkness profiles: x is the darkest column (darkness summed over
  the rows), y the darkest row. A sum of stripes is read this way naturally: one stripe's
  position never spoils the other's, which the whole-image centroid does. Per-axis claims on SOS
  images (Fig. 4c-e) use these.
- Validity: the Pearson correlation of the image's darkness with the ideal image rendered at the
  label. A perfect image scores 1; a sigma = 1 image one pixel off 0.88 (bump) / 0.93 (SOS); one
  lone stripe where a sum of stripes belongs 0.71. An image is valid at >= `VALID_CORRELATION`.
  Claims about drawing the right image (composing the stripes) count images that are valid.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from . import data

# A dark blob is the set of pixels at least this fraction as dark as the darkest pixel; on a sum of
# stripes only the crossing qualifies (the stripes alone are half as dark).
BLOB_LEVEL = 0.75
# Below this darkness (in 0..255) the image counts as blank.
MIN_DARKNESS = 32.0
# An image is valid when its darkness correlates at least this well with the ideal image.
VALID_CORRELATION = 0.8


def _darkness(images) -> np.ndarray:
    img = torch.as_tensor(images).detach().cpu().numpy().astype(np.float64)
    if img.ndim == 4:
        img = img[:, 0]
    return np.clip(255.0 - img, 0, None)


def _blob_counts(blobs: np.ndarray, periodic: bool) -> np.ndarray:
    """Number of 4-connected blobs per image of a boolean (n, H, W) stack; with `periodic`,
    blobs touching across opposite edges are one."""
    n = len(blobs)
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    labelled, count = ndimage.label(blobs, structure=structure)
    if count == 0:
        return np.zeros(n, int)
    pairs = [(labelled[:, 0, :], labelled[:, -1, :]), (labelled[:, :, 0], labelled[:, :, -1])] if periodic else []
    a = np.concatenate([p[0].ravel() for p in pairs]) if pairs else np.zeros(0, int)
    b = np.concatenate([p[1].ravel() for p in pairs]) if pairs else np.zeros(0, int)
    keep = (a > 0) & (b > 0)
    graph = coo_matrix((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(count + 1, count + 1))
    _, component = connected_components(graph, directed=False)
    image_of = np.zeros(count + 1, int)
    image_of[labelled.ravel()] = np.repeat(np.arange(n), labelled[0].size)
    distinct = np.unique(np.stack([image_of[1:], component[1:]], axis=1), axis=0)
    return np.bincount(distinct[:, 0], minlength=n)


def _centroid(dark: np.ndarray, periodic: bool) -> np.ndarray:
    """Darkness-weighted centroid (x, y) per image; on the torus the circular mean of each axis."""
    n, H, W = dark.shape
    out = np.empty((n, 2))
    for axis, (size, profile) in enumerate(((W, dark.sum(axis=1)), (H, dark.sum(axis=2)))):
        pix = np.arange(1, size + 1)
        mass = profile.sum(1)
        if periodic:
            angle = 2 * np.pi * pix / size
            mean = np.arctan2(profile @ np.sin(angle), profile @ np.cos(angle))
            out[:, axis] = np.mod(mean * size / (2 * np.pi) - 0.5, size) + 0.5
        else:
            out[:, axis] = np.where(mass > 0, profile @ pix / np.where(mass > 0, mass, 1), (size + 1) / 2)
    return out


def locate(images, periodic: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 1's centre estimates (n, 2) as (x, y) in pixel coordinates 1..N, and a boolean per
    image that is True where the centroid fallback was used."""
    dark = _darkness(images)
    n, H, W = dark.shape
    flat = dark.reshape(n, -1)
    arg, peak = flat.argmax(1), flat.max(1)
    centres = np.stack([arg % W + 1, arg // W + 1], axis=1).astype(np.float64)
    blobs = dark >= BLOB_LEVEL * peak[:, None, None]
    fallback = (_blob_counts(blobs, periodic) != 1) | (peak < MIN_DARKNESS)
    if fallback.any():
        centres[fallback] = _centroid(dark[fallback], periodic)
    return centres, fallback


def estimate_centres(images, periodic: bool = False) -> np.ndarray:
    """(n, N, N) images in [0, 255] -> (n, 2) Eq. 1 centres (x, y) in pixel coordinates 1..N."""
    return locate(images, periodic)[0]


def profile_centres(images) -> np.ndarray:
    """Per-axis positions (x, y): the darkest column and the darkest row of each image, NaN for a
    nearly blank image (so it never counts as correct)."""
    dark = _darkness(images)
    x = dark.sum(axis=1).argmax(1) + 1.0
    y = dark.sum(axis=2).argmax(1) + 1.0
    blank = dark.reshape(len(dark), -1).max(1) < MIN_DARKNESS
    return np.where(blank[:, None], np.nan, np.stack([x, y], axis=1))


def _correlation(dark: np.ndarray, reference) -> np.ndarray:
    a = dark - dark.mean(1, keepdims=True)
    b = _darkness(reference).reshape(len(dark), -1)
    b = b - b.mean(1, keepdims=True)
    norm = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return np.where(norm > 0, (a * b).sum(1) / np.where(norm > 0, norm, 1), 0.0)


def validity(images, labels, N: int, sigma_x: float, sigma_y: float, shape: str = "bump", periodic: bool = False) -> np.ndarray:
    """Pearson correlation of each image's darkness with the ideal image rendered at its label
    (1 for a perfect image, 0 for a blank one)."""
    dark = _darkness(images).reshape(len(labels), -1)
    return _correlation(dark, data.render(labels, N, sigma_x, sigma_y, shape, periodic))


def shape_correlations(images, labels, N: int, sigma_x: float, sigma_y: float, periodic: bool = False) -> dict[str, np.ndarray]:
    """Each image's correlation with the ideal bump, the ideal sum of stripes, and the better of the
    two lone stripes (the vertical one at mx, the horizontal one at my) at its label: which shape
    an image is, whatever it should be."""
    labels = np.asarray(labels, float)
    dark = _darkness(images).reshape(len(labels), -1)
    off = np.full(len(labels), -10.0 * N)  # a centre far off the canvas leaves one stripe
    vertical, horizontal = np.stack([labels[:, 0], off], 1), np.stack([off, labels[:, 1]], 1)
    return {"bump": _correlation(dark, data.render(labels, N, sigma_x, sigma_y, "bump", periodic)),
            "sos": _correlation(dark, data.render(labels, N, sigma_x, sigma_y, "sos", periodic)),
            "stripe": np.maximum(_correlation(dark, data.render(vertical, N, sigma_x, sigma_y, "sos")),
                                 _correlation(dark, data.render(horizontal, N, sigma_x, sigma_y, "sos")))}


def _axis_errors(pred: np.ndarray, labels: np.ndarray, N: int | None, periodic: bool) -> np.ndarray:
    err = np.abs(np.asarray(pred, float) - np.asarray(labels, float))
    if periodic:
        if N is None:
            raise ValueError("N: periodic accuracy needs the canvas size N")
        err = np.minimum(err, N - err)
    return err


def correct(pred, labels, N: int | None = None, periodic: bool = False) -> dict[str, np.ndarray]:
    """Per-sample booleans: x correct, y correct, both (Eq. 1); a NaN estimate is never correct."""
    pred, labels = np.asarray(pred), np.asarray(labels)
    if pred.shape != labels.shape or pred.ndim != 2 or pred.shape[1] != 2:
        raise ValueError(f"pred/labels: need two (n, 2) arrays of the same shape, got {pred.shape} and {labels.shape}")
    with np.errstate(invalid="ignore"):
        err = _axis_errors(pred, labels, N, periodic) < 1
    return {"x": err[:, 0], "y": err[:, 1], "both": err.all(axis=1)}


def accuracy(pred, labels, N: int | None = None, periodic: bool = False) -> dict[str, float]:
    """Eq. 1 overall ("accuracy") and per axis ("x", "y"), as fractions in [0, 1]."""
    c = correct(pred, labels, N, periodic)
    return {"accuracy": float(c["both"].mean()), "x": float(c["x"].mean()), "y": float(c["y"].mean())}


def outcomes(centres, profiles, shapes: dict[str, np.ndarray], shape: str, fallback, labels, N: int, periodic: bool = False) -> dict[str, np.ndarray]:
    """Per-label booleans of every reading: Eq. 1 ("accuracy", "x", "y"), the profile positions
    ("x_profile", "y_profile", "profile" for both), "valid" images (correlating at least
    `VALID_CORRELATION` with the ideal image of `shape`, and better with it than with the other
    shape: a crossing of stripes is not a valid bump), "composed" (valid and both profile positions
    right: the right image at the right place), "one_stripe" (a lone stripe, right in its own
    coordinate: what a model that cannot compose draws, Fig. 10c) and "fallback"."""
    eq1 = correct(centres, labels, N, periodic)
    prof = correct(profiles, labels, N, periodic)
    other = "sos" if shape == "bump" else "bump"
    valid = (shapes[shape] >= VALID_CORRELATION) & (shapes[shape] > shapes[other])
    stripe = (shapes["stripe"] >= VALID_CORRELATION) & (shapes["stripe"] > shapes["sos"]) & (prof["x"] | prof["y"])
    return {"accuracy": eq1["both"], "x": eq1["x"], "y": eq1["y"], "x_profile": prof["x"], "y_profile": prof["y"],
            "profile": prof["both"], "valid": valid, "composed": valid & prof["both"], "one_stripe": stripe,
            "fallback": np.asarray(fallback, bool)}


def by_region(outcome: dict[str, np.ndarray], regions: dict[str, np.ndarray]) -> dict[str, dict]:
    """Each per-label outcome averaged over each boolean region mask: {region: {"n", name: mean}};
    empty regions give NaN."""
    n_labels = len(next(iter(outcome.values())))
    out = {}
    for name, mask in regions.items():
        mask = np.asarray(mask, bool)
        if mask.shape != (n_labels,):
            raise ValueError(f"regions[{name!r}]: mask of shape {mask.shape} does not match {n_labels} labels")
        n = int(mask.sum())
        out[name] = {"n": n, **{k: float(v[mask].mean()) if n else float("nan") for k, v in outcome.items()}}
    return out


def accuracy_by_region(pred, labels, regions: dict[str, np.ndarray], N: int | None = None, periodic: bool = False) -> dict[str, dict]:
    """Eq. 1 restricted to each boolean region mask (e.g. from `data.regions`); empty regions give NaN."""
    c = correct(pred, labels, N, periodic)
    return by_region({"accuracy": c["both"], "x": c["x"], "y": c["y"]}, regions)
