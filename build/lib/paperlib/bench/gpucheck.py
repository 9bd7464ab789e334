"""`python -m paperlib.bench gpu-check`: the one command to run first whenever a GPU is at hand.

In about five minutes on any CUDA GPU it runs the CUDA-marked tests (where pytest is installed),
trains a stack of `gpu`-preset runs for 200 steps in the device's precision with checkpoints,
evaluates the stack and compares it with a run evaluated alone, resumes an fp32 checkpoint in
fp16, counts host syncs and kernels per training step, measures K = 1 against K = 16 and writes
the throughput table. Then what the GPU path's reviews found, each checked where it happens:
the plan the default launcher makes on this GPU (against the cost sheet's), a compiled stack
stopped by SIGTERM mid-run and resumed (against an uninterrupted one, under `--deterministic`),
`--deterministic` through two workers, fp16 with a planned stack, and the largest image
difference between bf16 and fp32 sampling. On a CPU the same checks run on `smoke`-sized runs in
seconds, saying what they skipped and why. A check that fails is recorded and the others go on:
the last line is always one JSON object.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import cost, scheduler
from ..config import preset
from ..data import eval_labels
from ..device import DETERMINISTIC_VARIABLE, init_process, pick_device, precision_name
from ..evaluate import evaluate
from ..experiments import SECTIONS
from ..runfolder import CHECKPOINT, RunFolder
from ..stack import StackedTrainer, evaluate_stack
from ..store import load_model
from ..train import Trainer, stop_on_signals
from .probes import count_device_transfers, count_host_syncs
from .throughput import _timed_fit, throughput_table

TOP = Path(__file__).resolve().parents[2]


def _cuda_tests(out: dict) -> None:
    if not (TOP / "tests").exists():
        out["skipped"]["cuda tests"] = "no tests/ folder beside the package (an installed wheel)"
        return
    if importlib.util.find_spec("pytest") is None:
        out["skipped"]["cuda tests"] = "pytest is not installed (pip install -e '.[test]')"
        return
    t = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", str(TOP / "tests")],
                              capture_output=True, text=True, timeout=240, cwd=TOP, env={**os.environ, "PAPERLIB_TEST_CUDA": "1"})
        out["cuda_tests"] = {"exit_code": done.returncode, "seconds": round(time.perf_counter() - t, 1),
                             "summary": (done.stdout.strip().splitlines() or [""])[-1]}
    except subprocess.TimeoutExpired:
        out["cuda_tests"] = {"exit_code": None, "seconds": round(time.perf_counter() - t, 1), "summary": "timed out after 240 s"}
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


def _default_plan(device: torch.device, out: dict) -> None:
    """The plan the default launcher makes here (as run_all and the notebooks do: device None)
    for the gpu preset, against the plan for this GPU's cost sheet by name."""
    runs = [r for s in SECTIONS for r in s.runs("gpu")]
    with tempfile.TemporaryDirectory() as tmp:
        default = scheduler.plan(runs, tmp, None)
        sheet = cost.sheet(device)
        named = scheduler.plan(runs, tmp, sheet.name) if sheet else default
    sizes = lambda plan: {k: [len(j) for j in plan.jobs].count(k) for k in sorted({len(j) for j in plan.jobs}, reverse=True)}  # noqa: E731
    out["checks"]["default plan (gpu preset)"] = {
        "device": default.device, "sheet": sheet.name if sheet else None, "jobs": len(default), "stack sizes": sizes(default),
        "estimated hours": round(sum(default.seconds) / 3600, 2), "named sheet's hours": round(sum(named.seconds) / 3600, 2),
        "ok": sizes(default) == sizes(named) and (sheet is None or max(sizes(default)) > 1)}
    print(f"default plan: {out['checks']['default plan (gpu preset)']}", flush=True)


def check_runs(cuda: bool, K: int = 2):
    """K runs that stack: the gpu preset's at N = 16 on a GPU, smoke-sized on a CPU."""
    base = preset("gpu", N=16).replace(train={"warmup": 5}) if cuda else preset("smoke").replace(train={"batch_size": 8}, diffusion={"sample_steps": 5})
    return [base.replace(train={"seed": k, "checkpoint_every": 10}) for k in range(K)]


def train_check_stack(folder: str, steps: int, cuda: bool) -> None:
    """In a fresh process (`_stopped_and_resumed`): the check runs trained (or resumed) to `steps`
    as one stack, compiled on a GPU, stopping between steps on SIGTERM."""
    stop_on_signals()
    init_process()
    trainers = [Trainer(r, out_dir=Path(folder) / r.hash(), device="cuda" if cuda else "cpu") for r in check_runs(cuda)]
    StackedTrainer(trainers, compile=cuda).fit(until=steps, progress=False, checkpoint_every=10)


def _stopped_and_resumed(cuda: bool, folder: Path, out: dict, steps: int = 60) -> None:
    """A compiled stack stopped by SIGTERM mid-run and resumed ends where an uninterrupted one ends
    (deterministic mode, each part in a fresh process, as a requeued task would be)."""
    code = "import sys; from paperlib.bench.gpucheck import train_check_stack; train_check_stack(sys.argv[1], int(sys.argv[2]), sys.argv[3] == '1')"
    env = {**os.environ, DETERMINISTIC_VARIABLE: "1"}
    command = lambda where: [sys.executable, "-c", code, str(folder / where), str(steps), "1" if cuda else "0"]  # noqa: E731
    straight = subprocess.run(command("straight"), env=env, capture_output=True, text=True, timeout=600)
    proc = subprocess.Popen(command("stopped"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    logs = [RunFolder(folder / "stopped" / r.hash()) for r in check_runs(cuda)]
    deadline = time.time() + 300
    while not any(f.last_logged_step() >= 20 for f in logs) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    stopped_at = max(torch.load(f.path / CHECKPOINT, weights_only=True)["step"] for f in logs)
    resumed = subprocess.run(command("stopped"), env=env, capture_output=True, text=True, timeout=600)
    differences = []
    for r in check_runs(cuda):
        a, b = (torch.load(folder / where / r.hash() / CHECKPOINT, weights_only=True)["model"] for where in ("straight", "stopped"))
        differences.append(max(float((a[k].float() - b[k].float()).abs().max()) for k in a))
    out["checks"]["compiled stack stopped by SIGTERM and resumed"] = {
        "exit codes": [straight.returncode, proc.returncode, resumed.returncode], "stopped at step": stopped_at, "steps": steps,
        "largest weight difference against uninterrupted": max(differences),
        "ok": straight.returncode == 0 and resumed.returncode == 0 and proc.returncode == 128 + signal.SIGTERM
        and 0 < stopped_at < steps and max(differences) == 0.0,
        **({"stderr": (err or resumed.stderr or straight.stderr)[-500:]} if resumed.returncode or straight.returncode else {})}
    print(f"stop and resume: {out['checks']['compiled stack stopped by SIGTERM and resumed']}", flush=True)


def _deterministic_workers(cuda: bool, folder: Path, out: dict) -> None:
    """--deterministic through two workers: the same two runs trained twice by `train_all` in two
    worker processes each give the same weights bit for bit."""
    runs = [r.replace(train={"steps": 30}) for r in check_runs(cuda)]
    before = os.environ.get(DETERMINISTIC_VARIABLE)
    os.environ[DETERMINISTIC_VARIABLE] = "1"  # as `run_all --deterministic` sets it for the processes it starts
    try:
        for where in ("a", "b"):
            scheduler.train_all(runs, folder / where, workers=2, progress=False, devices=["cuda:0", "cuda:0"] if cuda else None)
    finally:
        if before is None:
            os.environ.pop(DETERMINISTIC_VARIABLE)
    same = all(all(torch.equal(v, b[k]) for k, v in a.items())
               for a, b in ((load_weights(folder / "a", r), load_weights(folder / "b", r)) for r in runs))
    out["checks"]["--deterministic through two workers"] = {"runs": len(runs), "bit for bit": same, "ok": same}
    print(f"deterministic workers: {out['checks']['--deterministic through two workers']}", flush=True)


def load_weights(root: Path, run) -> dict:
    return load_model(run, root).state_dict()


def _fp16_stack(cuda: bool, folder: Path, out: dict) -> None:
    """--precision fp16 with runs that would stack: the plan trains them alone, and a job of two
    handed to a worker anyway trains them one after the other instead of refusing."""
    runs = [r.replace(train={"steps": 10}) for r in check_runs(cuda)]
    planned = scheduler.plan(runs, folder, None, precision="fp16")
    error = None
    try:
        scheduler.run_job(runs, folder, device="cuda" if cuda else "cpu", precision="fp16")
    except Exception as e:  # noqa: BLE001  (recorded as the check's failure)
        error = f"{type(e).__name__}: {e}"
    out["checks"]["fp16 with a planned stack"] = {"planned job sizes": [len(j) for j in planned.jobs], "error": error,
                                                  "ok": error is None and all(len(j) == 1 for j in planned.jobs)}
    print(f"fp16: {out['checks']['fp16 with a planned stack']}", flush=True)


def _bf16_sampling(trainer: Trainer, out: dict) -> None:
    """The largest difference between the images one model samples under bf16 autocast and fp32."""
    labels = eval_labels(trainer.run.data.N)[:64]
    run = trainer.run
    low = evaluate(trainer.ema, trainer.schedule, run.data, run.diffusion.sample_steps, 0, labels=labels, precision="bf16")
    full = evaluate(trainer.ema, trainer.schedule, run.data, run.diffusion.sample_steps, 0, labels=labels, precision="fp32")
    diff = float(np.abs(low.images.astype(np.float32) - full.images.astype(np.float32)).max())
    out["checks"]["bf16 against fp32 sampling"] = {"labels": len(labels), "largest image difference (0..255)": round(diff, 2),
                                                   "finite": bool(np.isfinite(low.images.astype(np.float32)).all()), "ok": bool(np.isfinite(diff))}
    print(f"bf16 sampling: {out['checks']['bf16 against fp32 sampling']}", flush=True)


def _checked(name: str, out: dict, check, *args) -> None:
    """Run one check; a failure is recorded under its name and the others go on."""
    try:
        check(*args)
    except Exception as error:  # noqa: BLE001  (the command must end with its JSON line)
        out["checks"][name] = {"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()[-1500:], "ok": False}
        print(f"{name}: FAILED {type(error).__name__}: {error}", flush=True)


def bench_gpu_check(args) -> dict:
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    init_process()
    out = {"bench": "gpu-check", "device": cost.device_name(device), "precision": precision_name(device), "skipped": {}, "checks": {}}
    start = time.perf_counter()
    if cuda:
        _cuda_tests(out)
    else:
        out["skipped"]["cuda tests"] = "no CUDA device: the CUDA-marked tests skip themselves here"
        out["skipped"]["kernels per step, CUDA sync debug mode, compile"] = "no CUDA device"
        out["skipped"]["throughput table"] = "measured on smoke-sized runs: not saved"
    run = preset("gpu", N=32) if cuda else preset("smoke").replace(train={"batch_size": 8}, diffusion={"sample_steps": 5})
    rates, eval_s, trainers = {}, None, []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _checked("stacked training", out, lambda: trainers.extend(_stacked_training(run, 4, 200 if cuda else 20, device, tmp / "stack", out)))
        if trainers:
            _checked("stacked evaluation", out, lambda: out.update(eval_seconds=_stacked_evaluation(trainers, out)))
            _checked("bf16 against fp32 sampling", out, _bf16_sampling, trainers[0], out)
        _checked("fp32 checkpoint resumed in fp16", out, _fp16_resume, run, device, tmp / "fp16", out)
        _checked("host traffic of a stacked step", out, lambda: _traffic(
            StackedTrainer([Trainer(run.replace(train={"seed": k}), device=str(device)) for k in range(4)]), device, out))
        _checked("stacking", out, lambda: rates.update(_speed(run, device, cuda, out)))
        _checked("default plan (gpu preset)", out, _default_plan, device, out)
        _checked("compiled stack stopped by SIGTERM and resumed", out, _stopped_and_resumed, cuda, tmp / "stop", out)
        _checked("--deterministic through two workers", out, _deterministic_workers, cuda, tmp / "workers", out)
        _checked("fp16 with a planned stack", out, _fp16_stack, cuda, tmp / "fp16-stack", out)
    eval_s = out.pop("eval_seconds", None)
    if cuda and rates and eval_s:
        out["saved"] = str(cost.save_table(out["device"], throughput_table({run.data.N: rates}, {run.data.N: eval_s}, "gpu")))
    out["seconds"] = round(time.perf_counter() - start, 1)
    out["ok"] = all(c.get("ok", True) for c in out["checks"].values()) and out.get("cuda_tests", {}).get("exit_code", 0) == 0
    return out
