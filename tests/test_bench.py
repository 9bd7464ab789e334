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
    """Each suspect differs from the laptop torus model in one respect (length, density or
    conditioning), and the plateau rows are section 3.1's own models, so a laptop cache has them."""
    from paperlib.bench.training import torus_control_runs
    from paperlib.experiments import factorization as fz

    runs = torus_control_runs()
    torus, control = fz.torus_run("laptop"), fz.control_run("laptop")
    assert runs["laptop, to the plateau"] == torus and runs["paper's conditioning, to the plateau"] == control
    fixed = runs["laptop, 4000 steps"]
    assert (fixed.train.until, fixed.train.steps) == ("steps", 4000) and fixed.model == torus.model and fixed.data == torus.data
    density = runs["paper's density (d = 0.1), 4000 steps"]
    assert (density.data.d_x, density.data.d_y) == (0.1, 0.1) and density.model == torus.model and density.train.steps == 4000
    assert control.model.conditioning == "bias" and not control.model.coord_features and control.data == torus.data
    assert len({r.hash() for r in runs.values()}) == len(runs)
