"""Probes of a training step's host-device traffic, usable on a CPU: the calls that would wait for
a GPU (host syncs: reading a tensor's value into Python) and the calls that ask for a tensor on a
device (host-to-device copies). On a CPU no call actually waits or copies, but the calls are the
same ones, so a CPU test catches a sync or a copy added to the hot loop; on a GPU
`torch.cuda.set_sync_debug_mode` confirms it (`gpu-check`)."""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from pathlib import Path

import torch

PACKAGE = str(Path(__file__).resolve().parents[1])

SYNC_METHODS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__")


@contextlib.contextmanager
def count_host_syncs():
    """Count calls of the Tensor methods that read a value into Python (each a sync on a GPU)."""
    counts: Counter = Counter()
    originals = {name: getattr(torch.Tensor, name) for name in SYNC_METHODS}

    def wrap(name, method):
        def counted(self, *args, **kwargs):
            counts[name] += 1
            return method(self, *args, **kwargs)
        return counted

    try:
        for name, method in originals.items():
            setattr(torch.Tensor, name, wrap(name, method))
        yield counts
    finally:
        for name, method in originals.items():
            setattr(torch.Tensor, name, method)


@contextlib.contextmanager
def count_device_transfers():
    """Count the `Tensor.to` calls of paperlib's own code that name a device (each a host-to-device
    copy when the tensor is on the host and the device a GPU), with whether they were non-blocking.
    Calls inside torch (e.g. gradient clipping moving norms to the device they are on) are not ours."""
    counts: Counter = Counter()
    original = torch.Tensor.to

    def counted(self, *args, **kwargs):
        named = any(isinstance(a, (torch.device, str)) for a in args) or "device" in kwargs
        if named and sys._getframe(1).f_code.co_filename.startswith(PACKAGE):
            counts["non_blocking" if kwargs.get("non_blocking") else "blocking"] += 1
        return original(self, *args, **kwargs)

    try:
        torch.Tensor.to = counted
        yield counts
    finally:
        torch.Tensor.to = original
