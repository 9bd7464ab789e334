"""Section 3.2, App. C: the model composes but does not interpolate (Fig. 4, 10, 11, 12).

Models train on sum-of-stripes (SOS) and bump sets with a region of 2D labels held out, and are
scored in the held-out region: for the cross of Fig. 4 in its vertical part (mx in the band),
horizontal part and intersection; for lesions and squares in and out of distribution. Every
model of the section is listed by `runs(preset)`, trained once (in parallel on a CPU) and cached.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import data
from ..config import HoldOut, RunConfig, preset
from ..evaluate import Evaluation
from ..metrics import accuracy_by_region
from ..store import evaluation, train_all

# Sweep points per preset: the image size of every figure but Fig. 4(a)-(f) ("N"), lambdas of the
# 2D bumps in Fig. 4(g), lesion widths (Fig. 11) and square widths W (Fig. 12), in pixels of that
# N. The laptop preset runs them at N = 16 (widths halved), where a model trains ~4x faster, and
# keeps the points that decide each claim; Fig. 4(a)-(f) stays at the preset's N = 32.
SWEEPS = {
    "smoke": {"N": 16, "fig4g_fractions": (0.5,), "lesion_widths": (2.0,), "square_widths": (4.0,)},
    "laptop": {"N": 16, "fig4g_fractions": (0.2, 1.0), "lesion_widths": (1.0, 4.0), "square_widths": (5.0,)},
    "paper": {"N": 32, "fig4g_fractions": (0.2, 0.4, 0.6, 0.8, 1.0), "lesion_widths": (1.0, 2.0, 3.5, 5.0, 6.5, 8.0),
              "square_widths": (4.0, 8.0, 12.0, 16.0)},
}
FIG4_MODELS = ("2D", "1D", "2D+1D")


def cross(N: int) -> HoldOut:
    """The held-out cross of Fig. 4(f): mx or my in [13, 19] at N = 32, scaled for other N."""
    return HoldOut("cross", lo=13 * N / 32, hi=19 * N / 32)


def fig4_runs(preset_name: str) -> dict[str, RunConfig]:
    """The 2D SOS, 1D stripes (without the 2D rim, App. C.1) and 2D+1D SOS models of Fig. 4."""
    N = preset(preset_name).data.N
    return {
        "2D": preset(preset_name, family="sos", holdout=cross(N)),
        "1D": preset(preset_name, family="stripes", rim=False),
        "2D+1D": preset(preset_name, family="sos+stripes", holdout=cross(N)),
    }


def fig4g_runs(preset_name: str) -> dict[float, RunConfig]:
    """2D bumps (subsampled to lambda) + 1D stripes, with the cross held out (Fig. 4g, 9h)."""
    N = SWEEPS[preset_name]["N"]
    return {f: preset(preset_name, N=N, family="bump+stripes", holdout=cross(N), fraction=f)
            for f in SWEEPS[preset_name]["fig4g_fractions"]}


def fig10_runs(preset_name: str) -> dict[str, RunConfig]:
    """1D stripes without and with the 2D rim (App. C.2)."""
    N = SWEEPS[preset_name]["N"]
    return {"without 2D rim": preset(preset_name, N=N, family="stripes", rim=False),
            "with 2D rim": preset(preset_name, N=N, family="stripes", rim=True)}


def fig11_runs(preset_name: str) -> dict[float, RunConfig]:
    """2D SOS with a vertical lesion of each width at the canvas centre (App. C.3)."""
    N = SWEEPS[preset_name]["N"]
    return {w: preset(preset_name, N=N, family="sos", holdout=HoldOut("lesion", width=w))
            for w in SWEEPS[preset_name]["lesion_widths"]}


def fig12_runs(preset_name: str) -> dict[tuple[str, str, float], RunConfig]:
    """(family, "interior"|"exterior", W) -> 2D bump or SOS model with a W x W square held out (App. C.4)."""
    N = SWEEPS[preset_name]["N"]
    return {(family, where, w): preset(preset_name, N=N, family=family, holdout=HoldOut(f"{where}_square", width=w))
            for family in ("bump", "sos") for where in ("interior", "exterior")
            for w in SWEEPS[preset_name]["square_widths"]}


def runs(preset_name: str) -> list[RunConfig]:
    """Every model this section trains (`run_all.py` trains them all up front, in parallel)."""
    groups = (fig4_runs, fig4g_runs, fig10_runs, fig11_runs, fig12_runs)
    return [run for group in groups for run in group(preset_name).values()]


@dataclass
class Result:
    """One trained model scored on the N x N labels; `scores[region]` has n, accuracy, x, y."""

    run: RunConfig
    n_train: dict[str, int]
    scores: dict[str, dict]
    evaluation: Evaluation


def _results(named: dict, root, progress: bool, regions_of=None) -> dict:
    """Train what is missing, then score each model on its own regions or on `regions_of(run)`."""
    train_all(named.values(), root, progress=progress)
    out = {}
    for key, run in named.items():
        ev = evaluation(run, root, progress=progress)
        holdout = regions_of(run) if regions_of else run.data.holdout
        scores = accuracy_by_region(ev.centres, ev.labels, data.regions(ev.labels, holdout, run.data.N), run.data.N)
        out[key] = Result(run, data.make_dataset(run.data).counts(), scores, ev)
    return out


def figure4(preset_name: str, root=None, progress: bool = True) -> dict[str, Result]:
    """Fig. 4(c)-(e): every model scored in the parts of the cross (the 1D model too, though
    its training set holds no 2D image at all)."""
    return _results(fig4_runs(preset_name), root, progress, lambda run: cross(run.data.N))


def figure4g(preset_name: str, root=None, progress: bool = True) -> dict[float, Result]:
    return _results(fig4g_runs(preset_name), root, progress)


def figure10(preset_name: str, root=None, progress: bool = True) -> dict[str, Result]:
    """Both stripe models scored in and out of the cross of Fig. 4 (App. C.2)."""
    return _results(fig10_runs(preset_name), root, progress, lambda run: cross(run.data.N))


def figure11(preset_name: str, root=None, progress: bool = True) -> dict[float, Result]:
    return _results(fig11_runs(preset_name), root, progress)


def figure12(preset_name: str, root=None, progress: bool = True) -> dict[tuple[str, str, float], Result]:
    return _results(fig12_runs(preset_name), root, progress)


def table(results: dict, regions=("all", "in_distribution", "out_of_distribution"), field: str = "accuracy") -> dict:
    """{key: {region: value}} for the notebook's printout and the claims table."""
    return {key: {r: round(float(res.scores[r][field]), 3) for r in regions if r in res.scores} for key, res in results.items()}


def square_curves(results: dict[tuple[str, str, float], Result]) -> dict[str, dict[float, dict[str, float]]]:
    """Fig. 12(c)-(f): "(c) bump, interior" etc. -> {W: {region: accuracy}}."""
    panels = {"c": ("bump", "interior"), "d": ("sos", "interior"), "e": ("bump", "exterior"), "f": ("sos", "exterior")}
    return {f"({letter}) {family}, {where}": table({w: r for (f, wh, w), r in results.items() if (f, wh) == (family, where)})
            for letter, (family, where) in panels.items()}


def sample_images(result: Result, n: int = 25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` randomly chosen generated images and their labels (Fig. 10c, f)."""
    ev = result.evaluation
    idx = np.sort(np.random.default_rng(seed).choice(len(ev.labels), size=min(n, len(ev.labels)), replace=False))
    return ev.images[idx], ev.labels[idx]
