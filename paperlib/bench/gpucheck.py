"""`python -m paperlib.bench gpu-check`: the one command to run first whenever a GPU is at hand.

In at most about five minutes on any CUDA GPU it runs the CUDA-marked tests, trains a stack of
`gpu`-preset runs for 200 steps in the device's precision with checkpoints, evaluates the stack
and compares it with a run evaluated alone, resumes an fp32 checkpoint in fp16, counts host syncs
and kernels per training step, measures K = 1 against K = 16 and writes the throughput table.
On a CPU it runs the same checks on `smoke`-sized runs in seconds and says what it skipped and
why. The last line is one JSON object.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import cost
from ..config import preset
from ..data import eval_labels
from ..device import enable_tf32, pick_device, precision_name
from ..evaluate import evaluate
from ..stack import StackedTrainer, evaluate_stack
from ..train import Trainer
from .probes import count_device_transfers, count_host_syncs
from .throughput import _timed_fit, throughput_table

TOP = Path(__file__).resolve().parents[2]


def _cuda_tests(out: dict) -> None:
    if not (TOP / "tests").exists():
        out["skipped"]["cuda tests"] = "no tests/ folder beside the package (an installed wheel)"
        return
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", str(TOP / "tests")],
                          capture_output=True, text=True, timeout=240, cwd=TOP, env={**os.environ, "PAPERLIB_TEST_CUDA": "1"})
    out["cuda_tests"] = {"exit_code": done.returncode, "seconds": round(time.perf_counter() - t, 1),
                         "summary": (done.stdout.strip().splitlines() or [""])[-1]}
    print(f"CUDA tests: {out['cuda_tests']['summary']}", flush=True)


def _kernels_per_step(engine, device: torch.device) -> int:
    """CUDA kernels launched by one training step (the profiler's device events)."""
    from torch.profiler import ProfilerActivity, profile

    engine.train_step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        engine.train_step()
        torch.cuda.synchronize()
    return sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)


def _stacked_training(run, K: int, steps: int, device, folder: Path, out: dict) -> list[Trainer]:
    trainers = [Trainer(run.replace(train={"seed": k}), out_dir=folder / f"run{k}", device=str(device)) for k in range(K)]
    t = time.perf_counter()
    StackedTrainer(trainers).fit(until=steps, progress=False, checkpoint_every=max(1, steps // 2))
    resumed = Trainer(trainers[1].run, out_dir=folder / "run1", device=str(device))
    losses = [t_.last_loss for t_ in trainers]
    out["checks"]["stacked training"] = {"runs": K, "steps": steps, "seconds": round(time.perf_counter() - t, 1),
                                         "final_losses": [round(v, 4) for v in losses], "checkpoint resumes at": resumed.step,
                                         "ok": resumed.step == steps and bool(np.isfinite(losses).all())}
    print(f"stacked training: {out['checks']['stacked training']}", flush=True)
    return trainers


def _stacked_evaluation(trainers: list[Trainer], out: dict) -> float:
    """Compare a stacked evaluation with one alone; returns one model's evaluation seconds (N x N labels)."""
    N = trainers[0].run.data.N
    labels = eval_labels(N)[:256]
    together = evaluate_stack(trainers, labels=labels, layers=("layer4",))
    t = time.perf_counter()
    alone = evaluate(trainers[0].ema, trainers[0].schedule, trainers[0].run.data, trainers[0].run.diffusion.sample_steps, 0, ("layer4",), labels)
    seconds = (time.perf_counter() - t) * N * N / len(labels)
    diff = float(np.abs(together[0].images.astype(np.float32) - alone.images.astype(np.float32)).max())
    out["checks"]["stacked evaluation"] = {"labels": len(labels), "max image difference alone vs stacked (0..255)": round(diff, 3),
                                           "accuracy alone": alone.accuracy, "accuracy stacked": together[0].accuracy, "ok": diff < 8.0}
    print(f"stacked evaluation: {out['checks']['stacked evaluation']}", flush=True)
    return seconds


def _fp16_resume(run, device, folder: Path, out: dict) -> None:
    Trainer(run, out_dir=folder, device=str(device), precision="fp32").fit(until=10, progress=False, checkpoint_every=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = Trainer(run, out_dir=folder, device=str(device), precision="fp16")
    damaged = [p.name for p in folder.glob("*.damaged")]
    out["checks"]["fp32 checkpoint resumed in fp16"] = {"step": again.step, "set aside": damaged, "warnings": [str(w.message) for w in caught],
                                                        "ok": again.step == 10 and not damaged}
    print(f"fp32 -> fp16 resume: {out['checks']['fp32 checkpoint resumed in fp16']}", flush=True)


def _traffic(engine, device: torch.device, out: dict) -> None:
    engine.train_step()
    with count_host_syncs() as syncs, count_device_transfers() as copies:
        for _ in range(3):
            engine.train_step()
    entry = {"host syncs per step": sum(syncs.values()) / 3, "device transfers per step": sum(copies.values()) / 3}
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("warn")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            engine.train_step()
        torch.cuda.set_sync_debug_mode("default")
        entry["cuda sync warnings per step"] = len([w for w in caught if "synchroniz" in str(w.message)])
        entry["kernels per step"] = _kernels_per_step(engine, device)
    else:
        with cost.OpCounter() as ops:
            engine.train_step()
        entry["ops per step (eager, counted)"] = ops.ops
    entry["ok"] = entry["host syncs per step"] == 0 and entry["device transfers per step"] <= 1
    out["checks"]["host traffic of a stacked step"] = entry
    print(f"host traffic: {entry}", flush=True)


def _speed(run, device, cuda: bool, out: dict) -> dict[int, float]:
    rates = {}
    for K in (1, 16 if cuda else 4):
        trainers = [Trainer(run.replace(train={"seed": k}), device=str(device)) for k in range(K)]
        engine = trainers[0] if K == 1 else StackedTrainer(trainers, compile=cuda)
        steps = 30 if cuda else 3
        rates[K] = steps * K * run.train.batch_size / _timed_fit(engine, steps, 10 if cuda else 1, device)
        print(f"N={run.data.N} K={K}: {rates[K]:.0f} images/s ({rates[K] / K:.0f} per model)", flush=True)
    out["checks"]["stacking"] = {**{f"K={k} images/s": round(v, 1) for k, v in rates.items()},
                                 "stacked over alone (images/s)": round(rates[max(rates)] / rates[1], 2)}
    return rates


def bench_gpu_check(args) -> dict:
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        enable_tf32()
    out = {"bench": "gpu-check", "device": cost.device_name(device), "precision": precision_name(device), "skipped": {}, "checks": {}}
    start = time.perf_counter()
    if cuda:
        _cuda_tests(out)
    else:
        out["skipped"]["cuda tests"] = "no CUDA device: the CUDA-marked tests skip themselves here"
        out["skipped"]["kernels per step, CUDA sync debug mode"] = "no CUDA device"
        out["skipped"]["throughput table"] = "measured on smoke-sized runs: not saved"
    run = preset("gpu", N=32) if cuda else preset("smoke").replace(train={"batch_size": 8}, diffusion={"sample_steps": 5})
    with tempfile.TemporaryDirectory() as tmp:
        trainers = _stacked_training(run, 4, 200 if cuda else 20, device, Path(tmp) / "stack", out)
        eval_s = _stacked_evaluation(trainers, out)
        _fp16_resume(run, device, Path(tmp) / "fp16", out)
    _traffic(StackedTrainer([Trainer(run.replace(train={"seed": k}), device=str(device)) for k in range(4)]), device, out)
    rates = _speed(run, device, cuda, out)
    if cuda:
        out["saved"] = str(cost.save_table(out["device"], throughput_table({run.data.N: rates}, {run.data.N: eval_s}, "gpu")))
    out["seconds"] = round(time.perf_counter() - start, 1)
    out["ok"] = all(c.get("ok", True) for c in out["checks"].values()) and out.get("cuda_tests", {}).get("exit_code", 0) == 0
    return out
