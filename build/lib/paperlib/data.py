"""Datasets of the paper: rendering, label grids, held-out regions, subsampling, mixtures.

Conventions (Methods): the canvas is N x N pixels, pixel (1, 1) is the top-left and (N, N) the
bottom-right, x is the column and y the row. A label (mx, my) is a centre in these pixel
coordinates. Stripes (App. C.1) live in an extended label space that reaches `margin` pixels
beyond each side of the canvas; the paper's 44 x 44 latent coordinates are ours plus 6.
Images are rendered on the fly from labels (vectorised, in torch), so a 102,400-image dataset
costs only its labels in memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .config import DataConfig, HoldOut

BUMP, SOS = 0, 1
KINDS = ("2d", "rim", "1d", "0d")


def render(labels, N: int, sigma_x: float, sigma_y: float, shape="bump", periodic: bool = False, device=None,
           dtype: torch.dtype | None = None) -> torch.Tensor:
    """Images of Gaussian bumps or sums of stripes, values in [0, 255], shape (n, N, N), float32.

    bump: v = 255 (1 - exp(-(x-mx)^2/(4 sx^2) - (y-my)^2/(4 sy^2)))
    sos:  v = 255 (1 - (exp(-(x-mx)^2/(4 sx^2)) + exp(-(y-my)^2/(4 sy^2))) / 2)
    `shape` is "bump", "sos", or a per-image integer array (0 bump, 1 sos) for mixtures.
    With `periodic`, distances wrap around the canvas (the torus of section 3.1). On the CPU the
    images are computed in float64; on a GPU (`device`) in float32, where they are drawn for
    training, so the labels are all that crosses to the device (`dtype` overrides the choice).
    """
    labels = np.asarray(labels, dtype=np.float64).reshape(-1, 2)
    if isinstance(shape, str):
        if shape not in ("bump", "sos"):
            raise ValueError(f"shape: unknown shape {shape!r}; choose 'bump' or 'sos'")
        shape = np.full(len(labels), SOS if shape == "sos" else BUMP)
    n = len(labels)
    return ImageTable.build(labels, np.asarray(shape), np.full(n, float(sigma_x)), np.full(n, float(sigma_y)),
                            np.full(n, bool(periodic)), N, device, dtype).render()


@dataclass
class ImageTable:
    """Per-image rendering parameters on one device: what `render` needs, one row per image, so
    that images of different runs (sigmas, shapes, periodic or not) render in one call. Rows are
    selected with an index tensor on the same device (`table[idx]`): a training step copies only
    its indices to the device."""

    labels: torch.Tensor  # (n, 2) centres
    denom: torch.Tensor  # (n, 2) 4 sigma^2 per axis
    sos: torch.Tensor  # (n,) bool: a sum of stripes, else a bump
    periodic: torch.Tensor  # (n,) bool: distances wrap around the canvas
    N: int

    @classmethod
    def build(cls, labels, shape, sigma_x, sigma_y, periodic, N: int, device=None, dtype: torch.dtype | None = None) -> "ImageTable":
        device = torch.device(device) if device is not None else torch.device("cpu")
        dtype = dtype or (torch.float64 if device.type == "cpu" else torch.float32)
        denom = 4 * np.stack([np.asarray(sigma_x, np.float64), np.asarray(sigma_y, np.float64)], axis=1) ** 2
        return cls(torch.as_tensor(np.asarray(labels, np.float64)).to(device, dtype), torch.as_tensor(denom).to(device, dtype),
                   torch.as_tensor(np.asarray(shape) == SOS).to(device), torch.as_tensor(np.asarray(periodic, bool)).to(device), N)

    @classmethod
    def cat(cls, tables: list["ImageTable"]) -> "ImageTable":
        if len({t.N for t in tables}) != 1:
            raise ValueError("tables: images of one table share the canvas size N")
        return cls(*(torch.cat([getattr(t, f) for t in tables]) for f in ("labels", "denom", "sos", "periodic")), tables[0].N)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index) -> "ImageTable":
        return ImageTable(self.labels[index], self.denom[index], self.sos[index], self.periodic[index], self.N)

    def render(self) -> torch.Tensor:
        """The images, values in [0, 255], (n, N, N) float32, computed in the table's precision."""
        N = self.N
        pix = torch.arange(1, N + 1, dtype=self.labels.dtype, device=self.labels.device)
        dx = pix[None, :] - self.labels[:, 0:1]
        dy = pix[None, :] - self.labels[:, 1:2]
        wrap = self.periodic[:, None]  # applied to every row (no host sync to ask whether any wraps)
        dx = torch.where(wrap, torch.remainder(dx + N / 2, N) - N / 2, dx)
        dy = torch.where(wrap, torch.remainder(dy + N / 2, N) - N / 2, dy)
        gx = torch.exp(-dx**2 / self.denom[:, 0:1])[:, None, :]
        gy = torch.exp(-dy**2 / self.denom[:, 1:2])[:, :, None]
        dark = torch.where(self.sos[:, None, None], (gx + gy) / 2, gx * gy)
        return (255 * (1 - dark)).float()


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """[0, 255] pixel values -> [-1, 1], the range the diffusion model works in."""
    return images / 127.5 - 1


def from_model_range(x: torch.Tensor) -> torch.Tensor:
    return ((x.clamp(-1, 1) + 1) * 127.5).float()


def grid_axis(N: int, d: float, margin: float = 0.0) -> np.ndarray:
    """Centres k*d for k = 1..(N + 2 margin)/d, shifted by -margin: d, 2d, ..., N on the canvas."""
    n = round((N + 2 * margin) / d)
    return np.arange(1, n + 1) * d - margin


def grid(N: int, d_x: float, d_y: float, margin: float = 0.0) -> np.ndarray:
    """All (mx, my) on the grid, x fastest: shape (n_x * n_y, 2). d=0.1, N=32 gives 102,400."""
    xs, ys = grid_axis(N, d_x, margin), grid_axis(N, d_y, margin)
    X, Y = np.meshgrid(xs, ys)
    return np.stack([X.ravel(), Y.ravel()], axis=1)


def eval_labels(N: int) -> np.ndarray:
    """The N x N evaluation labels 1..N on each axis (1024 for N=32, App. A.3)."""
    return grid(N, 1.0, 1.0)


def _in_band(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (v >= lo) & (v <= hi)


def heldout_mask(labels: np.ndarray, holdout: HoldOut, N: int) -> np.ndarray:
    """True for labels inside the held-out (out-of-distribution) region."""
    x, y = labels[:, 0], labels[:, 1]
    c = N / 2
    if holdout.kind == "none":
        return np.zeros(len(labels), bool)
    if holdout.kind == "cross":
        return _in_band(x, holdout.lo, holdout.hi) | _in_band(y, holdout.lo, holdout.hi)
    if holdout.kind == "lesion":
        return _in_band(x, c - holdout.width / 2, c + holdout.width / 2)
    if holdout.kind == "interior_square":
        h = holdout.width / 2
        return _in_band(x, c - h, c + h) & _in_band(y, c - h, c + h)
    if holdout.kind == "exterior_square":
        return _in_band(x, 0, holdout.width) & _in_band(y, 0, holdout.width)
    if holdout.kind == "center_fraction":
        h = N * math.sqrt(holdout.fraction) / 2
        return (np.abs(x - c) < h) & (np.abs(y - c) < h)
    raise ValueError(f"holdout.kind: unknown held-out region {holdout.kind!r}")


def regions(labels: np.ndarray, holdout: HoldOut, N: int) -> dict[str, np.ndarray]:
    """Boolean masks of labelled regions: all, in/out of distribution, and for the cross its three
    parts (section 3.2, Fig. 4f): vertical (mx in band, my not: the image's vertical stripe of
    held-out centres), horizontal (my in band, mx not), intersection."""
    ood = heldout_mask(labels, holdout, N)
    out = {"all": np.ones(len(labels), bool), "in_distribution": ~ood, "out_of_distribution": ood}
    if holdout.kind == "cross":
        bx = _in_band(labels[:, 0], holdout.lo, holdout.hi)
        by = _in_band(labels[:, 1], holdout.lo, holdout.hi)
        out.update(vertical=bx & ~by, horizontal=by & ~bx, intersection=bx & by)
    return out


def label_kinds(labels: np.ndarray, N: int, rim_width: float) -> np.ndarray:
    """Classify labels of the extended space by what the canvas shows (App. C.1, Fig. 9):
    "2d" both centres on the canvas (0, N]; "rim" within `rim_width` of the canvas but not on it
    (the stripes' crossing is partly visible); "1d" one centre on the canvas; "0d" none."""
    inside = (labels > 0) & (labels <= N)
    near = (labels > -rim_width) & (labels <= N + rim_width)
    n_in = inside.sum(axis=1)
    kinds = np.where(n_in == 2, "2d", np.where(n_in == 1, "1d", "0d")).astype(object)
    kinds[(n_in < 2) & near.all(axis=1)] = "rim"
    return kinds.astype(str)


def seen_mask(labels: np.ndarray, dataset: "Dataset") -> np.ndarray:
    """True for each label that is one of `dataset`'s 2D training images (to within 1e-6 px):
    the evaluation labels a subsampled model has seen, as opposed to those it must generalize to."""

    def keys(lab):
        q = np.round(np.asarray(lab, float) * 1e6).astype(np.int64)
        return q[:, 0] * (1 << 32) + q[:, 1]

    return np.isin(keys(labels), keys(dataset.labels[dataset.kind == "2d"]))


def nested_subsample(n: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of round(fraction * n) items; for one seed, a larger fraction is a strict
    superset (the first items of one seeded permutation), as section 3.3 and App. D.2 require."""
    order = np.random.default_rng(seed).permutation(n)
    k = max(1, round(fraction * n))
    return np.sort(order[:k])


@dataclass
class Dataset:
    """Labels with everything needed to render their images; `images()` renders them in torch.

    `kind` says per label whether the canvas shows a 2D image, the rim, a 1D stripe or nothing;
    `shape` whether it is drawn as a bump or a sum of stripes (0 bump, 1 sos).
    """

    config: DataConfig
    labels: np.ndarray
    kind: np.ndarray
    shape: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def images(self, index=None, device=None) -> torch.Tensor:
        idx = slice(None) if index is None else index
        c = self.config
        return render(self.labels[idx], c.N, c.sigma_x, c.sigma_y, self.shape[idx], c.periodic, device)

    def table(self, device=None) -> ImageTable:
        """Every image's rendering parameters on `device` (built once per training run)."""
        c, n = self.config, len(self)
        return ImageTable.build(self.labels, self.shape, np.full(n, c.sigma_x), np.full(n, c.sigma_y), np.full(n, c.periodic), c.N, device)

    def counts(self) -> dict[str, int]:
        return {k: int((self.kind == k).sum()) for k in KINDS}


def _two_d(config: DataConfig) -> np.ndarray:
    """2D labels on the canvas grid, held-out region removed, then the nested lambda subsample."""
    labels = grid(config.N, config.d_x, config.d_y)
    labels = labels[~heldout_mask(labels, config.holdout, config.N)]
    if config.fraction < 1:
        labels = labels[nested_subsample(len(labels), config.fraction, config.seed)]
    return labels


def _stripes(config: DataConfig) -> np.ndarray:
    """Labels of the extended space that are not on the canvas: 1D stripes, 0D blanks, the rim."""
    labels = grid(config.N, config.d_x, config.d_y, config.margin)
    kinds = label_kinds(labels, config.N, config.rim_width)
    keep = (kinds == "1d") | (config.include_0d & (kinds == "0d")) | (config.rim & (kinds == "rim"))
    return labels[keep]


def make_dataset(config: DataConfig) -> Dataset:
    """Build the dataset a `DataConfig` describes (labels only; images render on demand)."""
    config.validate()
    parts = []
    if config.family in ("bump", "bump+stripes"):
        parts.append((_two_d(config), BUMP))
    if config.family in ("sos", "sos+stripes"):
        parts.append((_two_d(config), SOS))
    if "stripes" in config.family:
        parts.append((_stripes(config), SOS))
    labels = np.concatenate([p for p, _ in parts]).astype(np.float64)
    shape = np.concatenate([np.full(len(p), s, np.int64) for p, s in parts])
    return Dataset(config, labels, label_kinds(labels, config.N, config.rim_width), shape)
