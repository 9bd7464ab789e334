import json
import subprocess
import sys

from paperlib.device import is_x86


def test_percolation_bench_ends_with_one_json_line():
    out = subprocess.run([sys.executable, "-m", "paperlib.bench", "percolation", "--repeats", "1"],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()
    figures = json.loads(out[-1])
    assert figures["bench"] == "percolation" and len(figures["mass_ratio"]) == 5
    assert figures["critical_fraction"][0] is None  # sigma = 0.1 never percolates at 0.005
    if is_x86():  # capped at AVX2 as run_all.py trains, on any x86 CPU
        assert figures["cpu_capability"] in ("AVX2", "DEFAULT")


def test_workers_bench_trains_the_same_models_both_ways():
    out = subprocess.run([sys.executable, "-m", "paperlib.bench", "workers", "--preset", "smoke", "--models", "2",
                          "--N", "8", "--steps", "3"], capture_output=True, text=True, check=True).stdout.strip().splitlines()
    figures = json.loads(out[-1])
    assert figures["models"] == 2 and figures["sequential_minutes"] > 0 and figures["parallel_minutes"] > 0
    assert figures["speedup"] == round(figures["sequential_minutes"] / figures["parallel_minutes"], 2)


def test_sampling_batch_bench_reports_every_batch():
    out = subprocess.run([sys.executable, "-m", "paperlib.bench", "sampling-batch", "--N", "8", "--batches", "4", "2",
                          "--images", "4", "--repeats", "1"], capture_output=True, text=True, check=True).stdout.strip().splitlines()
    figures = json.loads(out[-1])
    assert set(figures["ms_per_image"]) == {"4", "2"} and all(v > 0 for v in figures["ms_per_image"].values())
    assert abs(figures["mib_per_batch"]["4"] - 2 * figures["mib_per_batch"]["2"]) <= 0.002


def test_torus_controls_change_one_thing_each_and_reuse_the_sections_models():
    """Each row differs from section 3.1's torus model (the paper's conditioning) in one respect,
    and the baseline and the fast recipe's control are the section's own models, so a laptop
    run's cache has them; width 32 runs at N = 16 beside the N = 16 baseline."""
    import dataclasses

    from paperlib.bench.training import torus_control_runs
    from paperlib.experiments import factorization as fz

    runs = torus_control_runs(seeds=2)
    base = fz.torus_run("laptop")
    assert runs["baseline, seed 0"] == base and runs["fast recipe (a control)"] == fz.fast_run("laptop")
    assert base.model.label_encoding == "transformer" and not base.model.coord_features and base.model.conditioning == "bias"

    def changed(a, b):
        return {f"{part}.{f.name}" for part in ("data", "model", "diffusion", "train") for f in dataclasses.fields(getattr(a, part))
                if getattr(getattr(a, part), f.name) != getattr(getattr(b, part), f.name)}

    assert changed(runs["width 16"], base) == {"model.width"}
    assert changed(runs["paper's density (d = 0.1)"], base) == {"data.d_x", "data.d_y"}
    assert changed(runs["noise prediction, uniform weights"], base) == {"diffusion.prediction", "diffusion.loss_weight"}
    assert changed(runs["baseline, seed 1"], base) == {"train.seed"}
    assert changed(runs["N = 16: width 32"], runs["N = 16: baseline"]) == {"model.width"}
    assert len({r.hash() for r in runs.values()}) == len(runs)
