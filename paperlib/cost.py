"""What a run costs: the work of a training step, device sheets, measured throughput, stack sizes.

A training step of a stack of K runs costs, on a device, the largest of three bounds:
- launch: the eager PyTorch ops it dispatches (`step_work`: counted, about 430 for a run alone,
  about 1100 for a stack, nearly independent of K) times the host time per op; with CUDA graphs
  (a compiled stack on a GPU) a small fraction of that;
- memory: the bytes its ops read and write (counted) over the device's bandwidth;
- compute: its FLOPs (counted by torch's FlopCounterMode) over the device's peak at a stated
  efficiency.
The small models of the fast presets sit on the launch bound alone and on the memory bound in
stacks, so N = 8 costs far more than its FLOPs say; counted as eager fp32 ops move them, the
paper's UNet sits on the memory bound too (`run_all.py --dry-run --gpu H100` says which bound each
model sits on). Where a device's throughput was measured (`python -m paperlib.bench stacked` on a
CPU, `python -m paperlib.bench gpu` / `gpu-check` on a GPU), the measured images/s win: tables
hold, per image size N and stack size K, the images/s of one worker training the K runs together
(the stack's total), and seconds to evaluate one model. The package ships the table of the
project's 2-core CPU (`throughput.json`); a bench run saves the machine's own table to
`$PAPERLIB_CACHE/throughput.json` (default `~/.cache/paperlib`), which estimates then use. Stack
sizes (`store.plan`) come from the shipped tables alone: a run in a stack rounds differently from
the same run alone (grouped convolutions), so the plan is part of a model's numerics, and a bench
run on this machine must not change which weights a configuration trains to.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from .config import DataConfig, RunConfig
from .curves import curve_steps, readout_steps
from .files import atomic_write_json

SHIPPED = Path(__file__).with_name("throughput.json")
MIN_GAIN = 1.1  # stack only where it trains at least 10% more images per second per model
COMPUTE_EFFICIENCY = 0.4  # the share of a GPU's peak that convolutions of these sizes reach (assumed)
GRAPH_LAUNCH_SHARE = 0.1  # host time per op under CUDA graphs, relative to eager (assumed)
CPU_FLOPS = 20e9  # a CPU without a measured table: 20% of 100 GFLOP/s


@dataclass(frozen=True)
class DeviceSheet:
    """Nominal figures of a GPU: peak FLOP/s in the precision the policy trains in there (bf16 from
    compute capability 8.0, fp32 below), memory bandwidth (bytes/s), host seconds per eager op
    (the host machines GPUs come with), memory (bytes)."""

    name: str
    peak: float
    bandwidth: float
    launch: float
    memory: float


SHEETS = {s.name: s for s in (
    DeviceSheet("H200", 989e12, 4.8e12, 12e-6, 141e9),
    DeviceSheet("H100", 989e12, 3.35e12, 12e-6, 80e9),
    DeviceSheet("A100", 312e12, 2.0e12, 15e-6, 80e9),
    DeviceSheet("L4", 121e12, 0.30e12, 15e-6, 24e9),
    DeviceSheet("T4", 8.1e12, 0.32e12, 20e-6, 16e9),  # fp32 under the policy (bf16 is emulated there)
    DeviceSheet("V100", 15.7e12, 0.9e12, 15e-6, 16e9),
)}


def sheet(device) -> DeviceSheet | None:
    """The nominal sheet of a GPU named (or whose torch name contains) one of `SHEETS`; None otherwise."""
    name = device if isinstance(device, str) else device_name(device)
    return next((s for key, s in SHEETS.items() if key.lower() in name.lower()), None)


def cache_file() -> Path:
    return Path(os.environ.get("PAPERLIB_CACHE", Path.home() / ".cache" / "paperlib")) / "throughput.json"


def device_name(device=None) -> str:
    """A key for the throughput table: a GPU's name, or "cpu"; a string is taken as a name."""
    if isinstance(device, str) and not device.startswith(("cuda", "cpu", "mps")):
        return device
    device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        return torch.cuda.get_device_name(device.index or 0)
    return "cpu"


# --- the work of a step, counted -----------------------------------------------------------------

class OpCounter(TorchDispatchMode):
    """Counts the ops dispatched (views excluded: they launch no kernel) and the bytes they touch."""

    def __init__(self):
        super().__init__()
        self.ops, self.bytes = 0, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not func.is_view:
            self.ops += 1
            self.bytes += sum(t.numel() * t.element_size() for t in tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor))
        return out


@dataclass(frozen=True)
class StepWork:
    """A training step's work as a function of the stack size K and the batch B (images per run):
    ops = ops_fixed + ops_per_run K; bytes = K (bytes_per_run + bytes_per_image B); FLOPs =
    K B flops_per_image."""

    ops_fixed: float
    ops_per_run: float
    bytes_per_run: float
    bytes_per_image: float
    flops_per_image: float

    def ops(self, K: int) -> float:
        return self.ops_fixed + self.ops_per_run * K

    def bytes(self, K: int, B: int) -> float:
        return K * (self.bytes_per_run + self.bytes_per_image * B)


def _network(run: RunConfig) -> RunConfig:
    """What a step's work depends on: the network, N, the diffusion and the optimisation, not the
    data (the labels of a 4 x 4 grid stand in) nor the seed."""
    return RunConfig(data=DataConfig(N=run.data.N, d_x=run.data.N / 4, d_y=run.data.N / 4), model=run.model, diffusion=run.diffusion,
                     train=run.train.__class__(**{**vars(run.train), "eval_steps": (), "seed": 0}))


@functools.lru_cache(maxsize=64)
def _count(network: RunConfig, K: int, B: int) -> tuple[int, int]:
    from .stack import StackedTrainer
    from .train import Trainer

    small = network.replace(train={"batch_size": B})
    trainers = [Trainer(small.replace(train={"seed": k}), device="cpu", precision="fp32") for k in range(K)]
    engine = trainers[0] if K == 1 else StackedTrainer(trainers)
    engine.train_step()  # the optimiser's state exists from the second step on
    with OpCounter() as counter:
        engine.train_step()
    return counter.ops, counter.bytes


def step_work(run: RunConfig) -> StepWork:
    """Count a training step of `run`'s network on the CPU at K = 2, 3 and B = 2, 4 (a stack: the
    launch count of a run alone is `alone_ops`), fp32, and extrapolate linearly."""
    net = _network(run)
    ops2, b22 = _count(net, 2, 2)
    ops3, _ = _count(net, 3, 2)
    _, b24 = _count(net, 2, 4)
    per_image = (b24 - b22) / (2 * 2)
    per_run = b22 / 2 - 2 * per_image
    return StepWork(ops2 - 2 * (ops3 - ops2), ops3 - ops2, per_run, per_image, train_flops_per_image(run))


def alone_ops(run: RunConfig) -> int:
    """Ops of one training step of a run trained alone (a plain Trainer)."""
    return _count(_network(run), 1, 2)[0]


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


@dataclass(frozen=True)
class StepEstimate:
    """Seconds of one training step of a stack of K on a device sheet, and the bound that sets it."""

    seconds: float
    bound: str  # "launch", "memory" or "compute"
    bounds: dict


def step_seconds(run: RunConfig, device: DeviceSheet, K: int = 1, graphs: bool = False) -> StepEstimate:
    """max(launch, memory, compute) for one step of K stacked runs like `run` (see the module)."""
    work = step_work(run)
    B = run.train.batch_size
    ops = alone_ops(run) if K == 1 else work.ops(K)
    bounds = {"launch": ops * device.launch * (GRAPH_LAUNCH_SHARE if graphs else 1.0),
              "memory": work.bytes(K, B) / device.bandwidth,
              "compute": K * B * work.flops_per_image / (device.peak * COMPUTE_EFFICIENCY)}
    bound = max(bounds, key=bounds.get)
    return StepEstimate(bounds[bound], bound, bounds)


# --- measured tables ----------------------------------------------------------------------------------

def shipped_tables() -> dict:
    """Device name -> table, as the package ships them (the project's machines)."""
    return json.loads(SHIPPED.read_text()) if SHIPPED.exists() else {}


def load_tables() -> dict:
    """Device name -> table: the shipped tables, updated by this machine's own measurements."""
    tables = shipped_tables()
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


def _table(device, tables: dict | None) -> dict | None:
    table = (tables if tables is not None else load_tables()).get(device_name(device))
    return table if table and table.get("train_images_per_s") else None


def stack_rates(run: RunConfig, device=None, tables: dict | None = None, sizes=(1, 2, 4, 8, 16, 32, 64)) -> dict[int, float]:
    """Images/s of one worker training a stack of K runs like `run` (the stack's total), by K:
    measured where the device has a table for this network (the fast presets' UNet); the paper's
    UNet from its own measurement scaled by FLOPs; else from the device's sheet (a GPU), or, on a
    CPU, the measured table scaled by FLOPs (a CPU is compute-bound) or the CPU fallback."""
    table = _table(device, tables)
    flops = train_flops_per_image(run)
    spec = sheet(device) if device is not None else None
    if table is not None:
        n = min((int(k) for k in table["train_images_per_s"]), key=lambda k: abs(k - run.data.N))
        entry = {int(k): v for k, v in table["train_images_per_s"][str(n)].items()}
        measured_flops = table.get("flops_per_image", {}).get(str(n), flops) * (run.data.N / n) ** 2
        if abs(measured_flops / flops - 1) < 0.1:
            return entry
        if "paper_images_per_s" in table and run.model.width >= 32:
            return {1: table["paper_images_per_s"] * table["paper_flops_per_image"] / flops}
        if spec is None:
            return {k: v * measured_flops / flops for k, v in entry.items()}
    B = run.train.batch_size
    if spec is None:
        return {1: CPU_FLOPS / flops}
    return {K: K * B / step_seconds(run, spec, K, graphs=K > 1).seconds for K in sizes}


def best_stack(run: RunConfig, device=None, tables: dict | None = None) -> int:
    """The stack size that trains the most images per second per model for runs like `run` on
    this device (1 where stacking does not pay)."""
    rates = stack_rates(run, device, tables)
    best = max(rates, key=rates.get)
    return best if rates[best] >= MIN_GAIN * rates.get(1, 0) else 1


def eval_seconds(run: RunConfig, device=None, tables: dict | None = None) -> float:
    """Seconds to evaluate one model (N x N labels, the config's sampler) on the device."""
    steps = run.diffusion.sample_steps or 1000
    table = _table(device, tables)
    if table is not None and "eval_seconds" in table:
        return _nearest(table["eval_seconds"], run.data.N) * steps / table.get("eval_sample_steps", 50)
    forward = train_flops_per_image(run) / 3
    spec = sheet(device) if device is not None else None
    if spec is None:
        return run.data.N**2 * steps * forward / CPU_FLOPS
    work = step_work(run)
    labels = run.data.N**2
    per_step = max(alone_ops(run) / 3 * spec.launch, labels * work.bytes_per_image / 3 / spec.bandwidth,
                   labels * forward / (spec.peak * COMPUTE_EFFICIENCY))
    return steps * per_step


def run_seconds(run: RunConfig, device=None, tables: dict | None = None, stack: int | None = None) -> float:
    """Estimated worker-seconds to train and evaluate `run` on a device (in a stack of `stack`,
    its share of the stack's time): its images over the stack's images/s (the largest measured
    stack that is not larger), plus its evaluations."""
    rates = stack_rates(run, device, tables)
    k = stack or best_stack(run, device, tables)
    measured = max(m for m in rates if m <= k)  # a larger stack trains at least as fast as a smaller one
    images = run.train.steps * run.train.batch_size  # a run trained to its plateau: at most its cap
    evaluation = eval_seconds(run, device, tables)
    readout = evaluation * min(1.0, run.train.curve_labels / run.data.N**2) * readout_steps(run) / (run.diffusion.sample_steps or 1000)
    return images / rates[measured] + (1 + len(run.train.eval_steps)) * evaluation + len(curve_steps(run.train)) * readout


def bound_of(run: RunConfig, device, stack: int | None = None) -> str:
    """Which bound a run's training sits on for a GPU sheet ("measured" where a table exists)."""
    spec = sheet(device)
    if spec is None or _table(device, None) is not None:
        return "measured"
    k = stack or best_stack(run, device)
    return step_seconds(run, spec, k, graphs=k > 1).bound
