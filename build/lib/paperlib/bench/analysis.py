"""Analysis benchmarks: the geometry summary of a torus, the percolation sweep."""

from __future__ import annotations

import time

import numpy as np

from .. import geometry as G
from .. import percolation as P


def bench_geometry(args) -> dict:

    n = 32
    X = G.embed(G.clifford_torus(n, n), 256, noise=0.01, seed=args.seed)
    gx, gy = np.meshgrid(np.arange(1, n + 1), np.arange(1, n + 1))
    labels = np.stack([gx.ravel(), gy.ravel()], 1).astype(float)
    t = time.perf_counter()
    summary = G.summarize(X, labels)
    summary_s = time.perf_counter() - t
    print(f"summary of 1024 points in 256 dims: {summary_s:.2f} s; PR={summary['participation_ratio']:.3f} "
          f"betti={summary['betti']} W(3D)={summary['wasserstein_torus3d']:.3f} W(Clifford)={summary['wasserstein_clifford']:.3f}", flush=True)
    t = time.perf_counter()
    G.umap_embed(X[:64], 3, seed=0)
    jit_s = time.perf_counter() - t
    t = time.perf_counter()
    G.umap_embed(X, 3, seed=0)
    umap_s = time.perf_counter() - t
    print(f"UMAP to 3D: first call (numba compile) {jit_s:.1f} s, then 1024 points {umap_s:.1f} s", flush=True)
    return {"bench": "geometry", "points": 1024, "dims": 256, "summary_seconds": round(summary_s, 2),
            "participation_ratio": round(summary["participation_ratio"], 3), "betti": summary["betti"],
            "wasserstein_torus3d": round(summary["wasserstein_torus3d"], 4), "wasserstein_clifford": round(summary["wasserstein_clifford"], 4),
            "umap_first_call_seconds": round(jit_s, 1), "umap_seconds": round(umap_s, 1)}


def bench_percolation(args) -> dict:

    sigmas = [0.1, 0.3, 0.5, 1.0, 2.0]
    fractions = np.round(np.arange(0.1, 1.01, 0.1), 2)
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        result = P.simulate(sigmas, fractions, [0.005], seeds=range(5))
        times.append(time.perf_counter() - t)
    mean = result.mean()[:, :, 0]
    for s, row in zip(sigmas, mean):
        print(f"sigma={s}: " + " ".join(f"{v:.3f}" for v in row), flush=True)
    crit = result.critical_fraction()[:, 0]
    return {"bench": "percolation", "sigmas": sigmas, "fractions": fractions.tolist(), "threshold": 0.005, "seeds": 5,
            "seconds_median": round(float(np.median(times)), 3), "seconds_all": [round(t, 3) for t in times],
            "critical_fraction": [None if np.isnan(c) else float(c) for c in crit],
            "mass_ratio": np.round(mean, 4).tolist()}
