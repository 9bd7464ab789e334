"""Overlap of Gaussian bumps and the largest-cluster simulation of section 3.3 and App. D.

Overlap (App. A.5, Fig. 6b): on inverted images (bright bumps, values in [0, 1]) rendered by the
dataset code, overlap(a, b) = ||a * b||_2 / ||a * a||_2 with * the element-wise product. The
paper prints ||a * b||_2 / ||a||_2 and says the overlap of a bump with itself is 1; only the
normalisation by ||a * a||_2 satisfies both, so that is the one used here. This directional
overlap can exceed 1 (the paper's remark): a bump centred between pixels is fainter than one
centred on a pixel. For sigma = 0.1 it explodes (a bump half a pixel off-centre is nearly blank),
so pairs are compared with the symmetric `pair_overlap` = the smaller of the two directions,
which is at most 1 (Cauchy-Schwarz). Neighbour overlaps averaged over the lattice of increment d
have cusps where the lattice is commensurate with the pixels (d = 0.5 most visibly).

Cluster simulation (Fig. 6c, 13, 14b): the 32 x 32 lattice of increment 1 (1024 centres); a
nested, seeded fraction lambda of it (exactly the points `data.make_dataset` trains on for the
same lambda and seed, App. D.2); two bumps are connected when their `pair_overlap` exceeds a
threshold; the largest connected component's size over the number of sampled points
is the mass ratio. Components come from scipy.sparse.csgraph; overlaps of all lattice pairs are
computed once per sigma (one matrix product), since bumps cut by the canvas border make the
overlap depend on position, not only on the offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from . import data


def bright_images(labels, N: int, sigma: float) -> np.ndarray:
    """Inverted bump images (bump = 1 at its centre, background 0), flattened: (n, N*N)."""
    img = data.render(labels, N, sigma, sigma, "bump").double()
    return (1 - img / 255).reshape(len(img), -1).numpy()


def overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """||a * b||_2 / ||a * a||_2 for flattened bright images (the last axis holds the pixels)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.sqrt(((a * b) ** 2).sum(axis=-1)) / np.sqrt((a**4).sum(axis=-1))


def pair_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The symmetric overlap min(overlap(a, b), overlap(b, a)), at most 1."""
    return np.minimum(overlap(a, b), overlap(b, a))


def overlap_matrix(labels, N: int, sigma: float) -> np.ndarray:
    """O[i, j] = pair_overlap(bump_i, bump_j) for all pairs, from one product of squared images."""
    sq = bright_images(labels, N, sigma) ** 2
    gram = sq @ sq.T  # sum_p a_i(p)^2 a_j(p)^2
    norm = np.sqrt(np.diag(gram))
    return np.sqrt(np.clip(gram, 0, None)) / np.maximum(norm[:, None], norm[None, :])


def neighbour_overlap(d: float, sigma: float, N: int = 32, directional: bool = False) -> float:
    """Mean overlap of horizontally neighbouring bumps on the lattice of increment d (Fig. 6b):
    the symmetric `pair_overlap`, or with `directional` the paper's ||a*b|| / ||a*a|| from each
    bump to its right-hand neighbour (which exceeds 1 near half a pixel).

    Pairs are taken along the middle row, both centres within the central half of the canvas so
    the border does not cut them; the lattice phases against the pixels are those the dataset has.
    """
    xs = data.grid_axis(N, d)
    xs = xs[(xs >= N / 4) & (xs + d <= 3 * N / 4)]
    row = np.full(len(xs), N / 2)
    a = bright_images(np.stack([xs, row], 1), N, sigma)
    b = bright_images(np.stack([xs + d, row], 1), N, sigma)
    return float((overlap(a, b) if directional else pair_overlap(a, b)).mean())


def overlap_curves(ds, sigmas, N: int = 32, directional: bool = False) -> np.ndarray:
    """Fig. 6b: neighbour overlap for each sigma (rows) and increment d (columns)."""
    return np.array([[neighbour_overlap(float(d), float(s), N, directional) for d in ds] for s in sigmas])


def lattice(N: int = 32) -> np.ndarray:
    """The 1024 lattice centres of the simulation (d = 1): the dataset grid for d = 1."""
    return data.grid(N, 1.0, 1.0)


def sampled_points(fraction: float, seed: int, N: int = 32) -> np.ndarray:
    """Indices into `lattice(N)` of the nested sample of App. D.2, the same as `make_dataset`'s."""
    return data.nested_subsample(N * N, fraction, seed)


def largest_cluster_ratio(adjacency: np.ndarray) -> float:
    """Size of the largest connected component over the number of nodes."""
    _, labels = connected_components(csr_matrix(adjacency), directed=False)
    return float(np.bincount(labels).max() / len(labels))


@dataclass
class Percolation:
    """Mass ratios of a sweep: `ratio[s, l, t, k]` for sigma s, lambda l, threshold t, seed k."""

    sigmas: np.ndarray
    fractions: np.ndarray
    thresholds: np.ndarray
    seeds: np.ndarray
    ratio: np.ndarray

    def mean(self) -> np.ndarray:
        """Seed-averaged mass ratio, (sigma, lambda, threshold)."""
        return self.ratio.mean(axis=-1)

    def critical_fraction(self, level: float = 0.5) -> np.ndarray:
        """Smallest lambda whose seed-averaged mass ratio reaches `level`; NaN if none: (sigma, threshold)."""
        reached = self.mean() >= level
        first = np.where(reached.any(axis=1), reached.argmax(axis=1), -1)
        return np.where(first >= 0, self.fractions[np.clip(first, 0, None)], np.nan)


def simulate(sigmas, fractions, thresholds=(0.005,), seeds=range(5), N: int = 32) -> Percolation:
    """The largest-cluster sweep of section 3.3: every sigma x lambda x threshold x seed."""
    sigmas, fractions = np.asarray(sigmas, float), np.asarray(fractions, float)
    thresholds, seeds = np.asarray(thresholds, float), np.asarray(list(seeds), int)
    if (sigmas <= 0).any():
        raise ValueError("sigmas: every sigma must be > 0")
    if ((fractions <= 0) | (fractions > 1)).any():
        raise ValueError("fractions: every lambda must lie in (0, 1]")
    points = lattice(N)
    ratio = np.empty((len(sigmas), len(fractions), len(thresholds), len(seeds)))
    samples = [[sampled_points(f, int(k), N) for k in seeds] for f in fractions]
    for i, sigma in enumerate(sigmas):
        linked = overlap_matrix(points, N, sigma)
        np.fill_diagonal(linked, 0)
        for t, thr in enumerate(thresholds):
            edges = linked > thr
            for j in range(len(fractions)):
                for k in range(len(seeds)):
                    idx = samples[j][k]
                    ratio[i, j, t, k] = largest_cluster_ratio(edges[np.ix_(idx, idx)])
    return Percolation(sigmas, fractions, thresholds, seeds, ratio)

