import json
import os
import signal
import threading

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from paperlib.config import RunConfig, TrainConfig, preset
from paperlib.device import autocast_dtype, pick_device
from paperlib.train import STOP_SIGNALS, Stopped, Trainer, read_log, stop_on_signals, whole_step


def _run(steps=12, **train):
    base = preset("smoke")
    return base.replace(train={"steps": steps, "checkpoint_every": 5, "warmup": 3, **train})


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.ema.state_dict().items()}


def test_resume_equals_uninterrupted(tmp_path):
    run = _run()
    straight = Trainer(run, out_dir=tmp_path / "a").fit(progress=False)

    first = Trainer(run, out_dir=tmp_path / "b")
    first.fit(until=5, progress=False)  # checkpoint at step 5
    first.train_step(), first.train_step()  # then killed at step 7, before the next checkpoint
    del first
    resumed = Trainer(run, out_dir=tmp_path / "b")
    assert resumed.step == 5
    resumed.fit(progress=False)

    assert resumed.step == straight.step == 12
    for k, v in _weights(straight).items():
        assert torch.equal(v, resumed.ema.state_dict()[k]), k
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_same_seed_same_weights_other_seed_differs():
    a = Trainer(_run(steps=4)).fit(progress=False)
    b = Trainer(_run(steps=4)).fit(progress=False)
    c = Trainer(_run(steps=4, seed=1)).fit(progress=False)
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_checkpoint_is_atomic_and_loads_without_code(tmp_path):
    run = _run(steps=5)
    trainer = Trainer(run, out_dir=tmp_path).fit(progress=False)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["checkpoint.pt", "config.json", "curve.jsonl", "log.jsonl", "model.safetensors", "run.json"]  # no *.tmp left behind
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 5 and state["config_hash"] == run.hash()
    weights = load_file(tmp_path / "model.safetensors")
    assert all(torch.equal(weights[k], v) for k, v in trainer.ema.state_dict().items())
    assert RunConfig.from_dict(json.loads((tmp_path / "config.json").read_text())) == run


def test_checkpoint_of_another_run_is_refused(tmp_path):
    Trainer(_run(steps=5), out_dir=tmp_path).fit(progress=False)
    with pytest.raises(ValueError, match="belongs to run"):
        Trainer(_run(steps=6), out_dir=tmp_path)


def test_callbacks_run_at_eval_steps_and_loss_falls():
    seen = []
    run = _run(steps=60, eval_steps=(0, 30, 60), checkpoint_every=100)
    trainer = Trainer(run)
    losses = []
    trainer.fit(callbacks=(lambda tr: seen.append(tr.step),), progress=False)
    assert seen == [0, 30, 60]
    early = Trainer(run)
    losses = [early.train_step() for _ in range(5)]
    assert trainer.last_loss < np.mean(losses)


def test_epochs_visit_every_image_once():
    trainer = Trainer(_run(steps=1, batch_size=16))
    n = len(trainer.dataset)
    seen = np.concatenate([trainer.batch_indices(s) for s in range(n // 16)])
    assert sorted(seen) == list(range(n))


def test_lr_schedule_warmup_then_cosine():
    trainer = Trainer(_run(steps=100, warmup=10, min_lr_ratio=0.1))
    assert trainer.lr_factor(0) == pytest.approx(0.1)
    assert trainer.lr_factor(9) == pytest.approx(1.0)
    assert trainer.lr_factor(100) == pytest.approx(0.1)


def test_device_choice_on_this_machine():
    dev = pick_device()
    assert dev.type in ("cpu", "cuda", "mps")
    assert autocast_dtype(torch.device("cpu")) is None


def test_mixed_precision_follows_the_gpu_generation():
    """bf16 only where the GPU computes it natively (compute capability >= 8); fp32 on older GPUs
    such as the T4 (7.5), whose bf16 is emulated, as on the CPU: one policy for a run alone, a
    stack, training and sampling (fp16 only when asked for, alone)."""
    cuda = torch.device("cuda")
    assert autocast_dtype(cuda, (9, 0)) is torch.bfloat16 and autocast_dtype(cuda, (8, 0)) is torch.bfloat16
    assert autocast_dtype(cuda, (7, 5)) is None and autocast_dtype(cuda, (6, 1)) is None
    assert autocast_dtype(torch.device("mps"), (9, 0)) is None


def test_a_smoke_trainer_leaves_process_settings_alone():
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    Trainer(_run(steps=2)).fit(progress=False)
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), state)


def test_log_keeps_the_loss_curve(tmp_path):
    Trainer(_run(steps=12), out_dir=tmp_path, log_every=4).fit(progress=False)
    log = read_log(tmp_path)
    assert [e["step"] for e in log] == [4, 8, 12]
    assert all(np.isfinite(e["loss"]) and e["lr"] > 0 and e["images_per_s"] > 0 for e in log)
    config = json.loads((tmp_path / "config.json").read_text())
    done = json.loads((tmp_path / "run.json").read_text())
    assert config["hash"] == _run(steps=12).hash() and {"code", "versions", "device", "time", "command"} <= set(config["started"])
    assert done["steps"] == 12 and {"commit", "dirty"} == set(done["finished"]["code"])


def test_bad_training_parameters():
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match="eval_steps"):
        TrainConfig(steps=10, eval_steps=(20,))
    with pytest.raises(ValueError, match="preset"):
        preset("huge")


def test_evaluation_callback_records_accuracy_and_activations(tmp_path):
    from paperlib.evaluate import evaluation_callback, load_evaluations
    from paperlib.runfolder import RunFolder

    run = _run(steps=6, eval_steps=(3, 6))
    trainer = Trainer(run).fit(callbacks=(evaluation_callback(RunFolder(tmp_path), steps=2),), progress=False)
    results = load_evaluations(RunFolder(tmp_path), run.data)
    assert sorted(results) == [3, 6]
    assert results[6].activations["layer4"].shape[0] == 256
    assert [h["step"] for h in trainer.history] == [3, 6] and 0 <= trainer.history[-1]["all"] <= 1


def test_store_trains_once_and_resumes(tmp_path):
    from paperlib import store

    run = _run(steps=6)
    assert not store.is_trained(run, tmp_path)
    first = store.train_or_load(run, tmp_path, progress=False)
    stamp = (store.run_dir(run, tmp_path) / "checkpoint.pt").stat().st_mtime_ns
    again = store.train_or_load(run, tmp_path, progress=False)
    assert store.is_trained(run, tmp_path) and again.step == 6
    assert (store.run_dir(run, tmp_path) / "checkpoint.pt").stat().st_mtime_ns == stamp  # nothing retrained
    assert all(torch.equal(v, again.ema.state_dict()[k]) for k, v in first.ema.state_dict().items())


@pytest.mark.parametrize("cuda, expected", [(True, "gpu"), (False, "laptop")])
def test_resolve_preset(monkeypatch, cuda, expected):
    from paperlib.config import resolve_preset

    monkeypatch.setenv("PAPERLIB_PRESET", "smoke")
    assert resolve_preset("auto") == "smoke" and resolve_preset("laptop") == "laptop"
    monkeypatch.delenv("PAPERLIB_PRESET")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert resolve_preset("auto") == expected  # never "paper" unless asked for by name
    with pytest.raises(ValueError, match="preset"):
        resolve_preset("fast")


def test_saved_evaluations_reload_and_rescore_as_fresh(tmp_path):
    from paperlib.evaluate import evaluate, evaluation_callback, load_evaluations
    from paperlib.runfolder import RunFolder

    run = _run(steps=4, eval_steps=(2, 4))
    trainer = Trainer(run).fit(callbacks=(evaluation_callback(RunFolder(tmp_path), steps=2),), progress=False)
    loaded = load_evaluations(RunFolder(tmp_path), run.data)
    fresh = evaluate(trainer.ema, trainer.schedule, run.data, 2, 0, ("layer4",))
    assert sorted(loaded) == [2, 4]
    assert np.array_equal(loaded[4].activations["layer4"], fresh.activations["layer4"])
    assert json.dumps(loaded[4].scores) == json.dumps(fresh.scores)  # NaN for the empty held-out region


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_mid_step_lands_after_the_whole_step(tmp_path, monkeypatch, sig):
    """The signal arrives right after the optimiser step of step 4, while another thread is up
    to take it (tqdm's monitor does that in a real run): the run stops after step 4, with AdamW's
    count at 4 as the checkpoint says, and resumes to the uninterrupted run's weights bit for bit."""
    run = _run(steps=8, checkpoint_every=100)
    straight = Trainer(run, out_dir=tmp_path / "straight").fit(progress=False)
    trainer = Trainer(run, out_dir=tmp_path / "stopped")
    optimiser_step = trainer.optimizer.step

    def step_then_signal(*args, **kwargs):
        out = optimiser_step(*args, **kwargs)
        if trainer.step == 3:  # inside step 4 (train_step counts the step after the optimiser)
            os.kill(os.getpid(), sig)
        return out

    monkeypatch.setattr(trainer.optimizer, "step", step_then_signal)
    idle = threading.Event()
    bystander = threading.Thread(target=idle.wait, daemon=True)
    bystander.start()
    handlers = {s: signal.getsignal(s) for s in (*STOP_SIGNALS, signal.SIGINT)}
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell's background job starts with SIGINT ignored
    stop_on_signals()
    try:
        with pytest.raises(Stopped if sig == signal.SIGTERM else KeyboardInterrupt):
            trainer.fit(progress=False)
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
        idle.set()
    state = torch.load(tmp_path / "stopped" / "checkpoint.pt", weights_only=True)
    adam_steps = {int(v["step"]) for v in state["optimizer"]["state"].values()}
    assert state["step"] == 4 and adam_steps == {4}
    resumed = Trainer(run, out_dir=tmp_path / "stopped").fit(progress=False)
    assert resumed.step == 8
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_signal_handlers_are_put_back_after_a_step():
    before = {s: signal.getsignal(s) for s in (*STOP_SIGNALS, signal.SIGINT)}
    with whole_step():
        assert all(signal.getsignal(s) is not h for s, h in before.items() if callable(h))
    assert {s: signal.getsignal(s) for s in before} == before
