"""Where a result came from: code version, library versions, device, time and command line.

Written into every run folder (`config.json` when a run starts, `run.json` when it ends) and
into `claims.json`, so a figure or a verdict can be traced to the code and machine that made it.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

PACKAGES = ("diffusion-factorize-compose", "torch", "numpy", "scipy", "scikit-learn", "umap-learn", "ripser", "matplotlib")
REPOSITORY = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPOSITORY, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def code_version() -> dict:
    """The git commit of the paperlib checkout and whether its tracked files differ from it
    (None outside a git checkout, e.g. an installed wheel)."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def installed_versions(names) -> dict[str, str | None]:
    """The installed version of each distribution, None where it is missing."""
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def versions() -> dict:
    return {"python": platform.python_version(), **installed_versions(PACKAGES)}


def device_info(device=None) -> dict:
    """The compute device (the CPU, or the named GPU with its compute capability and CUDA). On a
    CPU, `cpu_capability` is the vector instruction set PyTorch's kernels use (e.g. AVX2, AVX512):
    runs on two instruction sets round floats differently and train to different weights, so a
    bit-for-bit comparison of two runs holds only where it matches."""
    import torch

    info = {"device": str(device) if device is not None else "cpu", "threads": torch.get_num_threads(),
            "machine": platform.machine(), "processor": platform.processor() or None,
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if device is not None and str(device).startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        info.update(gpu=torch.cuda.get_device_name(index), capability=".".join(map(str, torch.cuda.get_device_capability(index))),
                    cuda=torch.version.cuda)
    return info


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def collect(device=None) -> dict:
    """Everything above, plus the time and the command line of this process."""
    return {"code": code_version(), "versions": versions(), **device_info(device), "time": now(), "command": " ".join(sys.argv)}
