"""Learning curves: the convergence rule on synthetic curves, the plateau budget, and read-outs
that are the same for a run alone and in a stack."""

import numpy as np
import pytest
import torch

from paperlib import curves
from paperlib.config import TrainConfig, preset
from paperlib.evaluate import score
from paperlib.stack import StackedTrainer
from paperlib.train import Trainer


def _point(step, share, corr=None, n=256, noise=0.1, seed=0, extra=None):
    """A synthetic read-out of n labels: the first share of them right, correlations around
    `corr` (default: the share) with label noise that is the same at every read-out (same labels,
    same starting noise), as a real model's read-outs are."""
    k = round(share * n)
    corr = share if corr is None else corr
    bits = "1" * k + "0" * (n - k)
    jitter = np.random.default_rng(seed).normal(0, noise, n)
    point = {"step": step, "labels": n, "readings": {r: bits for r in curves.READINGS},
             "correlation": list(np.clip(corr + jitter, -1, 1)), "regions": {"all": "1" * n}}
    for name, (lo, hi) in (extra or {}).items():
        point["regions"][name] = "0" * lo + "1" * (hi - lo) + "0" * (n - hi)
    return point


@pytest.mark.parametrize("shares, corr, expected", [
    ([0.50, 0.50, 0.51, 0.50], [0.8] * 4, curves.PLATEAUED),  # flat
    ([0.10, 0.30, 0.50, 0.70], None, curves.STILL_LEARNING),  # rising
    ([0.20, 0.80, 0.60, 0.45], [0.8] * 4, curves.PLATEAUED),  # rose, then fell: no more to gain here
    ([0.00, 0.00, 0.00, 0.00], [0.1] * 4, curves.UNSETTLED),  # flat before the onset: not a plateau
    ([0.00, 0.00, 0.00, 0.00], [0.05, 0.10, 0.20, 0.35], curves.STILL_LEARNING),  # the onset: blank images taking shape
])
def test_the_convergence_rule_on_synthetic_curves(shares, corr, expected):
    curve = [_point(500 * (i + 1), s, None if corr is None else corr[i]) for i, s in enumerate(shares)]
    verdict = curves.convergence(curve)
    assert verdict.status == expected, verdict.to_dict()
    assert verdict.to_step == 2000 and verdict.from_step == 1500  # the last quarter


@pytest.mark.parametrize("every, last, reference", [
    (625, 2500, 1875),  # section 3.2's cap: exactly the last quarter
    (500, 4000, 3000),  # Fig. 5's cap
    (1000, 12000, 9000),  # the torus's cap
    (500, 3500, 2500),  # section 3.3's cap: 29% of the training
    (500, 2500, 1500),  # a grid off the quarters: 40%
    (500, 1000, 500),  # the second read-out: half
])
def test_the_rule_compares_with_the_latest_read_out_at_or_before_three_quarters(every, last, reference):
    curve = [_point(step, 0.5, 0.8) for step in range(every, last + 1, every)]
    verdict = curves.convergence(curve)
    assert (verdict.from_step, verdict.to_step) == (reference, last)


def test_labels_turning_both_ways_leave_the_curve_unsettled():
    before, after = _point(1500, 0.5), _point(2000, 0.5)
    for name in curves.READINGS:  # 20 labels turn wrong, 34 turn right: +5.5 points, but not credibly up nor flat
        after["readings"][name] = "0" * 20 + "1" * 142 + "0" * 94
    verdict = curves.convergence([before, after])
    assert verdict.status == curves.UNSETTLED and 0.0 < verdict.gains["all/accuracy"].value < PLATEAU


PLATEAU = curves.PLATEAU_MARGIN


def test_a_small_region_alone_cannot_call_a_plateau_but_can_show_learning():
    before, after = _point(1000, 0.5, 0.8), _point(2000, 0.5, 0.8)
    for name in curves.READINGS:  # 40 labels of the second half turn right; 40 of the first turn wrong
        after["readings"][name] = "1" * 88 + "0" * 40 + "1" * 40 + "0" * 88
    before["regions"]["vertical"] = after["regions"]["vertical"] = "0" * 128 + "1" * 40 + "0" * 88
    verdict = curves.convergence([before, after])
    assert verdict.rising() == ["vertical/accuracy", "vertical/profile", "vertical/composed"] and verdict.status == curves.STILL_LEARNING
    before["regions"]["vertical"] = after["regions"]["vertical"] = "0" * 128 + "1" * 9 + "0" * 119
    for name in curves.READINGS:
        after["readings"][name] = "1" * 119 + "0" * 9 + "1" * 9 + "0" * 119  # 9 turn right in the region (too few to judge), 9 wrong elsewhere
    assert curves.convergence([before, after]).status == curves.PLATEAUED


def test_a_region_still_rising_keeps_a_flat_curve_from_its_plateau():
    before, after = _point(1500, 0.5, 0.8), _point(2000, 0.5, 0.8)
    region = "0" * 128 + "1" * 60 + "0" * 68  # 60 labels, such as the unseen ones
    before["regions"]["unseen"] = after["regions"]["unseen"] = region
    for name in curves.READINGS:  # 8 of them turn right, and 8 labels elsewhere turn wrong: all labels flat
        after["readings"][name] = "1" * 120 + "0" * 8 + "1" * 8 + "0" * 120
    verdict = curves.convergence([before, after])
    gain = verdict.gains["unseen/accuracy"]
    assert verdict.gains["all/accuracy"].value == 0 and 0 < gain.lo and gain.hi >= PLATEAU  # +13 points, credibly up
    assert verdict.status == curves.UNSETTLED and verdict.rising(["unseen"]) == ["unseen/accuracy", "unseen/profile", "unseen/composed"]
    for name in curves.READINGS:  # 3 turn right there: +5 points, its interval below the margin
        after["readings"][name] = "1" * 125 + "0" * 3 + "1" * 3 + "0" * 125
    assert curves.convergence([before, after]).status == curves.PLATEAUED


def test_curve_steps():
    assert curves.curve_steps(TrainConfig(steps=4000)) == [2000, 2500, 3000, 3500, 4000]
    assert curves.curve_steps(TrainConfig(steps=8000, until="plateau", curve_every=1000)) == list(range(1000, 8001, 1000))
    assert curves.curve_steps(TrainConfig(steps=1000, curve_every=300)) == [600, 900, 1000]


def _fake_readout(shares):
    """A read-out whose accuracy over all labels is `shares(step)`: ideal images for that share of
    the labels, blank ones for the rest."""
    from paperlib import data

    def read_out(self, labels):
        share = shares(self.step)
        c = self.run.data
        images = data.render(labels, c.N, c.sigma_x, c.sigma_y, "bump").numpy()
        images[round(share * len(labels)):] = 255.0
        return [score(images, labels, c)]

    return read_out


@pytest.mark.parametrize("shape, stops_at", [(lambda step: 0.9, 8), (lambda step: step / 40, 40), (lambda step: 0.0, 40)])
def test_the_plateau_budget_stops_a_flat_run_and_continues_a_rising_one(tmp_path, monkeypatch, shape, stops_at):
    run = preset("smoke").replace(train={"steps": 40, "until": "plateau", "curve_every": 4, "curve_labels": 256, "warmup": 2,
                                         "checkpoint_every": 100})
    monkeypatch.setattr(Trainer, "read_out", _fake_readout(shape))
    trainer = Trainer(run, out_dir=tmp_path, device="cpu").fit(progress=False)
    assert trainer.step == stops_at and trainer.finished and (tmp_path / "model.safetensors").exists()
    record = __import__("json").loads((tmp_path / "run.json").read_text())
    assert record["steps"] == stops_at and (record["convergence"]["status"] == curves.PLATEAUED) == (stops_at < 40)
    again = Trainer(run, out_dir=tmp_path, device="cpu")
    assert again.finished and again.fit(progress=False).step == stops_at  # a plateaued run is done, not resumed to the cap


def test_a_run_stopped_at_its_plateau_keeps_the_snapshots_it_reached_and_reuses_the_last(tmp_path, monkeypatch):
    """Section 3.1's laptop torus trains to its plateau with snapshots planned up to its cap: those
    past the stop are never made, and the final evaluation is the snapshot at the last step."""
    from paperlib import store

    run = preset("smoke").replace(train={"steps": 40, "until": "plateau", "curve_every": 4, "curve_labels": 256, "warmup": 2,
                                         "checkpoint_every": 100, "eval_steps": (0, 8, 40)})
    monkeypatch.setattr(Trainer, "read_out", _fake_readout(lambda step: 0.9))
    assert store.train_or_load(run, tmp_path, progress=False).step == 8
    snapshots = store.evaluations_over_training(run, tmp_path)
    assert sorted(snapshots) == [0, 8]
    monkeypatch.setattr(store, "evaluate", lambda *a, **k: pytest.fail("the last step's snapshot was evaluated again"))
    assert np.array_equal(store.evaluation(run, tmp_path, progress=False).images, snapshots[8].images)


def test_read_outs_are_seeded_and_the_same_alone_or_in_a_stack():
    base = preset("smoke").replace(train={"steps": 8, "warmup": 1}, diffusion={"sample_steps": 4})
    runs = [base, base.replace(data={"sigma_x": 0.7}, train={"seed": 3})]
    alone = [Trainer(r, device="cpu").fit(progress=False) for r in runs]
    stacked = [Trainer(r, device="cpu") for r in runs]
    StackedTrainer(stacked).fit(progress=False)
    for a, s in zip(alone, stacked):
        assert [e["step"] for e in a.curve] == [4, 5, 6, 7, 8] == [e["step"] for e in s.curve]
        for e1, e2 in zip(a.curve, s.curve):
            assert e1["readings"] == e2["readings"] and e1["regions"] == e2["regions"]  # label by label
            assert np.allclose(e1["correlation"], e2["correlation"], atol=2e-3)
    labels = curves.readout_labels(32, 256)
    assert len(labels) == 256 and np.array_equal(labels, curves.readout_labels(32, 256)) and len(curves.readout_labels(16, 256)) == 256


def test_a_run_that_plateaus_leaves_its_stack_and_the_others_train_on(tmp_path, monkeypatch):
    base = preset("smoke").replace(train={"steps": 40, "until": "plateau", "curve_every": 4, "curve_labels": 256, "warmup": 2,
                                          "checkpoint_every": 100})
    runs = [base, base.replace(train={"seed": 1}), base.replace(train={"seed": 2})]
    shapes = {0: lambda step: 0.9, 1: lambda step: step / 40, 2: lambda step: 0.9 if step >= 20 else step / 40}

    def read_out(self, labels):
        out = []
        for t in self.trainers:
            fake = _fake_readout(lambda step, s=shapes[t.run.train.seed]: s(step))
            holder = type("T", (), {"step": self.step, "run": t.run})()
            out += fake(holder, labels)
        return out

    monkeypatch.setattr(StackedTrainer, "read_out", read_out)
    trainers = [Trainer(r, out_dir=tmp_path / str(i), device="cpu") for i, r in enumerate(runs)]
    StackedTrainer(trainers).fit(progress=False)
    steps = [t.step for t in trainers]
    assert steps[0] == 8 and steps[1] == 40 and 20 < steps[2] < 40, steps  # each stops at its own plateau
    assert all(t.finished and (tmp_path / str(i) / "model.safetensors").exists() for i, t in enumerate(trainers))
    alone = Trainer(runs[1], out_dir=tmp_path / "alone", device="cpu")
    monkeypatch.setattr(Trainer, "read_out", _fake_readout(shapes[1]))
    alone.fit(progress=False)
    assert all(torch.allclose(v, trainers[1].ema.state_dict()[k], atol=1e-4) for k, v in alone.ema.state_dict().items())


def test_a_run_trained_until_its_geometry_settles_records_it_and_stops_only_when_settled(tmp_path):
    """`until="geometry"`: the snapshots' shape summaries are kept in the history, and the run stops
    at a read-out only where the curve has plateaued and the last two snapshots agree."""
    from paperlib import store
    from paperlib.config import Budget, preset

    run = Budget("geometry", 60, 10).apply(preset("smoke", periodic=True)).replace(
        train={"eval_steps": (0, 20, 40, 60), "warmup": 2}, diffusion={"sample_steps": 3})
    trainer = store.train_or_load(run, tmp_path, progress=False)
    shapes = [h for h in trainer.history if "shape" in h]
    assert [h["step"] for h in shapes] == [s for s in (0, 20, 40, 60) if s <= trainer.step]
    assert set(shapes[-1]["shape"]) == {"layer2", "layer3", "layer4"}
    status, measured = curves.geometry_settled(trainer.history)
    record = store.folder(run, tmp_path).read_record()
    assert record["geometry"]["status"] == status and store.training_record(run.hash(), tmp_path)["geometry"] == status
    if trainer.step < 60:  # stopped early: only where settled
        assert status == curves.SETTLED


def test_the_geometry_rule_compares_the_last_two_snapshots():
    shape = lambda pr, c, h: {"layer4": {"participation_ratio": pr, "clifford_margin": c, "hyper_margin": h}}  # noqa: E731
    history = [{"step": 1000, "shape": shape(10.0, 0.1, 0.0)}, {"step": 2000, "shape": shape(10.5, 0.12, 0.03)}]
    assert curves.geometry_settled(history)[0] == curves.SETTLED
    history.append({"step": 4000, "shape": shape(8.0, 0.12, 0.03)})  # the dimension fell by 24%: still changing
    status, measured = curves.geometry_settled(history)
    assert status == curves.STILL_CHANGING and measured["changes"]["layer4/participation_ratio"] == -2.5
    assert curves.geometry_settled(history[:1])[0] == curves.STILL_CHANGING  # one snapshot cannot tell
