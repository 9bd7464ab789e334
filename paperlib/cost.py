"""What a run costs: FLOPs per training image, measured throughput per device, stack sizes.

Throughput tables come from `python -m paperlib.bench stacked` (CPU) and `python -m paperlib.bench
gpu`: training images per second of one worker training a stack of K = 1, 2, 4, 8, 16 runs (the K
models together) at each image size N, and seconds to evaluate one model. The package ships the table measured on the
project's 2-core CPU (`throughput.json`); a bench run saves the machine's own table to
`$PAPERLIB_CACHE/throughput.json` (default `~/.cache/paperlib`), which is used from then on for
that device. `store.train_all` stacks runs only where the table says a stack trains faster per
model, and `run_all.py` estimates its time from the same table.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import torch

from .config import RunConfig, preset
from .files import atomic_write_json

SHIPPED = Path(__file__).with_name("throughput.json")
# Nominal dense peaks (FLOP/s) of common GPUs in the precision the trainer picks there (bf16 from
# compute capability 8.0, fp16 on the T4), and the fraction of it assumed until
# `python -m paperlib.bench gpu` has measured the machine: an assumption, printed as one.
NOMINAL_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "T4": 65e12}
ASSUMED_FRACTION = {"small": 0.05, "large": 0.5}  # width < 32 (stacked small models) / the paper's width-64 UNet
STACK_SIZES = (1, 2, 4, 8, 16)
MIN_GAIN = 1.1  # stack only where it trains at least 10% more images per second per model


def cache_file() -> Path:
    return Path(os.environ.get("PAPERLIB_CACHE", Path.home() / ".cache" / "paperlib")) / "throughput.json"


def device_name(device=None) -> str:
    """A key for the throughput table: the GPU's name, or "cpu-<cores>" on a CPU."""
    device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        return torch.cuda.get_device_name(device.index or 0)
    return f"cpu-{os.cpu_count()}"


@functools.lru_cache(maxsize=64)
def _flops(model_repr: str, N: int, model_config) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    from .model import UNet

    with torch.random.fork_rng(devices=[]):
        model = UNet(model_config, N)
    x, t, labels = torch.randn(2, 1, N, N), torch.zeros(2, dtype=torch.long), torch.full((2, 2), N / 2)
    with FlopCounterMode(display=False) as counter:
        model(x, t, labels).sum().backward()
    return counter.get_total_flops() / 2


def train_flops_per_image(run: RunConfig) -> float:
    """FLOPs of one training image (forward and backward), counted by torch's FlopCounterMode."""
    return _flops(repr(run.model), run.data.N, run.model)


def run_flops(run: RunConfig) -> float:
    """FLOPs of a run's training: steps x batch x FLOPs per image."""
    return train_flops_per_image(run) * run.train.steps * run.train.batch_size


def load_tables() -> dict:
    """Device name -> table: the shipped tables, updated by this machine's own measurements."""
    tables = json.loads(SHIPPED.read_text()) if SHIPPED.exists() else {}
    if cache_file().exists():
        tables.update(json.loads(cache_file().read_text()))
    return tables


def save_table(name: str, table: dict) -> Path:
    """Store a measured table for device `name` in the cache file, over the one in use (the cache's
    or the shipped): fields keyed by image size are updated size by size, so a bench run over some
    sizes keeps the others' measurements; other devices' tables are kept."""
    path = cache_file()
    cached = json.loads(path.read_text()) if path.exists() else {}
    merged = dict(load_tables().get(name, {}))
    for field, value in table.items():
        merged[field] = {**merged[field], **value} if isinstance(value, dict) and isinstance(merged.get(field), dict) else value
    cached[name] = merged
    return atomic_write_json(path, cached)


def _nearest(table: dict, N: int) -> dict:
    sizes = sorted(int(n) for n in table)
    return table[str(min(sizes, key=lambda n: abs(n - N)))]


def best_stack(run: RunConfig, device=None, tables: dict | None = None) -> int:
    """The stack size that trains the most images per second per model for runs like `run` on
    this device (1 where stacking does not pay, or where nothing was measured)."""
    table = (tables if tables is not None else load_tables()).get(device_name(device))
    if not table or not table.get("train_images_per_s"):
        return 1
    rates = {int(k): v for k, v in _nearest(table["train_images_per_s"], run.data.N).items()}
    best = max(rates, key=rates.get)
    return best if rates[best] >= MIN_GAIN * rates.get(1, 0) else 1


def nominal_seconds(run: RunConfig, gpu: str) -> float:
    """Seconds for `run` on a GPU named in NOMINAL_PEAK at the assumed fraction of its peak
    (evaluation: the sampler's forward passes at a third of a training image each)."""
    peak = NOMINAL_PEAK[gpu] * ASSUMED_FRACTION["large" if run.model.width >= 32 else "small"]
    flops = train_flops_per_image(run)
    sampling = (1 + len(run.train.eval_steps)) * run.data.N**2 * (run.diffusion.sample_steps or 1000) * flops / 3
    return (run_flops(run) + sampling) / peak


def run_seconds(run: RunConfig, device=None, tables: dict | None = None, stack: int | None = None) -> float:
    """Estimated worker-seconds to train and evaluate `run` on this device (in a stack of `stack`,
    its share of the stack's time): its images over the measured images/s of a worker at its N
    (scaled by FLOPs per image where the table was measured on another architecture), plus the
    measured evaluation time; without a table, 20% of 100 GFLOP/s."""
    table = (tables if tables is not None else load_tables()).get(device_name(device))
    images = run.train.steps * run.train.batch_size
    flops = train_flops_per_image(run)
    evaluations = 1 + len(run.train.eval_steps)
    if not table:
        return images * flops / 20e9 + evaluations * 1024 * (run.diffusion.sample_steps or 1000) * flops / 3 / 20e9
    if run.model.width >= 32 and "paper_images_per_s" in table:  # the paper's UNet, measured by `bench gpu`
        rate = table["paper_images_per_s"] * train_flops_per_image(preset("paper", N=run.data.N)) / flops
    else:
        k = stack or best_stack(run, device, tables)
        entry = _nearest(table["train_images_per_s"], run.data.N)
        measured = max(int(m) for m in entry if int(m) <= k)  # the largest stack measured that is not larger
        rate = entry[str(measured)] * table.get("flops_per_image", {}).get(str(run.data.N), flops) / flops
    eval_s = _nearest(table["eval_seconds"], run.data.N) * (run.diffusion.sample_steps or 1000) / table.get("eval_sample_steps", 50)
    return images / rate + evaluations * eval_s
