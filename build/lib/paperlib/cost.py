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
sizes (`scheduler.plan`) come from the shipped tables alone: a run in a stack rounds differently from
the same run alone (grouped convolutions), so the plan is part of a model's numerics, and a bench
run on this machine must not change which weights a configuration trains to. A GPU is known by
its torch name wherever a plan is made (None and "cuda:N" resolve to it), so the default launcher
plans the stacks `--dry-run --gpu NAME` shows. A job also pays its start-up and, for a stack on a
GPU, its compile (`job_overhead`); the stack size that trains a run in the fewest seconds,
overhead shared, wins, and a tie goes to the larger stack.

Counting a step's work means building and stepping real networks (a minute for the paper's UNet
on a CPU), so the counts of every preset's networks ship with the package (`stepwork.json`,
written by `python -m paperlib.bench step-work --ship`); a network not in it is counted once and
kept in `$PAPERLIB_CACHE/stepwork.json`. A dry run thus plans in seconds.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
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
from .gpus import GENERIC_GPU, SHEETS, DeviceSheet

SHIPPED = Path(__file__).with_name("throughput.json")
SHIPPED_WORK = Path(__file__).with_name("stepwork.json")
MIN_GAIN = 1.1  # stack only where it trains at least 10% more images per second per model
COMPUTE_EFFICIENCY = 0.4  # the share of a GPU's peak that convolutions of these sizes reach (assumed)
GRAPH_LAUNCH_SHARE = 0.1  # host time per op under CUDA graphs, relative to eager (assumed)
CPU_FLOPS = 20e9  # a CPU without a measured table: 20% of 100 GFLOP/s
COMPILE_SECONDS = 40.0  # torch.compile of a stack on a GPU, forward and backward, CUDA graphs (assumed)
TASK_START_SECONDS = 60.0  # a submitit task: the process, imports, CUDA's start, data (assumed)


def sheet(device=None) -> DeviceSheet | None:
    """The nominal sheet of a GPU: one of `SHEETS` by name (or contained in its torch name), any
    device torch knows (None: this machine's GPU; "cuda:N"), `GENERIC_GPU`'s for a GPU without a
    sheet of its own; None for a CPU."""
    name = device_name(device)
    if name == "cpu":
        return None
    return next((s for key, s in SHEETS.items() if key.lower() in name.lower()), SHEETS[GENERIC_GPU])


def cache_file() -> Path:
    return Path(os.environ.get("PAPERLIB_CACHE", Path.home() / ".cache" / "paperlib")) / "throughput.json"


def device_name(device=None) -> str:
    """A key for the throughput table: a GPU's name, or "cpu" (also for Apple's MPS); a string that
    is not a torch device is taken as a name; None is this machine's GPU, else its CPU."""
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


def network_key(run: RunConfig) -> str:
    """What a step's work depends on, as a key of the step-work tables: the network, N, the
    diffusion and whether gradients are clipped (not the data, batch, learning rate or seed)."""
    d = {"model": dataclasses.asdict(run.model), "N": run.data.N, "diffusion": dataclasses.asdict(run.diffusion),
         "clip": bool(run.train.grad_clip)}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def count_step_work(run: RunConfig) -> dict:
    """Count a training step of `run`'s network on the CPU (fp32): its ops alone (a plain Trainer),
    in stacks of K = 2, 3 at B = 2 and K = 2 at B = 4, extrapolated linearly; FLOPs by torch's
    FlopCounterMode. Seconds to a minute: the networks are built and stepped."""
    net = _network(run)
    ops2, b22 = _count(net, 2, 2)
    ops3, _ = _count(net, 3, 2)
    _, b24 = _count(net, 2, 4)
    per_image = (b24 - b22) / (2 * 2)
    return {"ops_alone": _count(net, 1, 2)[0], "ops_fixed": ops2 - 2 * (ops3 - ops2), "ops_per_run": ops3 - ops2,
            "bytes_per_run": b22 / 2 - 2 * per_image, "bytes_per_image": per_image, "flops_per_image": _flops(run.model, run.data.N)}


def _work_cache() -> Path:
    return cache_file().with_name("stepwork.json")


@functools.lru_cache(maxsize=1)
def shipped_work() -> dict:
    return json.loads(SHIPPED_WORK.read_text()) if SHIPPED_WORK.exists() else {}


def _counted(run: RunConfig) -> dict:
    """The step work of `run`'s network: shipped, else counted before on this machine, else counted now and kept."""
    key = network_key(run)
    if key in shipped_work():
        return shipped_work()[key]
    path = _work_cache()
    cached = json.loads(path.read_text()) if path.exists() else {}
    if key not in cached:
        cached[key] = count_step_work(run)
        atomic_write_json(path, cached)
    return cached[key]


def step_work(run: RunConfig) -> StepWork:
    """A training step's work for `run`'s network (`_counted`: shipped or counted once)."""
    w = _counted(run)
    return StepWork(w["ops_fixed"], w["ops_per_run"], w["bytes_per_run"], w["bytes_per_image"], w["flops_per_image"])


def alone_ops(run: RunConfig) -> int:
    """Ops of one training step of a run trained alone (a plain Trainer)."""
    return _counted(run)["ops_alone"]


@functools.lru_cache(maxsize=64)
def _flops(model_config, N: int) -> float:
    """FLOPs of one image's forward and backward, counted on the meta device (nothing is computed)."""
    from torch.utils.flop_counter import FlopCounterMode

    from .model import UNet

    with torch.device("meta"):
        model = UNet(model_config, N)
        x, t, labels = torch.randn(2, 1, N, N), torch.zeros(2, dtype=torch.long), torch.full((2, 2), N / 2)
    with FlopCounterMode(display=False) as counter:
        model(x, t, labels).sum().backward()
    return counter.get_total_flops() / 2


def train_flops_per_image(run: RunConfig) -> float:
    """FLOPs of one training image (forward and backward), counted by torch's FlopCounterMode."""
    key = network_key(run)
    return shipped_work()[key]["flops_per_image"] if key in shipped_work() else _flops(run.model, run.data.N)


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
    UNet from its own measurement scaled by FLOPs; else from the device's sheet (a GPU, `sheet`),
    or, on a CPU, the measured table scaled by FLOPs (a CPU is compute-bound) or the CPU fallback."""
    table = _table(device, tables)
    flops = train_flops_per_image(run)
    spec = sheet(device)
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


def job_overhead(run: RunConfig, device=None, K: int = 1, launcher: str = "process") -> float:
    """Seconds a job pays besides its steps: a submitit task's start (`launcher` "slurm" or
    "local"; worker processes start once, not per job) and, for a stack on a GPU, its compile."""
    gpu = sheet(device) is not None
    return (TASK_START_SECONDS if launcher != "process" else 0.0) + (COMPILE_SECONDS if gpu and K > 1 else 0.0)


def best_stack(run: RunConfig, device=None, tables: dict | None = None, launcher: str = "process") -> int:
    """The stack size that trains runs like `run` in the fewest seconds per run on this device,
    the job's overhead shared among its runs (a tie goes to the larger stack); 1 where stacking
    does not train at least `MIN_GAIN` times faster per run."""
    rates = stack_rates(run, device, tables)
    images = run.train.steps * run.train.batch_size
    per_run = {K: job_overhead(run, device, K, launcher) / K + images / rate for K, rate in rates.items()}
    best = min(per_run, key=lambda K: (round(per_run[K], 6), -K))
    return best if best == 1 or MIN_GAIN * per_run[best] <= per_run.get(1, float("inf")) else 1


def eval_seconds(run: RunConfig, device=None, tables: dict | None = None) -> float:
    """Seconds to evaluate one model (N x N labels, the config's sampler) on the device."""
    steps = run.diffusion.sample_steps or 1000
    table = _table(device, tables)
    if table is not None and "eval_seconds" in table:
        return _nearest(table["eval_seconds"], run.data.N) * steps / table.get("eval_sample_steps", 50)
    forward = train_flops_per_image(run) / 3
    spec = sheet(device)
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


def bound_of(run: RunConfig, device=None, stack: int | None = None) -> str:
    """Which bound a run's training sits on for a GPU sheet ("measured" where a table exists)."""
    spec = sheet(device)
    if spec is None or _table(device, None) is not None:
        return "measured"
    k = stack or best_stack(run, device)
    return step_seconds(run, spec, k, graphs=k > 1).bound
