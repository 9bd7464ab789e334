"""The GPUs the cost model knows by their nominal figures (no torch here, so that a command line
can list them before importing torch)."""

from __future__ import annotations

from dataclasses import dataclass


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
GENERIC_GPU = "A100"  # the sheet a GPU without one of its own is planned with
