"""Intervals and verdicts of `paperlib.claims`, with known answers."""

import json
import math

import numpy as np
import pytest

from paperlib import claims as C


def test_wilson_interval_known_values():
    # Newcombe (1998), Table I: 81/263 -> 0.2553..0.3662; 0/10 -> 0..0.2775; 10/10 -> 0.7225..1
    assert C.wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert C.wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert C.wilson(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)


def test_proportion_pools_labels_and_widens_for_seed_spread():
    one = C.proportion(np.r_[np.ones(60), np.zeros(40)])
    assert one.value == 0.6 and one.n == 100 and one.seeds == 1
    assert (one.lo, one.hi) == pytest.approx(C.wilson(60, 100))
    agreeing = C.proportion(*[np.r_[np.ones(60), np.zeros(40)]] * 3)
    assert agreeing.hi - agreeing.lo < one.hi - one.lo  # three agreeing seeds: more labels, narrower
    spread = C.proportion(np.ones(100), np.zeros(100), np.r_[np.ones(80), np.zeros(20)])
    assert spread.seeds == 3 and spread.lo < 0.2 and spread.hi > 0.9  # seeds disagree: wide
    assert math.isnan(C.proportion(np.zeros(0, bool)).value)


def test_difference_uses_newcombe_hybrid_interval():
    # Newcombe (1998) method 10, example 56/70 vs 48/80: 0.2 [0.0524, 0.3339]
    d = C.difference(C.proportion(np.r_[np.ones(56), np.zeros(14)]), C.proportion(np.r_[np.ones(48), np.zeros(32)]))
    assert (d.value, d.lo, d.hi) == pytest.approx((0.2, 0.0524, 0.3339), abs=1e-3)


def test_trend_recovers_a_known_slope():
    xs = [1, 2, 3, 4]
    falling = [C.proportion(np.r_[np.ones(k), np.zeros(100 - k)]) for k in (90, 70, 50, 30)]
    t = C.trend(xs, falling)
    assert t.value == pytest.approx(-0.6, abs=0.03) and t.hi < 0
    flat = C.trend(xs, [C.proportion(np.r_[np.ones(50), np.zeros(50)])] * 4)
    assert flat.lo < 0 < flat.hi and abs(flat.value) < 1e-9


def test_a_trend_of_shares_stays_within_100_points():
    """The laptop run's lesion sweep: 100, 100, 0 and 35% over widths 1, 2, 3.5, 5. The fitted line
    falls by 129 points over the sweep; a change of shares is at most 100."""
    shares = [C.proportion(np.r_[np.ones(k), np.zeros(20 - k)]) for k in (20, 20, 0, 7)]
    t = C.trend([1.0, 2.0, 3.5, 5.0], shares)
    assert t.unit == "points" and t.value == -1.0 and -1.0 <= t.lo <= t.value <= t.hi <= 1.0


def test_a_difference_of_two_changes_is_in_points_within_200():
    """Interior minus exterior decay (Fig. 12): two fitted changes in points differ by points, not by
    a share, and by at most 200 of them."""
    falls = C.Estimate(-0.64, -1.0, 1.0, 83, 1, "points")
    flat = C.Estimate(0.0, -0.05, 0.05, 83, 1, "points")
    d = C.difference(flat, falls)
    assert d.unit == "points" and str(d) == "+64.0 points [-100.1, +100.3]"


@pytest.mark.parametrize("verdict, e, expected", [
    (lambda e: C.at_least(e, 0.5), C.Estimate(0.7, 0.6, 0.8), C.REPRODUCED),
    (lambda e: C.at_least(e, 0.5), C.Estimate(0.3, 0.2, 0.4), C.NOT_REPRODUCED),
    (lambda e: C.at_least(e, 0.5), C.Estimate(0.5, 0.4, 0.6), C.INCONCLUSIVE),
    (lambda e: C.below(e, 0.5), C.Estimate(0.3, 0.2, 0.4), C.REPRODUCED),
    (lambda e: C.below(e, 0.5), C.Estimate(0.7, 0.6, 0.8), C.NOT_REPRODUCED),
    (lambda e: C.below(e, 0.5), C.Estimate(0.5, 0.45, 0.55), C.INCONCLUSIVE),
    (lambda e: C.positive(e), C.Estimate(0.2, 0.1, 0.3), C.REPRODUCED),
    (lambda e: C.positive(e), C.Estimate(-0.2, -0.3, -0.1), C.NOT_REPRODUCED),
    (lambda e: C.positive(e), C.Estimate(0.0, -0.1, 0.1), C.INCONCLUSIVE),
    (lambda e: C.positive(e, 0.15), C.Estimate(0.0, -0.1, 0.1), C.NOT_REPRODUCED),  # no effect of the size needed
    (lambda e: C.negative(e, 0.1), C.Estimate(-0.3, -0.4, -0.2), C.REPRODUCED),
    (lambda e: C.negative(e, 0.1), C.Estimate(0.0, -0.05, 0.05), C.NOT_REPRODUCED),
    (lambda e: C.negative(e, 0.1), C.Estimate(-0.1, -0.3, 0.05), C.INCONCLUSIVE),
    (lambda e: C.within(e, 0.15), C.Estimate(0.0, -0.1, 0.1), C.REPRODUCED),
    (lambda e: C.within(e, 0.15), C.Estimate(0.4, 0.3, 0.5), C.NOT_REPRODUCED),
    (lambda e: C.within(e, 0.15), C.Estimate(0.1, -0.05, 0.25), C.INCONCLUSIVE),
])
def test_each_rule_passes_fails_and_is_inconclusive(verdict, e, expected):
    assert verdict(e) == expected


def test_compound_claims():
    assert C.all_of(C.REPRODUCED, C.REPRODUCED) == C.REPRODUCED
    assert C.all_of(C.REPRODUCED, C.INCONCLUSIVE) == C.INCONCLUSIVE
    assert C.all_of(C.INCONCLUSIVE, C.NOT_REPRODUCED, C.REPRODUCED) == C.NOT_REPRODUCED
    assert C.exact(True) == C.REPRODUCED and C.exact(False) == C.NOT_REPRODUCED


def _claim(text, verdict=C.REPRODUCED, e=C.Estimate(0.7, 0.6, 0.8, 100)):
    return C.Claim(
               claim=text,
               section="3.2",
               figure="Fig. 4",
               paper="high",
               criterion="lo >= 50%",
               estimate=e,
               verdict=verdict,
               measured="70%")


def test_record_collect_write(tmp_path):
    C.record(tmp_path, "02_x", [_claim("b", C.INCONCLUSIVE)])
    C.record(tmp_path, "01_x", [_claim("a")])
    C.record(tmp_path, "01_x", [_claim("a", C.NOT_REPRODUCED, C.Estimate(0.3, 0.2, 0.4, 100))])  # replaced
    found = C.collect(tmp_path)
    assert [c.claim for c in found] == ["a", "b"] and found[0].verdict == C.NOT_REPRODUCED
    assert found[0].estimate == C.Estimate(0.3, 0.2, 0.4, 100)  # typed again after the JSON round trip
    js, md = C.write(tmp_path, found, {"code": {"commit": "abc"}}, "laptop")
    written = json.loads(js.read_text())
    assert [C.Claim.from_dict(d) for d in written["claims"]] == found and written["provenance"]["code"]["commit"] == "abc"
    assert written["preset"] == "laptop" and written["claims"][0]["interval"] == [0.2, 0.4]
    assert written["tally"]["all"] == {C.REPRODUCED: 0, C.NOT_REPRODUCED: 1, C.INCONCLUSIVE: 1}
    text = md.read_text()
    assert "| a | model | Fig. 4 | high | lo >= 50% | 30.0% [20.0, 40.0] | 70% |  | **not reproduced** |" in text


def test_claims_are_built_by_keyword_and_counted_by_kind():
    with pytest.raises(TypeError):
        C.Claim("a", "3.2", "Fig. 4", "high", "rule", C.Estimate(1, 1, 1), C.REPRODUCED)  # the fields are keyword-only
    with pytest.raises(ValueError, match="kind"):
        _claim("a").__class__(**{**_claim("a").__dict__, "kind": "hunch"})
    found = [_claim("a"), _claim("b", C.NOT_REPRODUCED), C.Claim(**{**_claim("c").__dict__, "kind": "arithmetic"})]
    counts = C.tally(found)
    assert counts["model"] == {C.REPRODUCED: 1, C.NOT_REPRODUCED: 1, C.INCONCLUSIVE: 0}
    assert counts["arithmetic"][C.REPRODUCED] == 1 and sum(counts["all"].values()) == 3
    assert C.tally_text(found).startswith("3 claims: 2 reproduced, 1 not reproduced, 0 inconclusive; of the 2 about trained models")
