"""The compute device and its arithmetic: which device, which mixed precision.

Process-wide backend flags (TF32, thread counts) are not set here: entry points and worker
processes set them (`enable_tf32`).
"""

from __future__ import annotations

import torch


def pick_device(device: str = "auto") -> torch.device:
    """CUDA, then Apple MPS, then the CPU."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(device: torch.device, capability: tuple[int, int] | None = None) -> torch.dtype | None:
    """The mixed-precision type for a device: bf16 where the GPU computes it natively (compute
    capability >= 8.0: A100, H100, RTX 30xx and newer), fp16 (with a gradient scaler) on older
    GPUs such as Colab's T4, where bf16 is only emulated; None (fp32) on the CPU and MPS, where
    bf16 autocast is ~9x slower on this project's CPUs."""
    if device.type != "cuda":
        return None
    major, _ = capability if capability is not None else torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else torch.float16


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def enable_tf32() -> None:
    """TF32 matmuls and convolutions on Ampere and newer GPUs (for entry points and workers)."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
