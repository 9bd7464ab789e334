"""Section 3.2, App. C: the model composes but does not interpolate (Fig. 4, 10, 11, 12).

Models train on sum-of-stripes (SOS) and bump sets with a region of 2D labels held out, and are
scored in the held-out region: for the cross of Fig. 4 in its vertical part (mx in the band, so
mx is the held-out coordinate and my the seen one), horizontal part and intersection; for
lesions and squares in and out of distribution. Positions on SOS images are read per axis from
the darkness profiles (`metrics.profile_centres`), so one stripe never spoils the other's
reading; "composed" counts images that are valid sums of stripes at the right place
(`metrics.VALID_CORRELATION`); bump images are read with Eq. 1. Eq. 1's numbers are kept beside
the profiles'. The claims near their bar are trained with several seeds (`PRESETS[...]["seeds"]`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import claims as C
from .. import controls, data, geometry
from ..config import Budget, HoldOut, RunConfig, fast_recipe, notebook_parameter, preset
from ..evaluate import Evaluation, evaluation_regions, ideal_shape
from ..metrics import by_region
from ..store import evaluation

# What each preset means for this section, in pixels of its image size N: seeds of the models whose
# claims sit near their bar (the 2D SOS model, the rim model), lambdas of the 2D bumps in Fig. 4(g),
# the label spacing and widths of the lesions (Fig. 11; sub-pixel spacing so that a narrow lesion
# can be interpolated), the square widths W (Fig. 12), how long each model trains (`budget`; None:
# the preset's fixed steps) and which models the fast recipe (`config.fast_recipe`) trains again as
# a control ("all", or names of Fig. 4's models). The laptop runs the section at N = 16 (a quarter
# of the cost per model; the cross becomes [6.5, 9.5]), every model to its plateau within 5000
# steps, read out every 1250 (a quarter of the cap, so that a model at its cap is judged over its
# last quarter); its fast-recipe control is the 1D model, which the fast recipe's renderer lets
# draw sums of stripes it never saw.
PRESETS = {
    "smoke": {"N": 16, "seeds": 2, "fig4g_fractions": (0.3, 1.0), "lesion_d": 0.5, "lesion_widths": (1.0, 3.0),
              "square_widths": (3.0, 5.0), "budget": None, "fast_control": ("1D",)},
    "laptop": {"N": 16, "seeds": 3, "fig4g_fractions": (0.2, 0.5, 1.0), "lesion_d": 0.25, "lesion_widths": (1.0, 2.0, 3.5, 5.0),
               "square_widths": (3.0, 5.0, 7.0), "budget": Budget("plateau", 5000, 1250), "fast_control": ("1D",)},
    "gpu": {"N": 32, "seeds": 3, "fig4g_fractions": (0.2, 0.4, 0.6, 0.8, 1.0), "lesion_d": 0.1,
            "lesion_widths": (1.0, 2.0, 3.5, 5.0, 6.5, 8.0), "square_widths": (4.0, 8.0, 12.0, 16.0), "budget": None, "fast_control": "all",
            "every_model_seeds": 3},
    "paper": {"N": 32, "seeds": 1, "fig4g_fractions": (0.2, 0.4, 0.6, 0.8, 1.0), "lesion_d": 0.1,
              "lesion_widths": (1.0, 2.0, 3.5, 5.0, 6.5, 8.0), "square_widths": (4.0, 8.0, 12.0, 16.0), "budget": None, "fast_control": ()},
}
SWEEP_POINTS = ("N", "seeds", "fig4g_fractions", "lesion_d", "lesion_widths", "square_widths")  # what the notebook's parameters change
# `every_model_seeds` (the gpu preset): every model of the section with this many seeds, so that no
# verdict rests on a spread transported from other families.
FIG4_MODELS = ("2D", "1D", "2D+1D")
CROSS_PARTS = ("vertical", "horizontal", "intersection")
HIGH = 0.5  # "high" and "low" accuracy as the claims use them: at least / below 50%
SIMILAR = 0.15  # "about equal": within 15 points
DECAY = 0.10  # a decay the claims can see: at least 10 points over the sweep


def model(preset_name: str, **changes) -> RunConfig:
    """The preset's model with `changes` to its data, trained under the section's budget where
    the preset has one (its fixed steps become the cap)."""
    run = preset(preset_name, **changes)
    budget = PRESETS[preset_name]["budget"]
    return budget.apply(run) if budget else run


def cross(N: int) -> HoldOut:
    """The held-out cross of Fig. 4(f): mx or my in [13, 19] at N = 32, scaled for other N."""
    return HoldOut("cross", lo=13 * N / 32, hi=19 * N / 32)


def settings(preset_name: str, **overrides) -> dict:
    """The preset's sweep points with some replaced (the notebook's papermill parameters)."""
    unknown = set(overrides) - set(SWEEP_POINTS)
    if unknown:
        raise ValueError(f"sweep: unknown sweep point(s) {sorted(unknown)}; choose from {sorted(SWEEP_POINTS)}")
    return {**PRESETS[preset_name], **{k: notebook_parameter(k, v) for k, v in overrides.items() if v is not None}}


def _seeds(run: RunConfig, n: int) -> list[RunConfig]:
    return [run.replace(train={"seed": s}) for s in range(n)]


def _models(sweep: dict, run: RunConfig) -> list[RunConfig]:
    """One model of the section: with the seeds every model gets under the preset (one, or more on a GPU)."""
    return _seeds(run, sweep.get("every_model_seeds", 1))


def fig4_runs(preset_name: str, sweep: dict | None = None) -> dict[str, list[RunConfig]]:
    """The 2D SOS model (several seeds), the 1D stripes (without the 2D rim, App. C.1) and the
    2D+1D SOS models of Fig. 4."""
    sweep = sweep or PRESETS[preset_name]
    N = sweep["N"]
    return {"2D": _seeds(model(preset_name, N=N, family="sos", holdout=cross(N)), sweep["seeds"]),
            "1D": _models(sweep, model(preset_name, N=N, family="stripes", rim=False)),
            "2D+1D": _models(sweep, model(preset_name, N=N, family="sos+stripes", holdout=cross(N)))}


def fig4g_runs(preset_name: str, sweep: dict | None = None) -> dict[float, list[RunConfig]]:
    """2D bumps (subsampled to lambda) + 1D stripes, with the cross held out (Fig. 4g, 9h)."""
    sweep = sweep or PRESETS[preset_name]
    N = sweep["N"]
    return {f: _models(sweep, model(preset_name, N=N, family="bump+stripes", holdout=cross(N), fraction=f)) for f in sweep["fig4g_fractions"]}


def fig10_runs(preset_name: str, sweep: dict | None = None) -> dict[str, list[RunConfig]]:
    """1D stripes without and with the 2D rim (App. C.2; the rim model with several seeds), and
    the 2D+1D model of the same N that the paper compares the rim model with."""
    sweep = sweep or PRESETS[preset_name]
    fig4 = fig4_runs(preset_name, sweep)
    return {"without 2D rim": fig4["1D"],
            "with 2D rim": _seeds(model(preset_name, N=sweep["N"], family="stripes", rim=True), sweep["seeds"]),
            "2D+1D": fig4["2D+1D"]}


def fig11_runs(preset_name: str, sweep: dict | None = None) -> dict[float, list[RunConfig]]:
    """2D SOS with a vertical lesion of each width at the canvas centre, labels spaced d (App. C.3)."""
    sweep = sweep or PRESETS[preset_name]
    d = sweep["lesion_d"]
    return {w: _models(sweep, model(preset_name, N=sweep["N"], family="sos", d_x=d, d_y=d, holdout=HoldOut("lesion", width=w)))
            for w in sweep["lesion_widths"]}


def fig12_runs(preset_name: str, sweep: dict | None = None) -> dict[tuple[str, str, float], list[RunConfig]]:
    """(family, "interior"|"exterior", W) -> 2D bump or SOS model with a W x W square held out (App. C.4)."""
    sweep = sweep or PRESETS[preset_name]
    return {(family, where, w): _models(sweep, model(preset_name, N=sweep["N"], family=family, holdout=HoldOut(f"{where}_square", width=w)))
            for family in ("bump", "sos") for where in ("interior", "exterior") for w in sweep["square_widths"]}


GROUPS = (fig4_runs, fig4g_runs, fig10_runs, fig11_runs, fig12_runs)


def fast_runs(preset_name: str, sweep: dict | None = None) -> dict[tuple[str, object], list[RunConfig]]:
    """The models the fast recipe trains again as a control (`PRESETS[...]["fast_control"]`), keyed
    by the (group, key) of the models they control: every model ("all"), or Fig. 4's named ones
    (the 1D model is also Fig. 10's model without the rim)."""
    sweep = sweep or PRESETS[preset_name]
    wanted = sweep["fast_control"]
    groups = {group.__name__[:-5]: group(preset_name, sweep) for group in GROUPS}
    if wanted == "all":
        named = {(name, key): models for name, models_by_key in groups.items() for key, models in models_by_key.items()}
    else:
        named = {("fig4", name): groups["fig4"][name] for name in wanted}
        if "1D" in wanted:
            named[("fig10", "without 2D rim")] = groups["fig10"]["without 2D rim"]
    return {key: [fast_recipe(r) for r in models] for key, models in named.items()}


def runs(preset_name: str, sweep: dict | None = None) -> list[RunConfig]:
    """Every model this section trains (`run_all.py` trains them all up front), the fast recipe's controls included."""
    out = {run.hash(): run for group in (*GROUPS, fast_runs) for models in group(preset_name, sweep).values() for run in models}
    return list(out.values())


@dataclass
class Result:
    """The seeds of one model scored on the N x N labels: per-seed evaluations and outcomes per
    region; `scores[region][reading]` pools the seeds (for tables and plots)."""

    runs: list[RunConfig]
    n_train: dict[str, int]
    evaluations: list[Evaluation]
    regions: list[dict[str, np.ndarray]]
    scores: dict[str, dict]
    memorizer: Evaluation | None = None  # the memorizer's images of the same labels (`paperlib.controls`)

    @property
    def run(self) -> RunConfig:
        return self.runs[0]

    @property
    def evaluation(self) -> Evaluation:
        return self.evaluations[0]

    def estimate(self, region: str, reading: str, spread: float = 0.0) -> C.Estimate:
        """A reading ("accuracy", "x_profile", "composed", ...) in a region, over labels and seeds;
        a model trained once has its interval widened by `spread`, the seed-to-seed spread of the
        families trained with several seeds (`C.widen`)."""
        e = C.proportion(*[ev.outcome[reading][masks[region]] for ev, masks in zip(self.evaluations, self.regions)])
        return C.widen(e, spread) if len(self.evaluations) == 1 and spread else e

    def per_seed(self, region: str, reading: str) -> list[float]:
        return [float(ev.outcome[reading][masks[region]].mean()) for ev, masks in zip(self.evaluations, self.regions)]

    def memorized(self, region: str, reading: str) -> C.Estimate:
        """What the memorizer scores in the region through the same reading (exact: it is not trained)."""
        value = float(self.memorizer.outcome[reading][self.regions[0][region]].mean())
        return C.Estimate(value, value, value, int(self.regions[0][region].sum()), 1, "share")

    def beyond_memorizer(self, region: str, reading: str, spread: float = 0.0) -> C.Estimate:
        """Model minus memorizer in the region, through the reading."""
        return C.difference(self.estimate(region, reading, spread), self.memorized(region, reading))


def result(models: list[RunConfig], evaluations: list[Evaluation], holdout: HoldOut | None = None) -> Result:
    """Score each seed in the regions of `holdout` (default: its own held-out region), plus
    seen / unseen where lambda < 1 (`evaluate.evaluation_regions`)."""
    regions = [evaluation_regions(ev.labels, run.data, holdout) for run, ev in zip(models, evaluations)]
    pooled = {name: np.concatenate([m[name] for m in regions]) for name in regions[0]}
    outcome = {k: np.concatenate([ev.outcome[k] for ev in evaluations]) for k in evaluations[0].outcome}
    return Result(list(models), data.make_dataset(models[0].data).counts(), list(evaluations), regions, by_region(outcome, pooled),
                  controls.memorizer(models[0].data, evaluations[0].labels))


def _results(named: dict, root, progress: bool, holdout_of=None) -> dict:
    """Each group's models, evaluated (trained first where the cache lacks them: the notebook
    trains the section's models up front with `scheduler.train_all`)."""
    return {key: result(models, [evaluation(r, root, progress=progress) for r in models], holdout_of(models[0]) if holdout_of else None)
            for key, models in named.items()}


def figure4(preset_name: str, root=None, progress: bool = True, sweep: dict | None = None) -> dict[str, Result]:
    """Fig. 4(c)-(e): every model scored in the parts of the cross (the 1D model too, though its
    training set holds no 2D image at all)."""
    return _results(fig4_runs(preset_name, sweep), root, progress, lambda run: cross(run.data.N))


def figure4g(preset_name: str, root=None, progress: bool = True, sweep: dict | None = None) -> dict[float, Result]:
    return _results(fig4g_runs(preset_name, sweep), root, progress)


def figure10(preset_name: str, root=None, progress: bool = True, sweep: dict | None = None) -> dict[str, Result]:
    """The stripe models and the 2D+1D model scored in and out of the cross of Fig. 4 (App. C.2)."""
    return _results(fig10_runs(preset_name, sweep), root, progress, lambda run: cross(run.data.N))


def figure11(preset_name: str, root=None, progress: bool = True, sweep: dict | None = None) -> dict[float, Result]:
    return _results(fig11_runs(preset_name, sweep), root, progress)


def figure12(preset_name: str, root=None, progress: bool = True, sweep: dict | None = None) -> dict[tuple[str, str, float], Result]:
    return _results(fig12_runs(preset_name, sweep), root, progress)


def figure_fast(preset_name: str, root=None, progress: bool = True, sweep: dict | None = None) -> dict[tuple[str, object], Result]:
    """The fast recipe's controls (`fast_runs`), scored like the models they control (Fig. 4's and
    Fig. 10's in the parts of the cross)."""
    named = fast_runs(preset_name, sweep)
    scored = {key: _results({key: models}, root, progress, (lambda run: cross(run.data.N)) if key[0] in ("fig4", "fig10") else None)[key]
              for key, models in named.items()}
    return scored


def position(res: Result) -> str:
    """The reading of "the generated centre is right": the per-axis profiles on SOS images,
    Eq. 1 on bumps."""
    return "profile" if ideal_shape(res.run.data) == "sos" else "accuracy"


def table(results: dict, regions=("all", "in_distribution", "out_of_distribution"), reading: str | None = None) -> dict:
    """{key: {region: value}} for the notebook's printout and plots (seeds pooled)."""
    return {key: {r: round(float(res.scores[r][reading or position(res)]), 3) for r in regions if r in res.scores}
            for key, res in results.items()}


def square_curves(results: dict[tuple[str, str, float], Result]) -> dict[str, dict[float, dict[str, float]]]:
    """Fig. 12(c)-(f): "(c) bump, interior" etc. -> {W: {region: accuracy}}."""
    panels = {"c": ("bump", "interior"), "d": ("sos", "interior"), "e": ("bump", "exterior"), "f": ("sos", "exterior")}
    return {f"({letter}) {family}, {where}": table({w: r for (f, wh, w), r in results.items() if (f, wh) == (family, where)})
            for letter, (family, where) in panels.items()}


def sample_images(res: Result, n: int = 25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` randomly chosen generated images and their labels (Fig. 10c, f)."""
    ev = res.evaluation
    idx = np.sort(np.random.default_rng(seed).choice(len(ev.labels), size=min(n, len(ev.labels)), replace=False))
    return ev.images[idx], ev.labels[idx]


# --- claims ----------------------------------------------------------------------------------------

def _eq1_beside(res: Result, pairs) -> dict:
    """Eq. 1's per-axis numbers next to the profiles', and where they disagree by > 10 points."""
    out = {}
    for part, axis in pairs:
        prof, eq1 = res.scores[part][f"{axis}_profile"], res.scores[part][axis]
        out[f"{part} {axis}"] = {"profile": round(prof, 3), "Eq. 1": round(eq1, 3), "disagree": bool(abs(prof - eq1) > 0.1)}
    out["fallback rate (all labels)"] = round(res.scores["all"]["fallback"], 3)
    return out


def _hashes(*results: Result) -> list[dict]:
    return [{"hash": run.hash()} for res in results for run in res.runs]


def _claim(verdict_reason: tuple[str, str], **fields) -> C.Claim:
    verdict, reason = verdict_reason
    return C.Claim(section=fields.pop("section", "3.2"), verdict=verdict, reason=reason, **fields)


def spread_between_seeds(fig4: dict[str, Result], fig10: dict[str, Result]) -> float:
    """The seed-to-seed standard deviation of a model's accuracy in its held-out region, pooled
    over the families trained with several seeds (the 2D SOS model and the rim model); it widens
    the interval of every model this section trains once (transported, and said so)."""
    return C.seed_spread(fig4["2D"].per_seed("out_of_distribution", "profile"), fig10["with 2D rim"].per_seed("out_of_distribution", "composed"))


def _two_d_parts(get) -> dict:
    """The pattern "composes but does not interpolate" from `get(region, reading)` estimates."""
    parts = {"vertical arm, seen my": (get("vertical", "y_profile"), C.at_least),
             "vertical arm, held-out mx": (get("vertical", "x_profile"), C.below),
             "horizontal arm, seen mx": (get("horizontal", "x_profile"), C.at_least),
             "horizontal arm, held-out my": (get("horizontal", "y_profile"), C.below),
             "intersection, both": (get("intersection", "profile"), C.below)}
    return {k: (est, rule(est, HIGH), HIGH) for k, (est, rule) in parts.items()}


def two_d_claim(two_d: Result) -> C.Claim:
    """The 2D SOS model draws the seen coordinate right and the held-out one wrong in each arm, both
    wrong in the intersection. A memorizer draws that very pattern (the nearest training label
    keeps the seen coordinate and sits on the band's edge in the held-out one), so where the
    memorizer shows it too the reading cannot tell composing from recalling, and says so."""
    e, verdict, measured = C.deciding(_two_d_parts(two_d.estimate))
    _, memorized, _ = C.deciding(_two_d_parts(two_d.memorized))
    reason = ""
    if verdict == C.REPRODUCED and memorized == C.REPRODUCED:
        verdict, reason = C.INCONCLUSIVE, "not separable from memorizing: the memorizer draws the same pattern by this reading"
    return _claim((verdict, reason),
                  claim=f"The 2D SOS model composes but does not interpolate ({two_d.estimate('all', 'profile').seeds} seeds)",
                  figure="Fig. 4(c)-(e)", paper="in each arm the seen coordinate high and the held-out one low; both low in the intersection",
                  criterion="per-axis profile positions: seen >= 50% and held-out < 50% in each arm, intersection < 50% (Wilson/seed "
                            "intervals); a pattern the memorizer shows too is not evidence of composing",
                  estimate=e, measured=measured, runs=_hashes(two_d), learning_helps=None,
                  controls={"memorizer": {"verdict": memorized, **{k: str(two_d.memorized(p, r)) for k, (p, r) in {
                      "vertical seen my": ("vertical", "y_profile"), "vertical held-out mx": ("vertical", "x_profile"),
                      "intersection": ("intersection", "profile")}.items()}}},
                  details=_eq1_beside(two_d, [("vertical", "x"), ("vertical", "y"), ("horizontal", "x"), ("horizontal", "y")]))


def _beyond_memorizer_everywhere(verdict: str, res: Result, reading: str, spread: float) -> tuple[str, str]:
    """A reproduced verdict stands only where the model beats the memorizer in every part of the cross."""
    reason = ""
    for part in CROSS_PARTS:
        verdict, why = C.beyond_control(verdict, res.beyond_memorizer(part, reading, spread), f"memorizer in the {part}")
        reason = reason or why
    return verdict, reason


def two_d_one_d_claim(both: Result, spread: float) -> C.Claim:
    parts = {p: (both.estimate(p, "composed", spread), HIGH) for p in CROSS_PARTS}
    e, verdict, measured = C.deciding({k: (est, C.at_least(est, bar), bar) for k, (est, bar) in parts.items()})
    return _claim(_beyond_memorizer_everywhere(verdict, both, "composed", spread),
                  claim="The 2D+1D SOS model draws the right sum of stripes in every part of the cross", figure="Fig. 4(c)-(e)",
                  paper="high in every part", criterion="valid sum of stripes at the right place (profiles) >= 50% in each part (widened "
                  "by the seed spread, transported), and beyond the memorizer in each part", estimate=e, measured=measured,
                  runs=_hashes(both), learning_helps=True,
                  controls={"memorizer": {p: str(both.memorized(p, "composed")) for p in CROSS_PARTS}},
                  details=_eq1_beside(both, [(p, a) for p in CROSS_PARTS for a in ("x", "y")]))


def one_d_claims(one_d: Result, both: Result, spread: float) -> list[C.Claim]:
    """The 1D model, which saw stripes but no crossing, fails to compose them in the cross (and
    below the 2D+1D model), having learned its parts: at least half of its images put a stripe at
    a right coordinate (a blank model has learned nothing to compose, and is not evidence of a
    failure to compose); and it draws one stripe there instead of their sum (the readings are
    exclusive: a valid sum is not a lone stripe). A memorizer of the stripes does both, as the
    paper says the model does: that is the claim, and the memorizer is shown beside it."""
    low = one_d.estimate("out_of_distribution", "composed", spread)
    gap = C.difference(low, both.estimate("out_of_distribution", "composed", spread))
    stripe = one_d.estimate("out_of_distribution", "one_stripe", spread)
    parts = one_d.estimate("out_of_distribution", "x_profile", spread), one_d.estimate("out_of_distribution", "y_profile", spread)
    learned = max(parts, key=lambda e: e.value)
    verdict, reason = C.all_of(C.below(low, HIGH), C.negative(gap)), ""
    if verdict == C.REPRODUCED and C.at_least(learned, HIGH) != C.REPRODUCED:
        verdict, reason = C.INCONCLUSIVE, f"the model put neither stripe right in at least half of the cross ({learned}): nothing learned to compose"
    memorizer = {"composed": str(one_d.memorized("out_of_distribution", "composed")), "one stripe": str(one_d.memorized("out_of_distribution", "one_stripe"))}
    return [_claim((verdict, reason), claim="The 1D model, with no compositional example, fails to compose the stripes",
                   figure="Fig. 4(c)-(e), 10(c)", paper="fails: no sum of stripes", learning_helps=None,
                   criterion="in the cross, valid sums of stripes < 50% and below the 2D+1D model (difference < 0), the model having "
                             "put a stripe at a right coordinate in at least half of the cross (seed spread transported)",
                   estimate=gap, runs=_hashes(one_d, both), controls={"memorizer": memorizer},
                   measured=f"1D {low}, 2D+1D {both.estimate('out_of_distribution', 'composed', spread)}; a right x / y stripe {parts[0]} / {parts[1]}"),
            _claim((C.at_least(stripe, HIGH), ""), claim="... and draws one stripe at the right place instead", section="C.1",
                   figure="Fig. 10(c)", paper="defaults to one of the stripes at the correct location", learning_helps=None,
                   criterion="in the cross, images that are a lone stripe (better correlated with it than with the sum, not a valid sum) "
                             "at a right coordinate >= 50%", estimate=stripe, runs=_hashes(one_d), measured=str(stripe),
                   controls={"memorizer": memorizer["one stripe"]})]


def fig4g_claims(fig4g: dict[float, Result], spread: float) -> list[C.Claim]:
    lambdas = sorted(fig4g)
    top = fig4g[lambdas[-1]]
    ood = [fig4g[f].estimate("out_of_distribution", "accuracy", spread) for f in lambdas]
    best = ood[-1]
    beyond = top.beyond_memorizer("out_of_distribution", "accuracy", spread)
    rise = C.trend(lambdas, ood)
    change = C.Estimate(-rise.value, -rise.hi, -rise.lo, rise.n, 1, rise.unit)  # from the largest lambda down to the smallest
    parts = {p: (top.estimate(p, "composed", spread), HIGH) for p in CROSS_PARTS}
    e, verdict, measured = C.deciding({k: (est, C.at_least(est, bar), bar) for k, (est, bar) in parts.items()})
    unseen = {f"lambda {f:g}": str(fig4g[f].estimate("unseen", "accuracy", spread)) for f in lambdas if "unseen" in fig4g[f].scores}
    similar = C.all_of(C.no_worse_than(change, SIMILAR), C.at_least(ood[0], HIGH))
    return [
        _claim(C.beyond_control(C.at_least(best, HIGH), beyond, "memorizer"),
               claim="2D bumps + 1D stripes generalize into the cross (lambda = 1)", figure="Fig. 4(g)", paper="up to 70%",
               criterion="Eq. 1 accuracy in the cross at the largest lambda >= 50% (widened by the seed spread), beyond the memorizer",
               estimate=best, runs=_hashes(top), measured="; ".join(f"lambda {f:g}: {x}" for f, x in zip(lambdas, ood)),
               controls={"memorizer": str(top.memorized("out_of_distribution", "accuracy"))}, learning_helps=True),
        _claim(_beyond_memorizer_everywhere(verdict, top, "composed", spread),
               claim="... in every part of the cross: valid bumps at the right place (lambda = 1)", figure="Fig. 4(g)",
               paper="high in the test regions", criterion="valid bump (not a crossing of stripes) at the right place >= 50% in each part, "
               "beyond the memorizer in each", estimate=e, runs=_hashes(top), measured=measured, learning_helps=True,
               controls={"memorizer": {p: str(top.memorized(p, "composed")) for p in CROSS_PARTS}}),
        _claim((similar, ""),
               claim="... about equally well with as little as 20% of the 2D bumps", figure="Fig. 4(g)", paper="similar down to lambda = 0.2",
               criterion=f"accuracy in the cross at lambda {lambdas[0]:g} >= 50% (the same level, not the same failure), and its fitted "
                         f"change from lambda {lambdas[-1]:g} down to {lambdas[0]:g} no worse than -{SIMILAR:.0%} (non-inferiority; "
                         "scatter between models widens it)",
               estimate=change, runs=_hashes(*fig4g.values()), measured=f"change {change}; at lambda {lambdas[0]:g}: {ood[0]}; "
               f"unseen in-distribution labels: {unseen}", controls={"memorizer": {f"lambda {f:g}": str(fig4g[f].memorized("out_of_distribution", "accuracy"))
                                                                                for f in lambdas}})]


def rim_claims(fig10: dict[str, Result], spread: float) -> list[C.Claim]:
    rim, no_rim, ref = fig10["with 2D rim"], fig10["without 2D rim"], fig10["2D+1D"]
    composed = rim.estimate("out_of_distribution", "composed")
    helps = C.difference(composed, no_rim.estimate("out_of_distribution", "composed", spread))
    versus = C.difference(composed, ref.estimate("out_of_distribution", "composed", spread))
    return [_claim(C.beyond_control(C.positive(helps), rim.beyond_memorizer("out_of_distribution", "composed"), "memorizer"),
                   claim=f"A few compositional examples (the 2D rim) let the stripes model compose ({len(rim.runs)} seeds)", section="C.2",
                   figure="Fig. 10(b), (e)", paper="without the rim it fails at the crossing; with it, it composes",
                   criterion="valid sums of stripes in the cross: with rim - without rim > 0, and the rim model beyond the memorizer",
                   estimate=helps, runs=_hashes(rim, no_rim), controls={"memorizer": str(rim.memorized("out_of_distribution", "composed"))},
                   measured=f"with rim {composed}, without {no_rim.estimate('out_of_distribution', 'composed')}"),
            _claim((C.all_of(C.at_least(versus, -SIMILAR), C.at_least(composed, HIGH)), ""),
                   claim="... as well as the 2D+1D model, if not better (same N)", section="C.2", figure="Fig. 10(e), 4",
                   paper="same level, if not better", criterion=f"valid sums of stripes in the cross: the rim model >= 50% (a level, not a "
                   f"shared failure) and rim - 2D+1D >= -{SIMILAR:.0%}", estimate=versus, runs=_hashes(rim, ref),
                   measured=f"rim {composed}, 2D+1D {ref.estimate('out_of_distribution', 'composed')}",
                   controls={"memorizer": str(rim.memorized("out_of_distribution", "composed"))}),
            _claim((C.all_of(C.at_least(rim.estimate("all", "composed"), HIGH), C.at_least(rim.estimate("in_distribution", "composed"), HIGH))
                    if "in_distribution" in rim.scores else C.at_least(rim.estimate("all", "composed"), HIGH), ""),
                   claim="The rim model is accurate overall and in distribution too", section="C.2", figure="Fig. 10(e)",
                   paper="overall, ID and OOD accuracy high", criterion="valid sums of stripes at the right place >= 50% over all labels "
                   "and in distribution", estimate=rim.estimate("all", "composed"), runs=_hashes(rim), learning_helps=True,
                   measured=f"all {rim.estimate('all', 'composed')}; in distribution "
                            f"{rim.estimate('in_distribution', 'composed') if 'in_distribution' in rim.scores else 'n/a'}",
                   controls={"memorizer": str(rim.memorized("all", "composed"))})]


def lesion_gap(res: Result) -> C.Estimate:
    """Fig. 11(c): how disconnected the layer-4 representation is across the lesion: the largest
    distance between the representations of neighbouring columns (x, x + 1) in or beside the
    lesion over the median distance between neighbouring columns elsewhere, with a bootstrap over rows."""
    ev = res.evaluation
    if "layer4" not in ev.activations:
        return C.Estimate(float("nan"), 0.0, 0.0)
    order, n_x, n_y = geometry.grid_from_labels(ev.labels)
    X = ev.activations["layer4"][order].reshape(n_y, n_x, -1).astype(float)
    xs = np.sort(np.unique(ev.labels[:, 0]))
    held = data.heldout_mask(np.stack([xs, np.full(n_x, xs[0])], 1), res.run.data.holdout, res.run.data.N)
    near = held[:-1] | held[1:]
    if not near.any() or near.all():
        return C.Estimate(float("nan"), 0.0, 0.0)

    def ratio(rows):
        step = np.linalg.norm(X[rows, 1:] - X[rows, :-1], axis=-1).mean(0)
        return float(step[near].max() / np.median(step[~near]))

    rng = np.random.default_rng(0)
    boot = [ratio(rng.integers(0, n_y, n_y)) for _ in range(200)]
    value = ratio(np.arange(n_y))
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return C.Estimate(value, min(lo, value), max(hi, value))


def lesion_claims(fig11: dict[float, Result], spread: float) -> list[C.Claim]:
    widths = sorted(fig11)
    lesion = [fig11[w].estimate("out_of_distribution", "profile", spread) for w in widths]
    memo = [fig11[w].memorized("out_of_distribution", "profile") for w in widths]
    decay = C.trend(widths, lesion)
    narrow = fig11[widths[0]]
    gaps = [lesion_gap(fig11[w]) for w in widths]
    finite = [(w, g) for w, g in zip(widths, gaps) if np.isfinite(g.value)]
    grows = C.trend([w for w, _ in finite], [g for _, g in finite]) if len(finite) >= 2 else C.Estimate(0.0, -1.0, 1.0)
    above = narrow.beyond_memorizer("out_of_distribution", "profile", spread)
    return [
        _claim(C.beyond_control(C.negative(decay, DECAY), above, "memorizer at the narrowest width"),
               claim="Accuracy inside a vertical lesion decays gradually as the lesion widens",
               section="C.3", figure="Fig. 11(b)", paper="gradual decay with width",
               criterion=f"fitted change over widths {widths[0]:g}..{widths[-1]:g} below 0 (scatter between models widens it; "
                         f"not reproduced above -{DECAY:.0%}), from a start beyond the memorizer at the narrowest width (a decay "
                         "from what memorizing gives is not the loss of an interpolation)",
               estimate=decay, runs=_hashes(*fig11.values()), measured="; ".join(f"width {w:g}: {x}" for w, x in zip(widths, lesion)),
               controls={"memorizer": "; ".join(f"width {w:g}: {m.value:.0%}" for w, m in zip(widths, memo))}),
        _claim(C.beyond_control(C.at_least(lesion[0], HIGH), narrow.beyond_memorizer("out_of_distribution", "profile", spread), "memorizer"),
               claim=f"The model interpolates across the narrowest lesion (width {widths[0]:g}, labels every {narrow.run.data.d_x:g} px)",
               section="C.3", figure="Fig. 11(b)", paper="high accuracy for a narrow lesion",
               criterion="profile positions right inside the lesion >= 50% (widened by the seed spread), beyond the memorizer",
               estimate=lesion[0], runs=_hashes(narrow), measured=str(lesion[0]), controls={"memorizer": str(memo[0])}, learning_helps=True),
        _claim((C.positive(grows), ""), claim="The representations become increasingly disconnected with the lesion width", section="C.3",
               figure="Fig. 11(c)", paper="increasingly disconnected",
               criterion="fitted change over widths of the largest jump between neighbouring columns' layer-4 representations at the "
                         "lesion, over the median jump elsewhere (bootstrap over rows), above 0",
               estimate=grows, runs=_hashes(*fig11.values()), measured="; ".join(f"width {w:g}: {g}" for w, g in zip(widths, gaps)))]


def square_claims(fig12: dict[tuple[str, str, float], Result], spread: float) -> list[C.Claim]:
    sizes = sorted({w for (_, _, w) in fig12})
    # A valid image at the right place: Eq. 1 alone falls back to the image's centroid, which for a
    # blank image is the canvas centre, so a blank model would score inside an interior square.
    est = {key: res.estimate("out_of_distribution", "composed", spread) for key, res in fig12.items()}
    eq1 = {key: res.estimate("out_of_distribution", position(res), spread) for key, res in fig12.items()}
    inside = C.mean_of([C.difference(est[("bump", "interior", w)], est[("bump", "exterior", w)]) for w in sizes])
    exterior = [est[("bump", "exterior", w)] for w in sizes]
    interior = [est[("bump", "interior", w)] for w in sizes]
    falls, slow = C.trend(sizes, exterior), C.trend(sizes, interior)
    slower = C.difference(slow, falls)
    sos = {f"{wh} W {w:g}": (est[("sos", wh, w)], HIGH) for wh in ("interior", "exterior") for w in sizes}
    e, verdict, measured = C.deciding({k: (x, C.at_least(x, bar), bar) for k, (x, bar) in sos.items()})
    memo = {f"{wh} W {w:g}": fig12[("sos", wh, w)].memorized("out_of_distribution", "composed").value for wh in ("interior", "exterior") for w in sizes}
    beyond = C.mean_of([fig12[("sos", wh, w)].beyond_memorizer("out_of_distribution", "composed", spread)
                        for wh in ("interior", "exterior") for w in sizes])
    bumps = [r for (f, _, _), r in fig12.items() if f == "bump"]
    robust = C.mean_of([C.difference(est[("sos", wh, w)], est[("bump", wh, w)]) for wh in ("interior", "exterior") for w in sizes])
    return [
        _claim((C.positive(inside), ""), claim="Bumps generalize worse into an exterior (corner) square than an interior one", section="C.4",
               figure="Fig. 12(c), (e)", paper="interior decays slowly, exterior quickly",
               criterion=f"valid bumps at the right place in the square, interior - exterior, averaged over W = {sizes} (each W's "
                         "models apart, their intervals widened by the seed spread) > 0", estimate=inside, runs=_hashes(*bumps),
               measured="; ".join(f"W {w:g}: interior {est[('bump', 'interior', w)]}, exterior {est[('bump', 'exterior', w)]}" for w in sizes)
               + "; Eq. 1: " + "; ".join(f"W {w:g}: interior {eq1[('bump', 'interior', w)]}, exterior {eq1[('bump', 'exterior', w)]}" for w in sizes)),
        _claim((C.negative(falls, DECAY), ""), claim="Bumps' accuracy in an exterior square falls as the square grows", section="C.4",
               figure="Fig. 12(e)", paper="decays quickly with W", criterion=f"fitted change over W {sizes[0]:g}..{sizes[-1]:g} below 0; "
               f"not reproduced above -{DECAY:.0%} (valid bumps at the right place)", estimate=falls, runs=_hashes(*bumps),
               measured="; ".join(f"W {w:g}: {x}" for w, x in zip(sizes, exterior))),
        _claim((C.positive(slower), ""), claim="... and decays more slowly in an interior square", section="C.4", figure="Fig. 12(c)",
               paper="interior decays slowly", criterion="fitted change over W, interior minus exterior, above 0", estimate=slower,
               runs=_hashes(*bumps), measured=f"interior change {slow}, exterior change {falls}"),
        _claim(C.beyond_control(verdict, beyond, "memorizer"), claim="SOS models stay accurate in interior and exterior squares of every W",
               section="C.4", figure="Fig. 12(d), (f)", paper="high for all W",
               criterion="valid sums of stripes at the right place in the square >= 50% for every W, interior and exterior (widened by "
                         "the seed spread), beyond the memorizer on average", estimate=e, measured=measured,
               runs=_hashes(*[r for (f, _, _), r in fig12.items() if f == "sos"]), controls={"memorizer": memo}, learning_helps=True),
        _claim((C.positive(robust), ""), claim="SOS models generalize into the squares better than bump models", section="C.4",
               figure="Fig. 12(c)-(f)", paper="SOS: more robust compositional generalization",
               criterion="valid images at the right place in the square, SOS minus bump, averaged over W and interior / exterior "
                         "(each W's models apart, widened by the seed spread), above 0", estimate=robust, runs=_hashes(*fig12.values()),
               measured="; ".join(f"{wh} W {w:g}: SOS {est[('sos', wh, w)]}, bump {est[('bump', wh, w)]}" for wh in ("interior", "exterior")
                                  for w in sizes))]


def _claims_of(fig4, fig4g, fig10, fig11, fig12, spread: float) -> list[C.Claim]:
    return [two_d_claim(fig4["2D"]), two_d_one_d_claim(fig4["2D+1D"], spread), *one_d_claims(fig4["1D"], fig4["2D+1D"], spread),
            *fig4g_claims(fig4g, spread), *rim_claims(fig10, spread), *lesion_claims(fig11, spread), *square_claims(fig12, spread)]


def claims(fig4: dict[str, Result], fig4g: dict[float, Result], fig10: dict[str, Result], fig11: dict[float, Result],
           fig12: dict[tuple[str, str, float], Result], fast: dict[tuple[str, object], Result] | None = None) -> list[C.Claim]:
    """Section 3.2's and App. C's claims, with the criteria fixed before the run: every model claim
    against the memorizer read the same way, single models' intervals widened by the spread between
    seeds; where the fast recipe trained a claim's models again (`figure_fast`), the same rule's
    verdict on them stands beside the claim, as a control."""
    spread = spread_between_seeds(fig4, fig10)
    found = _claims_of(fig4, fig4g, fig10, fig11, fig12, spread)
    if fast:
        groups = {"fig4": fig4, "fig4g": fig4g, "fig10": fig10, "fig11": fig11, "fig12": fig12}
        swapped = {name: {key: fast.get((name, key), res) for key, res in results.items()} for name, results in groups.items()}
        for claim, control in zip(found, _claims_of(*swapped.values(), spread)):
            if control.runs != claim.runs:
                claim.controls["fast recipe"] = control.brief()
    return found
