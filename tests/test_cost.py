"""The cost model: FLOPs per image, stack sizes and run times from a throughput table."""

import json

import pytest

from paperlib import cost, scheduler
from paperlib.config import fast_recipe, preset


def test_flops_per_training_image_are_the_counted_ones():
    assert cost.train_flops_per_image(preset("laptop", N=32)) == 140_863_488
    assert cost.train_flops_per_image(preset("laptop", N=16)) == 35_229_696
    assert cost.train_flops_per_image(preset("laptop", N=8)) == 8_838_528
    assert cost.train_flops_per_image(fast_recipe(preset("laptop", N=32))) == 147_787_776  # coordinate features and FiLM cost 5%
    assert cost.train_flops_per_image(preset("paper")) == 10_160_701_440  # attention matmuls included


def _tables(rates: dict, eval_seconds: float = 10.0) -> dict:
    return {cost.device_name("cpu"): {"train_images_per_s": {"16": {str(k): v for k, v in rates.items()}},
                                      "eval_seconds": {"16": eval_seconds}, "eval_sample_steps": 50,
                                      "flops_per_image": {"16": cost.train_flops_per_image(preset("laptop", N=16))}}}


def test_runs_stack_only_where_the_table_says_it_pays():
    run = preset("laptop", N=16)
    assert cost.best_stack(run, "cpu", _tables({1: 700, 2: 760, 8: 900, 16: 880})) == 8
    assert cost.best_stack(run, "cpu", _tables({1: 700, 8: 750})) == 1  # 7% more: under MIN_GAIN
    assert cost.best_stack(run, "cpu", {}) == 1


def test_a_runs_seconds_are_its_images_over_the_rate_plus_its_evaluations():
    run = preset("laptop", N=16).replace(train={"steps": 100, "batch_size": 32})
    tables = _tables({1: 800, 8: 1600}, eval_seconds=10.0)
    readouts = 5 * 10.0 * 20 / 50  # read-outs at 4/8..8/8 of the steps, all 256 labels at N = 16, DDIM-20 against DDIM-50
    assert cost.run_seconds(run, "cpu", tables, stack=1) == pytest.approx(3200 / 800 + 10 + readouts)
    assert cost.run_seconds(run, "cpu", tables, stack=8) == pytest.approx(3200 / 1600 + 10 + readouts)
    assert cost.run_seconds(run, "cpu", tables, stack=4) == pytest.approx(3200 / 800 + 10 + readouts)  # K = 4 not measured: K = 1's rate


def test_a_bench_over_some_sizes_keeps_the_other_sizes(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_CACHE", str(tmp_path))
    monkeypatch.setattr(cost, "SHIPPED", tmp_path / "shipped.json")
    cost.SHIPPED.write_text(json.dumps({"cpu-x": {"train_images_per_s": {"8": {"1": 1.0}, "32": {"1": 3.0}}, "eval_seconds": {"32": 9.0}},
                                        "gpu-y": {"eval_seconds": {"8": 1.0}}}))
    cost.save_table("cpu-x", {"train_images_per_s": {"8": {"1": 2.0, "8": 5.0}}, "eval_seconds": {"8": 0.5}})
    table = cost.load_tables()["cpu-x"]
    assert table["train_images_per_s"] == {"8": {"1": 2.0, "8": 5.0}, "32": {"1": 3.0}}
    assert table["eval_seconds"] == {"8": 0.5, "32": 9.0}
    assert cost.load_tables()["gpu-y"] == {"eval_seconds": {"8": 1.0}}


def test_stack_sizes_come_from_the_shipped_table_not_this_machines_bench(tmp_path, monkeypatch):
    """A run stacked rounds differently from the same run alone: a bench run here must not change
    the plan (and so the weights), only the estimates."""
    monkeypatch.setenv("PAPERLIB_CACHE", str(tmp_path))
    runs = [preset("laptop", N=16).replace(train={"seed": s}) for s in range(8)]
    before = scheduler.plan(runs, tmp_path / "runs", "cpu")
    assert max(len(job) for job in before.jobs) > 1  # the shipped table stacks these
    cost.save_table("cpu", {"train_images_per_s": {"16": {"1": 800.0, "2": 800.0, "4": 800.0, "8": 820.0, "16": 820.0}}})
    assert cost.best_stack(runs[0], "cpu") == 1  # stacking does not pay in this machine's own table
    after = scheduler.plan(runs, tmp_path / "runs", "cpu")
    assert [[r.hash() for r in job] for job in after.jobs] == [[r.hash() for r in job] for job in before.jobs]
    assert sum(after.seconds) < sum(before.seconds)  # the estimate is this machine's: faster
