"""Section 3.2, Fig. 5: 1D stripes make compositional generalization sample-efficient.

Bump models are trained with the central square holding 20% of the 2D bumps held out (for
out-of-distribution evaluation), on a nested lambda subsample of the remaining 2D bumps, either
alone or with the 1D stripes of the extended label space. Fig. 5(a, b) plot accuracy against
lambda; Fig. 5(c) the dataset size needed for 60% accuracy against the image size N.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import HoldOut, RunConfig, preset
from ..data import make_dataset
from ..store import evaluation, train_all

FAMILIES = ("bump", "bump+stripes")
# Sweep points per preset: lambdas and the image sizes N of Fig. 5(c), each N trained at every
# lambda; Fig. 5(a, b) show the largest N (32 in the paper; 16 for the laptop preset, whose
# N = 32 models cost ~4x more).
SWEEPS = {
    "smoke": {"fractions": (0.3, 1.0), "sizes": (8, 16)},
    "laptop": {"fractions": (0.1, 0.3, 1.0), "sizes": (8, 16)},
    "paper": {"fractions": (0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0), "sizes": (8, 16, 32, 64)},
}
THRESHOLD = 0.6


def run_config(preset_name: str, family: str, fraction: float, N: int | None = None) -> RunConfig:
    """The preset's bump model on `family` with the central 20% held out and lambda = `fraction`."""
    changes = {"family": family, "holdout": HoldOut("center_fraction", fraction=0.2), "fraction": fraction}
    if N is not None:
        changes["N"] = N
    return preset(preset_name, **changes)


def runs(preset_name: str) -> list[RunConfig]:
    """Every model this section trains (`run_all.py` trains them all up front, in parallel)."""
    sweep = SWEEPS[preset_name]
    return [run_config(preset_name, family, f, N) for N in sweep["sizes"] for family in FAMILIES for f in sweep["fractions"]]


@dataclass
class Point:
    N: int
    family: str
    fraction: float
    n_2d: int  # 2D bumps in the training set
    n_total: int  # all training images (2D bumps + 1D stripes + blanks)
    accuracy: dict[str, float]  # all / in_distribution / out_of_distribution


def sweep(preset_name: str, root=None, progress: bool = True) -> list[Point]:
    """Train (or load) and score every (N, family, lambda) point of the preset."""
    wanted = runs(preset_name)
    train_all(wanted, root, progress=progress)
    points = []
    for run in wanted:
        counts = make_dataset(run.data).counts()
        scores = evaluation(run, root, progress=progress).scores
        points.append(Point(run.data.N, run.data.family, run.data.fraction, counts["2d"], sum(counts.values()),
                            {r: scores[r]["accuracy"] for r in ("all", "in_distribution", "out_of_distribution")}))
    return points


def size_to_reach(sizes, accuracies, threshold: float = THRESHOLD) -> float:
    """Dataset size at which accuracy first reaches `threshold`, interpolating linearly in
    log(size) between the bracketing sweep points; NaN when no point reaches it, the smallest
    size when the first already does (an upper bound)."""
    sizes, accuracies = np.asarray(sizes, float), np.asarray(accuracies, float)
    order = np.argsort(sizes)
    sizes, accuracies = sizes[order], accuracies[order]
    above = np.flatnonzero(accuracies >= threshold)
    if len(above) == 0:
        return float("nan")
    i = above[0]
    if i == 0:
        return float(sizes[0])
    a0, a1 = accuracies[i - 1], accuracies[i]
    t = (threshold - a0) / (a1 - a0)
    return float(np.exp(np.log(sizes[i - 1]) + t * (np.log(sizes[i]) - np.log(sizes[i - 1]))))


def scaling(points: list[Point], region: str = "all", count: str = "n_2d") -> dict[str, dict[int, float]]:
    """Fig. 5(c): family -> {N: dataset size needed for 60% accuracy in `region`}; `count` says
    which size: "n_2d" (2D bumps) or "n_total" (all training images)."""
    out = {}
    for family in FAMILIES:
        out[family] = {}
        for N in sorted({p.N for p in points}):
            mine = [p for p in points if p.family == family and p.N == N]
            out[family][N] = size_to_reach([getattr(p, count) for p in mine], [p.accuracy[region] for p in mine])
    return out


def slopes(sizes: dict[str, dict[int, float]]) -> dict[str, float]:
    """Least-squares slope of log(size) against log(N) per family (1: linear, 2: quadratic);
    NaN when a size is missing or fewer than two N were trained."""
    out = {}
    for family, by_n in sizes.items():
        Ns = sorted(by_n)
        values = np.array([by_n[n] for n in Ns], float)
        ok = len(Ns) > 1 and bool(np.isfinite(values).all())
        out[family] = float(np.polyfit(np.log(Ns), np.log(values), 1)[0]) if ok else float("nan")
    return out


def stripes_need_fewer(sizes: dict[str, dict[int, float]]) -> bool:
    """True when, at every N, bump+stripes reached the threshold with fewer images than bumps
    alone (or bumps alone never reached it)."""
    with_stripes, alone = sizes["bump+stripes"], sizes["bump"]
    return all(np.isfinite(with_stripes[n]) and not with_stripes[n] >= alone[n] for n in with_stripes)
