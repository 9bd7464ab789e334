"""The run cache's parallel training and cached evaluations, and the section experiments' logic."""

import json
import math

import numpy as np
import pytest
import torch

from paperlib import scheduler, store
from paperlib.config import preset
from paperlib.experiments import compose_interpolate as ci
from paperlib.experiments import factorization as fz
from paperlib.experiments import percolation as perc
from paperlib.experiments import sample_efficiency as se


def _tiny(**data):
    return preset("smoke", **data).replace(train={"steps": 4, "checkpoint_every": 2, "warmup": 1}, diffusion={"sample_steps": 2})


def test_train_all_in_two_workers_then_everything_is_cached(tmp_path):
    runs = [_tiny(), _tiny(family="sos"), _tiny()]  # a duplicate is trained once
    scheduler.train_all(runs, tmp_path, workers=2, progress=False)
    assert len(list(tmp_path.iterdir())) == 2
    stamps = {r.hash(): (store.run_dir(r, tmp_path) / "evaluation.npz").stat().st_mtime_ns for r in runs}
    scheduler.train_all(runs, tmp_path, workers=2, progress=False)
    assert stamps == {r.hash(): (store.run_dir(r, tmp_path) / "evaluation.npz").stat().st_mtime_ns for r in runs}
    ev = store.evaluation(runs[1], tmp_path)
    assert ev.images.shape == (256, 16, 16) and ev.activations["layer4"].shape[0] == 256


@pytest.mark.parametrize("workers", [1, 2])
def test_a_lone_job_trains_in_a_one_thread_worker_as_beside_others(tmp_path, workers):
    """Threads change the float rounding: a model asked for alone, or with one worker, must come
    out as in a full run of one-thread workers, whatever threads the calling process has."""
    run, threads = _tiny(), torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        scheduler.train_all([run], tmp_path, workers=workers, progress=False)
    finally:
        torch.set_num_threads(threads)
    record = json.loads((store.run_dir(run, tmp_path) / "run.json").read_text())
    assert record["finished"]["threads"] == 1


def test_alone_and_stacked_in_a_worker_give_the_same_model(tmp_path):
    run = _tiny(sigma_x=0.7)
    scheduler.train_all([run], tmp_path / "a", workers=1, progress=False)
    assert [len(job) for job in scheduler.plan([run, _tiny()], tmp_path / "b", "cpu").jobs] == [2]  # N = 16 stacks in this table
    scheduler.train_all([run, _tiny()], tmp_path / "b", workers=2, progress=False)
    a, b = store.evaluation(run, tmp_path / "a"), store.evaluation(run, tmp_path / "b")
    assert np.allclose(a.activations["layer4"], b.activations["layer4"], atol=1e-3)
    assert a.accuracy == b.accuracy


def test_evaluation_reuses_the_last_evaluation_over_training(tmp_path):
    run = _tiny().replace(train={"eval_steps": (2, 4)})
    store.train_or_load(run, tmp_path, progress=False)
    over = store.evaluations_over_training(run, tmp_path)
    assert sorted(over) == [2, 4]
    final = store.evaluation(run, tmp_path)
    assert np.array_equal(final.centres, over[4].centres) and final.images.shape == (256, 16, 16)


def test_cross_scales_with_N_and_fig4_models():
    assert (ci.cross(32).lo, ci.cross(32).hi) == (13, 19)
    assert (ci.cross(16).lo, ci.cross(16).hi) == (6.5, 9.5)
    fig4 = ci.fig4_runs("laptop")
    assert [fig4[m][0].data.family for m in ci.FIG4_MODELS] == ["sos", "stripes", "sos+stripes"]
    assert not fig4["1D"][0].data.rim and {r.data.N for rs in fig4.values() for r in rs} == {16}
    assert len(fig4["2D"]) == 3 and len({r.train.seed for r in fig4["2D"]}) == 3
    fig10 = ci.fig10_runs("laptop")
    assert fig10["without 2D rim"] == fig4["1D"] and fig10["2D+1D"] == fig4["2D+1D"]  # the rim is compared at the same N
    assert ci.fig4_runs("paper")["1D"] == ci.fig10_runs("paper")["without 2D rim"]
    assert preset("laptop", N=16).train.steps == 2500 and preset("laptop").train.steps == 4000
    squares = ci.fig12_runs("paper")
    assert len(squares) == 2 * 2 * len(ci.PRESETS["paper"]["square_widths"])
    for preset_name in ci.PRESETS:  # every sweep point is a valid config for its preset
        assert ci.runs(preset_name)


def test_laptop_sweeps_give_each_trend_three_points_and_seeds_where_needed():
    sweep = ci.PRESETS["laptop"]
    assert len(sweep["fig4g_fractions"]) >= 3 and len(sweep["square_widths"]) >= 3 and len(sweep["lesion_widths"]) >= 3
    assert sweep["lesion_d"] <= 0.25 and sweep["seeds"] >= 3
    lesion = ci.fig11_runs("laptop")[1.0][0]
    assert lesion.data.d_x == 0.25 and lesion.data.holdout.width == 1.0
    grid = se.PRESETS["laptop"]["sweep"]
    assert sorted(grid) == [8, 16] and all(len(g) >= 3 for grids in grid.values() for g in grids.values())
    assert sorted(se.settings("laptop", sizes=[8, 16, 32])) == [8, 16, 32]  # N = 32 by parameter, on the N = 16 grid
    fig5 = se.runs("laptop")  # the same training rule at every N: to the plateau within one cap, read out every quarter of it
    assert {(r.train.until, r.train.steps, r.train.curve_every) for r in fig5} == {("plateau", 6000, 1500)}
    # sections 3.2 and 3.3: each model to its plateau within one cap for every sweep point
    assert {(r.train.until, r.train.steps, r.train.curve_every) for r in ci.runs("laptop")} == {("plateau", 5000, 1250)}
    assert {(r.train.until, r.train.steps, r.train.curve_every) for r in perc.runs("laptop")} == {("plateau", 6000, 1500)}
    assert ci.runs("gpu")[0].train.until == "steps" and perc.runs("gpu")[0].train.until == "steps"
    torus, fast = fz.torus_run("laptop"), fz.fast_run("laptop")  # section 3.1: until the geometry settles, at most 12000 steps
    assert fz.runs("laptop") == [torus, fast] and fz.runs("paper") == [fz.torus_run("paper")]
    assert {(r.train.until, r.train.steps, r.train.curve_every) for r in (torus, fast)} == {("geometry", 12000, 1000)}
    assert torus.train.eval_steps == fast.train.eval_steps == (0, 1000, 2000, 4000, 6000, 8000, 10000, 12000)
    assert fz.torus_run("paper").train.until == "steps" and len(fz.torus_run("paper").train.eval_steps) == 11
    assert {r.train.steps for r in se.runs("smoke")} == {preset("smoke").train.steps}
    p = perc.PRESETS["laptop"]
    assert 0.3 in p["sigmas"] and len(p["fractions"]) >= 3 and p["seeds"][0.5] >= 2 and min(p["fractions"]) <= 0.05
    assert len([r for r in perc.runs("laptop") if r.data.sigma_x == 0.5]) == 2 * len(p["fractions"])


def test_papermill_style_overrides_change_the_models():
    small = ci.settings("laptop", lesion_widths=[1.0, 2.0], seeds=1)
    assert sorted(ci.fig11_runs("laptop", small)) == [1.0, 2.0] and len(ci.fig4_runs("laptop", small)["2D"]) == 1
    assert len(ci.runs("laptop", small)) < len(ci.runs("laptop"))
    with pytest.raises(ValueError, match="unknown sweep point"):
        ci.settings("laptop", widths=[1.0])
    assert {r.data.N for r in se.runs("laptop", se.settings("laptop", sizes=[8]))} == {8}
    assert {r.data.sigma_x for r in perc.runs("laptop", perc.settings("laptop", sigmas=[1.0]))} == {1.0}


def test_size_to_reach_interpolates_in_log_size():
    assert se.size_to_reach([10, 100], [0.2, 1.0]) == pytest.approx(math.sqrt(10 * 100))
    assert se.size_to_reach([100, 10, 1000], [0.7, 0.1, 0.9]) == pytest.approx(10 * 10 ** (5 / 6))
    assert se.size_to_reach([10, 100], [0.7, 0.9]) == 10
    assert math.isnan(se.size_to_reach([10, 100], [0.1, 0.5]))


def test_sample_efficiency_points_hold_out_the_centre():
    runs = se.runs("laptop")
    assert {r.data.N for r in runs} == set(se.PRESETS["laptop"]["sweep"])
    assert all(r.data.holdout.kind == "center_fraction" for r in runs)
    points = [se.Point(32, "bump", f, n, n, {"all": a}) for f, n, a in [(0.1, 80, 0.1), (0.3, 240, 0.5), (1.0, 800, 0.9)]]
    points += [se.Point(32, "bump+stripes", f, n, n + 900, {"all": a}) for f, n, a in [(0.1, 80, 0.8), (0.3, 240, 0.9), (1.0, 800, 0.9)]]
    sizes = se.scaling(points)
    assert sizes["bump+stripes"][32] == 80 and 240 < sizes["bump"][32] < 800
    assert se.censored(points) == {"bump+stripes": {32: "below"}}


def test_final_losses_of_a_subsampled_model(tmp_path):
    run = _tiny(fraction=0.5)
    trainer = store.train_or_load(run, tmp_path, progress=False)
    (train_loss, train_se), (validation_loss, _) = perc.final_losses(trainer, n=32, repeats=2)
    assert np.isfinite(train_loss) and np.isfinite(validation_loss) and train_se >= 0
    full = store.train_or_load(_tiny(), tmp_path, progress=False)
    assert math.isnan(perc.final_losses(full, n=32, repeats=1)[1][0])


def test_scaling_slopes():
    sizes = {"bump": {16: 100.0, 32: 400.0}, "bump+stripes": {16: 50.0, 32: 100.0}}
    assert se.slopes(sizes) == pytest.approx({"bump": 2.0, "bump+stripes": 1.0})
    assert math.isnan(se.slopes({"bump": {16: 10.0}})["bump"])


@pytest.mark.parametrize("name", ["laptop", "gpu"])
def test_every_dataset_a_claim_rests_on_is_trained_with_the_papers_conditioning(name):
    """The claims are about the paper's kind of model: every dataset the preset trains has a run
    conditioned as App. A.1 says (transformer encodings added per block; no coordinate features,
    no FiLM, no canvas frequencies); the fast recipe's runs are controls of those runs."""
    from paperlib.config import fast_recipe
    from paperlib.experiments import SECTIONS

    every = [r for s in SECTIONS for r in s.runs(name)]
    papers = [r for r in every if (r.model.label_encoding, r.model.coord_features, r.model.conditioning) == ("transformer", False, "bias")]
    fast = [r for r in every if r not in papers]
    assert papers and {r.data for r in every} == {r.data for r in papers}
    assert {r.hash() for r in fast} <= {fast_recipe(r).hash() for r in papers}
    assert fast, "the fast recipe trains as a control"
