"""Training and sampling several runs as one stacked model gives what each run gives alone."""

import numpy as np
import pytest
import torch

from paperlib.config import preset
from paperlib.evaluate import evaluate
from paperlib.stack import StackedTrainer, evaluate_stack, stack_key
from paperlib.train import Trainer, read_log


def _runs():
    base = preset("smoke").replace(train={"steps": 10, "checkpoint_every": 4, "warmup": 2}, diffusion={"sample_steps": 3})
    return [base, base.replace(data={"family": "sos", "sigma_x": 0.7}), base.replace(train={"seed": 5}, data={"fraction": 0.5})]


def _close(a: Trainer, b: Trainer, atol: float) -> bool:
    return all(torch.allclose(v, b.ema.state_dict()[k], atol=atol) for k, v in a.ema.state_dict().items()) and \
        all(torch.allclose(v, b.model.state_dict()[k], atol=atol) for k, v in a.model.state_dict().items())


def _close_but_adam_rounding(a: Trainer, b: Trainer, atol: float) -> bool:
    """Equal to `atol` but for a few weights in 10^4, and those within two learning rates: Adam's
    update g / (|g| + eps) turns the grouped convolution's rounding into a different step where a
    gradient is as small as eps (measured: 1 weight of 2304 in one layer after the first step)."""
    lr = a.run.train.lr
    for ours, theirs in ((a.model.state_dict(), b.model.state_dict()), (a.ema.state_dict(), b.ema.state_dict())):
        diff = torch.cat([(v - theirs[k]).abs().flatten() for k, v in ours.items() if v.dtype.is_floating_point])
        if (diff > atol).float().mean() > 1e-4 or diff.max() > 2 * lr:
            return False
    return True


def test_a_stack_of_three_ends_where_each_run_ends_alone(tmp_path):
    runs = _runs()
    assert len({stack_key(r) for r in runs}) == 1 and stack_key(runs[0].replace(train={"eval_steps": (5,)})) is None
    alone = [Trainer(r, out_dir=tmp_path / "alone" / r.hash()).fit(progress=False) for r in runs]
    stacked = [Trainer(r, out_dir=tmp_path / "stack" / r.hash()) for r in runs]
    StackedTrainer(stacked).fit(progress=False)
    for a, s in zip(alone, stacked):
        assert s.step == a.step == 10 and _close_but_adam_rounding(a, s, atol=1e-4)
        assert (s.out_dir / "model.safetensors").exists()
        others = sorted(r.hash() for r in runs if r is not s.run)
        assert s.folder.read_record()["stacked_with"] == others and a.folder.read_record()["stacked_with"] == []
        own, theirs = read_log(a.out_dir), read_log(s.out_dir)  # the stack logs each run as the run logs itself
        assert [(line["step"], line["lr"]) for line in theirs] == [(line["step"], line["lr"]) for line in own]
        assert np.allclose([line["loss"] for line in theirs], [line["loss"] for line in own], rtol=1e-3)
    together = evaluate_stack(stacked, layers=("layer4",))
    monkey = pytest.MonkeyPatch()
    monkey.setattr("paperlib.stack.evaluation_batch", lambda *a, **k: 3 * 5)  # 5 labels per batch and model
    in_pieces = evaluate_stack(stacked, layers=("layer4",))
    monkey.undo()
    for s, ev, piece in zip(stacked, together, in_pieces):
        assert np.abs(piece.images.astype(float) - ev.images).max() < 0.5  # the batches do not change a label's image
        own = evaluate(s.ema, s.schedule, s.run.data, s.run.diffusion.sample_steps, 0, ("layer4",))  # same weights, alone
        assert np.abs(own.images - ev.images).max() < 0.5  # 0..255 scale, float16
        assert np.allclose(own.activations["layer4"], ev.activations["layer4"], atol=1e-3)
        assert own.accuracy == ev.accuracy


def test_a_killed_stack_resumes_bit_identical(tmp_path):
    runs = _runs()
    straight = [Trainer(r, out_dir=tmp_path / "a" / r.hash()) for r in runs]
    StackedTrainer(straight).fit(progress=False)
    first = [Trainer(r, out_dir=tmp_path / "b" / r.hash()) for r in runs]
    stack = StackedTrainer(first)
    stack.fit(until=4, progress=False)  # checkpoints at 4
    stack.train_step(), stack.train_step()  # killed at step 6, before the next checkpoint
    resumed = [Trainer(r, out_dir=tmp_path / "b" / r.hash()) for r in runs]
    assert [t.step for t in resumed] == [4, 4, 4]
    StackedTrainer(resumed).fit(progress=False)
    for a, b in zip(straight, resumed):
        assert _close(a, b, atol=0.0)
    alone = Trainer(runs[1], out_dir=tmp_path / "b" / runs[1].hash())  # a stacked run's checkpoint resumes alone
    assert alone.step == 10 and _close(alone, resumed[1], atol=0.0)
    assert alone.stacked_with == sorted(r.hash() for r in runs if r is not runs[1])  # the checkpoint says where it trained


def test_only_compatible_runs_stack():
    runs = _runs()
    with pytest.raises(ValueError, match="stack_key"):
        StackedTrainer([Trainer(runs[0]), Trainer(runs[0].replace(data={"N": 8}))])
    ahead = Trainer(runs[1])
    ahead.train_step()
    with pytest.raises(ValueError, match="same step"):
        StackedTrainer([Trainer(runs[0]), ahead])


def test_runs_that_sampled_alone_stack_again():
    """A run left alone in its stack reads out its curve by itself (its EMA net in eval mode);
    evaluating the whole job's runs together afterwards must not depend on that."""
    trainers = [Trainer(r) for r in _runs()[:2]]
    evaluate(trainers[1].ema, trainers[1].schedule, trainers[1].run.data, 2, labels=np.array([[3.0, 4.0]]))
    assert trainers[0].ema.training != trainers[1].ema.training
    assert len(evaluate_stack(trainers, steps=2, labels=np.array([[3.0, 4.0]]))) == 2
    stack = StackedTrainer(trainers)
    stack.train_step()
    assert stack.step == 1


class _FailingBackward(torch.autograd.Function):
    """The identity whose backward fails, as a compiled graph's backward can at its first call."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("the compiled backward failed (imitated)")


def test_a_stack_whose_backward_fails_to_compile_takes_the_same_step_eagerly(monkeypatch):
    """Compiling is lazy: the forward may compile and the backward fail at the first backward().
    The first step then falls back whole, so the stack ends where an eager stack ends, bit for bit."""

    def compile_with_a_failing_backward(fn, **kwargs):
        def compiled(*args):
            out, recorded = fn(*args)
            return _FailingBackward.apply(out), recorded
        return compiled

    eager = [Trainer(r) for r in _runs()]
    StackedTrainer(eager).fit(until=3, progress=False)
    monkeypatch.setattr(torch, "compile", compile_with_a_failing_backward)
    fallen = [Trainer(r) for r in _runs()]
    stack = StackedTrainer(fallen, compile=True)
    with pytest.warns(UserWarning, match="compiling the stack failed .*training it eagerly"):
        stack.fit(until=3, progress=False)
    assert not stack.model.compiled
    for a, b in zip(eager, fallen):
        assert all(torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())
