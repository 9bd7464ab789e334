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
    return C.Claim(text, "3.2", "Fig. 4", "high", "lo >= 50%", e, verdict, measured="70%")


def test_record_collect_write(tmp_path):
    C.record(tmp_path, "02_x", [_claim("b", C.INCONCLUSIVE)])
    C.record(tmp_path, "01_x", [_claim("a")])
    C.record(tmp_path, "01_x", [_claim("a", C.NOT_REPRODUCED, C.Estimate(0.3, 0.2, 0.4, 100))])  # replaced
    entries = C.collect(tmp_path)
    assert [e["claim"] for e in entries] == ["a", "b"] and entries[0]["verdict"] == C.NOT_REPRODUCED
    assert entries[0]["interval"] == [0.2, 0.4]
    js, md = C.write(tmp_path, entries, {"code": {"commit": "abc"}}, "laptop")
    written = json.loads(js.read_text())
    assert written["claims"] == entries and written["provenance"]["code"]["commit"] == "abc" and written["preset"] == "laptop"
    text = md.read_text()
    assert "| a | Fig. 4 | high | lo >= 50% | 30.0% [20.0%, 40.0%] | 70% | **not reproduced** |" in text
    assert "2 claims: 0 reproduced, 1 not reproduced, 1 inconclusive" in text


def test_a_claim_needs_a_known_verdict_and_a_finite_interval():
    with pytest.raises(ValueError, match="verdict"):
        _claim("c", "yes")
    with pytest.raises(ValueError, match="interval"):
        _claim("c", C.INCONCLUSIVE, C.Estimate(float("nan"), float("nan"), 1.0))
