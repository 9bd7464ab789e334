"""Training benchmarks: a preset's model trained and scored, accuracy against wall-clock time,
and the torus geometry of two recipes side by side."""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import torch

from .. import geometry as G
from .. import scheduler, store
from ..config import DataConfig, DiffusionConfig, ModelConfig, RunConfig, TrainConfig, preset
from ..curves import convergence
from ..data import eval_labels
from ..evaluate import evaluate
from ..experiments import compose_interpolate, factorization, percolation, sample_efficiency
from ..train import Trainer


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

    runs = {"fast": preset("laptop", periodic=True), "plain": plain_recipe(32).replace(data={"periodic": True})}
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        futures = {name: pool.submit(_torus_summary, run, args.minutes, name) for name, run in runs.items()}
        results = {name: f.result() for name, f in futures.items()}
    return {"bench": "torus-geometry", "minutes": args.minutes, **results}


# Recipes compared by `bench recipes`: changes to the laptop preset's diffusion and training.
RECIPES = {
    "laptop": {},
    "min-snr-v": {"diffusion": {"prediction": "v", "loss_weight": "min_snr", "snr_gamma": 5.0}},
    "lognormal-t": {"diffusion": {"timesteps": "lognormal", "t_mean": 0.5, "t_std": 1.2}},
    # App. A.1's conditioning (transformer encodings of the labels added per block; no coordinate
    # features, no FiLM, no canvas frequencies), the fast recipe's objective kept.
    "paper-conditioning": {"model": {"label_encoding": "transformer", "coord_features": False, "conditioning": "bias"}},
    "paper-conditioning-w16": {"model": {"label_encoding": "transformer", "coord_features": False, "conditioning": "bias", "width": 16}},
    "paper-conditioning-eps": {"model": {"label_encoding": "transformer", "coord_features": False, "conditioning": "bias"},
                               "diffusion": {"prediction": "eps", "loss_weight": "uniform"}},
}


def recipe_families() -> dict:
    """The hardest families of the laptop run (issue: trained-out verdicts), and the N = 32 bump."""
    torus = factorization.torus_run("laptop").replace(train={"eval_steps": ()})
    return {"bump N=32": preset("laptop"),
            "sigma 0.1, lambda 0.9, N=16": percolation.run_config("laptop", 0.1, 0.9),
            "sigma 0.3, lambda 0.9, N=16": percolation.run_config("laptop", 0.3, 0.9),
            "bump+stripes lambda 0.05, N=32": sample_efficiency.run_config("laptop", "bump+stripes", 0.05, 32),
            "torus N=32": torus,
            "2D SOS cross, N=16": compose_interpolate.fig4_runs("laptop")["2D"][0]}


def _to_plateau(run_dict: dict, label: str) -> dict:
    """In a one-thread worker: train to the plateau (the run's cap), then the full evaluation."""
    torch.set_num_threads(1)
    run = RunConfig.from_dict(run_dict)
    t = time.perf_counter()
    trainer = Trainer(run, device="cpu").fit(progress=False)
    ev = evaluate(trainer.ema, trainer.schedule, run.data, run.diffusion.sample_steps)
    status = convergence(trainer.curve).status
    out = {"label": label, "steps": trainer.step, "images": trainer.step * run.train.batch_size, "status": status,
           "reached_cap": trainer.step >= run.train.steps, "accuracy": ev.accuracy, "minutes": round((time.perf_counter() - t) / 60, 1),
           "curve": [(e["step"], round(float(np.mean([c == "1" for c in e["readings"]["accuracy"]])), 3)) for e in trainer.curve]}
    print(f"[{label}] {out['steps']} steps ({status}{', cap' if out['reached_cap'] else ''}), accuracy {ev.accuracy:.3f}, "
          f"{out['minutes']} min", flush=True)
    return out


def bench_recipes(args) -> dict:
    """Images to the plateau per family for each recipe, side by side (two one-thread workers):
    every run trains with `until="plateau"` under the same cap and read-out interval, so the
    recipes differ only in what `RECIPES` changes. Images, not seconds, are compared: the machine's
    load does not change them."""
    families = {k: v for k, v in recipe_families().items() if not args.families or any(f in k for f in args.families)}
    recipes = {k: RECIPES[k] for k in args.recipes}
    jobs = {}
    for family, base in families.items():
        cap = args.cap_32 if base.data.N >= 32 else args.cap_16
        for name, change in recipes.items():
            run = base.replace(**change).replace(train={"until": "plateau", "steps": cap, "curve_every": args.every})
            jobs[(family, name)] = run
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = {key: pool.submit(_to_plateau, run.to_dict(), f"{key[0]} / {key[1]}") for key, run in jobs.items()}
        results = {key: f.result() for key, f in futures.items()}
    out = {"bench": "recipes", "recipes": recipes, "every": args.every, "caps": {"16": args.cap_16, "32": args.cap_32}, "families": {}}
    for family in families:
        row = {name: results[(family, name)] for name in recipes}
        base = row[args.recipes[0]]
        for r in row.values():
            r["fewer_images_than_" + args.recipes[0]] = round(base["images"] / r["images"], 2)
        out["families"][family] = row
    return out


TORUS_CAP_32, TORUS_CAP_16 = 12_000, 12_000  # steps; each row trains until its geometry settles within them (`Budget("geometry")`)


def torus_control_runs(seeds: int = 2, scale: str = "laptop") -> dict[str, RunConfig]:
    """Section 3.1's question, one change at a time from a torus model with the paper's conditioning.

    "laptop": from the section's own model (a laptop run's cache has it): width 16; the paper's
    density (d = 0.1, 102,400 images: a step costs the same); the paper's objective (noise
    prediction, uniform weights); longer training (twice the cap, fixed); and the fast recipe (the
    section's control). Width 32 is too dear at N = 32 on this CPU (some 10x the baseline's step),
    so it runs on the N = 16 periodic set, beside the N = 16 baseline. Every row but the
    fixed-length one trains until its geometry settles (`curves.geometry_settled`); the baseline
    with `seeds` seeds, so that a change can be told from the spread between trainings.

    "paper" (a GPU): from the `paper` preset's model (width 64, d = 0.1, 200 epochs, App. A.1), one
    change at a time toward the laptop's: width 8, d = 1, v-prediction with min-SNR-5 weights."""
    if scale == "paper":
        base = factorization.torus_run("paper")
        laptop = factorization.torus_run("laptop")
        return {"paper (width 64, d = 0.1, noise prediction, 200 epochs)": base,
                "width 8": base.replace(model={"width": 8, "enc_dim": laptop.model.enc_dim, "attention": laptop.model.attention,
                                               "bottleneck_mult": laptop.model.bottleneck_mult, "heads": laptop.model.heads}),
                "d = 1 (1024 images, the same steps)": base.replace(data={"d_x": 1.0, "d_y": 1.0}),
                "v-prediction, min-SNR-5": base.replace(diffusion={"prediction": "v", "loss_weight": "min_snr"})}
    base = factorization.torus_run("laptop")
    small = base.replace(data={"N": 16}, train={"eval_steps": tuple(s for s in base.train.eval_steps if s <= TORUS_CAP_16),
                                                "steps": TORUS_CAP_16})
    rows = {f"baseline, seed {k}": base.replace(train={"seed": k}) for k in range(seeds)}
    rows.update({
        "width 16": base.replace(model={"width": 16}),
        "paper's density (d = 0.1)": base.replace(data={"d_x": 0.1, "d_y": 0.1}),
        "noise prediction, uniform weights": base.replace(diffusion={"prediction": "eps", "loss_weight": "uniform"}),
        "longer (fixed, twice the cap)": base.replace(train={"until": "steps", "steps": 2 * TORUS_CAP_32, "curve_every": 2000,
                                                             "eval_steps": (*base.train.eval_steps, 16_000, 20_000, 24_000)}),
        "fast recipe (a control)": factorization.fast_run("laptop"),
        "N = 16: baseline": small,
        "N = 16: width 32": small.replace(model={"width": 32}),
    })
    return rows


def _torus_row(name: str, run: RunConfig, runs_dir, draws: int, images: dict) -> dict:
    """One row of the torus table: accuracy, steps, convergence, geometry status and minutes, and
    layers 2-4 read with section 3.1's statistics beside the row's controls (the training images,
    the untrained network, the conditioning)."""
    ev = store.evaluation(run, runs_dir, progress=False, layers=factorization.MODEL_LAYERS)
    untrained = store.untrained_evaluation(run, runs_dir, layers=("layer4",))
    record = store.training_record(run.hash(), runs_dir)
    key = run.data.N
    if key not in images:
        images[key] = factorization.images_geometry(run, draws)
    controls = {"input images": images[key], "untrained network": factorization.representation_geometry(
        "untrained", untrained.activations["layer4"], untrained.labels, draws), "conditioning": factorization.conditioning_geometry(run, draws)}
    row = {"accuracy": round(ev.accuracy, 3), "steps": record.get("steps"), "convergence": record.get("convergence"),
           "geometry": record.get("geometry"), "minutes": round(store.training_minutes(run, runs_dir), 1), "layers": {}, "controls": {}}
    for layer in factorization.MODEL_LAYERS:
        g = factorization.representation_geometry(name, ev.activations[layer], ev.labels, draws, homology=layer == "layer4")
        row["layers"][layer] = _geometry_entry(g)
    row["controls"] = {k: _geometry_entry(g) for k, g in controls.items()}
    print(f"[{name}] " + json.dumps({k: v for k, v in row.items() if k != "controls"}, default=str), flush=True)
    return row


def _geometry_entry(g) -> dict:
    return {"participation ratio": str(g.participation_ratio), "hyper margin": str(g.hyper_margin), "x-on-y margin": str(g.clifford_margin),
            "torus per draw": g.torus_readings, "variance shares": {k: round(v, 3) for k, v in g.shares.items()}}


def bench_torus_controls(args) -> dict:
    """Print each row's estimated cost on this machine (or `--gpu`'s sheet), then, unless
    `--dry-run`, train (or load from the run cache) the torus table's rows (`--only` some) and read
    each at layers 2-4 as section 3.1's claims do, with its controls beside."""
    runs = torus_control_runs(args.seeds, args.scale)
    chosen = {name: run for name, run in runs.items() if not args.only or any(o in name for o in args.only)}
    plan = scheduler.plan(list(chosen.values()), args.runs, args.gpu)
    share = plan.run_seconds()
    costs = {name: round(share.get(run.hash(), 0.0) / 3600, 2) for name, run in chosen.items()}
    for name, hours in costs.items():
        print(f"{name}: {hours} {'GPU-' if plan.device != 'cpu' else 'worker-'}hours at most (on {plan.device})", flush=True)
    out = {"bench": "torus-controls", "scale": args.scale, "device": plan.device, "estimated_hours": costs}
    if args.dry_run:
        return out
    scheduler.train_all(list(chosen.values()), args.runs, workers=args.workers, progress=False)
    images: dict = {}
    out["rows"] = {name: _torus_row(name, run, args.runs, args.draws, images) for name, run in chosen.items()}
    return out
