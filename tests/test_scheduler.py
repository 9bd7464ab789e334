"""The scheduler: plans (stacks, GPUs named wherever a plan is made) and workers that stop together."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from paperlib import scheduler, store
from paperlib.config import preset
from paperlib.device import set_execution
from paperlib.train import read_log

POOL = """
import sys
from paperlib import scheduler
from paperlib.config import preset
from paperlib.device import set_execution
from paperlib.train import stop_on_signals
stop_on_signals()
runs = [preset("smoke").replace(train={"steps": 300, "lr": 1e-3 * (1 + k), "checkpoint_every": 10_000, "warmup": 2},
                                diffusion={"sample_steps": 2}) for k in range(4)]
scheduler.train_all(runs, sys.argv[1], workers=2, progress=False)
"""


def _pool_runs():
    """Four runs that cannot stack (their learning rates differ): four jobs for two workers."""
    return [preset("smoke").replace(train={"steps": 300, "lr": 1e-3 * (1 + k), "checkpoint_every": 10_000, "warmup": 2},
                                    diffusion={"sample_steps": 2}) for k in range(4)]


def test_one_sigterm_stops_every_worker_between_steps_and_no_other_job_starts(tmp_path):
    runs = _pool_runs()
    assert len(scheduler.plan(runs, tmp_path / "stopped", "cpu")) == 4
    proc = subprocess.Popen([sys.executable, "-c", POOL, str(tmp_path / "stopped")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folders = [store.run_dir(r, tmp_path / "stopped") for r in runs]
    deadline = time.time() + 120
    while not any(read_log(f) for f in folders) and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)  # to the parent alone: it stops the workers
    t = time.time()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert time.time() - t < 60  # the workers did not train their runs to the end
    started = [f for f in folders if (f / "config.json").exists()]
    assert 1 <= len(started) <= 2, started  # the two jobs that were running; the others never started
    assert not any((f / "model.safetensors").exists() for f in folders)
    assert all((f / "checkpoint.pt").exists() for f in started)  # each stopped run checkpointed
    scheduler.train_all(runs, tmp_path / "stopped", workers=2, progress=False)  # resume
    scheduler.train_all(runs, tmp_path / "straight", workers=2, progress=False)
    for run in runs:
        resumed, straight = (store.load_model(run, tmp_path / name).state_dict() for name in ("stopped", "straight"))
        assert all(torch.equal(v, resumed[k]) for k, v in straight.items()), run.hash()


def _deterministic_in_worker(_index: int) -> tuple[bool, str]:
    return torch.are_deterministic_algorithms_enabled(), os.environ.get("PAPERLIB_PRECISION", "")


def test_execution_settings_reach_every_worker(monkeypatch):
    """`--deterministic` and `--precision` go to workers (and tasks, kernels) through the
    environment an entry point sets (`device.set_execution`); each worker applies them."""
    environ = dict(os.environ)
    set_execution("fp32", deterministic=True, environ=environ)
    for name in ("PAPERLIB_PRECISION", "PAPERLIB_DETERMINISTIC"):
        monkeypatch.setenv(name, environ[name])
    context = multiprocessing.get_context("spawn")
    queue = context.Manager().Queue()
    for device in ("cpu", "cpu"):
        queue.put(device)
    with ProcessPoolExecutor(2, mp_context=context, initializer=scheduler._init_worker, initargs=(queue,)) as pool:
        seen = list(pool.map(_deterministic_in_worker, range(2)))
    assert seen == [(True, "fp32")] * 2


def test_fp16_plans_no_stacks(tmp_path):
    runs = [preset("smoke").replace(train={"seed": k}) for k in range(4)]
    assert max(map(len, scheduler.plan(runs, tmp_path, "cpu").jobs)) > 1
    assert set(map(len, scheduler.plan(runs, tmp_path, "cpu", precision="fp16").jobs)) == {1}


def test_the_default_plan_on_a_gpu_is_the_named_gpus_plan(tmp_path, monkeypatch):
    """Imitating an H100: the plan made for "this machine" (None, as run_all, the notebooks and
    train_all make it) and for "cuda:0" stacks the gpu preset as `--gpu H100` does."""
    from paperlib.experiments import SECTIONS

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    runs = [r for s in SECTIONS for r in s.runs("gpu")]
    named = scheduler.plan(runs, tmp_path, "H100")
    assert max(map(len, named.jobs)) > 1 and len(named) < len(runs) / 4
    for device in (None, "cuda:0"):
        default = scheduler.plan(runs, tmp_path, device)
        assert default.device == "NVIDIA H100 80GB HBM3"
        assert sorted(map(len, default.jobs)) == sorted(map(len, named.jobs))
        assert 0.5 < sum(default.seconds) / sum(named.seconds) < 2
