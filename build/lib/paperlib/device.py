"""The compute device and its arithmetic: which device, which precision, which worker on which GPU.

One precision policy for training and sampling, alone or in a stack: bf16 autocast where the GPU
computes it natively (compute capability >= 8.0: A100, H100, L4, RTX 30xx and newer), fp32
elsewhere (the CPU, Apple MPS, and GPUs below 8.0 such as Colab's T4, where bf16 is emulated).
fp16 with a gradient scaler is an explicit option for a run trained alone (`precision="fp16"`):
a stack has no per-run scaler, and the small models of the fast presets are bound by kernel
launches, not arithmetic, so fp16 buys them nothing.

Process-wide settings (threads, TF32, the current GPU, deterministic algorithms, the CPU's
instruction set) are not set by the library: entry points call `set_execution` and
`cap_cpu_instruction_set`, whose variables the processes they start inherit, and every entry
point, worker and notebook kernel calls `init_process` (workers: `init_worker`), which applies them.
"""

from __future__ import annotations

import contextlib
import os
import platform

import torch

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
# Execution settings an entry point chooses for the whole run (`set_execution`), carried to every
# process it starts (training workers, submitit tasks, notebook kernels) by their environment.
PRECISION_VARIABLE, DETERMINISTIC_VARIABLE = "PAPERLIB_PRECISION", "PAPERLIB_DETERMINISTIC"


def pick_device(device: str = "auto") -> torch.device:
    """CUDA (the current GPU of this process), then Apple MPS, then the CPU."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def precision_name(device: torch.device, capability: tuple[int, int] | None = None) -> str:
    """The policy: "bf16" on GPUs of compute capability >= 8.0, "fp32" everywhere else."""
    if device.type != "cuda":
        return "fp32"
    major, _ = capability if capability is not None else torch.cuda.get_device_capability(device)
    return "bf16" if major >= 8 else "fp32"


def autocast_dtype(device: torch.device, capability: tuple[int, int] | None = None) -> torch.dtype | None:
    """The autocast type of the policy on `device` (None: fp32, no autocast)."""
    return PRECISIONS[precision_name(device, capability)]


def resolve_precision(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """`precision` ("auto", "fp32", "bf16", "fp16") as an autocast type for `device`; "auto" is the
    run's setting where an entry point made one (`set_execution`), else the device's policy."""
    if precision == "auto":
        precision = os.environ.get(PRECISION_VARIABLE, "auto")
    if precision == "auto":
        return autocast_dtype(device)
    if precision not in PRECISIONS:
        raise ValueError(f"precision: choose from {('auto', *PRECISIONS)}, got {precision!r}")
    return PRECISIONS[precision]


def autocast(device: torch.device, dtype: torch.dtype | None):
    """The autocast context of `dtype` on `device` (a no-op for fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def enable_tf32() -> None:
    """TF32 matmuls and convolutions on Ampere and newer GPUs (for entry points and workers)."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def deterministic_mode() -> None:
    """Opt-in bit-exact training on a GPU (for entry points): deterministic algorithms, cuBLAS's
    fixed workspace, and (read by `model` and `train`) a matmul upsample and noise drawn on the
    host, so the same seed gives the same weights on the same GPU model. Slower."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False


# The variables that cap PyTorch's own kernels (ATen), oneDNN's convolutions and MKL's BLAS at AVX2.
AVX2_CAP = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def is_x86(machine: str | None = None) -> bool:
    """Whether `machine` (default: this one, `platform.machine()`) is an x86 CPU, where the cap applies."""
    return (machine or platform.machine()).lower() in ("x86_64", "amd64", "i386", "i686", "x86")


def cap_cpu_instruction_set(environ=os.environ, machine: str | None = None) -> dict[str, str]:
    """Cap the CPU kernels of this process and of every process it starts afterwards (training
    workers, notebook kernels, submitit tasks) at AVX2, on x86 CPUs; for entry points, before any
    tensor work. Why: AVX-512 and AVX2 kernels round floats differently, and over thousands of
    steps a model parts from its AVX2 twin as another seed's would; on the AVX-512 CPU five
    borderline verdicts moved (README "Stability"), and capped it gave the AVX2 machine's claims
    table back to every printed digit, at a few percent of speed (BENCHMARKS.md, session 10). A
    variable the user set is kept. Returns the variables it set (none on other CPUs, e.g. ARM)."""
    if not is_x86(machine):
        return {}
    added = {name: value for name, value in AVX2_CAP.items() if name not in environ}
    environ.update(added)
    return added


def worker_devices(devices: list[str] | None, workers: int, device_count: int) -> list[str]:
    """The device of each of `workers` worker processes: the listed `devices` in turn, else the
    machine's `device_count` GPUs in turn, else the CPU."""
    if devices:
        pool = list(devices)
    elif device_count > 0:
        pool = [f"cuda:{i}" for i in range(device_count)]
    else:
        pool = ["cpu"]
    return [pool[i % len(pool)] for i in range(workers)]


def set_execution(precision: str = "auto", deterministic: bool = False, environ=os.environ) -> None:
    """For entry points: the run's precision and deterministic mode, set in the environment so that
    every process started afterwards (workers, submitit tasks, notebook kernels) trains with them;
    each applies them with `init_process` (precision is read where a Trainer resolves "auto")."""
    if precision not in ("auto", *PRECISIONS):
        raise ValueError(f"precision: choose from {('auto', *PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        environ[PRECISION_VARIABLE] = precision
    if deterministic:
        environ[DETERMINISTIC_VARIABLE] = "1"


def init_process() -> None:
    """Process-wide settings of an entry point, a worker or a notebook's kernel: TF32 where a CUDA
    GPU trains, and deterministic algorithms where the run asked for them (`set_execution`)."""
    if torch.cuda.is_available():
        enable_tf32()
    if os.environ.get(DETERMINISTIC_VARIABLE) == "1":
        deterministic_mode()


def init_worker(device: str) -> None:
    """Process-wide settings of a training worker: on a GPU, make `device` this process's current
    GPU (so "auto" and "cuda" mean it); on the CPU, one thread per worker; then `init_process`."""
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    else:
        torch.set_num_threads(1)
    init_process()
