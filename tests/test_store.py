"""The run cache with many writers: locks, damaged files, stop signals, submitit, stable names."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from paperlib import config, scheduler, store
from paperlib.config import preset
from paperlib.train import Trainer, read_log


def _tiny(steps: int = 6, **data):
    return preset("smoke", **data).replace(train={"steps": steps, "checkpoint_every": 2, "warmup": 1}, diffusion={"sample_steps": 2})


def _python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


TRAIN_ALL = """
import sys
from paperlib import scheduler
from paperlib.config import preset
runs = [preset("smoke", sigma_x=s).replace(train={"steps": 30, "checkpoint_every": 10}, diffusion={"sample_steps": 2}) for s in (0.8, 1.2)]
scheduler.train_all(runs, sys.argv[1], workers=1, progress=False)
"""


def test_two_processes_on_the_same_runs_both_succeed_and_train_each_run_once(tmp_path):
    procs = [_python(TRAIN_ALL, str(tmp_path)) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    folders = [f for f in tmp_path.iterdir() if f.is_dir() and not f.name.startswith("_")]
    assert len(folders) == 2
    for folder in folders:
        steps = [json.loads(line)["step"] for line in (folder / "log.jsonl").read_text().splitlines()]
        assert steps == sorted(set(steps)) and steps[-1] == 30  # each step logged once: one trainer per run
        assert (folder / "evaluation.npz").exists() and not list(folder.glob("*.tmp*"))


def test_a_truncated_checkpoint_is_set_aside_and_training_resumes_from_the_one_before(tmp_path):
    run = _tiny(steps=8)
    Trainer(run, out_dir=tmp_path).fit(until=4, progress=False)  # checkpoints at 2 and 4
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    with pytest.warns(UserWarning, match="damaged .*checkpoint.pt"):
        resumed = Trainer(run, out_dir=tmp_path)
    assert resumed.step == 2 and list(tmp_path.glob("checkpoint.pt.*.damaged"))
    resumed.fit(progress=False)
    straight = Trainer(run, out_dir=tmp_path / "straight").fit(progress=False)
    assert all(torch.equal(v, resumed.ema.state_dict()[k]) for k, v in straight.ema.state_dict().items())


def test_a_truncated_evaluation_is_rebuilt(tmp_path):
    run = _tiny()
    first = store.evaluation(run, tmp_path, progress=False)
    path = store.run_dir(run, tmp_path) / "evaluation.npz"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.warns(UserWarning, match="damaged .*evaluation.npz"):
        again = store.evaluation(run, tmp_path, progress=False)
    assert np.array_equal(first.images, again.images) and json.dumps(first.scores) == json.dumps(again.scores)
    assert list(path.parent.glob("evaluation.npz.*.damaged"))


STOPPABLE = """
import sys
import torch
from paperlib.config import preset
from paperlib.train import Trainer, stop_on_signals
stop_on_signals()
torch.set_num_threads(1)
run = preset("smoke").replace(train={"steps": 400, "checkpoint_every": 10_000, "warmup": 2})
Trainer(run, out_dir=sys.argv[1], log_every=5).fit(progress=False)
"""


def test_a_run_stopped_by_sigterm_checkpoints_and_resumes_to_the_same_weights(tmp_path):
    """The stopped run, its resumption and the straight run each train in a fresh one-thread
    process, as a real resume does: this process's settings (left by earlier tests) change the
    last bits of a step, so nothing here trains."""
    run = preset("smoke").replace(train={"steps": 400, "checkpoint_every": 10_000, "warmup": 2})
    proc = _python(STOPPABLE, str(tmp_path / "a"))
    deadline = time.time() + 120
    while not read_log(tmp_path / "a") and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert 0 < Trainer(run, out_dir=tmp_path / "a").step < 400  # checkpointed where it was stopped, between two steps
    for folder in ("a", "b"):  # a resumes, b trains straight through
        again = _python(STOPPABLE, str(tmp_path / folder))
        _, err = again.communicate(timeout=600)
        assert again.returncode == 0, err[-2000:]
    resumed, straight = (Trainer(run, out_dir=tmp_path / f) for f in ("a", "b"))
    assert resumed.step == straight.step == 400
    assert all(torch.equal(v, resumed.model.state_dict()[k]) for k, v in straight.model.state_dict().items())


def test_the_local_submitit_executor_trains_a_sweep_and_a_second_submission_trains_nothing(tmp_path):
    pytest.importorskip("submitit")
    from paperlib import launch

    runs = [_tiny(sigma_x=s) for s in (0.8, 1.0, 1.2)] + [_tiny(family="sos"), _tiny(N=8)]
    assert len(scheduler.plan(runs, tmp_path, "cpu")) == 2  # a stack at N = 16, a run at N = 8 (the shipped CPU table)
    jobs = launch.submit(runs, tmp_path, "local", max_parallel=1, timeout_min=10, target="cpu", device_count=0)
    assert len(jobs) == 1 and all(store.is_evaluated(r, tmp_path) for r in runs)  # one task ran both jobs
    assert launch.submit(runs, tmp_path, "local") == []


def test_execution_settings_keep_the_cache_and_old_folders_are_found(tmp_path):
    run = _tiny()
    assert run.replace(train={"checkpoint_every": 7}).hash() == run.hash()
    assert run.replace(train={"seed": 1}).hash() != run.hash()
    legacy = tmp_path / run.legacy_hash()
    Trainer(run, out_dir=legacy).fit(progress=False)
    assert run.legacy_hash() != run.hash()
    trainer = store.train_or_load(run, tmp_path, progress=False)  # the old folder is renamed, nothing retrained
    assert trainer.step == run.train.steps and store.run_dir(run, tmp_path).exists() and not legacy.exists()


def test_the_plateau_rule_names_the_runs_trained_to_it(monkeypatch):
    steps, plateau = _tiny(), _tiny().replace(train={"until": "plateau"})
    before = (steps.hash(), plateau.hash())
    monkeypatch.setattr(config, "PLATEAU_RULE", config.PLATEAU_RULE + 1)
    assert steps.hash() == before[0] and plateau.hash() != before[1]  # a new rule trains only the plateau runs again


def test_status_and_a_lock_held_by_another_process(tmp_path):
    run = _tiny()
    assert store.status(run, tmp_path) == "missing"
    holder = _python("import sys, time; from filelock import FileLock; l = FileLock(sys.argv[1]); l.acquire(); print('held', flush=True); time.sleep(60)",
                     str(store.run_dir(run, tmp_path) / ".lock"))
    assert holder.stdout.readline().strip() == "held"
    try:
        assert store.status(run, tmp_path) == "running"
        assert scheduler.run_job([run], tmp_path, wait=False) == []  # another process has it: move on
    finally:
        holder.kill()
    assert scheduler.run_job([run], tmp_path) == [run.hash()] and store.status(run, tmp_path) == "done"
