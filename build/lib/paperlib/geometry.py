"""Representation geometry (section 3.1, App. B): is a learned torus factorized or coupled?

- Ideal objects on an n_x x n_y grid of angles: the standard torus in R^3 (coupled) and the
  Clifford torus in R^4 (factorized), optionally mapped into high dimension with noise.
- PCA eigenspectra, explained variance and the participation ratio (sum l)^2 / sum l^2.
- UMAP (umap-learn) and PCA projections for plots.
- Persistent homology with ripser on a max-min landmark subsample, and Betti numbers read from
  the long bars.
- The orthogonality and parallelism tests of Cueva et al. as in App. B, and Wasserstein
  distances of their statistics to those of ideal tori sampled on the same grid.

Points are always ordered with x fastest (index = iy * n_x + ix), as `data.grid` orders labels.
Nothing here needs torch.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import pdist, squareform
from scipy.stats import wasserstein_distance

TESTS = ("x_on_y", "x_on_x", "y_on_y")
STATISTICS = ("orthogonality", "parallelism")


# --- ideal objects -------------------------------------------------------------------------

def _angles(n_x: int, n_y: int) -> tuple[np.ndarray, np.ndarray]:
    theta = 2 * np.pi * np.arange(n_x) / n_x
    phi = 2 * np.pi * np.arange(n_y) / n_y
    T, P = np.meshgrid(theta, phi)  # x fastest
    return T.ravel(), P.ravel()


def standard_torus(n_x: int = 32, n_y: int = 32, R: float = 2.0, r: float = 1.0) -> np.ndarray:
    """The torus of revolution in R^3 (x = angle around the axis, y = angle around the tube)."""
    if not R > r > 0:
        raise ValueError(f"R, r: need R > r > 0, got R={R}, r={r}")
    t, p = _angles(n_x, n_y)
    return np.stack([(R + r * np.cos(p)) * np.cos(t), (R + r * np.cos(p)) * np.sin(t), r * np.sin(p)], axis=1)


def clifford_torus(n_x: int = 32, n_y: int = 32, r_y: float = 1.0) -> np.ndarray:
    """S^1 x S^1 in R^4: each angle on its own circle, in orthogonal planes; radii 1 and `r_y`
    (scaled by 1/sqrt(2)); `r_y` < 1 gives a lopsided torus, as a model may learn one."""
    if not r_y > 0:
        raise ValueError(f"r_y: need r_y > 0, got {r_y}")
    t, p = _angles(n_x, n_y)
    return np.stack([np.cos(t), np.sin(t), r_y * np.cos(p), r_y * np.sin(p)], axis=1) / np.sqrt(2)


def hyper_factorized_torus(n_x: int = 32, n_y: int = 32, units: int = 32, kappa: float = 8.0) -> np.ndarray:
    """A torus whose y rings turn with x (section 3.1's "hyper-factorization"): x on a circle in
    two dimensions, and the y ring of each x value in the plane w(x) (x) R^2, where w(x) is a
    population code of x (`units` tuning curves exp(kappa (cos(x - c) - 1)), normalised). Rings of
    nearby x values overlap, rings of distant ones are orthogonal: x is coded almost like a
    category with overlapping neighbours, yet the object is a smoothly embedded torus."""
    t, p = _angles(n_x, n_y)
    centres = 2 * np.pi * np.arange(units) / units
    w = np.exp(kappa * (np.cos(t[:, None] - centres[None, :]) - 1))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    return np.concatenate([np.cos(t)[:, None], np.sin(t)[:, None], w * np.cos(p)[:, None], w * np.sin(p)[:, None]], axis=1)


def embed(points: np.ndarray, dim: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Send points into R^dim by a random isometric linear map, plus Gaussian noise of std `noise`
    (mimicking a layer's activations)."""
    points = np.asarray(points, float)
    if dim < points.shape[1]:
        raise ValueError(f"dim: {dim} is smaller than the points' dimension {points.shape[1]}")
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((dim, points.shape[1])))
    return points @ Q.T + noise * rng.standard_normal((len(points), dim))


# --- validation ------------------------------------------------------------------------------

def check_points(X, n_x: int | None = None, n_y: int | None = None) -> np.ndarray:
    """A finite 2D array, with exactly n_x * n_y rows when a grid is given."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X: need a 2D array (points x features), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X: contains NaN or infinite values")
    if n_x is not None and n_y is not None and len(X) != n_x * n_y:
        raise ValueError(f"X: {len(X)} points, but an {n_x} x {n_y} grid needs {n_x * n_y}")
    return X


def grid_from_labels(labels) -> tuple[np.ndarray, int, int]:
    """Order points by their labels (x fastest): returns the permutation and the grid size."""
    labels = np.asarray(labels, float)
    if labels.ndim != 2 or labels.shape[1] != 2:
        raise ValueError(f"labels: need an (n, 2) array, got shape {labels.shape}")
    xs, ys = np.unique(labels[:, 0]), np.unique(labels[:, 1])
    if len(xs) * len(ys) != len(labels):
        raise ValueError(f"labels: {len(labels)} labels do not fill the {len(xs)} x {len(ys)} grid they span")
    order = np.lexsort((labels[:, 0], labels[:, 1]))
    return order, len(xs), len(ys)


# --- spectra ----------------------------------------------------------------------------------

def pca_spectrum(X) -> np.ndarray:
    """Eigenvalues of the covariance, largest first."""
    X = check_points(X)
    s = np.linalg.svd(X - X.mean(0), compute_uv=False)
    return s**2 / max(1, len(X) - 1)


def explained_variance(X, k: int = 4) -> float:
    """Fraction of the variance in the top k principal components."""
    lam = pca_spectrum(X)
    return float(lam[:k].sum() / lam.sum())


def participation_ratio(X) -> float:
    """(sum l)^2 / sum l^2 (Gao et al. 2017): the effective dimension of section 3.1."""
    lam = pca_spectrum(X)
    return float(lam.sum() ** 2 / (lam**2).sum())


def bootstrap_spectra(X, statistic, replicates: int, seed: int = 0) -> np.ndarray:
    """`statistic(eigenvalues)` of the covariance of X resampled over its points, `replicates`
    times, through the smaller of the Gram matrix (points x points) and the covariance (features x
    features), so that a wide representation costs no more than a narrow one."""
    X = check_points(X)
    rng = np.random.default_rng(seed)
    n, d = X.shape
    gram = X @ X.T if n <= d else None
    out = []
    for _ in range(replicates):
        idx = rng.integers(0, n, n)
        if gram is not None:
            k = gram[np.ix_(idx, idx)]
            k = k - k.mean(0, keepdims=True) - k.mean(1, keepdims=True) + k.mean()
            lam = np.linalg.eigvalsh(k)[::-1] / max(1, n - 1)
        else:
            xb = X[idx] - X[idx].mean(0)
            lam = np.linalg.eigvalsh(xb.T @ xb)[::-1] / max(1, n - 1)
        out.append(statistic(np.clip(lam, 0, None)))
    return np.asarray(out)


def participation_ratio_of(lam: np.ndarray) -> float:
    return float(lam.sum() ** 2 / (lam**2).sum())


def variance_shares(X, n_x: int, n_y: int) -> dict[str, float]:
    """Two-way analysis of variance over the label grid: the shares of the total variance of
    points (x fastest) explained by x alone, by y alone (row and column means) and by their
    interaction (what is left). A representation that is a sum f(x) + g(y) has interaction 0."""
    X = check_points(X, n_x, n_y).reshape(n_y, n_x, -1)
    grand = X.mean(axis=(0, 1))
    by_x, by_y = X.mean(axis=0), X.mean(axis=1)
    total = ((X - grand) ** 2).sum()
    interaction = ((X - by_x[None] - by_y[:, None] + grand) ** 2).sum()
    return {"x": float(n_y * ((by_x - grand) ** 2).sum() / total), "y": float(n_x * ((by_y - grand) ** 2).sum() / total),
            "interaction": float(interaction / total)}


def pca_project(X, k: int = 3) -> np.ndarray:
    """Coordinates on the top k principal components."""
    X = check_points(X)
    Xc = X - X.mean(0)
    _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
    return Xc @ Vt[:k].T


def umap_embed(X, n_components: int = 3, seed: int = 0, n_neighbors: int = 30, min_dist: float = 0.3) -> np.ndarray:
    """UMAP (umap-learn, App. A.2) to 2 or 3 dimensions, seeded (single-threaded, so repeatable)."""
    import umap  # numba compiles on first use (~15 s): imported only when asked for

    X = check_points(X)
    reducer = umap.UMAP(n_components=n_components, n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed)
    return reducer.fit_transform(X)


# --- persistent homology ---------------------------------------------------------------------

CLEAR = 2.0  # a bar is clear when it lives at least this many times as long as the noise floor
H2_SHARE = 0.25  # the H2 floor is at least this share of the H1 floor
NUMERICAL_ZERO = 1e-6  # shorter bars are rounding, not features
TORUS = (1, 2, 1)


@dataclass
class Homology:
    """Persistence of a grid of points (x fastest) read against noise floors.

    `diagrams`: H0 and H1 of every point (Vietoris-Rips, ripser), H2 of a max-min landmark
    subsample (full H2 of 1024 points takes over 10 minutes here). `null`, the noise floor per
    dimension: for H0 and H1 the longest bar of the null, the four quadrants of the same grid
    (each holds no loop of the torus: the short bars of the points' own sampling, at their own
    scale, wherever on the object the quadrant lies), raised to the data's own bulk where that is
    longer (its third H1 bar: the mesh loops of an unevenly spaced embedding, which no quadrant
    holds); for H2, whose quadrants hold no void at all, the data's own bulk (its second bar), and
    at least `H2_SHARE` of the H1 floor. The bulk beyond a torus's bars can only raise a floor, so
    at most a torus's number of bars can be clear: the reading answers "is this a torus", not
    "what are its Betti numbers". Per dimension `clear` counts the bars at least `CLEAR` times the
    floor and `candidates` those above the floor but not clearly; H0 adds its infinite bar."""

    diagrams: list[np.ndarray]
    null: tuple[float, ...]
    clear: tuple[int, ...]
    candidates: tuple[int, ...]

    @property
    def betti(self) -> tuple[int, ...]:
        return self.clear

    @property
    def h1_ratio(self) -> float:
        """The second longest H1 bar's lifetime over the longest's (a torus: its two loops, Fig. 2b)."""
        lifetimes = _lifetimes(self.diagrams[1])
        return float(lifetimes[1] / lifetimes[0]) if len(lifetimes) > 1 and lifetimes[0] > 0 else 0.0

    def reads(self, target: tuple[int, ...] = TORUS) -> str:
        """"yes" when the clear bars are the target's and no candidate could change that, "no"
        when no reading of the candidates reaches it, else "inconclusive". A reading with an H2 bar
        but no H1 bar is not a torus reading at all: inconclusive."""
        if len(self.clear) > 2 and self.clear[2] > 0 and self.clear[1] == 0:
            return "inconclusive"
        possible = all(c <= t <= c + k for c, k, t in zip(self.clear, self.candidates, target))
        if not possible:
            return "no"
        return "yes" if all(c == t and (k == 0) for c, k, t in zip(self.clear, self.candidates, target)) else "inconclusive"


def _lifetimes(diagram: np.ndarray) -> np.ndarray:
    finite = diagram[np.isfinite(diagram[:, 1])]
    return np.sort(finite[:, 1] - finite[:, 0])[::-1]


def shuffled(X, seed: int = 0) -> np.ndarray:
    """A shapeless cloud with X's marginals: each coordinate permuted across the points independently."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(column) for column in np.asarray(X, float).T], axis=1)


def _diagrams(X: np.ndarray, maxdim: int, n_landmarks: int, seed: int) -> list[np.ndarray]:
    from ripser import ripser

    if maxdim <= 1:  # every point; an explicit distance matrix (ripser would mistake a square X for one)
        return [np.asarray(d) for d in ripser(squareform(pdist(X)), maxdim=maxdim, distance_matrix=True)["dgms"]]
    order = np.random.default_rng(seed).permutation(len(X))  # the greedy permutation starts at point 0
    with warnings.catch_warnings():  # as many points as coordinates is not a distance matrix here
        warnings.filterwarnings("ignore", message="The input matrix is square")
        return [np.asarray(d) for d in ripser(X[order], maxdim=maxdim, n_perm=min(n_landmarks, len(X)))["dgms"]]


def bulk(lifetimes: np.ndarray, expected: int) -> float:
    """The longest bar beyond the `expected` longest ones (0 if none): the data's own noise."""
    return float(lifetimes[expected]) if len(lifetimes) > expected else 0.0


def quadrants(n_x: int, n_y: int) -> list[np.ndarray]:
    """Indices of the grid points (x fastest) in each quarter of the grid (halves of x and of y)."""
    ix, iy = np.meshgrid(np.arange(n_x), np.arange(n_y))
    ix, iy = ix.ravel(), iy.ravel()
    return [np.flatnonzero((ix // ((n_x + 1) // 2) == a) & (iy // ((n_y + 1) // 2) == b)) for a in (0, 1) for b in (0, 1)]


def persistence(X, n_x: int, n_y: int, maxdim: int = 2, n_landmarks: int = 300, seed: int = 0, clear: float = CLEAR) -> Homology:
    """`Homology` of the n_x x n_y grid of points X (centred and scaled to unit RMS radius);
    `seed` draws the landmarks of H2."""
    return persistence_draws(X, n_x, n_y, 1, maxdim, n_landmarks, seed, clear)[0]


def persistence_draws(X, n_x: int, n_y: int, draws: int, maxdim: int = 2, n_landmarks: int = 300, seed: int = 0,
                      clear: float = CLEAR) -> list[Homology]:
    """`Homology` for `draws` landmark draws of H2 (seeds seed, seed + 1, ...); H0, H1 and their
    floors, from every point, are computed once and shared."""
    X = check_points(X, n_x, n_y)
    X = X - X.mean(0)
    X = X / np.sqrt((X**2).sum(1).mean())
    low = _diagrams(X, 1, n_landmarks, seed)
    quarters = [[_lifetimes(d) for d in _diagrams(X[q], 1, 0, seed)] for q in quadrants(n_x, n_y)]
    out = []
    for draw in range(draws):
        dgms = low + (_diagrams(X, maxdim, n_landmarks, seed + draw)[2:] if maxdim >= 2 else [])
        lives = [lt[lt > NUMERICAL_ZERO] for lt in (_lifetimes(d) for d in dgms)]
        floor = [max(float(q[k][0]) if len(q[k]) else 0.0 for q in quarters) for k in range(2)]
        floor[1] = max(floor[1], bulk(lives[1], TORUS[1]))
        if maxdim >= 2:
            floor.append(max(bulk(lives[2], TORUS[2]), H2_SHARE * floor[1]))
        counted = tuple(int((lt >= clear * f).sum()) for lt, f in zip(lives, floor))
        candidates = tuple(int(((lt > f) & (lt < clear * f)).sum()) for lt, f in zip(lives, floor))
        infinite = int((~np.isfinite(dgms[0][:, 1])).sum())
        out.append(Homology(dgms, tuple(floor), (counted[0] + infinite, *counted[1:]), candidates))
    return out


# --- orthogonality and parallelism tests (App. B) --------------------------------------------

def _ring_bases(grid: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Top-2 PC bases and centred points of each fix-x ring (sweeping y) and fix-y ring."""
    n_y, n_x, _ = grid.shape

    def ring(points):
        c = points - points.mean(0)
        _, _, Vt = np.linalg.svd(c, full_matrices=False)
        return Vt[:2].T, c

    fix_x = [ring(grid[:, i]) for i in range(n_x)]
    fix_y = [ring(grid[j, :]) for j in range(n_y)]
    return [b for b, _ in fix_x], [c for _, c in fix_x], [b for b, _ in fix_y], [c for _, c in fix_y]


def _pair_matrices(bases_a, points_a, bases_b, points_b) -> dict[str, np.ndarray]:
    """Statistics of every ordered pair (ring a, ring b). Orthogonality: the cosines of the two
    principal angles between the rings' PC planes, (n_a, n_b, 2) (the singular values of
    Pa^T Pb; unlike PC-by-PC cosines they do not depend on how a circle's two equal PCs happen
    to be rotated). Parallelism: the relative reconstruction error of ring b's centred points
    projected on ring a's plane, r = |h - P P^T h|^2 / |h|^2 (Eq. 3), (n_a, n_b)."""
    Pa, Pb = np.stack(bases_a), np.stack(bases_b)  # (n, D, 2)
    hb = np.stack(points_b)  # (n_b, m, D)
    cos = np.linalg.svd(np.einsum("adk,bdl->abkl", Pa, Pb), compute_uv=False)
    coords = np.einsum("bmd,adk->abmk", hb, Pa)
    captured = (coords**2).sum(axis=(2, 3))
    total = np.maximum((hb**2).sum(axis=(1, 2)), 1e-30)[None, :]
    return {"orthogonality": cos, "parallelism": np.clip(1 - captured / total, 0, None)}


def ring_matrices(X, n_x: int, n_y: int) -> dict[str, dict[str, np.ndarray]]:
    """The pair statistics of App. B for every pair of rings, as matrices: "x_on_y" (fix-x ring i,
    fix-y ring j), "x_on_x" and "y_on_y" (ring i against ring j of the same kind)."""
    X = check_points(X, n_x, n_y)
    bx, px, by, py = _ring_bases(X.reshape(n_y, n_x, -1))
    return {"x_on_y": _pair_matrices(bx, px, by, py), "x_on_x": _pair_matrices(bx, px, bx, px),
            "y_on_y": _pair_matrices(by, py, by, py)}


def ring_statistics(matrices: dict, ix=None, iy=None) -> dict[str, dict[str, np.ndarray]]:
    """The statistics of the rings `ix` (fix-x) and `iy` (fix-y), flattened for histograms:
    x-on-y over all (i, j), x-on-x and y-on-y over the pairs p < q of distinct rings. Default: every
    ring once; a resample of ring indices gives a bootstrap replicate."""
    n_x, n_y = matrices["x_on_y"]["parallelism"].shape
    ix = np.arange(n_x) if ix is None else np.asarray(ix)
    iy = np.arange(n_y) if iy is None else np.asarray(iy)

    def same(m, idx):
        p, q = np.triu_indices(len(idx), 1)
        keep = idx[p] != idx[q]
        return m[idx[p][keep], idx[q][keep]]

    out = {"x_on_y": {s: m[np.ix_(ix, iy)] for s, m in matrices["x_on_y"].items()},
           "x_on_x": {s: same(m, ix) for s, m in matrices["x_on_x"].items()},
           "y_on_y": {s: same(m, iy) for s, m in matrices["y_on_y"].items()}}
    return {t: {s: v.reshape(-1) for s, v in stats.items()} for t, stats in out.items()}


def ring_tests(X, n_x: int, n_y: int) -> dict[str, dict[str, np.ndarray]]:
    """The x-on-y, x-on-x and y-on-y statistics of App. B for points on an n_x x n_y grid.

    Rings: fixing x and sweeping y gives S(fix x); fixing y gives S(fix y). x-on-y compares every
    S(fix x) with every S(fix y); x-on-x every pair of different S(fix x); y-on-y likewise.
    """
    return ring_statistics(ring_matrices(X, n_x, n_y))


def statistic_distances(stats: dict, reference: dict) -> dict[str, float]:
    """Wasserstein distance between each test statistic's histogram and the reference's."""
    return {f"{t}/{s}": float(wasserstein_distance(stats[t][s], reference[t][s])) for t in TESTS for s in STATISTICS}


def torus_distances(X, n_x: int, n_y: int) -> dict[str, dict[str, float]]:
    """Distances of X's ring statistics to ideal 3D and Clifford tori on the same grid (Fig. 3, 8),
    each with its per-test values and their mean."""
    stats = ring_tests(X, n_x, n_y)
    out = {}
    for name, ref in (("torus3d", standard_torus(n_x, n_y)), ("clifford", clifford_torus(n_x, n_y))):
        d = statistic_distances(stats, ring_tests(ref, n_x, n_y))
        out[name] = {**d, "mean": float(np.mean(list(d.values())))}
    return out


@functools.lru_cache(maxsize=8)
def ideal_ring_tests(n_x: int, n_y: int) -> tuple[dict, dict]:
    """The ring statistics of the ideal 3D torus and Clifford torus on an n_x x n_y grid."""
    return ring_tests(standard_torus(n_x, n_y), n_x, n_y), ring_tests(clifford_torus(n_x, n_y), n_x, n_y)


def torus_margins(stats: dict, n_x: int, n_y: int) -> tuple[float, float]:
    """Fig. 3's two readings of ring statistics (`ring_tests`), as margins that are positive on the
    paper's side: x-on-y nearer the Clifford torus than the 3D torus (W to 3D - W to Clifford,
    mean over the statistics), and hyper-factorization: x-on-x and y-on-y nearer the 3D torus's
    x-on-y than the Clifford torus's own (W to Clifford's own - W to 3D x-on-y). By the triangle
    inequality neither exceeds the distance between its two references, which a representation
    that is one of them exactly reaches (the training images of the torus do, for hyper-factorization)."""
    t3, cl = ideal_ring_tests(n_x, n_y)
    W = wasserstein_distance
    clifford = np.mean([W(stats["x_on_y"][s], t3["x_on_y"][s]) - W(stats["x_on_y"][s], cl["x_on_y"][s]) for s in STATISTICS])
    hyper = np.mean([W(stats[t][s], cl[t][s]) - W(stats[t][s], t3["x_on_y"][s]) for t in ("x_on_x", "y_on_y") for s in STATISTICS])
    return float(clifford), float(hyper)


def shape_summary(X, labels) -> dict[str, float]:
    """The cheap readings of a representation of the grid `labels` that say whether its geometry
    is still changing (`curves.geometry_settled`): participation ratio and the two ring margins."""
    order, n_x, n_y = grid_from_labels(labels)
    X = check_points(X)[order]
    clifford, hyper = torus_margins(ring_tests(X, n_x, n_y), n_x, n_y)
    return {"participation_ratio": participation_ratio(X), "clifford_margin": clifford, "hyper_margin": hyper}


def pc_ring_pairs(X, n_x: int, n_y: int) -> dict:
    """App. B: which of the top four principal components span the rings. For the rings that sweep
    x (one per y) and those that sweep y, the share of each ring's variance on each of PCs 1-4; the
    pair of PCs holding most of it per ring kind, and the share of rings whose own two largest PCs
    (of the four) are that pair. The paper finds the x rings on PCs 1 and 3, the y rings on 2 and 4."""
    X = check_points(X, n_x, n_y)
    Xc = X - X.mean(0)
    _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
    grid = (Xc @ Vt[:4].T).reshape(n_y, n_x, 4)
    out = {}
    for kind, rings in (("x", [grid[j] for j in range(n_y)]), ("y", [grid[:, i] for i in range(n_x)])):
        var = np.stack([((r - r.mean(0)) ** 2).sum(0) for r in rings])  # (rings, 4)
        share = var / var.sum(1, keepdims=True)
        pair = tuple(int(i) + 1 for i in np.sort(np.argsort(share.mean(0))[-2:]))
        own = [tuple(int(i) + 1 for i in np.sort(np.argsort(s)[-2:])) for s in share]
        out[kind] = {"pair": pair, "share_of_rings": float(np.mean([o == pair for o in own])), "rings": len(rings),
                     "variance_on_pair": float(share.mean(0)[[p - 1 for p in pair]].sum())}
    return out


# --- one-call summary --------------------------------------------------------------------------

def summarize(activations, labels, n_landmarks: int = 300, maxdim: int = 2, seed: int = 0) -> dict:
    """Participation ratio, top-4 explained variance, Betti numbers and the Wasserstein distances
    to both ideal tori, for activations (n, D) and their (mx, my) labels on a full grid."""
    X = check_points(activations)
    labels = np.asarray(labels, float)
    if len(labels) != len(X):
        raise ValueError(f"labels: {len(labels)} labels for {len(X)} points")
    order, n_x, n_y = grid_from_labels(labels)
    X = X[order]
    hom = persistence(X, n_x, n_y, maxdim=maxdim, n_landmarks=n_landmarks, seed=seed)
    dist = torus_distances(X, n_x, n_y)
    return {
        "participation_ratio": participation_ratio(X),
        "explained_variance_top4": explained_variance(X, 4),
        "betti": list(hom.betti),
        "wasserstein_torus3d": dist["torus3d"]["mean"],
        "wasserstein_clifford": dist["clifford"]["mean"],
        "distances": dist,
    }
