"""Throughput benchmarks: stacks of K runs in one-thread workers on a CPU, parallel workers,
and the throughput table of a GPU. Each saves what `paperlib.cost` reads."""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import torch

from .. import cost
from ..config import PRESETS, preset
from ..data import eval_labels
from ..device import PRECISIONS, enable_tf32, pick_device, precision_name
from ..evaluate import generate, sample_bytes
from ..experiments import SECTIONS
from ..files import atomic_write_json
from ..model import UNet
from ..scheduler import train_all
from ..stack import StackedTrainer
from ..train import Trainer


def _peak_gflops(seconds: float = 2.0) -> float:
    """This process's fp32 matmul rate (GFLOP/s, 1024 x 1024 sgemm): the CPU's practical peak."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        a @ b
        n += 1
    return 2 * 1024**3 * n / (time.perf_counter() - t) / 1e9


def _stack_rate(preset_name: str, N: int, K: int, steps: int, warmup: int = 5, compile: bool = False) -> dict:
    """In a one-thread worker: training images/s per model of K laptop runs (data differing by
    sigma and seed) trained as one stack (K = 1: a plain Trainer), optionally under
    torch.compile (compiled during the warm-up steps, not timed), and this worker's peak."""
    torch.set_num_threads(1)
    runs = [preset(preset_name, N=N, sigma_x=s, sigma_y=s).replace(train={"seed": i}) for i, s in enumerate(np.linspace(0.8, 1.2, K))]
    trainers = [Trainer(r, compile=compile and K == 1) for r in runs]
    seconds = _timed_fit(trainers[0] if K == 1 else StackedTrainer(trainers, compile=compile), steps, warmup)
    return {"images_per_s": K * steps * runs[0].train.batch_size / seconds, "peak_gflops": _peak_gflops(1.0)}


def _timed_fit(engine, steps: int, warmup: int, device: torch.device | None = None) -> float:
    """Seconds of `steps` training steps of a Trainer or StackedTrainer (`fit`), after `warmup`."""
    engine.fit(until=engine.step + warmup, progress=False)
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    engine.fit(until=engine.step + steps, progress=False)
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def _eval_seconds(preset_name: str, N: int, labels: int = 256) -> float:
    """Seconds for one model's standard evaluation (N x N labels, DDIM-50), from `labels` of them."""
    torch.set_num_threads(1)
    trainer = Trainer(preset(preset_name, N=N))
    t = time.perf_counter()
    generate(trainer.ema, trainer.schedule, eval_labels(N)[:labels], trainer.run.diffusion.sample_steps)
    return (time.perf_counter() - t) * N * N / labels


def bench_stacked(args) -> dict:
    """Stacks of K runs in `--workers` one-thread worker processes (as `scheduler.train_all` runs
    them), K = 1 being the separate single-thread workers; images/s per worker (a stack's K models
    together), per model and per machine. The table saved keeps the per-worker rates (eager: what
    `scheduler.train_all` runs). With `--compile` each measurement is repeated under torch.compile
    (about 100 s of compiling per stack shape on this CPU) and the ratio reported."""
    out = {"bench": "stacked", "preset": args.preset, "workers": args.workers, "device": cost.device_name("cpu"),
           "train_images_per_s": {}, "fraction_of_peak": {}, "speedup": {}, "flops_per_image": {}, "eval_seconds": {}}
    if args.compile:
        out["compiled_over_eager"] = {}
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        peak = sum(pool.map(_peak_gflops, [2.0] * args.workers))
        out["peak_gflops"] = round(peak, 1)
        print(f"peak: {peak:.1f} GFLOP/s over {args.workers} one-thread workers (1024^2 sgemm)", flush=True)
        for N in args.sizes:
            flops = cost.train_flops_per_image(preset(args.preset, N=N))
            out["flops_per_image"][str(N)] = flops
            rates = {}
            for K in args.stacks:
                if N * N * K > args.max_pixels:
                    continue
                steps = max(10, int(args.images / (K * 32)))
                results = list(pool.map(_stack_rate, [args.preset] * args.workers, [N] * args.workers, [K] * args.workers, [steps] * args.workers))
                rates[K] = sum(r["images_per_s"] for r in results)
                fraction = rates[K] * flops / 1e9 / peak
                out["fraction_of_peak"].setdefault(str(N), {})[str(K)] = round(fraction, 3)
                print(f"N={N} K={K:2d}: {rates[K] / args.workers:7.0f} images/s per worker ({rates[K] / args.workers / K:5.0f} per model), "
                      f"{rates[K]:7.0f} on the machine, {fraction:.1%} of peak, {rates[K] / rates[1]:.2f}x separate workers", flush=True)
                if args.compile:
                    compiled = sum(r["images_per_s"] for r in pool.map(_stack_rate, *zip(*[(args.preset, N, K, steps, 5, True)] * args.workers)))
                    out["compiled_over_eager"].setdefault(str(N), {})[str(K)] = round(compiled / rates[K], 2)
                    print(f"N={N} K={K:2d} compiled: {compiled / args.workers:7.0f} images/s per worker, {compiled / rates[K]:.2f}x eager", flush=True)
            out["train_images_per_s"][str(N)] = {str(k): round(v / args.workers, 1) for k, v in rates.items()}
            out["speedup"][str(N)] = {str(k): round(v / rates[1], 2) for k, v in rates.items()}
            out["eval_seconds"][str(N)] = round(_eval_seconds(args.preset, N), 1)
            print(f"N={N}: evaluation {out['eval_seconds'][str(N)]} s per model (one thread)", flush=True)
    table = throughput_table({int(N): {int(k): v for k, v in by_k.items()} for N, by_k in out["train_images_per_s"].items()},
                             {int(N): v for N, v in out["eval_seconds"].items()}, args.preset)
    out["saved"] = str(cost.save_table(out["device"], table))
    if args.ship:
        atomic_write_json(cost.SHIPPED, {out["device"]: table})
        out["shipped"] = str(cost.SHIPPED)
    return out


def _matmul_peak(device: torch.device, dtype: torch.dtype, seconds: float = 2.0) -> float:
    """Measured dense matmul rate (FLOP/s) of this device in `dtype`: its practical peak."""
    n = 4096 if device.type == "cuda" else 1024
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    count, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        a @ b
        count += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * count / (time.perf_counter() - t)


def throughput_table(rates: dict[int, dict[int, float]], eval_seconds: dict[int, float], preset_name: str,
                     paper_images_per_s: float | None = None) -> dict:
    """The table `paperlib.cost` reads, from measurements: `rates[N][K]` the images/s of one worker
    training a stack of K runs of `preset_name` at image size N together (the stack's total, the
    same unit on a CPU and a GPU), `eval_seconds[N]` one model's evaluation."""
    table = {"train_images_per_s": {str(N): {str(K): round(v, 1) for K, v in sorted(by_k.items())} for N, by_k in rates.items()},
             "eval_seconds": {str(N): round(v, 2) for N, v in eval_seconds.items()},
             "eval_sample_steps": preset(preset_name).diffusion.sample_steps,
             "flops_per_image": {str(N): cost.train_flops_per_image(preset(preset_name, N=N)) for N in rates}}
    if paper_images_per_s:
        table.update(paper_images_per_s=round(paper_images_per_s, 1), paper_flops_per_image=cost.train_flops_per_image(preset("paper")))
    return table


def fits(run, K: int, device: torch.device, share: float = 0.6) -> bool:
    """Whether training a stack of K runs is expected to fit `share` of the GPU's free memory
    (about three times a sampling pass's peak per image, for the saved activations)."""
    if device.type != "cuda":
        return True
    need = 3 * K * run.train.batch_size * sample_bytes(run.model, run.data.N)
    return need < share * torch.cuda.mem_get_info(device)[0]


def guarded(measure, what: str, out: dict):
    """Run one measurement; running out of memory is recorded under `out["skipped"]` and the
    bench goes on with the next one."""
    try:
        return measure()
    except torch.OutOfMemoryError as error:
        out.setdefault("skipped", {})[what] = f"out of memory: {str(error).splitlines()[0]}"
        print(f"{what}: out of memory, skipped", flush=True)
        torch.cuda.empty_cache()
        return None


def bench_gpu(args) -> dict:
    """One prepared run for a lent GPU (on a CPU it measures the CPU, briefly): the `paper` model
    per precision, stacks of `gpu`-preset models as `store` trains them (K > 1 compiled with CUDA
    graphs on a GPU), evaluation seconds. Each measurement is guarded against running out of
    memory and skipped where the memory budget says it cannot fit; the table is saved after every
    image size, so an interrupted bench keeps what it measured."""
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        enable_tf32()
    name = cost.device_name(device)
    native = precision_name(device)
    precisions = ["fp32", "bf16", "fp16"] if cuda else ["fp32"]
    out = {"bench": "gpu", "device": name, "precision": native, "peak_flops": {}, "paper": {}, "stacks": {}, "eval_seconds": {}}
    for p in precisions:
        out["peak_flops"][p] = _matmul_peak(device, PRECISIONS[p] or torch.float32)
        print(f"{name}: matmul peak {p} {out['peak_flops'][p] / 1e12:.1f} TFLOP/s", flush=True)
    paper_run = preset("paper").replace(train={"batch_size": args.paper_batch if cuda else 8})
    flops = cost.train_flops_per_image(paper_run)
    steps = args.steps if cuda else 2
    for p in precisions:
        def measure_paper(p=p):
            trainer = Trainer(paper_run, device=str(device), precision=p)
            return steps * paper_run.train.batch_size / _timed_fit(trainer, steps, 3 if cuda else 1, device)
        rate = guarded(measure_paper, f"paper model {p}", out) if fits(paper_run, 1, device) else None
        if rate:
            out["paper"][p] = {"images_per_s": round(rate, 1), "fraction_of_peak": round(rate * flops / out["peak_flops"][p], 3)}
            print(f"paper model, {p}: {rate:.1f} images/s, {rate * flops / out['peak_flops'][p]:.1%} of the {p} peak", flush=True)
    rates: dict[int, dict[int, float]] = {}
    for N in args.sizes:
        run = preset("gpu", N=N)
        rates[N] = {}
        for K in (args.stacks if cuda else [1, 2]):
            if not fits(run, K, device):
                out.setdefault("skipped", {})[f"N={N} K={K}"] = "over the memory budget"
                continue

            def measure_stack(K=K):
                trainers = [Trainer(run.replace(train={"seed": k}), device=str(device)) for k in range(K)]
                engine = trainers[0] if K == 1 else StackedTrainer(trainers, compile=cuda)
                return steps * K * run.train.batch_size / _timed_fit(engine, steps, 5 if cuda else 1, device)
            rate = guarded(measure_stack, f"N={N} K={K}", out)
            if rate:
                rates[N][K] = rate
                print(f"gpu preset N={N} K={K}: {rate:.0f} images/s ({rate / K:.0f} per model)", flush=True)
        trainer = Trainer(run, device=str(device))
        labels = eval_labels(N) if cuda else eval_labels(N)[:64]
        t = time.perf_counter()
        generate(trainer.ema, trainer.schedule, labels, run.diffusion.sample_steps)
        out["eval_seconds"][str(N)] = round((time.perf_counter() - t) * N * N / len(labels), 2)
        out["stacks"][str(N)] = {str(k): round(v, 1) for k, v in rates[N].items()}
        table = throughput_table(rates, {n: out["eval_seconds"][str(n)] for n in rates}, "gpu", out["paper"].get(native, {}).get("images_per_s"))
        if cuda:
            out["saved"] = str(cost.save_table(name, table))
    return out


def bench_workers(args) -> dict:
    """Wall time of `scheduler.train_all` on the same runs with 1 process (all threads) and with
    `--workers` single-threaded processes; each in a fresh temporary cache."""

    runs = [preset(args.preset, N=args.N, sigma_x=s, sigma_y=s).replace(train={"steps": args.steps})
            for s in np.linspace(0.8, 1.2, args.models)]
    out = {"bench": "workers", "models": args.models, "N": args.N, "steps": args.steps, "preset": args.preset, "workers": args.workers}
    for name, workers in (("sequential", 1), ("parallel", args.workers)):
        with tempfile.TemporaryDirectory() as root:
            start = time.perf_counter()
            train_all(runs, root, workers=workers, progress=False)
            out[f"{name}_minutes"] = round((time.perf_counter() - start) / 60, 2)
        print(f"{name}: {args.models} models on {workers} worker(s) in {out[f'{name}_minutes']} min "
              f"(train + evaluate, threads per process: {torch.get_num_threads() if workers == 1 else 1})", flush=True)
    out["speedup"] = round(out["sequential_minutes"] / out["parallel_minutes"], 2)
    return out


def bench_sampling_batch(args) -> dict:
    """Milliseconds per image and network evaluation of the `laptop` UNet sampling on one thread,
    per batch size (medians of `repeats`, interleaved): what `evaluate.CPU_SAMPLING_BYTES` rests on."""
    torch.set_num_threads(1)
    run = preset("laptop")
    model = UNet(run.model, args.N).eval()
    times = {B: [] for B in args.batches}
    with torch.no_grad():
        for _ in range(args.repeats):
            for B in args.batches:
                x, t, labels = torch.randn(B, 1, args.N, args.N), torch.full((B,), 500), torch.rand(B, 2) * args.N
                start, n = time.perf_counter(), 0
                while n < args.images:
                    model(x, t, labels)
                    n += B
                times[B].append((time.perf_counter() - start) / n * 1e3)
    out = {"bench": "sampling-batch", "N": args.N, "ms_per_image": {B: round(float(np.median(v)), 3) for B, v in times.items()},
           "mib_per_batch": {B: round(B * sample_bytes(run.model, args.N) / 2**20, 3) for B in args.batches}}
    for B in args.batches:
        print(f"batch {B:5d} ({out['mib_per_batch'][B]:9.3f} MiB): {out['ms_per_image'][B]:.3f} ms per image", flush=True)
    return out


def preset_networks() -> dict[str, object]:
    """One run per distinct network (`cost.network_key`) that any preset's sections train."""
    return {cost.network_key(r): r for name in PRESETS for s in SECTIONS for r in s.runs(name)}


def bench_step_work(args) -> dict:
    """Count the work of a training step (ops, bytes, FLOPs) of every preset's networks, as the
    cost model reads it; `--ship` writes them to the table the package ships (`cost.SHIPPED_WORK`),
    so that a dry run never builds a network."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    networks = preset_networks()
    out, t = {}, time.perf_counter()
    for key, run in sorted(networks.items(), key=lambda kv: (kv[1].model.width, kv[1].data.N)):
        start = time.perf_counter()
        out[key] = cost.count_step_work(run)
        print(f"{key}: width {run.model.width}, N = {run.data.N}: {out[key]['ops_alone']} ops alone, "
              f"{out[key]['flops_per_image'] / 1e6:.1f} MFLOP per image ({time.perf_counter() - start:.1f} s)", flush=True)
    if args.ship:
        atomic_write_json(cost.SHIPPED_WORK, out)
        print(f"wrote {cost.SHIPPED_WORK}", flush=True)
    return {"bench": "step-work", "networks": len(out), "seconds": round(time.perf_counter() - t, 1), "shipped": bool(args.ship)}
