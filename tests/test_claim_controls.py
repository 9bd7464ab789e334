"""Every claim against its controls: the verdict each control must get through the claim's own
rule. A memorizer (each label drawn as its nearest training image), a blank model (white images)
and the oracle (the exact images) stand in for trained models; a claim that a trivial model
passes, or that a perfect one cannot, fails here. Failure claims ("the 1D model fails to compose")
are passed by a memorizer that learned its parts, which is what they say; never by a blank model."""

import numpy as np
import pytest

from paperlib import claims as C
from paperlib import controls, data
from paperlib.evaluate import score
from paperlib.experiments import compose_interpolate as ci
from paperlib.experiments import percolation as perc
from paperlib.experiments import sample_efficiency as se

N = 16
KINDS = ("memorizer", "blank", "oracle")


def _control(kind: str, run, labels=None):
    """The control's evaluation of a run's labels, scored as a model's images are."""
    labels = data.eval_labels(run.data.N) if labels is None else labels
    if kind == "memorizer":
        return controls.memorizer(run.data, labels)
    if kind == "oracle":
        return controls.oracle(run.data, labels)
    return score(np.full((len(labels), run.data.N, run.data.N), 255.0, np.float16), labels, run.data)


def _compose(kind: str) -> dict[str, C.Claim]:
    sweep = ci.settings("smoke", lesion_widths=(1.0, 2.0, 3.0), square_widths=(3.0, 5.0, 7.0), fig4g_fractions=(0.3, 0.6, 1.0))
    groups = {}
    for group, holdout in ((ci.fig4_runs, True), (ci.fig4g_runs, False), (ci.fig10_runs, True), (ci.fig11_runs, False), (ci.fig12_runs, False)):
        groups[group.__name__] = {key: ci.result(models, [_control(kind, r) for r in models], ci.cross(N) if holdout else None)
                                  for key, models in group("smoke", sweep).items()}
    found = ci.claims(*groups.values())
    return {c.claim.split(" (")[0]: c for c in found}


# The verdict each control deserves, claim by claim ("not R": not reproduced or inconclusive).
COMPOSE = {
    "The 2D SOS model composes but does not interpolate": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
    "The 2D+1D SOS model draws the right sum of stripes in every part of the cross": {"memorizer": "not R", "blank": "not R", "oracle": "R"},
    "The 1D model, with no compositional example, fails to compose the stripes": {"memorizer": "R", "blank": "not R", "oracle": "not R"},
    "... and draws one stripe at the right place instead": {"memorizer": "R", "blank": "not R", "oracle": "not R"},
    "2D bumps + 1D stripes generalize into the cross": {"memorizer": "not R", "blank": "not R", "oracle": "R"},
    "... in every part of the cross: valid bumps at the right place": {"memorizer": "not R", "blank": "not R", "oracle": "R"},
    "... about equally well with as little as 20% of the 2D bumps": {"memorizer": "not R", "blank": "not R", "oracle": "R"},
    "A few compositional examples": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
    "... as well as the 2D+1D model, if not better": {"memorizer": "not R", "blank": "not R", "oracle": "R"},
    "The rim model is accurate overall and in distribution too": {"memorizer": "not R", "blank": "not R", "oracle": "R"},
    "Accuracy inside a vertical lesion decays gradually as the lesion widens": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
    "The model interpolates across the narrowest lesion": {"memorizer": "not R", "blank": "not R", "oracle": "R"},
    "The representations become increasingly disconnected with the lesion width": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
    "Bumps generalize worse into an exterior": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
    "Bumps' accuracy in an exterior square falls as the square grows": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
    "... and decays more slowly in an interior square": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
    "SOS models stay accurate in interior and exterior squares of every W": {"memorizer": "not R", "blank": "not R", "oracle": "R"},
    "SOS models generalize into the squares better than bump models": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
}


def _deserved(verdict: str, expected: str) -> bool:
    return verdict == C.REPRODUCED if expected == "R" else verdict != C.REPRODUCED


@pytest.fixture(scope="module")
def compose_verdicts():
    return {kind: _compose(kind) for kind in KINDS}


def test_every_compose_claim_gives_each_control_its_verdict(compose_verdicts):
    wrong = []
    for claim, expected in COMPOSE.items():
        for kind, verdict_wanted in expected.items():
            found = compose_verdicts[kind][claim]
            if not _deserved(found.verdict, verdict_wanted):
                wrong.append((claim, kind, found.verdict, str(found.estimate), found.reason))
    assert not wrong, wrong
    assert set(COMPOSE) == set(compose_verdicts["oracle"]), "a claim without its row in the control table"


def test_a_claim_made_to_pass_for_the_memorizer_fails_the_table(compose_verdicts, monkeypatch):
    """The table can fail: a rule that forgets the memorizer ("composes into the lesion" without
    it) would pass the memorizer where it should not."""
    monkeypatch.setattr(C, "beyond_control", lambda verdict, gap, control: (verdict, ""))
    memorized = _compose("memorizer")
    passed = [c for c, e in COMPOSE.items() if e["memorizer"] == "not R" and memorized[c].verdict == C.REPRODUCED]
    assert passed, "no claim relies on its memorizer control"


def _fig5_points(kind: str) -> list[se.Point]:
    """Fig. 5's sweep (the laptop's lambdas at N = 8 and 16) scored for a control."""
    points = []
    for run in se.runs("laptop"):
        ev = _control(kind, run)
        counts = data.make_dataset(run.data).counts()
        acc = ev.scores["all"][se.READING]
        points.append(se.Point(run.data.N, run.data.family, run.data.fraction, counts["2d"], sum(counts.values()), {"all": acc},
                               int(ev.outcome[se.READING].sum()), len(ev.labels), "", ev.scores["all"]["accuracy"],
                               controls.memorizer(run.data, ev.labels).scores["all"][se.READING]))
    return points


FIG5 = {
    "Training with 1D stripes needs fewer 2D bumps to reach 60% accuracy, at every N": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
    "The 2D bumps needed for 60% grow more slowly with N with stripes": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
    "The 2D bumps needed grow as N^2 without stripes": {"memorizer": "R", "blank": "not R", "oracle": "not R"},
    "The 2D bumps needed grow as N^1 with stripes": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
    "Counting every training image, the augmented set needed for 60% is smaller than the bumps-alone set": {
        "memorizer": "not R", "blank": "not R", "oracle": "not R"},
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_fig5_claim_gives_each_control_its_verdict(kind):
    found = {c.claim.split(" (")[0]: c for c in se.claims(_fig5_points(kind), bootstrap=200)}
    wrong = [(claim, found[claim].verdict, str(found[claim].estimate)) for claim, expected in FIG5.items()
             if not _deserved(found[claim].verdict, expected[kind])]
    assert not wrong, wrong
    assert set(FIG5) == set(found)


def _sweep_points(kind: str) -> list[perc.SweepPoint]:
    """Section 3.3's laptop sweep (without its extra seeds) scored for a control."""
    plan = perc.PRESETS["laptop"]
    points = []
    for sigma in plan["sigmas"]:
        for fraction in plan["fractions"]:
            run = perc.run_config("laptop", sigma, fraction)
            ev = _control(kind, run)
            dataset = data.make_dataset(run.data)
            memo = controls.memorizer(run.data, ev.labels)
            logged = np.array([(s, 0.05) for s in range(50, 1001, 50)], float)
            points.append(perc.SweepPoint(sigma, fraction, 0, len(dataset), ev.accuracy, 0.05, 0.05, None, ev.labels,
                                          ev.images[0], ev.outcome["accuracy"], data.seen_mask(ev.labels, dataset), "", None,
                                          logged=logged, memorized=memo.outcome["accuracy"]))
    return points


PERCOLATION = {
    "Accuracy rises with sigma": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
    "Accuracy on labels the model did not see rises with lambda": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
    "sigma = 0.1 is learned at large lambda": {"memorizer": "not R", "blank": "not R", "oracle": "R"},
    "... and not at smaller lambda": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
    "The onset of learning over lambda matches the simulated percolation threshold, sigma by sigma": {
        "memorizer": "not R", "blank": "not R", "oracle": "any"},
    "The training loss grows with lambda": {"memorizer": "not R", "blank": "not R", "oracle": "not R"},
}


@pytest.fixture(scope="module")
def lattice_simulation():
    plan = perc.PRESETS["laptop"]
    return perc.simulate(sigmas=plan["sigmas"], fractions=plan["fractions"], thresholds=(0.005,), seeds=range(3), N=plan["N"])


@pytest.mark.parametrize("kind", KINDS)
def test_every_percolation_claim_gives_each_control_its_verdict(kind, lattice_simulation):
    found = {c.claim.split(" (")[0]: c for c in perc.claims(lattice_simulation, _sweep_points(kind), lattice_simulation) if c.kind == "model"}
    wrong = [(claim, found[claim].verdict, str(found[claim].estimate)) for claim, expected in PERCOLATION.items()
             if expected[kind] != "any" and not _deserved(found[claim].verdict, expected[kind])]
    assert not wrong, wrong
    assert {k for k in found if not k.startswith("A generated sigma")} == set(PERCOLATION)
