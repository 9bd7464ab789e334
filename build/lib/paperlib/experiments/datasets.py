"""Section 2 and App. A.5, C.1: the datasets themselves (Fig. 1, Fig. 9, Fig. 6b). No training.

Each function returns tidy arrays for `paperlib.plots`; the notebook `01_datasets.ipynb` calls
them in order.
"""

from __future__ import annotations

import numpy as np

from .. import claims as C
from .. import data, percolation
from ..config import DataConfig, HoldOut


def example_images(N: int = 32, sigma: float = 1.0, centre: float = 16.0) -> dict[str, np.ndarray]:
    """Fig. 1: a bump and a sum of stripes centred at (16, 16), sigma 1."""
    label = [[centre, centre]]
    return {shape: data.render(label, N, sigma, sigma, shape)[0].numpy() for shape in ("bump", "sos")}


def stripe_examples(N: int = 32, sigma: float = 1.0, margin: int = 6) -> dict[str, np.ndarray]:
    """Fig. 9(a)-(d): 0D, 1D and 2D SOS images of the extended label space, and a 2D bump."""
    labels = {"0D": [-margin + 1.0, -margin + 1.0], "1D": [16.0, -margin + 1.0], "2D SOS": [16.0, 16.0]}
    out = {name: data.render([lab], N, sigma, sigma, "sos")[0].numpy() for name, lab in labels.items()}
    out["2D bump"] = data.render([[16.0, 16.0]], N, sigma, sigma, "bump")[0].numpy()
    return out


def latent_pictures(N: int = 32, d: float = 1.0, sigma: float = 1.0) -> dict[str, dict[str, np.ndarray]]:
    """Fig. 9(e)-(h), 10(a), 10(d): the labels of each training set of section 3.2, by kind.

    Returns name -> {kind -> (n, 2) labels} for the 2D SOS set, the 1D stripes with and without the
    2D rim, the 2D+1D SOS set and the 2D bump + 1D stripes set, all with the cross held out."""
    cross = HoldOut("cross")
    configs = {
        "2D SOS": DataConfig(family="sos", N=N, d_x=d, d_y=d, holdout=cross, sigma_x=sigma, sigma_y=sigma),
        "1D stripes without 2D rim": DataConfig(family="stripes", N=N, d_x=d, d_y=d, rim=False, sigma_x=sigma, sigma_y=sigma),
        "1D stripes with 2D rim": DataConfig(family="stripes", N=N, d_x=d, d_y=d, rim=True, sigma_x=sigma, sigma_y=sigma),
        "2D+1D SOS": DataConfig(family="sos+stripes", N=N, d_x=d, d_y=d, holdout=cross, sigma_x=sigma, sigma_y=sigma),
        "2D bump + 1D stripes": DataConfig(family="bump+stripes", N=N, d_x=d, d_y=d, holdout=cross, sigma_x=sigma, sigma_y=sigma),
    }
    return {name: latent_picture(cfg) for name, cfg in configs.items()}


def latent_picture(config: DataConfig) -> dict[str, np.ndarray]:
    """The labels of one training set by kind (2d, rim, 1d, 0d), plus the "held out" 2D labels."""
    ds = data.make_dataset(config)
    out = {kind: ds.labels[ds.kind == kind] for kind in data.KINDS if (ds.kind == kind).any()}
    grid = data.grid(config.N, config.d_x, config.d_y)
    held = grid[data.heldout_mask(grid, config.holdout, config.N)]
    if len(held):
        out["held out"] = held
    return out


def overlap_curves(sigmas=(0.1, 0.3, 0.5, 1.0, 2.0), ds=None, N: int = 32) -> dict[str, np.ndarray]:
    """Fig. 6(b): mean overlap of neighbouring bumps against the grid increment d, symmetric
    ("overlap", what the simulation uses) and directional (the paper's, above 1 near d = 0.5)."""
    ds = np.round(np.arange(0.05, 3.001, 0.05), 3) if ds is None else np.asarray(ds, float)
    return {"d": ds, "sigmas": np.asarray(sigmas, float), "overlap": percolation.overlap_curves(ds, sigmas, N),
            "directional": percolation.overlap_curves(ds, sigmas, N, directional=True)}


def offset_overlap(sigma: float = 1.0, ds=None, N: int = 32, centre: float = 16.0) -> np.ndarray:
    """The directional overlap ||a*b|| / ||a*a|| from a bump offset by d from a pixel centre (a)
    to the bump on that pixel (b), for each d: the case the paper describes as temporarily going
    beyond 1 (the offset bump is the fainter one)."""
    ds = np.round(np.arange(0.05, 1.0, 0.05), 3) if ds is None else np.asarray(ds, float)
    a = percolation.bright_images(np.stack([centre + ds, np.full(len(ds), centre)], 1), N, sigma)
    b = percolation.bright_images([[centre, centre]], N, sigma)
    return percolation.overlap(a, b)


def claims(curves: dict) -> list[C.Claim]:
    """Section 2's checkable facts: the default dataset's size, and the directional overlap going
    beyond 1 between a bump and a slightly offset one (the paper's remark on Fig. 6b), at sigma =
    0.5: pixelation makes the offset bump fainter; for sigma = 1 its smoothness wins (max 0.9997),
    and averaged over a lattice's neighbours (Fig. 6b's curves) it stays below 1 for sigma >= 0.3."""
    n_default = len(data.grid(32, 0.1, 0.1))
    most = float(offset_overlap(0.5).max())
    mean_curves = {float(s): round(float(row.max()), 4) for s, row in zip(curves["sigmas"], curves["directional"])}
    return [C.Claim(
                claim="A default 32 x 32 dataset of d = 0.1 holds 102,400 images",
                section="2",
                figure="Methods",
                paper="102,400",
                criterion="count equals 102,400",
                estimate=C.Estimate(n_default, n_default, n_default),
                verdict=C.exact(n_default == 102_400),
                measured=f"{n_default:,}",
                kind="arithmetic"),
            C.Claim(
                claim="The overlap of a bump with a slightly offset bump temporarily goes beyond 1 (pixelation)",
                section="3.3",
                figure="Fig. 6(b), App. A.5",
                paper="beyond 1",
                criterion="largest ||a*b|| / ||a*a|| from a bump offset by d < 1 px to the bump on the pixel, sigma = 0.5, > 1",
                estimate=C.Estimate(most, most, most),
                verdict=C.exact(most > 1),
                measured=f"largest {most:.4f} (sigma = 1: {float(offset_overlap(1.0).max()):.4f}); largest mean over lattice neighbours "
                    f"per sigma (Fig. 6b curves): {mean_curves}",
                kind="arithmetic")]
