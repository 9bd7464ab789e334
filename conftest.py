"""Test-session settings shared by the unit tests and nbval: notebooks run under the `smoke`
preset (their `preset = "auto"` reads $PAPERLIB_PRESET), so the same files serve users and CI;
the throughput cache is a throwaway folder, so a machine's own measurements never change what a
test plans (the package's shipped CPU table applies). The suite runs on the CPU, on a GPU machine
too (its numbers are pinned on the CPU); "cuda" marks the tests that need a GPU, which run where
$PAPERLIB_TEST_CUDA=1 (`python -m paperlib.bench gpu-check` sets it) and are skipped elsewhere."""

import os
import tempfile

import pytest

os.environ.setdefault("PAPERLIB_PRESET", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["PAPERLIB_CACHE"] = tempfile.mkdtemp(prefix="paperlib-test-cache-")
if os.environ.get("PAPERLIB_TEST_CUDA") != "1":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch initialises CUDA: every device is the CPU


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device here (python -m paperlib.bench gpu-check runs these on a GPU)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
