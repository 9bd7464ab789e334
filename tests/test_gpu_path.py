"""The GPU path on a CPU: tests that imitate CUDA's rules (no numpy view of a device tensor, fp16
scaler state, which GPUs a worker or a local task sees, SLURM's signals, memory, host syncs)."""

import contextlib
import json
import os
import signal

import numpy as np
import pytest
import torch

from paperlib import cost, launch, scheduler
from paperlib.bench.probes import count_device_transfers, count_host_syncs
from paperlib.bench.throughput import throughput_table
from paperlib.config import PRESETS, preset
from paperlib.device import precision_name, worker_devices
from paperlib.evaluate import evaluation_batch, sample_bytes
from paperlib.stack import StackedTrainer, evaluate_stack
from paperlib.train import Trainer


def _runs(K=3, steps=4):
    base = preset("smoke").replace(train={"steps": steps, "checkpoint_every": 2, "warmup": 1}, diffusion={"sample_steps": 2})
    return [base.replace(train={"seed": k}) for k in range(K)]


@contextlib.contextmanager
def tensors_refuse_numpy():
    """Imitate a CUDA tensor: converting it to a numpy array raises TypeError."""
    original = torch.Tensor.__array__

    def refuse(self, *args, **kwargs):
        raise TypeError("can't convert cuda:0 device type tensor to numpy (imitated)")

    torch.Tensor.__array__ = refuse
    try:
        yield
    finally:
        torch.Tensor.__array__ = original


def test_a_stacked_evaluation_never_turns_device_tensors_into_numpy():
    trainers = [Trainer(r, device="cpu") for r in _runs()]
    with tensors_refuse_numpy():
        evs = evaluate_stack(trainers, labels=np.array([[3.0, 4.0], [8.0, 8.0]]))
    assert len(evs) == 3 and evs[0].images.shape == (2, 16, 16)


def test_an_fp32_checkpoint_resumes_in_fp16_at_its_step_and_nothing_is_set_aside(tmp_path):
    run = _runs(1, steps=6)[0]
    Trainer(run, out_dir=tmp_path, device="cpu", precision="fp32").fit(until=4, progress=False)
    resumed = Trainer(run, out_dir=tmp_path, device="cpu", precision="fp16")
    assert resumed.step == 4 and resumed.scaler.is_enabled() and not list(tmp_path.glob("*.damaged"))


def test_a_failure_to_load_that_is_not_damage_keeps_the_checkpoint(tmp_path, monkeypatch):
    run = _runs(1, steps=6)[0]
    Trainer(run, out_dir=tmp_path, device="cpu").fit(until=2, progress=False)

    def out_of_memory(self, state):
        raise torch.OutOfMemoryError("CUDA out of memory (imitated)")

    monkeypatch.setattr(Trainer, "load_state_dict", out_of_memory)
    with pytest.raises(torch.OutOfMemoryError):
        Trainer(run, out_dir=tmp_path, device="cpu")
    assert (tmp_path / "checkpoint.pt").exists() and not list(tmp_path.glob("*.damaged"))


def test_stacks_refuse_fp16_and_share_the_precision_policy():
    assert precision_name(torch.device("cuda"), (8, 6)) == "bf16" and precision_name(torch.device("cuda"), (7, 5)) == "fp32"
    with pytest.raises(ValueError, match="fp16"):
        StackedTrainer([Trainer(r, device="cpu", precision="fp16") for r in _runs(2)])


def test_each_worker_gets_its_device():
    assert worker_devices(None, 4, 0) == ["cpu"] * 4
    assert worker_devices(None, 4, 2) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert worker_devices(["cuda:3"], 2, 8) == ["cuda:3", "cuda:3"]


class FakeExecutor:
    """Records what `launch.submit` asks of a submitit executor."""

    def __init__(self):
        self.parameters, self.submitted = [], []

    def update_parameters(self, **kwargs):
        self.parameters.append(kwargs)

    def submit(self, task):
        self.submitted.append((dict(self.parameters[-1]), task))
        return task


def test_local_tasks_each_see_one_gpu(tmp_path, monkeypatch):
    fake = FakeExecutor()
    monkeypatch.setattr(launch, "executor", lambda *args, **kwargs: fake)
    runs = [r.replace(data={"sigma_x": 0.5 + 0.1 * i}) for i, r in enumerate(_runs(1))] + [_runs(1)[0].replace(data={"N": 8})]
    launch.submit(runs * 1, tmp_path, "local", max_parallel=2, wait=False, target="cpu", device_count=2)
    assert [p["visible_gpus"] for p, _ in fake.submitted] == [(0,), (1,)]
    assert all(p["gpus_per_node"] == 1 for p, _ in fake.submitted)
    assert launch.local_gpus(3, 0) == [(), (), ()]


def test_slurm_tasks_ask_for_cpus_and_memory_and_keep_submitits_signals(tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit")

    class Auto(FakeExecutor):
        def __init__(self, folder, cluster):
            super().__init__()
            self.cluster = cluster

    monkeypatch.setattr(submitit, "AutoExecutor", Auto)
    ex = launch.executor("slurm", tmp_path, partition="gpu")
    assert ex.cluster == "slurm" and ex.parameters[-1]["cpus_per_task"] == launch.SLURM_CPUS_PER_TASK
    assert ex.parameters[-1]["mem_gb"] == launch.SLURM_MEM_GB and ex.parameters[-1]["slurm_signal_delay_s"] > 0
    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    monkeypatch.setattr(launch, "init_worker", lambda device: None)
    try:
        launch.TrainTask(str(tmp_path), [], device="cpu")()
        assert signal.getsignal(signal.SIGTERM) is before  # submitit's, to requeue on preemption
        monkeypatch.setenv("SUBMITIT_EXECUTOR", "local")
        launch.TrainTask(str(tmp_path), [], device="cpu")()
        assert signal.getsignal(signal.SIGTERM) is not before  # elsewhere a stop checkpoints and exits
    finally:
        signal.signal(signal.SIGTERM, before)


def test_best_stack_reads_a_table_built_by_the_gpu_bench():
    table = throughput_table({16: {1: 1000.0, 4: 3600.0, 16: 12000.0}, 32: {1: 900.0, 16: 10000.0}}, {16: 2.0, 32: 5.0}, "gpu")
    tables = {"NVIDIA H100 80GB HBM3": table}
    run = preset("gpu", N=16)
    assert cost.best_stack(run, "NVIDIA H100 80GB HBM3", tables) == 16
    one, sixteen = (cost.run_seconds(run, "NVIDIA H100 80GB HBM3", tables, k) for k in (1, 16))
    images = run.train.steps * run.train.batch_size
    evaluations = 2.0 + 5 * 2.0 * 20 / 50  # the final evaluation and five read-outs of the learning curve (N = 16: every label)
    assert one == pytest.approx(images / 1000 + evaluations) and sixteen == pytest.approx(images / 12000 + evaluations)
    assert json.loads(json.dumps(table)) == table  # what `cost.save_table` writes


def test_the_cost_model_puts_small_stacks_on_the_launch_or_memory_bound_and_the_paper_model_on_another():
    h100 = cost.sheet("H100")
    small = preset("gpu", N=8)
    alone, stacked = cost.step_seconds(small, h100, 1), cost.step_seconds(small, h100, 16, graphs=True)
    assert alone.bound == "launch" and stacked.seconds < 4 * alone.seconds  # 16 runs for the price of a few
    n8, n32 = cost.step_seconds(small, h100, 1), cost.step_seconds(preset("gpu", N=32), h100, 1)
    assert n32.seconds < 2 * n8.seconds  # launch-bound: N = 32 costs about what N = 8 costs, not 16x
    assert cost.sheet("NVIDIA Tesla T4").name == "T4" and cost.sheet("cpu") is None


@pytest.mark.parametrize("preset_name", PRESETS)
@pytest.mark.parametrize("N", [8, 16, 32, 64])
def test_evaluation_batches_fit_a_memory_budget(preset_name, N):
    model = preset(preset_name, N=N).model
    budget = 5 << 30  # a third of a 16 GB GPU
    batch = evaluation_batch(model, N, budget=budget)
    assert 1 <= batch <= 1024 and batch * sample_bytes(model, N) <= budget
    if preset_name == "paper" and N == 64:
        assert batch < 1024  # the full batch would need tens of GB of attention scores


def test_a_training_step_makes_one_device_transfer_and_no_host_sync():
    for engine in (Trainer(_runs(1)[0], device="cpu"), StackedTrainer([Trainer(r, device="cpu") for r in _runs(3)])):
        engine.train_step()
        with count_host_syncs() as syncs, count_device_transfers() as copies:
            engine.train_step()
            engine.train_step()
        assert sum(syncs.values()) == 0, syncs
        assert copies == {"non_blocking": 2}, copies  # the batch indices, once per step


def test_workers_take_their_device_and_stop_signals(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(scheduler, "init_worker", seen.append)
    monkeypatch.setattr(scheduler, "stop_on_signals", lambda: seen.append("signals"))

    class Queue:
        def get(self):
            return "cuda:1"

    scheduler._init_worker(Queue())
    assert seen == ["cuda:1", "signals"]


def test_deterministic_mode_upsamples_with_matmuls_to_the_same_numbers():
    import torch.nn.functional as F

    from paperlib.model import upsample2x

    x = torch.randn(2, 3, 4, 4)
    plain = upsample2x(x)
    torch.use_deterministic_algorithms(True)
    try:
        matmul = upsample2x(x)
    finally:
        torch.use_deterministic_algorithms(False)
    assert torch.allclose(plain, matmul, atol=1e-6) and torch.equal(plain, F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


@pytest.mark.cuda
def test_a_stack_trains_and_evaluates_on_the_gpu(tmp_path):
    trainers = [Trainer(r, out_dir=tmp_path / str(i), device="cuda") for i, r in enumerate(_runs())]
    StackedTrainer(trainers, compile=False).fit(progress=False)
    evs = evaluate_stack(trainers, layers=("layer4",))
    assert len(evs) == 3 and all(np.isfinite(ev.activations["layer4"]).all() for ev in evs)
    assert os.path.exists(tmp_path / "0" / "model.safetensors")


def test_a_local_task_keeps_submitits_own_handler_and_stops_on_the_others():
    """submitit's local executor checkpoints and requeues a task at its time limit with its own
    SIGUSR2 handler; a task must not replace it (it would fail instead of requeueing)."""
    from paperlib.train import STOP_SIGNALS, stop_on_signals

    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    submitits = lambda signum, frame: None  # noqa: E731
    try:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_DFL)
        signal.signal(signal.SIGUSR2, submitits)
        stop_on_signals(keep_handlers=True)
        assert signal.getsignal(signal.SIGUSR2) is submitits
        assert callable(signal.getsignal(signal.SIGTERM)) and signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    finally:
        for s, h in before.items():
            signal.signal(s, h)
