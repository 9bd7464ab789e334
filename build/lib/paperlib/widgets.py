"""ipywidgets for exploring what the figures summarise: generated images per label, and the
representation over training. Each returns a widget to display as a notebook cell's last value.
"""

from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np

from .evaluate import Evaluation, generate
from .diffusion import Schedule
from .store import load_model


def _show(img: np.ndarray, title: str) -> None:
    N = img.shape[0]
    fig, ax = plt.subplots(figsize=(2.8, 2.8))
    ax.imshow(img, cmap="gray", vmin=0, vmax=255, extent=(0.5, N + 0.5, N + 0.5, 0.5))
    ax.set_title(title, fontsize=9)
    plt.show()


def sample_explorer(run, root=None, steps: int | None = None):
    """Pick a label (any real mx, my: held-out ones too) and see the trained model's sample. It
    never trains: a run missing from the cache raises FileNotFoundError naming what trains it."""
    model = load_model(run, root)
    schedule = Schedule(run.diffusion)
    N = run.data.N

    def draw(mx: float, my: float, seed: int) -> None:
        images, _ = generate(model, schedule, [[mx, my]], steps or run.diffusion.sample_steps, seed)
        row, col = divmod(int(images[0].argmin()), N)
        _show(images[0], f"label ({mx:.1f}, {my:.1f}); darkest pixel ({col + 1}, {row + 1})")

    slider = dict(min=1.0, max=float(N), step=0.5, continuous_update=False)
    return W.interactive(draw, mx=W.FloatSlider(value=N / 2, **slider), my=W.FloatSlider(value=N / 2, **slider),
                         seed=W.IntSlider(value=0, min=0, max=20, continuous_update=False))


def evaluation_browser(evaluations: dict[str, Evaluation]):
    """Browse the cached generated images of several models by label, with the estimated centre."""
    names = list(evaluations)
    first = evaluations[names[0]]
    N = first.images.shape[-1]

    def draw(model: str, mx: int, my: int) -> None:
        ev = evaluations[model]
        i = int(np.flatnonzero((ev.labels[:, 0] == mx) & (ev.labels[:, 1] == my))[0])
        cx, cy = ev.centres[i]
        _show(ev.images[i], f"{model}: label ({mx}, {my}), centre ({cx:.1f}, {cy:.1f})")

    axis = dict(min=1, max=N, continuous_update=False)
    return W.interactive(draw, model=W.Dropdown(options=names), mx=W.IntSlider(value=N // 2, **axis),
                         my=W.IntSlider(value=N // 2, **axis))


def snapshot_scrubber(snapshots):
    """Scrub through training: the PCA view of the representation and its numbers per checkpoint
    (`experiments.factorization.Snapshot` list)."""

    def draw(index: int) -> None:
        c = snapshots[index]
        fig = plt.figure(figsize=(4, 4))
        ax = fig.add_subplot(projection="3d")
        ax.scatter(*c.pca3[:, :3].T, c=c.labels[:, 0], cmap="twilight", s=3)
        ax.set_title(f"step {c.step}: accuracy {100 * c.accuracy:.0f}%, PR {c.participation_ratio.value:.2f}", fontsize=9)
        plt.show()

    return W.interactive(draw, index=W.IntSlider(value=len(snapshots) - 1, min=0, max=len(snapshots) - 1,
                                                 description="checkpoint", continuous_update=False))


def claims_table(found):
    """A section's claims (`paperlib.claims.Claim` list) as a rendered table, the notebook's last cell."""
    from IPython.display import Markdown

    from .claims import to_markdown

    return Markdown(to_markdown(found))
