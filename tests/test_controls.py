"""The controls of the model claims: the oracle scores 100%, the memorizer what recalling the
training set scores (and fails every composition claim it should), guarded verdicts."""

import numpy as np
import pytest

from paperlib import claims as C
from paperlib import controls, data, store
from paperlib.experiments import compose_interpolate as ci


@pytest.mark.parametrize("family", ["bump", "sos", "bump+stripes", "sos+stripes"])
def test_the_oracle_scores_every_reading_100_percent(family):
    config = ci.cross(16)
    ev = controls.oracle(data.DataConfig(family=family, N=16, d_x=1.0, d_y=1.0, holdout=config))
    assert ev.scores["all"]["composed"] == 1.0 and ev.scores["all"]["profile"] == 1.0


def test_the_memorizer_scores_on_a_lesions_edges_only():
    """Labels every 0.25 px: the memorizer is right where a training label lies within half a pixel
    of the drawn pixel (the width-2 lesion's edges), never inside a wider one (the issue's 67%)."""
    got = {w: controls.memorizer(rs[0].data).scores["out_of_distribution"]["profile"] for w, rs in ci.fig11_runs("laptop").items()}
    assert got == pytest.approx({1.0: 0.0, 2.0: 2 / 3, 3.5: 0.0, 5.0: 0.0})


def test_the_memorizer_fails_the_composition_claims_it_should():
    """The memorizer's own images, taken as the models' results: no composition or interpolation
    claim may count them as evidence."""
    sweep = ci.settings("smoke", lesion_widths=(1.0, 2.0, 3.0), square_widths=(3.0, 5.0, 7.0), fig4g_fractions=(0.3, 0.6, 1.0))

    def memorized(group, holdout_of=None):
        return {k: ci.result(rs, [controls.memorizer(r.data) for r in rs], holdout_of(rs[0]) if holdout_of else None)
                for k, rs in group("smoke", sweep).items()}

    cross = lambda run: ci.cross(run.data.N)  # noqa: E731
    found = ci.claims(memorized(ci.fig4_runs, cross), memorized(ci.fig4g_runs), memorized(ci.fig10_runs, cross),
                      memorized(ci.fig11_runs), memorized(ci.fig12_runs))
    composes = [c for c in found if any(w in c.claim for w in ("composes", "generalize into", "interpolates", "draws the right sum",
                                                                "stay accurate", "every part"))]
    assert len(composes) >= 6 and all(c.verdict != C.REPRODUCED for c in composes), [(c.claim, c.verdict) for c in composes]


def test_a_claim_resting_on_a_still_learning_run_is_inconclusive(tmp_path):
    claim = C.Claim(claim="c", section="3.2", figure="Fig. 4", paper="high", criterion="rule", estimate=C.Estimate(0.9, 0.8, 0.95, 100),
                    verdict=C.REPRODUCED, runs=[{"hash": "abc"}])
    guarded = C.guard(claim, [{"hash": "abc", "steps": 4000, "convergence": "still learning", "rising": ["all/accuracy"]}])
    assert guarded.verdict == C.INCONCLUSIVE and "still learning" in guarded.reason and guarded.runs[0]["steps"] == 4000
    settled = C.guard(C.Claim(**{**claim.__dict__, "verdict": C.NOT_REPRODUCED, "reason": ""}),
                      [{"hash": "abc", "steps": 4000, "convergence": "plateaued", "rising": []}])
    assert settled.verdict == C.NOT_REPRODUCED
    # through the run cache: a run without a curve is reported as such and does not flip a verdict
    out = store.check_training([C.Claim(**{**claim.__dict__, "verdict": C.REPRODUCED, "reason": "", "runs": [{"hash": "abc"}]})], tmp_path)
    assert out[0].verdict == C.REPRODUCED and out[0].runs[0]["convergence"] == "no curve"
    assert np.isfinite(out[0].estimate.value)
