"""The paper's claims as tested statements with uncertainty and a three-way verdict.

A claim is decided by a function of an experiment's results (in its `paperlib.experiments`
module), never by a rule in a notebook. It carries the decisive quantity, a 95% interval and a
verdict: "reproduced" when the interval lies on the paper's side of the bar, "not reproduced"
when it lies on the other side, "inconclusive" when it straddles it (too few labels, seeds or
sweep points to tell). The rules (bars, margins) are fixed in the experiment modules before the
runs that they judge.

Uncertainty: an accuracy is a proportion over evaluation labels, with a Wilson score interval;
with several seeds (independently trained models) the interval is widened to cover the spread
between seeds (a t interval of the per-seed means). Differences use Newcombe's hybrid score
interval, trends a weighted least-squares slope, and quantities derived through interpolation
(Fig. 5c) a parametric bootstrap over the labels.

Each notebook records its claims with `record(results_dir, notebook, claims)` into
`<results>/claims/<notebook>.json`; `run_all.py` collects them into `claims.json` (with the
provenance of the run) and a Markdown table, `claims.md`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from .files import atomic_write_json, atomic_write_text

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
STILL_LEARNING = "still learning"  # `curves.STILL_LEARNING` (curves imports this module)
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
Z = 1.959963984540054  # two-sided 95%


# --- estimates with intervals ------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """A value with its 95% interval; `n` labels (summed over seeds) and `seeds` models behind it.
    `unit` says how to read it: "share" (a proportion, printed in %), "points" (a difference or
    change of shares, printed in percentage points, never beyond +-100), "count" (k of n things
    that are not a sample, e.g. landmark draws: no interval), or "" (a plain value)."""

    value: float
    lo: float
    hi: float
    n: int = 0
    seeds: int = 1
    unit: str = ""

    def __str__(self) -> str:
        if self.unit == "count":
            return f"{round(self.value * self.n)} of {self.n}"
        if self.unit == "points":
            return f"{100 * self.value:+.1f} points [{100 * self.lo:+.1f}, {100 * self.hi:+.1f}]"
        if self.unit == "share" or (self.n and not self.unit):
            return f"{100 * self.value:.1f}% [{100 * self.lo:.1f}, {100 * self.hi:.1f}]"
        return f"{self.value:.3g} [{self.lo:.3g}, {self.hi:.3g}]"

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2


def count(k: int, n: int) -> Estimate:
    """k of n things that are not draws from a population (landmark draws of one model, the rings
    of one model, a few verdicts): the count itself, without an interval."""
    return Estimate(k / n if n else float("nan"), k / n if n else 0.0, k / n if n else 1.0, n, 1, "count")


def _bounded(e: Estimate, a: Estimate, b: Estimate | None = None) -> Estimate:
    """A difference or change of shares in points, value and interval within what it can be: [-1, 1],
    or [-2, 2] for a difference of two changes. A line fitted to a step (100, 100, 0, 35% over four
    widths) falls by more than 100 points over the sweep, which no change of shares can."""
    if a.unit == "share" and (b is None or b.unit == "share"):
        return Estimate(min(1.0, max(-1.0, e.value)), max(-1.0, e.lo), min(1.0, e.hi), e.n, e.seeds, "points")
    if b is not None and a.unit == b.unit == "points":  # two changes in points differ by at most 200
        return Estimate(e.value, max(-2.0, e.lo), min(2.0, e.hi), e.n, e.seeds, "points")
    return e


def wilson(k: float, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson score interval of k successes in n trials (sensible at 0 and n, unlike Wald's)."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(*outcomes) -> Estimate:
    """The fraction of True over one boolean array per seed (an empty array is skipped): Wilson
    over all labels pooled, widened with several seeds to the t interval of the per-seed means."""
    per_seed = [np.asarray(o, bool) for o in outcomes if len(o)]
    if not per_seed:
        return Estimate(float("nan"), 0.0, 1.0, 0, 0)
    k, n = sum(int(o.sum()) for o in per_seed), sum(len(o) for o in per_seed)
    lo, hi = wilson(k, n)
    if len(per_seed) > 1:
        means = np.array([o.mean() for o in per_seed])
        half = stats.t.ppf(0.975, len(means) - 1) * means.std(ddof=1) / math.sqrt(len(means))
        lo, hi = min(lo, means.mean() - half), max(hi, means.mean() + half)
    return Estimate(k / n, max(0.0, min(lo, k / n)), min(1.0, max(hi, k / n)), n, len(per_seed), "share")


def difference(a: Estimate, b: Estimate) -> Estimate:
    """a - b with Newcombe's hybrid score interval built from the two intervals."""
    d = a.value - b.value
    lo = d - math.hypot(a.value - a.lo, b.hi - b.value)
    hi = d + math.hypot(a.hi - a.value, b.value - b.lo)
    return _bounded(Estimate(d, lo, hi, a.n + b.n, min(a.seeds, b.seeds)), a, b)


def trend(xs, estimates: list[Estimate]) -> Estimate:
    """The fitted change of the estimates from the smallest to the largest x (weighted least-squares
    line, each point weighted by the inverse square of its interval's half-width), with its interval.
    Where the points scatter about the line more than their intervals allow (reduced chi-square
    above 1: models differ by more than their labels say), the interval is widened by that factor
    and its quantile is Student's t on the fit's len(x) - 2 degrees of freedom (a scatter estimated
    from one or two is barely known); with two points the line fits exactly and no scatter can be
    estimated. A change of shares is in points, bounded to [-1, 1]."""
    x = np.asarray(xs, float)
    y = np.array([e.value for e in estimates])
    se = np.maximum([e.half_width / Z for e in estimates], 1e-3)
    if len(x) < 2 or np.ptp(x) == 0:
        return Estimate(float("nan"), -1.0, 1.0)
    w = 1 / se**2
    xm = (w * x).sum() / w.sum()
    sxx = (w * (x - xm) ** 2).sum()
    ym = (w * y).sum() / w.sum()
    slope = (w * (x - xm) * (y - ym)).sum() / sxx
    dof = len(x) - 2
    chi2 = float((w * (y - ym - slope * (x - xm)) ** 2).sum())
    scattered = dof > 0 and chi2 / dof > 1
    scatter = math.sqrt(chi2 / dof) if scattered else 1.0
    quantile = float(stats.t.ppf(0.975, dof)) if scattered else Z
    span = np.ptp(x)
    half = quantile * span * scatter / math.sqrt(sxx)
    return _bounded(Estimate(slope * span, slope * span - half, slope * span + half, sum(e.n for e in estimates)), estimates[0])


def widen(e: Estimate, spread: float) -> Estimate:
    """An estimate from one trained model, its interval widened to cover the spread between models
    trained with other seeds (`spread`: their standard deviation, from the families trained with
    several seeds): half-width sqrt(h^2 + (Z spread)^2), clipped to [0, 1] for a share."""
    lo_h, hi_h = e.value - e.lo, e.hi - e.value
    extra = (Z * spread) ** 2
    lo, hi = e.value - math.sqrt(lo_h**2 + extra), e.value + math.sqrt(hi_h**2 + extra)
    if e.unit == "share" or (e.n and not e.unit):
        lo, hi = max(0.0, lo), min(1.0, hi)
    elif e.unit == "points":
        lo, hi = max(-1.0, lo), min(1.0, hi)
    return Estimate(e.value, lo, hi, e.n, e.seeds, e.unit)


def seed_spread(*families) -> float:
    """The standard deviation between seeds of one model, pooled over families trained with
    several seeds (each family: its per-seed values); 0 with none."""
    groups = [np.asarray(f, float) for f in families if len(f) > 1]
    if not groups:
        return 0.0
    ss = sum(((g - g.mean()) ** 2).sum() for g in groups)
    return float(math.sqrt(ss / sum(len(g) - 1 for g in groups)))


def mean_of(estimates: list[Estimate], scatter: bool = False) -> Estimate:
    """The mean of estimates of separate models, never pooling their labels: the standard errors
    combine as those of independent means. Where the estimates are replicates of one thing
    (`scatter`: seeds of one model) and scatter about their mean more than those errors allow, the
    interval is widened by that factor, with Student's t on len - 1 degrees of freedom; where they
    are sweep points (one per W, per lambda) their differences are the design, not noise, and the
    mean's interval is that of the points' own intervals."""
    values = np.array([e.value for e in estimates])
    se = np.maximum([e.half_width / Z for e in estimates], 1e-3)
    k = len(estimates)
    mean = float(values.mean())
    chi2 = float((((values - mean) / se) ** 2).sum())
    scattered = scatter and k > 1 and chi2 / (k - 1) > 1
    factor = math.sqrt(chi2 / (k - 1)) if scattered else 1.0
    quantile = float(stats.t.ppf(0.975, k - 1)) if scattered else Z
    half = quantile * factor * math.sqrt((se**2).sum()) / k
    unit = estimates[0].unit
    lo, hi = mean - half, mean + half
    if unit == "share":
        lo, hi = max(0.0, lo), min(1.0, hi)
    elif unit == "points":
        lo, hi = max(-1.0, lo), min(1.0, hi)
    return Estimate(mean, lo, hi, sum(e.n for e in estimates), 1, unit)


# --- verdicts ------------------------------------------------------------------------------------

def at_least(e: Estimate, bar: float) -> str:
    """The paper says the value is at least `bar`."""
    return REPRODUCED if e.lo >= bar else NOT_REPRODUCED if e.hi < bar else INCONCLUSIVE


def below(e: Estimate, bar: float) -> str:
    """The paper says the value is below `bar`."""
    return REPRODUCED if e.hi < bar else NOT_REPRODUCED if e.lo >= bar else INCONCLUSIVE


def positive(e: Estimate, margin: float = 0.0) -> str:
    """The paper says the value (a difference or a trend) is positive: reproduced when the interval
    lies above 0; not reproduced when it lies below `margin` (with margin 0: credibly not
    positive; with margin > 0: credibly no effect of the size the claim needs); else inconclusive."""
    if e.lo > 0:
        return REPRODUCED
    return NOT_REPRODUCED if e.hi < margin else INCONCLUSIVE


def negative(e: Estimate, margin: float = 0.0) -> str:
    """The mirror of `positive`: the value is credibly below zero, or credibly above -`margin`."""
    return positive(Estimate(-e.value, -e.hi, -e.lo, e.n, e.seeds, e.unit), margin)


def within(e: Estimate, tolerance: float) -> str:
    """The paper says the value (a difference) is about zero: |value| <= tolerance."""
    if -tolerance <= e.lo and e.hi <= tolerance:
        return REPRODUCED
    return NOT_REPRODUCED if e.lo > tolerance or e.hi < -tolerance else INCONCLUSIVE


def all_of(*verdicts: str) -> str:
    """A claim made of parts: not reproduced if any part is not, reproduced if every part is."""
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    return REPRODUCED if all(v == REPRODUCED for v in verdicts) else INCONCLUSIVE


def deciding(parts: dict[str, tuple[Estimate, str, float]]) -> tuple[Estimate, str, str]:
    """A compound claim from named parts (estimate, verdict, bar): its verdict (`all_of`), as its
    estimate the part that decides it (one that fails, else one still open, else the one
    nearest its bar), and a text of every part."""
    verdict = all_of(*(v for _, v, _ in parts.values()))
    rank = {NOT_REPRODUCED: 0, INCONCLUSIVE: 1, REPRODUCED: 2}
    name = min(parts, key=lambda k: (rank[parts[k][1]], abs(parts[k][0].value - parts[k][2])))
    return parts[name][0], verdict, f"decided by {name}. " + "; ".join(f"{k}: {e}" for k, (e, _, _) in parts.items())


def bootstrap_estimate(value: float, replicates) -> Estimate:
    """A derived quantity with the 95% percentile interval of its bootstrap replicates."""
    finite = np.asarray(replicates, float)
    finite = finite[np.isfinite(finite)]
    if not math.isfinite(value) or len(finite) < 10:
        raise ValueError("value: a bootstrap interval needs a finite value and replicates")
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return Estimate(float(value), float(min(lo, value)), float(max(hi, value)))


def no_worse_than(e: Estimate, margin: float) -> str:
    """Non-inferiority: the value (a change) is not below -`margin`: reproduced when the interval
    lies above -margin, not reproduced when it lies below it."""
    return REPRODUCED if e.lo > -margin else NOT_REPRODUCED if e.hi < -margin else INCONCLUSIVE


def beyond_control(verdict: str, gap: Estimate, control: str) -> tuple[str, str]:
    """A reproduced pattern counts as evidence of learning only where the model beats the control
    read the same way (`gap` = model - control credibly above 0); otherwise it is inconclusive,
    with the reason. Returns (verdict, reason)."""
    if verdict == REPRODUCED and gap.lo <= 0:
        return INCONCLUSIVE, f"not beyond the {control} (model - {control}: {gap})"
    return verdict, ""


def exact(ok: bool) -> str:
    """A claim about an exact, noise-free quantity (a count, a deterministic simulation)."""
    return REPRODUCED if ok else NOT_REPRODUCED


# --- claims --------------------------------------------------------------------------------------

KINDS = ("arithmetic", "simulation", "model", "control")


@dataclass(kw_only=True)
class Claim:
    """One claim of the paper and what this run found. `estimate` is the decisive quantity with
    its interval; `criterion` the rule that turned it into `verdict`; `measured` the numbers behind
    it in words, `details` as data. `kind` says what the claim rests on: "arithmetic" (a count),
    "simulation" (a deterministic simulation), "model" (trained models) or "control" (what a
    reading gives for a control, e.g. that the training images read as a torus); `runs` lists the
    trained runs behind a model claim (hash, steps, convergence), `controls` what the same reading
    gives for the controls (the input images, an untrained network, a memorizer, the oracle, the
    conditioning), each control's verdict through the same reading where the rule uses it;
    `reason` says why a verdict is inconclusive when that is not the interval alone.
    `learning_helps`: True where more training of the runs can only move the decisive quantity
    toward the paper's side (an accuracy a model must reach), False where only away from it, None
    where it could go either way; the guard keeps a verdict that further learning cannot flip."""

    claim: str
    section: str
    figure: str
    paper: str
    criterion: str
    estimate: Estimate
    verdict: str
    measured: str = ""
    details: dict = field(default_factory=dict)
    kind: str = "model"
    runs: list = field(default_factory=list)
    controls: dict = field(default_factory=dict)
    reason: str = ""
    learning_helps: bool | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict: must be one of {VERDICTS}, got {self.verdict!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind: must be one of {KINDS}, got {self.kind!r}")
        if not math.isfinite(self.estimate.lo) or not math.isfinite(self.estimate.hi):
            raise ValueError(f"estimate: claim {self.claim!r} needs a finite interval, got {self.estimate}")

    def brief(self) -> str:
        """The verdict and estimate in a line (with the reason): how a control model's reading of the
        same rule stands beside a claim."""
        return f"{self.verdict}: {self.estimate}" + (f" ({self.reason})" if self.reason else "")

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["interval"] = [self.estimate.lo, self.estimate.hi]
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Claim":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: Estimate(**v) if k == "estimate" else v for k, v in d.items() if k in names})


def guard(claim: Claim, runs: list[dict]) -> Claim:
    """Attach the trained runs a model claim rests on (each {"hash", "steps", "convergence",
    "rising", and "geometry" for runs trained until their geometry settles}). A verdict that more
    training could flip, because a run it rests on is still learning (or its geometry still
    changing), becomes inconclusive, with that as the reason; one that more training cannot flip
    (`Claim.learning_helps` on the verdict's side) is kept, saying so. Unsettled runs (neither
    plateaued nor credibly rising) are named in the reason."""
    claim.runs = runs
    learning = [r["hash"] for r in runs if r.get("convergence") == STILL_LEARNING]
    changing = [r["hash"] for r in runs if r.get("geometry") == "still changing"]
    unsettled = [r["hash"] for r in runs if r.get("convergence") == "unsettled"]
    notes = [claim.reason] if claim.reason else []
    safe = (claim.verdict == REPRODUCED and claim.learning_helps is True) or (claim.verdict == NOT_REPRODUCED and claim.learning_helps is False)
    if learning and claim.verdict != INCONCLUSIVE:
        if safe:
            notes.append(f"run(s) {', '.join(learning)} still learning; more training can only move this further to its side")
        else:
            notes.append(f"still learning: run(s) {', '.join(learning)} rose over the last quarter of training; was {claim.verdict}")
            claim.verdict = INCONCLUSIVE
    elif changing and claim.verdict != INCONCLUSIVE:
        notes.append(f"geometry still changing: run(s) {', '.join(changing)} at their step cap; was {claim.verdict}")
        claim.verdict = INCONCLUSIVE
    if unsettled:
        notes.append(f"rests on unsettled run(s) {', '.join(unsettled)} (neither plateaued nor credibly rising)")
    claim.reason = "; ".join(notes)
    return claim


def record(results_dir, notebook: str, claims: list[Claim]) -> Path:
    """Write a notebook's claims to `<results_dir>/claims/<notebook>.json` (replacing the file)."""
    return atomic_write_json(Path(results_dir) / "claims" / f"{notebook}.json", [c.to_dict() for c in claims])


def collect(results_dir) -> list[Claim]:
    """All recorded claims of a results folder, in notebook order."""
    folder = Path(results_dir) / "claims"
    return [Claim.from_dict(e) for p in sorted(folder.glob("*.json")) for e in json.loads(p.read_text())]


def tally(claims: list[Claim]) -> dict[str, dict[str, int]]:
    """Verdict counts for every claim ("all") and for each kind of claim."""
    groups = {"all": claims, **{kind: [c for c in claims if c.kind == kind] for kind in KINDS}}
    return {name: {v: sum(c.verdict == v for c in group) for v in VERDICTS} for name, group in groups.items()}


def tally_text(claims: list[Claim]) -> str:
    """"30 claims: 13 reproduced, ...; of the 24 about trained models: ..." in one sentence."""
    counts = tally(claims)
    words = lambda c: ", ".join(f"{n} {v}" for v, n in c.items())  # noqa: E731
    models = sum(counts["model"].values())
    return f"{len(claims)} claims: {words(counts['all'])}; of the {models} about trained models: {words(counts['model'])}"


MARKS = {REPRODUCED: "reproduced", NOT_REPRODUCED: "**not reproduced**", INCONCLUSIVE: "*inconclusive*"}


def as_text(value) -> str:
    """A measured value or a control's reading as words: a mapping as "key value, ...", a list as its items."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {as_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(as_text(v) for v in value)
    return str(value)


def to_markdown(claims: list[Claim], preset: str | None = None) -> str:
    head = f"Preset `{preset}`: " if preset else ""
    lines = [f"{head}{tally_text(claims)}.",
             "Estimate: the decisive quantity with its 95% interval (labels, and seeds where there are several).", "",
             "| claim | kind | figure | paper | criterion | estimate [95% interval] | measured | controls | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in claims:
        controls = "; ".join(f"{k}: {as_text(v)}" for k, v in c.controls.items())
        cells = (c.claim, c.kind, c.figure, c.paper, c.criterion, c.estimate, c.measured + (f" ({c.reason})" if c.reason else ""), controls,
                 MARKS[c.verdict])
        lines.append("| " + " | ".join(str(x).replace("|", "/").replace("\n", " ") for x in cells) + " |")
    return "\n".join(lines) + "\n"


def write(results_dir, claims: list[Claim], provenance: dict | None = None, preset: str | None = None) -> tuple[Path, Path]:
    """Write `claims.json` ({"preset", "provenance", "tally", "claims"}) and `claims.md` into the results folder."""
    folder = Path(results_dir)
    js = atomic_write_json(folder / "claims.json", {"preset": preset, "provenance": provenance or {}, "tally": tally(claims),
                                                    "claims": [c.to_dict() for c in claims]})
    md = atomic_write_text(folder / "claims.md", to_markdown(claims, preset))
    return js, md
