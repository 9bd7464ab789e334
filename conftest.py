"""Test-session settings shared by the unit tests and nbval: notebooks run under the `smoke`
preset (their `preset = "auto"` reads $PAPERLIB_PRESET), so the same files serve users and CI;
the throughput cache is a throwaway folder, so a machine's own measurements never change what a
test plans (the package's shipped CPU table applies); "cuda" marks tests that need a GPU."""

import os
import tempfile

import pytest

os.environ.setdefault("PAPERLIB_PRESET", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["PAPERLIB_CACHE"] = tempfile.mkdtemp(prefix="paperlib-test-cache-")


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device here (python -m paperlib.bench gpu-check runs these on a GPU)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
