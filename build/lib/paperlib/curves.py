"""Learning curves: a cheap read-out of the EMA model during training, and whether a run has
stopped learning.

A read-out samples the EMA model with DDIM-20 on a fixed, seeded subsample of the evaluation
labels (`TrainConfig.curve_labels`, 256 by default: all of them at N = 16) and scores it like the
final evaluation, per region (all, in / out of distribution, seen / unseen, the cross's parts),
keeping every label's outcome, so that a change between two read-outs of the same labels
carries a paired interval. Read-outs happen at `curve_steps`: every
`curve_every` steps from half-way on (a fixed budget), or from the first (a run trained to its
plateau, which can stop at the second). A run trained alone and the same run in a stack read out the same labels
with the same starting noise, so their curves agree up to float rounding.

The rule (`convergence`), fixed before any run: compare the last read-out with the latest one at
or before three quarters of its step, for every region of at least `MIN_LABELS` labels, every reading
(`READINGS`) and the images' mean correlation with the ideal ones, label by label (paired). A
run is "still learning" where any of these gains is credibly more than a small rise (its
interval, Bonferroni-corrected for the number of gains, lies above `SHARE_RISE`, or
`CORRELATION_RISE` for the correlation: images that keep sharpening by a hair are not learning
anything a verdict depends on); "plateaued" where none is and, over all labels, every gain's interval lies
below its margin (`PLATEAU_MARGIN` for a share of labels, `CORRELATION_MARGIN` for the
correlation), no region's gain is both credibly positive and possibly as large as its margin (its
95% interval above 0 and reaching the margin: a region the claims read, such as the unseen labels,
may not still be rising while all labels look flat), and the model has started (its images' mean
correlation with the ideal ones is at least `ONSET_CORRELATION`); else "unsettled". A curve that
falls is plateaued for this rule: composition can rise and fall during training, and a fall is not
something more training at this budget would undo. The onset condition and the correlation's
gain are what keep a model before its sudden onset of learning (section 3.3: blank images, every
accuracy still 0%) from reading as a plateau and stopping there. Runs trained to their plateau
carry the rule's version (`config.PLATEAU_RULE`) in their hash, so a changed rule trains them
again rather than keeping where an older rule stopped them.

The window is a quarter of the training where the read-outs fall on quarters of the last step
(every 625 to 2500 compares with 1875); otherwise it is longer: half at the second read-out, at
most 40% from the third on (every 500 to 3500 compares with 2500: 29%). For a curve that only
rises, a longer window makes "still learning" likelier and "plateaued" later, never the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from .claims import Estimate, Z
from .config import TrainConfig
from .data import eval_labels
from .evaluate import Evaluation, evaluation_regions

READOUT_STEPS = 20  # DDIM steps of a read-out (DDIM-20 stays within a few points of DDIM-50), or the run's own if fewer
PLATEAU_MARGIN = 0.10
CORRELATION_MARGIN = 0.05
SHARE_RISE = 0.02  # "still learning" needs a credible rise of more than this share of labels over the last quarter
CORRELATION_RISE = 0.01  # ... or of the mean correlation
ONSET_CORRELATION = 0.5  # a model whose images correlate less with the ideal ones has not started: never "plateaued"
MIN_LABELS = 20
READINGS = ("accuracy", "profile", "composed")
STILL_LEARNING, PLATEAUED, UNSETTLED = "still learning", "plateaued", "unsettled"
# A representation's geometry has settled when, between its last two snapshots (`eval_steps`),
# every captured layer's participation ratio moved by at most this share of itself and each of
# Fig. 3's margins by at most this much (`TrainConfig(until="geometry")`, `config.GEOMETRY_RULE`).
SHAPE_TOLERANCE = {"participation_ratio": 0.10, "clifford_margin": 0.05, "hyper_margin": 0.05}
SETTLED, STILL_CHANGING = "settled", "still changing"


def readout_labels(N: int, n: int, seed: int = 0) -> np.ndarray:
    """`n` of the N x N evaluation labels, drawn once from `seed` (all of them when n >= N^2)."""
    labels = eval_labels(N)
    if n >= len(labels):
        return labels
    return labels[np.sort(np.random.default_rng(seed).choice(len(labels), n, replace=False))]


def readout_steps(run) -> int:
    return min(READOUT_STEPS, run.diffusion.sample_steps)


def curve_every(tc: TrainConfig) -> int:
    return tc.curve_every or max(1, tc.steps // 8)


def curve_steps(tc: TrainConfig) -> list[int]:
    """The steps of a run's read-outs (the last step among them): a fixed budget is read out at
    4/8, 5/8, 6/8, 7/8 and 8/8 of its steps (or every `curve_every` from half-way), a run trained
    to its plateau every `curve_every` steps (it can stop from the second read-out on)."""
    every = curve_every(tc)
    if tc.until in ("plateau", "geometry"):
        steps = list(range(every, tc.steps + 1, every))
    elif tc.curve_every:
        steps = [s for s in range(every, tc.steps + 1, every) if s >= tc.steps / 2]
    else:
        steps = sorted({max(1, round(tc.steps * k / 8)) for k in range(4, 9)})
    return steps if steps and steps[-1] == tc.steps else [*steps, tc.steps]


def entry(step: int, ev: Evaluation, config) -> dict:
    """One read-out as a curve entry: per label, whether each reading is right (a string of 0/1)
    and the image's correlation with the ideal image; the regions as strings of 0/1 over labels."""
    bits = lambda mask: "".join("1" if v else "0" for v in mask)  # noqa: E731
    return {"step": int(step), "labels": len(ev.labels), "readings": {r: bits(ev.outcome[r]) for r in READINGS},
            "correlation": [round(float(c), 4) for c in ev.correlation],
            "regions": {name: bits(mask) for name, mask in evaluation_regions(ev.labels, config).items() if mask.any()}}


@dataclass
class Convergence:
    """A run's convergence statement from its curve: the status, the two read-outs compared, and
    the gain of every (region, reading) with its interval."""

    status: str
    from_step: int = 0
    to_step: int = 0
    gains: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"status": self.status, "from_step": self.from_step, "to_step": self.to_step,
                "gains": {k: [round(e.value, 4), round(e.lo, 4), round(e.hi, 4)] for k, e in self.gains.items()}}

    def rising(self, regions=None) -> list[str]:
        """The (region, reading) gains whose 95% interval lies above 0 (in `regions` if given)."""
        return [k for k, e in self.gains.items() if e.lo > 0 and (regions is None or k.split("/")[0] in regions)]


def _paired_gain(now: np.ndarray, before: np.ndarray, z: float) -> Estimate:
    """The mean change of per-label values between two read-outs of the same labels, with a normal
    interval of the paired differences at `z` (0 with no width when nothing changed)."""
    d = now - before
    half = z * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.0
    return Estimate(float(d.mean()), float(d.mean() - half), float(d.mean() + half))


def _values(point: dict, name: str) -> np.ndarray:
    if name == "correlation":
        return np.asarray(point["correlation"], float)
    return (np.frombuffer(point["readings"][name].encode(), np.uint8) == ord("1")).astype(float)


def _margin(key: str) -> float:
    """The gain over the last quarter that still counts as flat, for a (region, reading) key."""
    return CORRELATION_MARGIN if key.endswith("correlation") else PLATEAU_MARGIN


def convergence(curve: list[dict], readings=READINGS) -> Convergence:
    """The rule of the module, on a run's curve (its entries by step)."""
    if len(curve) < 2:
        return Convergence(UNSETTLED)
    last = curve[-1]
    ref = ([e for e in curve[:-1] if e["step"] <= 0.75 * last["step"]] or curve[:1])[-1]
    masks = {name: np.frombuffer(bits.encode(), np.uint8) == ord("1") for name, bits in last["regions"].items()}
    masks = {name: m for name, m in masks.items() if m.sum() >= MIN_LABELS}
    z_all = float(norm.ppf(1 - 0.025 / max(1, len(masks) * (len(readings) + 1))))  # any of these gains: Bonferroni
    values = {r: (_values(last, r), _values(ref, r)) for r in (*readings, "correlation")}

    def gains_at(z: float) -> dict[str, Estimate]:
        return {f"{name}/{r}": _paired_gain(now[mask], before[mask], z) for name, mask in masks.items() for r, (now, before) in values.items()}

    gains, rising = gains_at(Z), gains_at(z_all)
    overall = {k: e for k, e in gains.items() if k.startswith("all/")}  # every one below its margin: each at 95%
    region_rising = any(e.lo > 0 and e.hi >= _margin(k) for k, e in gains.items())
    if any(e.lo > (CORRELATION_RISE if k.endswith("correlation") else SHARE_RISE) for k, e in rising.items()):
        status = STILL_LEARNING
    elif (overall and all(e.hi < _margin(k) for k, e in overall.items()) and not region_rising
          and values["correlation"][0].mean() >= ONSET_CORRELATION):
        status = PLATEAUED
    else:
        status = UNSETTLED
    return Convergence(status, ref["step"], last["step"], gains)


def geometry_settled(history: list[dict]) -> tuple[str, dict]:
    """Whether a run's representation has stopped changing, from the snapshots its evaluation
    callback recorded (`history` entries with a "shape": {layer: `geometry.shape_summary`}):
    "settled" when between the last two snapshots every layer's readings moved within
    `SHAPE_TOLERANCE`, "still changing" otherwise (or with fewer than two snapshots); with the
    changes measured, by layer and reading."""
    snaps = sorted((h for h in history if "shape" in h), key=lambda h: h["step"])
    if len(snaps) < 2:
        return STILL_CHANGING, {}
    before, last = snaps[-2], snaps[-1]
    changes, settled = {}, True
    for layer, now in last["shape"].items():
        was = before["shape"].get(layer, {})
        for name, tolerance in SHAPE_TOLERANCE.items():
            if name not in now or name not in was:
                settled = False
                continue
            change = now[name] - was[name]
            allowed = tolerance * abs(was[name]) if name == "participation_ratio" else tolerance
            changes[f"{layer}/{name}"] = round(float(change), 4)
            settled &= abs(change) <= allowed
    return (SETTLED if settled else STILL_CHANGING), {"from_step": before["step"], "to_step": last["step"], "changes": changes}
