"""Matplotlib figures, one function per paper panel; every axis is labelled with the paper's figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from .geometry import CLEAR

KIND_COLOURS = {"2d": "tab:green", "rim": "tab:purple", "1d": "tab:blue", "0d": "gold", "held out": "tab:red"}


def images(panels: dict[str, np.ndarray], title: str, ncols: int | None = None):
    """Grey-scale images side by side, pixel (1, 1) top-left as in the paper."""
    n = len(panels)
    ncols = ncols or n
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.4 * nrows), squeeze=False)
    for ax, (name, img) in zip(axes.flat, panels.items()):
        N = img.shape[0]
        ax.imshow(img, cmap="gray", vmin=0, vmax=255, extent=(0.5, N + 0.5, N + 0.5, 0.5))
        ax.set_title(name, fontsize=9)
        ax.set_xticks([1, N])
        ax.set_yticks([1, N])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def latent_pictures(pictures: dict[str, dict[str, np.ndarray]], N: int, title: str, cross=None):
    """Scatter of each dataset's labels coloured by kind, the canvas outlined, `cross` = (lo, hi) shaded."""
    fig, axes = plt.subplots(1, len(pictures), figsize=(3.0 * len(pictures), 3.2), squeeze=False)
    for ax, (name, by_kind) in zip(axes[0], pictures.items()):
        for kind, lab in by_kind.items():
            ax.scatter(lab[:, 0], lab[:, 1], s=2, c=KIND_COLOURS[kind], label=kind)
        ax.add_patch(plt.Rectangle((0, 0), N, N, fill=False, lw=0.8))
        if cross is not None:
            ax.axvspan(*cross, color="red", alpha=0.12, lw=0)
            ax.axhspan(*cross, color="red", alpha=0.12, lw=0)
        ax.set_title(name, fontsize=9)
        ax.set_aspect("equal")
        ax.invert_yaxis()
        ax.set_xlabel("mx")
    axes[0, 0].set_ylabel("my")
    axes[0, -1].legend(markerscale=4, fontsize=7, loc="center")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def overlap_curves(curves: dict, title: str = "Fig. 6(b): overlap of neighbouring bumps"):
    """Left: the directional overlap ||a*b|| / ||a*a|| (the paper's, which exceeds 1 near half a
    pixel); right: the symmetric one the percolation simulation uses (the smaller direction)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharex=True)
    for ax, key, label in zip(axes, ("directional", "overlap"), ("directional ||a*b|| / ||a*a||", "symmetric: min of both directions")):
        for sigma, row in zip(curves["sigmas"], curves[key]):
            ax.plot(curves["d"], row, label=f"sigma = {sigma:g}")
        ax.axhline(1, color="gray", lw=0.6, ls="--")
        ax.set_xlabel("grid increment d (pixels)")
        ax.set_title(label, fontsize=9)
    axes[0].set_ylabel("overlap of neighbours")
    axes[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save(fig, folder, name: str, show: bool = True) -> list[Path]:
    """Write `name`.png and `name`.pdf into `folder` (created if missing), show the figure in a
    notebook, then close it (so a long notebook does not keep every figure in memory)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.{ext}" for ext in ("png", "pdf")]
    for p in paths:
        fig.savefig(p, dpi=120, bbox_inches="tight")
    if show and "inline" in plt.get_backend().lower():
        from IPython.display import display

        display(fig)
    plt.close(fig)
    return paths


def mass_ratio(result, threshold_index: int = 0, title: str = "Fig. 6(c): largest connected cluster"):
    """Seed-averaged mass ratio of the largest cluster against lambda, one line per sigma."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    mean = result.mean()[:, :, threshold_index]
    for sigma, row in zip(result.sigmas, mean):
        ax.plot(result.fractions, row, marker="o", ms=3, label=f"sigma = {sigma:g}")
    ax.set_xlabel("fraction of the lattice in the data, lambda")
    ax.set_ylabel("largest cluster mass ratio")
    ax.set_title(f"{title} (threshold {result.thresholds[threshold_index]:g})", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def mass_ratio_grid(result, title: str = "Fig. 13: mass ratio for several threshold overlaps"):
    n = len(result.thresholds)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.0), squeeze=False, sharey=True)
    for t, ax in enumerate(axes[0]):
        for sigma, row in zip(result.sigmas, result.mean()[:, :, t]):
            ax.plot(result.fractions, row, marker="o", ms=2, label=f"sigma = {sigma:g}")
        ax.set_title(f"threshold {result.thresholds[t]:g}", fontsize=9)
        ax.set_xlabel("lambda")
    axes[0, 0].set_ylabel("largest cluster mass ratio")
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def accuracy_vs_fraction(sigmas, fractions, accuracy, unseen=None, title: str = "Fig. 6(e): terminal accuracy"):
    """Accuracy of the trained models against lambda, one line per sigma; with `unseen`, a second
    panel on the labels each model did not see (generalization rather than memory)."""
    panels = [("all labels", accuracy)] + ([("labels not in the training set", unseen)] if unseen is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False, sharey=True)
    for ax, (name, table) in zip(axes[0], panels):
        for sigma, row in zip(sigmas, table):
            ax.plot(fractions, 100 * np.asarray(row), marker="o", label=f"sigma = {sigma:g}")
        ax.set_xlabel("fraction of the lattice in the data, lambda")
        ax.set_ylim(-2, 102)
        ax.set_title(name, fontsize=9)
    axes[0, 0].set_ylabel("accuracy (%)")
    axes[0, -1].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def persistence_diagrams(diagrams: dict[str, list[np.ndarray]], title: str = "Fig. 2(b): persistence diagrams"):
    """One panel per object: H0, H1, H2 points (birth, death); infinite deaths drawn at the top."""
    fig, axes = plt.subplots(1, len(diagrams), figsize=(3.4 * len(diagrams), 3.2), squeeze=False)
    for ax, (name, dgms) in zip(axes[0], diagrams.items()):
        finite = np.concatenate([d[np.isfinite(d[:, 1])] for d in dgms])
        top = 1.1 * finite.max() if len(finite) else 1.0
        for k, d in enumerate(dgms):
            deaths = np.where(np.isfinite(d[:, 1]), d[:, 1], top)
            ax.scatter(d[:, 0], deaths, s=8, label=f"H{k}")
        ax.plot([0, top], [0, top], "k--", lw=0.6)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("birth")
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("death")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def over_training(steps, accuracy, participation_ratio, title: str = "Fig. 2(c): accuracy and effective dimension over training"):
    """Accuracy and the participation ratio over training; an interval (an `Estimate`) is drawn as an error bar."""
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(5, 4.2), sharex=True)
    a1.plot(steps, 100 * np.asarray(accuracy), marker="o")
    a1.set_ylabel("accuracy (%)")
    values = np.array([getattr(p, "value", p) for p in participation_ratio])
    errors = np.array([[p.value - p.lo, p.hi - p.value] if hasattr(p, "lo") else [0.0, 0.0] for p in participation_ratio]).T
    a2.errorbar(steps, values, yerr=errors, marker="o", color="tab:orange", capsize=2)
    a2.axhline(4, color="gray", ls="--", lw=0.8)
    a2.set_ylabel("participation ratio")
    a2.set_xlabel("training step")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def eigenspectra(snapshots, k: int = 15, title: str = "Fig. 2(d): PCA eigenspectra over training"):
    fig, axes = plt.subplots(1, len(snapshots), figsize=(2.4 * len(snapshots), 2.6), squeeze=False, sharey=True)
    for ax, c in zip(axes[0], snapshots):
        ratio = c.spectrum[:k] / c.spectrum.sum()
        ax.bar(np.arange(1, len(ratio) + 1), ratio)
        ax.set_title(f"step {c.step}\nacc {100 * c.accuracy:.0f}%, top-4 {100 * c.explained_top4.value:.0f}%", fontsize=8)
        ax.set_xlabel("PC")
    axes[0, 0].set_ylabel("explained variance ratio")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def pca_views(snapshots, title: str = "Fig. 2(e)-(g): PCA of the representation over training"):
    fig = plt.figure(figsize=(3.2 * len(snapshots), 3.2))
    for i, c in enumerate(snapshots):
        ax = fig.add_subplot(1, len(snapshots), i + 1, projection="3d")
        ax.scatter(*c.pca3[:, :3].T, c=c.labels[:, 0], cmap="twilight", s=3)
        ax.set_title(f"step {c.step}", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
    fig.suptitle(title + " (colour: x)", fontsize=10)
    fig.tight_layout()
    return fig


def ring_histograms(rings: dict, title: str = "Fig. 3: orthogonality and parallelism statistics"):
    """Rows x-on-y, x-on-x, y-on-y; columns orthogonality, parallelism; one histogram per object."""
    tests, stats = ("x_on_y", "x_on_x", "y_on_y"), ("orthogonality", "parallelism")
    fig, axes = plt.subplots(3, 2, figsize=(7, 7))
    for r, t in enumerate(tests):
        for c, s in enumerate(stats):
            ax = axes[r, c]
            for name, values in rings.items():
                ax.hist(values[t][s], bins=30, range=(0, 1), alpha=0.5, label=name, density=True)
            ax.set_title(f"{t.replace('_', '-')} {s}", fontsize=9)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def distances_over_training(steps, to_3d, to_clifford, title: str = "Fig. 8: Wasserstein distance to ideal tori over training"):
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(steps, to_3d, marker="o", label="to the 3D torus")
    ax.plot(steps, to_clifford, marker="o", label="to the Clifford torus")
    ax.set_xlabel("training step")
    ax.set_ylabel("mean Wasserstein distance")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _bars(ax, groups: dict[str, dict[str, float]], ylabel: str = "accuracy (%)"):
    """Grouped bars: one group per key of `groups`, one bar per inner key (same keys in each)."""
    names = list(groups)
    series = list(next(iter(groups.values())))
    width = 0.8 / len(series)
    for i, s in enumerate(series):
        values = [100 * groups[g].get(s, np.nan) for g in names]
        ax.bar(np.arange(len(names)) + (i - (len(series) - 1) / 2) * width, values, width, label=s)
    ax.set_xticks(np.arange(len(names)), names, fontsize=8)
    ax.set_ylim(0, 102)
    ax.set_ylabel(ylabel)


def cross_accuracy(scores: dict[str, dict[str, dict]], title: str = "Fig. 4(c)-(e): accuracy in the parts of the held-out cross"):
    """`scores[model][region]` with the readings of `paperlib.metrics`; panels vertical (mx in the
    band, so mx is the held-out coordinate), horizontal (my in the band), intersection. Bars: mx
    and my from the darkness profiles, valid sums of stripes at the right place, and Eq. 1."""
    parts = ("vertical", "horizontal", "intersection")
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    for ax, part, letter in zip(axes, parts, "cde"):
        _bars(ax, {m: {"mx (profile)": s[part]["x_profile"], "my (profile)": s[part]["y_profile"],
                       "right image": s[part]["composed"], "Eq. 1": s[part]["accuracy"]} for m, s in scores.items()})
        ax.set_title(f"({letter}) {part}", fontsize=9)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def region_accuracy(table: dict[str, dict[str, float]], title: str):
    """Bars of accuracy per model (group) and region (bar), e.g. Fig. 4(g), 10(b, e)."""
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(table) + 2), 3.2))
    _bars(ax, table)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def accuracy_vs_width(curves: dict[str, dict[float, dict[str, float]]], title: str, xlabel: str = "held-out width (pixels)"):
    """One panel per curve name: accuracy against the width of the held-out region, per region."""
    fig, axes = plt.subplots(1, len(curves), figsize=(3.4 * len(curves), 3.0), squeeze=False, sharey=True)
    for ax, (name, by_width) in zip(axes[0], curves.items()):
        widths = sorted(by_width)
        for region in next(iter(by_width.values())):
            ax.plot(widths, [100 * by_width[w][region] for w in widths], marker="o", label=region)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylim(-2, 102)
    axes[0, 0].set_ylabel("accuracy (%)")
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def embeddings_3d(points: dict[str, tuple[np.ndarray, np.ndarray]], title: str, ncols: int | None = None):
    """3D scatters of reduced representations, coloured by the label x; `points[name] = (Y, labels)`."""
    n = len(points)
    ncols = ncols or n
    nrows = int(np.ceil(n / ncols))
    fig = plt.figure(figsize=(3.0 * ncols, 3.0 * nrows))
    for i, (name, (Y, labels)) in enumerate(points.items()):
        ax = fig.add_subplot(nrows, ncols, i + 1, projection="3d")
        ax.scatter(*Y[:, :3].T, c=labels[:, 0], cmap="viridis", s=2)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
    fig.suptitle(title + " (colour: x)", fontsize=10)
    fig.tight_layout()
    return fig


def accuracy_vs_subsampling(points, N: int, title: str = "Fig. 5(a), (b): accuracy against the fraction of 2D bumps"):
    """One panel per family at image size N: accuracy (all, in, out of distribution) against lambda."""
    families = sorted({p.family for p in points})
    fig, axes = plt.subplots(1, len(families), figsize=(4.0 * len(families), 3.2), squeeze=False, sharey=True)
    for ax, family, letter in zip(axes[0], families, "ab"):
        mine = sorted((p for p in points if p.family == family and p.N == N), key=lambda p: p.fraction)
        for region in ("all", "in_distribution", "out_of_distribution"):
            ax.plot([100 * p.fraction for p in mine], [100 * p.accuracy[region] for p in mine], marker="o", label=region)
        for level in (0, 60, 100):
            ax.axhline(level, color="red", ls="--", lw=0.7)
        ax.set_title(f"({letter}) {family}, N = {N}", fontsize=9)
        ax.set_xlabel("2D bumps subsampled (%)")
        ax.set_ylim(-2, 102)
    axes[0, 0].set_ylabel("accuracy (%)")
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def data_scaling(sizes: dict[str, dict[int, float]], title: str = "Fig. 5(c): data needed for 60% accuracy",
                 censored: dict[str, dict[int, str]] | None = None, intervals: dict | None = None):
    """Log-log dataset size against N per family, with linear and quadratic guides through the
    smallest N's first finite value. `censored` (`sample_efficiency.censored`) marks the sizes that
    are upper bounds (the sweep's first lambda already reached 60%) with an open down-triangle;
    `intervals` ({(family, N): crossing with lo, hi}, `sample_efficiency.crossings`) draws each
    crossing's 95% interval. The N axis is labelled with the sizes themselves."""
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    Ns = sorted({N for by_n in sizes.values() for N in by_n})
    bound_label = "upper bound (60% reached at the first lambda)"
    for family, by_n in sizes.items():
        (line,) = ax.plot(Ns, [by_n.get(N, np.nan) for N in Ns], marker="o", label=family)
        for N in Ns:
            c = (intervals or {}).get((family, N))
            if c is not None and np.isfinite(c.value) and np.isfinite(c.hi):
                ax.errorbar([N], [c.value], yerr=[[c.value - c.lo], [c.hi - c.value]], color=line.get_color(), capsize=3, lw=0.8)
        bounds = [N for N, kind in (censored or {}).get(family, {}).items() if kind == "below" and np.isfinite(by_n.get(N, np.nan))]
        if bounds:
            ax.plot(bounds, [by_n[N] for N in bounds], ls="", marker="v", ms=11, mfc="none", color=line.get_color(), label=bound_label)
            bound_label = None
    finite = [(N, v) for by_n in sizes.values() for N, v in sorted(by_n.items()) if np.isfinite(v)]
    if finite:
        N0, v0 = finite[0]
        grid = np.array(Ns, float)
        ax.plot(grid, v0 * grid / N0, color="gray", ls="--", lw=0.8, label="linear")
        ax.plot(grid, v0 * (grid / N0) ** 2, color="black", ls="--", lw=0.8, label="quadratic")
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no model reached 60%", transform=ax.transAxes, ha="center")
    ax.set_xscale("log")
    ax.set_xticks(Ns, [str(N) for N in Ns])
    ax.minorticks_off()
    ax.set_xlabel("image size N")
    ax.set_ylabel("dataset size for 60% accuracy")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def losses_vs_fraction(points, title: str = "Fig. 14(c): final training and validation loss"):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for sigma in sorted({p.sigma for p in points}):
        mine = sorted((p for p in points if p.sigma == sigma), key=lambda p: p.fraction)
        line, = ax.plot([p.fraction for p in mine], [p.train_loss for p in mine], marker="o", label=f"sigma = {sigma:g} train")
        ax.plot([p.fraction for p in mine], [p.validation_loss for p in mine], marker="x", ls="--", color=line.get_color(),
                label=f"sigma = {sigma:g} validation")
    ax.set_xlabel("fraction of the lattice in the data, lambda")
    ax.set_ylabel("loss (training objective)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def cross_regions(image: np.ndarray, lo: float, hi: float, title: str = "Fig. 4(f): the parts of the held-out cross"):
    """A sample image with the cross's vertical, horizontal and intersection parts outlined."""
    N = image.shape[0]
    fig, ax = plt.subplots(figsize=(3.4, 3.4))
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, extent=(0.5, N + 0.5, N + 0.5, 0.5))
    ax.axvspan(lo, hi, color="red", alpha=0.2, lw=0)
    ax.axhspan(lo, hi, color="blue", alpha=0.2, lw=0)
    ax.text((lo + hi) / 2, 2, "vertical", ha="center", fontsize=8, color="red")
    ax.text(2, (lo + hi) / 2, "horizontal", va="center", fontsize=8, color="blue")
    ax.text((lo + hi) / 2, (lo + hi) / 2, "intersection", ha="center", va="center", fontsize=7)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def ideal_tori(n: int = 32, title: str = "Fig. 2(a): the 3D torus (coupled) and the Clifford torus (factorized)"):
    """2D projections of both ideal tori: the 3D torus's (x, y), (x, z) and the Clifford torus's
    planes (1, 2), (1, 3), coloured by the x angle."""
    from . import geometry as G

    t3, cl = G.standard_torus(n, n), G.clifford_torus(n, n)
    colour = np.tile(np.arange(n), n)
    views = [("3D torus: axes 1, 2", t3[:, [0, 1]]), ("3D torus: axes 1, 3", t3[:, [0, 2]]),
             ("Clifford: axes 1, 2", cl[:, [0, 1]]), ("Clifford: axes 1, 3", cl[:, [0, 2]])]
    fig, axes = plt.subplots(1, 4, figsize=(11, 2.9))
    for ax, (name, xy) in zip(axes, views):
        ax.scatter(*xy.T, c=colour, cmap="twilight", s=3)
        ax.set_title(name, fontsize=9)
        ax.set_aspect("equal")
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def barcodes(homologies: dict, k: int = 8, title: str = "Fig. 2(b): the longest bars against the null"):
    """The `k` longest finite bars per homology dimension of each object, as lifetimes, with the
    null's longest bar (dashed: the noise floor) and the clear-bar level (dotted: `CLEAR` times it)."""
    fig, axes = plt.subplots(1, len(homologies), figsize=(3.6 * len(homologies), 3.0), squeeze=False, sharey=True)
    for ax, (name, hom) in zip(axes[0], homologies.items()):
        for dim, d in enumerate(hom.diagrams[1:], start=1):
            finite = d[np.isfinite(d[:, 1])]
            life = np.sort(finite[:, 1] - finite[:, 0])[::-1][:k]
            x = dim + np.linspace(-0.3, 0.3, max(len(life), 1))[: len(life)]
            ax.bar(x, life, width=0.6 / k, color=f"C{dim}")
            ax.hlines(hom.null[dim], dim - 0.4, dim + 0.4, colors="black", linestyles="--", lw=0.8)
            ax.hlines(CLEAR * hom.null[dim], dim - 0.4, dim + 0.4, colors="black", linestyles=":", lw=0.8)
        ax.set_xticks([1, 2], ["H1", "H2"])
        ax.set_title(f"{name}: Betti {tuple(hom.betti)}, torus: {hom.reads()}", fontsize=9)
    axes[0, 0].set_ylabel("lifetime (death - birth)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def training_curves(log: list[dict], curve: list[dict] | None = None, title: str = "training", reading: str = "accuracy"):
    """Loss (and learning rate) over training from a run's log; with its learning curve
    (`paperlib.curves`: the read-outs of the EMA model), `reading` per region and the images' mean
    correlation with the ideal ones over training."""
    panels = 2 if curve else 1
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 3.2), squeeze=False)
    ax = axes[0, 0]
    steps = [e["step"] for e in log]
    ax.plot(steps, [e["loss"] for e in log], label="loss")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    twin = ax.twinx()
    twin.plot(steps, [e["lr"] for e in log], color="gray", lw=0.8, label="learning rate")
    twin.set_ylabel("learning rate", color="gray")
    if curve:
        ax = axes[0, 1]
        at = [e["step"] for e in curve]
        right = [np.frombuffer(e["readings"][reading].encode(), np.uint8) == ord("1") for e in curve]
        for region in curve[-1]["regions"]:
            masks = [np.frombuffer(e["regions"].get(region, "").encode(), np.uint8) == ord("1") for e in curve]
            ax.plot(at, [100 * r[m].mean() if m.any() else np.nan for r, m in zip(right, masks)], marker="o", ms=3, label=region)
        ax.plot(at, [100 * np.mean(e["correlation"]) for e in curve], color="black", ls="--", lw=0.8, label="mean correlation x 100")
        ax.set_xlabel("step")
        ax.set_ylabel(f"{reading} (%) of the read-out")
        ax.set_ylim(-2, 102)
        ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
