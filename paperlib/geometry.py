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

from dataclasses import dataclass

import numpy as np
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

@dataclass
class Homology:
    """Persistence diagrams (one (k, 2) array per dimension), the Betti numbers read from them and,
    per dimension, the noise floor: the longest lifetime that was not counted (0 if none)."""

    diagrams: list[np.ndarray]
    betti: tuple[int, ...]
    floor: tuple[float, ...] = ()


def _lifetimes(diagram: np.ndarray) -> np.ndarray:
    finite = diagram[np.isfinite(diagram[:, 1])]
    return np.sort(finite[:, 1] - finite[:, 0])[::-1]


def _count_above_floor(lifetimes: np.ndarray, min_gap: float, max_count: int, least: float) -> int:
    """The number of bars above the noise floor: the largest i <= max_count such that the i-th
    longest bar is at least `least` and at least `min_gap` times the next one (`least` standing in
    for the next one after the last bar); 0 if there is none."""
    top = np.append(lifetimes[: max_count + 1], least)
    count = 0
    for i in range(min(max_count, len(top) - 1)):
        if top[i] >= least and top[i] >= min_gap * top[i + 1]:
            count = i + 1
    return count


def betti_numbers(diagrams, min_gap: float = 2.0, max_count: int = 4, floor_fraction: float = 0.1) -> tuple[int, ...]:
    """Betti numbers read from persistence diagrams: the bars that stand above the noise floor.

    A landmark subsample gives every dimension a bulk of short bars at the sampling scale; the
    topological features stand out of it. In each dimension the finite lifetimes are sorted,
    longest first, and the bulk begins after the last gap of at least `min_gap` (a ratio between
    consecutive bars) among the top `max_count` + 1 bars; bars in dimensions >= 1 must also be at
    least `floor_fraction` of the longest finite bar of those dimensions. H0 adds its infinite bar.
    Taking the last gap rather than the largest is what reads a lopsided torus right: its small
    ring's H1 bar and its H2 bar are short next to the large ring's bar (radii 1 : 0.35 give H1
    lifetimes 1.25, 0.26 above a bulk at 0.11, and H2 0.19 above 0.04), yet well above the bulk.
    """
    return _read_bars(diagrams, min_gap, max_count, floor_fraction)[0]


def _read_bars(diagrams, min_gap: float = 2.0, max_count: int = 4, floor_fraction: float = 0.1) -> tuple[tuple[int, ...], tuple[float, ...]]:
    lifetimes = [_lifetimes(np.asarray(d)) for d in diagrams]
    longest = max((lt[0] for lt in lifetimes[1:] if len(lt)), default=0.0)
    betti, floor = [], []
    for k, lt in enumerate(lifetimes):
        count = _count_above_floor(lt, min_gap, max_count, floor_fraction * longest if k else 0.0)
        betti.append(count + (int((~np.isfinite(np.asarray(diagrams[0])[:, 1])).sum()) if k == 0 else 0))
        floor.append(float(lt[count]) if count < len(lt) else 0.0)
    return tuple(betti), tuple(floor)


def persistence(X, maxdim: int = 2, n_landmarks: int = 300, seed: int = 0, **betti_rule) -> Homology:
    """Vietoris-Rips persistence with ripser on `n_landmarks` max-min landmarks (ripser's n_perm),
    after centring and scaling X to unit RMS radius; Betti numbers by `betti_numbers`.

    Full Rips of 1024 points at H2 takes over 10 minutes here; 200 landmarks take seconds.
    """
    from ripser import ripser

    X = check_points(X)
    X = X - X.mean(0)
    X = X / np.sqrt((X**2).sum(1).mean())
    order = np.random.default_rng(seed).permutation(len(X))  # the greedy permutation starts at point 0
    result = ripser(X[order], maxdim=maxdim, n_perm=min(n_landmarks, len(X)))
    dgms = [np.asarray(d) for d in result["dgms"]]
    return Homology(dgms, *_read_bars(dgms, **betti_rule))


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
    hom = persistence(X, maxdim=maxdim, n_landmarks=n_landmarks, seed=seed)
    dist = torus_distances(X, n_x, n_y)
    return {
        "participation_ratio": participation_ratio(X),
        "explained_variance_top4": explained_variance(X, 4),
        "betti": list(hom.betti),
        "wasserstein_torus3d": dist["torus3d"]["mean"],
        "wasserstein_clifford": dist["clifford"]["mean"],
        "distances": dist,
    }
