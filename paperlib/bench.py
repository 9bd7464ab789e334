"""Benchmarks: `python -m paperlib.bench NAME [options]`. Each prints its figures as it goes and
ends with one line holding a JSON object of them.

  train               train a preset's bump model, report steps, images/s, minutes, accuracy
  time-to-accuracy    accuracy of the EMA model at fixed wall-clock intervals (issue: time to
                      accuracy); --baseline runs the plain recipe in the same process after it
  torus-geometry      train the fast and the plain recipe on the periodic (torus) bump set side
                      by side, then the geometry summary of each one's layer-4 representation
  workers             train the same small models one after another in this process, then in
                      parallel single-threaded workers (`store.train_all`), and compare wall times
  stacked             training images/s per model for stacks of K = 1..16 runs at N = 8, 16, 32
                      (two single-threaded workers, as `run_all.py` trains), the fraction of the
                      CPU's peak FLOP/s, evaluation seconds; saves the throughput table that
                      `store.train_all` and `run_all.py` use (`paperlib.cost`)
  gpu                 the throughput table of the machine's accelerator (the CPU where there is
                      none): images/s and fraction of peak for the `paper` model and for stacks of
                      `gpu`-preset models, per precision (fp32 / bf16 / fp16) and with torch.compile
                      on and off; saved for `run_all.py`'s estimates
  geometry            the one-call geometry summary of 1024 points in 256 dimensions
  percolation         the full Fig. 6(c) sweep (5 sigmas, 10 lambdas, 5 seeds)
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from .config import DataConfig, DiffusionConfig, ModelConfig, RunConfig, TrainConfig, preset


def _emit(figures: dict) -> None:
    print(json.dumps(figures, sort_keys=True))


def plain_recipe(N: int = 32, sigma: float = 1.0) -> RunConfig:
    """The plain dome272-style recipe measured in the issue: width 8 UNet without attention,
    sinusoidal encodings with base 10000, batch 32, AdamW 1e-3, EMA 0.999."""
    return RunConfig(
        data=DataConfig(N=N, sigma_x=sigma, sigma_y=sigma, d_x=1.0, d_y=1.0),
        model=ModelConfig(width=8, attention=(False, False, False), bottleneck_mult=4, enc_dim=32, label_encoding="transformer"),
        diffusion=DiffusionConfig(sample_steps=50),
        train=TrainConfig(steps=1_000_000, batch_size=32, lr=1e-3, warmup=100, schedule="constant", ema=0.999),
    )


def _curve(run: RunConfig, minutes: float, every: float, n_eval: int, seed: int, label: str, threads: int = 0) -> dict:
    """Train for `minutes` of training time, evaluating the EMA model every `every` minutes on
    `n_eval` of the evaluation labels, and at the end on all of them (N x N, 1024 for N = 32).
    Evaluation time is not counted as training time."""
    from .data import eval_labels
    from .evaluate import evaluate
    from .train import Trainer

    if threads:
        torch.set_num_threads(threads)
    trainer = Trainer(run)
    every_label = eval_labels(run.data.N)
    subset = every_label
    if n_eval < len(every_label):
        subset = every_label[np.sort(np.random.default_rng(seed).choice(len(every_label), n_eval, replace=False))]
    points, next_eval, deadline = [], every * 60, minutes * 60
    print(f"[{label}] run {run.hash()}: {minutes} min of training, threads={torch.get_num_threads()}, "
          f"evaluating every {every} min on {len(subset)} labels, at the end on {len(every_label)}", flush=True)

    def record(labels):
        t = time.perf_counter()
        ev = evaluate(trainer.ema, trainer.schedule, run.data, steps=run.diffusion.sample_steps, labels=labels)
        point = {"minutes": round(trainer.elapsed / 60, 2), "steps": trainer.step,
                 "images_per_s": round(trainer.step * run.train.batch_size / trainer.elapsed, 1),
                 "eval_labels": len(labels), "accuracy": ev.accuracy, "loss": round(trainer.last_loss, 5),
                 "eval_s": round(time.perf_counter() - t, 1)}
        points.append(point)
        print(f"[{label}] " + " ".join(f"{k}={v}" for k, v in point.items()), flush=True)

    while trainer.elapsed < deadline and trainer.step < run.train.steps:
        trainer.fit(progress=False, deadline=min(next_eval, deadline))
        if trainer.elapsed < deadline and trainer.step < run.train.steps:
            next_eval += every * 60
            record(subset)
    record(every_label)
    return {"run": run.hash(), "threads": torch.get_num_threads(), "curve": points}


LEVELS = (0.1, 0.5, 0.8, 0.95)


def _time_to(curve: list[dict], level: float) -> float | None:
    return next((p["minutes"] for p in curve if p["accuracy"] >= level), None)


def bench_train(args) -> dict:
    from .evaluate import evaluate
    from .train import Trainer

    run = preset(args.preset)
    if args.steps:
        run = run.replace(train={"steps": args.steps})
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"preset {args.preset}: N={run.data.N}, sigma={run.data.sigma_x}, d={run.data.d_x}, "
          f"{run.train.steps} steps of batch {run.train.batch_size}, threads={torch.get_num_threads()}", flush=True)
    trainer = Trainer(run).fit(progress=not args.quiet)
    t = time.perf_counter()
    ev = evaluate(trainer.ema, trainer.schedule, run.data, steps=run.diffusion.sample_steps)
    return {
        "bench": "train", "preset": args.preset, "run": run.hash(), "N": run.data.N, "sigma": run.data.sigma_x,
        "steps": trainer.step, "images_per_s": round(trainer.step * run.train.batch_size / trainer.elapsed, 1),
        "train_minutes": round(trainer.elapsed / 60, 2), "accuracy": ev.accuracy,
        "accuracy_x": ev.scores["all"]["x"], "accuracy_y": ev.scores["all"]["y"],
        "eval_labels": len(ev.labels), "eval_seconds": round(time.perf_counter() - t, 1), "threads": torch.get_num_threads(),
    }


def bench_time_to_accuracy(args) -> dict:
    """The fast recipe (the `laptop` preset) on N=32, sigma=1; with --baseline the plain recipe
    runs side by side in a second process, each on one thread, so both see the same machine."""
    fast = preset("laptop", sigma_x=args.sigma, sigma_y=args.sigma)
    runs = {"fast": fast}
    if args.baseline:
        runs["plain"] = plain_recipe(32, args.sigma)
    minutes = {"fast": args.minutes, "plain": args.baseline_minutes or args.minutes}
    jobs = {name: (run, minutes[name], args.every, args.eval_labels, args.seed, name, args.threads or (1 if args.baseline else 0))
            for name, run in runs.items()}
    if args.baseline:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(len(jobs), mp_context=get_context("spawn")) as pool:
            futures = {name: pool.submit(_curve, *job) for name, job in jobs.items()}
            results = {name: f.result() for name, f in futures.items()}
    else:
        results = {name: _curve(*job) for name, job in jobs.items()}
    out = {"bench": "time-to-accuracy", "N": 32, "sigma": args.sigma, "minutes": minutes}
    for name, result in results.items():
        curve = result["curve"]
        out[name] = result
        out[f"{name}_final_accuracy_1024"] = curve[-1]["accuracy"]
        out[f"{name}_final_steps"] = curve[-1]["steps"]
        for level in LEVELS:
            out[f"{name}_minutes_to_{int(level * 100)}"] = _time_to(curve, level)
    if args.baseline:
        common = [lv for lv in LEVELS if out[f"fast_minutes_to_{int(lv * 100)}"] and out[f"plain_minutes_to_{int(lv * 100)}"]]
        for lv in common:
            key = int(lv * 100)
            out[f"speedup_to_{key}"] = round(out[f"plain_minutes_to_{key}"] / out[f"fast_minutes_to_{key}"], 2)
        ratios = ", ".join(f"{int(lv * 100)}%: {out[f'speedup_to_{int(lv * 100)}']}" for lv in common)
        print("time-to-accuracy ratios (plain / fast): " + (ratios or "no level reached by both"), flush=True)
    return out


def _torus_summary(run: RunConfig, minutes: float, label: str) -> dict:
    """Train `run` for `minutes` (one thread), then accuracy and the geometry summary of its
    layer-4 activations at the last denoising step for the N x N labels (section 3.1)."""
    from . import geometry as G
    from .evaluate import evaluate
    from .train import Trainer

    torch.set_num_threads(1)
    trainer = Trainer(run).fit(progress=False, deadline=minutes * 60)
    ev = evaluate(trainer.ema, trainer.schedule, run.data, steps=run.diffusion.sample_steps, layers=("layer4",))
    t = time.perf_counter()
    summary = G.summarize(ev.activations["layer4"], ev.labels)
    out = {"run": run.hash(), "steps": trainer.step, "train_minutes": round(trainer.elapsed / 60, 2), "accuracy": ev.accuracy,
           "layer4_dims": int(ev.activations["layer4"].shape[1]), "summary_seconds": round(time.perf_counter() - t, 1),
           **{k: v for k, v in summary.items() if k != "distances"}, "distances": summary["distances"]}
    print(f"[{label}] steps={out['steps']} accuracy={out['accuracy']:.3f} PR={out['participation_ratio']:.2f} "
          f"top4={out['explained_variance_top4']:.3f} betti={out['betti']} W3D={out['wasserstein_torus3d']:.3f} "
          f"WClifford={out['wasserstein_clifford']:.3f}", flush=True)
    return out


def bench_torus_geometry(args) -> dict:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    runs = {"fast": preset("laptop", periodic=True), "plain": plain_recipe(32).replace(data={"periodic": True})}
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        futures = {name: pool.submit(_torus_summary, run, args.minutes, name) for name, run in runs.items()}
        results = {name: f.result() for name, f in futures.items()}
    return {"bench": "torus-geometry", "minutes": args.minutes, **results}


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
    from .stack import StackedTrainer
    from .train import Trainer

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
    from .data import eval_labels
    from .evaluate import generate
    from .train import Trainer

    torch.set_num_threads(1)
    trainer = Trainer(preset(preset_name, N=N))
    t = time.perf_counter()
    generate(trainer.ema, trainer.schedule, eval_labels(N)[:labels], trainer.run.diffusion.sample_steps)
    return (time.perf_counter() - t) * N * N / labels


def bench_stacked(args) -> dict:
    """Stacks of K runs in `--workers` one-thread worker processes (as `store.train_all` runs
    them), K = 1 being the separate single-thread workers; images/s per worker (a stack's K models
    together), per model and per machine. The table saved keeps the per-worker rates (eager: what
    `store.train_all` runs). With `--compile` each measurement is repeated under torch.compile
    (about 100 s of compiling per stack shape on this CPU) and the ratio reported."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from . import cost

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
    table = {k: out[k] for k in ("train_images_per_s", "flops_per_image", "eval_seconds")}
    table["eval_sample_steps"] = preset(args.preset).diffusion.sample_steps
    out["saved"] = str(cost.save_table(out["device"], table))
    if args.ship:
        from .files import atomic_write_json

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


def bench_gpu(args) -> dict:
    """One prepared run for a lent GPU (on a CPU it measures the CPU, briefly): the `paper` model
    per precision and compile setting, stacks of `gpu`-preset models, evaluation seconds."""
    from . import cost
    from .data import eval_labels
    from .device import PRECISIONS, autocast_dtype, enable_tf32, pick_device
    from .evaluate import generate
    from .stack import StackedTrainer
    from .train import Trainer

    device = pick_device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        enable_tf32()
    name = cost.device_name(device)
    precisions = ["fp32"] + (["bf16", "fp16"] if cuda else [])
    out = {"bench": "gpu", "device": name, "native": str(autocast_dtype(device)), "peak_flops": {}, "paper": {}, "stacks": {},
           "stacks_compiled": {}, "eval_seconds": {}}
    for p in precisions:
        out["peak_flops"][p] = _matmul_peak(device, PRECISIONS[p] or torch.float32)
        print(f"{name}: matmul peak {p} {out['peak_flops'][p] / 1e12:.1f} TFLOP/s", flush=True)
    paper_run = preset("paper")
    flops = cost.train_flops_per_image(paper_run)
    steps = args.steps if cuda else 2
    for p in precisions:
        for compiled in ([False, True] if args.compile else [False]):
            trainer = Trainer(paper_run.replace(train={"batch_size": args.paper_batch if cuda else 8}), device=str(device), precision=p, compile=compiled)
            rate = steps * trainer.run.train.batch_size / _timed_fit(trainer, steps, 3 if cuda else 1, device)
            key = f"{p}{' compiled' if compiled else ''}"
            out["paper"][key] = {"images_per_s": round(rate, 1), "fraction_of_peak": round(rate * flops / out["peak_flops"][p], 3)}
            print(f"paper model, {key}: {rate:.1f} images/s, {rate * flops / out['peak_flops'][p]:.1%} of the {p} peak", flush=True)
    native = next(k for k, v in PRECISIONS.items() if v == autocast_dtype(device))
    small = {}
    for N in args.sizes:
        run = preset("gpu", N=N)
        per_image = cost.train_flops_per_image(run)
        small[str(N)] = {}
        for K in (args.stacks if cuda else [1, 2]):
            for compiled in ([False, True] if args.compile else [False]):
                trainers = [Trainer(run.replace(train={"seed": k}), device=str(device), compile=compiled and K == 1) for k in range(K)]
                engine = trainers[0] if K == 1 else StackedTrainer(trainers, compile=compiled)
                rate = steps * K * run.train.batch_size / _timed_fit(engine, steps, 3 if cuda else 1, device)
                if compiled:
                    out["stacks_compiled"].setdefault(str(N), {})[str(K)] = round(rate / K, 1)
                else:
                    small[str(N)][str(K)] = round(rate / K, 1)
                print(f"gpu preset N={N} K={K}{' compiled' if compiled else ''}: {rate:.0f} images/s ({rate / K:.0f} per model), "
                      f"{rate * per_image / out['peak_flops'][native]:.1%} of the {native} peak", flush=True)
        trainer = Trainer(run, device=str(device))
        labels = eval_labels(N) if cuda else eval_labels(N)[:64]
        t = time.perf_counter()
        generate(trainer.ema, trainer.schedule, labels, run.diffusion.sample_steps)
        out["eval_seconds"][str(N)] = round((time.perf_counter() - t) * N * N / len(labels), 2)
    out["stacks"] = small
    table = {"train_images_per_s": small, "eval_seconds": out["eval_seconds"], "eval_sample_steps": preset("gpu").diffusion.sample_steps,
             "flops_per_image": {str(N): cost.train_flops_per_image(preset("gpu", N=N)) for N in args.sizes},
             "paper_images_per_s": out["paper"][native]["images_per_s"]}
    if cuda:
        out["saved"] = str(cost.save_table(name, table))
    return out


def bench_geometry(args) -> dict:
    from . import geometry as G

    n = 32
    X = G.embed(G.clifford_torus(n, n), 256, noise=0.01, seed=args.seed)
    gx, gy = np.meshgrid(np.arange(1, n + 1), np.arange(1, n + 1))
    labels = np.stack([gx.ravel(), gy.ravel()], 1).astype(float)
    t = time.perf_counter()
    summary = G.summarize(X, labels)
    summary_s = time.perf_counter() - t
    print(f"summary of 1024 points in 256 dims: {summary_s:.2f} s; PR={summary['participation_ratio']:.3f} "
          f"betti={summary['betti']} W(3D)={summary['wasserstein_torus3d']:.3f} W(Clifford)={summary['wasserstein_clifford']:.3f}", flush=True)
    t = time.perf_counter()
    G.umap_embed(X[:64], 3, seed=0)
    jit_s = time.perf_counter() - t
    t = time.perf_counter()
    G.umap_embed(X, 3, seed=0)
    umap_s = time.perf_counter() - t
    print(f"UMAP to 3D: first call (numba compile) {jit_s:.1f} s, then 1024 points {umap_s:.1f} s", flush=True)
    return {"bench": "geometry", "points": 1024, "dims": 256, "summary_seconds": round(summary_s, 2),
            "participation_ratio": round(summary["participation_ratio"], 3), "betti": summary["betti"],
            "wasserstein_torus3d": round(summary["wasserstein_torus3d"], 4), "wasserstein_clifford": round(summary["wasserstein_clifford"], 4),
            "umap_first_call_seconds": round(jit_s, 1), "umap_seconds": round(umap_s, 1)}


def bench_percolation(args) -> dict:
    from . import percolation as P

    sigmas = [0.1, 0.3, 0.5, 1.0, 2.0]
    fractions = np.round(np.arange(0.1, 1.01, 0.1), 2)
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        result = P.simulate(sigmas, fractions, [0.005], seeds=range(5))
        times.append(time.perf_counter() - t)
    mean = result.mean()[:, :, 0]
    for s, row in zip(sigmas, mean):
        print(f"sigma={s}: " + " ".join(f"{v:.3f}" for v in row), flush=True)
    crit = result.critical_fraction()[:, 0]
    return {"bench": "percolation", "sigmas": sigmas, "fractions": fractions.tolist(), "threshold": 0.005, "seeds": 5,
            "seconds_median": round(float(np.median(times)), 3), "seconds_all": [round(t, 3) for t in times],
            "critical_fraction": [None if np.isnan(c) else float(c) for c in crit],
            "mass_ratio": np.round(mean, 4).tolist()}


def bench_workers(args) -> dict:
    """Wall time of `store.train_all` on the same runs with 1 process (all threads) and with
    `--workers` single-threaded processes; each in a fresh temporary cache."""
    import tempfile

    from .store import train_all

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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m paperlib.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="name", required=True)
    p = sub.add_parser("train")
    p.add_argument("--preset", default="laptop", choices=["smoke", "laptop", "paper"])
    p.add_argument("--steps", type=int, default=0, help="override the preset's steps")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p = sub.add_parser("time-to-accuracy")
    p.add_argument("--minutes", type=float, default=10.0, help="training minutes per recipe")
    p.add_argument("--every", type=float, default=1.0, help="minutes of training between evaluations")
    p.add_argument("--eval-labels", type=int, default=256, help="labels per intermediate evaluation (the last uses all)")
    p.add_argument("--sigma", type=float, default=1.0)
    p.add_argument("--baseline", action="store_true", help="also run the plain recipe, for the ratio")
    p.add_argument("--baseline-minutes", type=float, default=0.0, help="train the plain recipe longer (default: --minutes)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("torus-geometry")
    p.add_argument("--minutes", type=float, default=10.0, help="training minutes per recipe")
    p = sub.add_parser("workers")
    p.add_argument("--preset", default="laptop", choices=["smoke", "laptop", "paper"])
    p.add_argument("--models", type=int, default=4)
    p.add_argument("--N", type=int, default=16)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--workers", type=int, default=2)
    p = sub.add_parser("stacked")
    p.add_argument("--preset", default="laptop", choices=["smoke", "laptop", "paper"])
    p.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--stacks", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--workers", type=int, default=2, help="one-thread worker processes (as run_all.py uses)")
    p.add_argument("--images", type=float, default=6000, help="training images per model and measurement")
    p.add_argument("--max-pixels", type=int, default=8 * 32 * 32, help="skip stacks with K * N^2 above this")
    p.add_argument("--ship", action="store_true", help="also write the table shipped with the package")
    p.add_argument("--compile", action="store_true", help="also measure each stack under torch.compile (minutes of compiling)")
    p = sub.add_parser("gpu")
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement (2 on a CPU)")
    p.add_argument("--paper-batch", type=int, default=128)
    p.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--stacks", type=int, nargs="+", default=[1, 4, 16, 64])
    p.add_argument("--compile", action="store_true", help="also measure with torch.compile (minutes of compiling)")
    p = sub.add_parser("geometry")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("percolation")
    p.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    bench = {"train": bench_train, "time-to-accuracy": bench_time_to_accuracy, "torus-geometry": bench_torus_geometry,
             "workers": bench_workers, "stacked": bench_stacked, "gpu": bench_gpu, "geometry": bench_geometry, "percolation": bench_percolation}[args.name]
    figures = bench(args)
    sys.stdout.flush()
    _emit(figures)


if __name__ == "__main__":
    main()
