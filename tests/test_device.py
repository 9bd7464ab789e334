"""The device path: images rendered and noise drawn where the model trains, as on the CPU."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from paperlib import data
from paperlib.config import preset
from paperlib.device import cap_cpu_instruction_set, is_x86
from paperlib.diffusion import Schedule
from paperlib.train import Trainer, step_generator


@pytest.mark.parametrize("shape, periodic", [("bump", False), ("sos", False), ("bump", True)])
def test_float32_rendering_of_the_gpu_path_equals_the_cpu_path(shape, periodic):
    labels = np.random.default_rng(0).uniform(-6, 38, (500, 2))
    cpu = data.render(labels, 32, 0.7, 1.3, shape, periodic)
    gpu_like = data.render(labels, 32, 0.7, 1.3, shape, periodic, dtype=torch.float32)
    assert cpu.dtype == gpu_like.dtype == torch.float32 and torch.allclose(cpu, gpu_like, atol=2e-3)


@pytest.mark.cuda
def test_rendering_on_the_gpu_equals_the_cpu():
    labels = data.eval_labels(32)
    assert torch.allclose(data.render(labels, 32, 1.0, 1.0, "sos", device="cuda").cpu(), data.render(labels, 32, 1.0, 1.0, "sos"), atol=2e-3)


def test_a_training_batch_is_a_function_of_seed_and_step():
    run = preset("smoke")
    trainer = Trainer(run, device="cpu")
    x_t, t, noise, labels = trainer.training_batch(7)
    again = Trainer(run, device="cpu").training_batch(7)
    assert all(torch.equal(a, b) for a, b in zip((x_t, t, noise, labels), again))
    idx = trainer.batch_indices(7)  # the same draws made by hand on the CPU path
    x0 = data.to_model_range(data.render(trainer.dataset.labels[idx], 16, 1.0, 1.0, torch.as_tensor(trainer.dataset.shape[idx])))[:, None]
    expected = Schedule(run.diffusion).training_inputs(x0, step_generator(run.train.seed, 7))
    assert all(torch.equal(a, b) for a, b in zip((x_t, t, noise), expected))
    assert not torch.equal(trainer.training_batch(8)[2], noise)


def test_provenance_names_the_instruction_set_that_rounds_the_floats():
    """Two CPUs that differ in it (AVX2, AVX512) train the same run to different weights: the
    record must say which one a run used. ATEN_CPU_CAPABILITY caps it for a process."""
    code = "from paperlib.provenance import device_info; print(device_info()['cpu_capability'])"
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "DEFAULT"


def test_the_instruction_set_cap_is_avx2_on_x86_keeps_what_the_user_set_and_spares_other_cpus():
    environ = {"MKL_CBWR": "COMPATIBLE"}
    added = cap_cpu_instruction_set(environ, machine="x86_64")
    assert added == {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    assert environ["MKL_CBWR"] == "COMPATIBLE" and environ["ATEN_CPU_CAPABILITY"] == "avx2"
    arm = {}
    assert cap_cpu_instruction_set(arm, machine="arm64") == {} and arm == {}


@pytest.mark.skipif(not is_x86(), reason="the cap is for x86 CPUs")
def test_the_cap_set_before_any_tensor_work_caps_this_process():
    """run_all sets it after importing torch; PyTorch reads it at its first kernel, so it still holds."""
    code = ("import os, torch\nfrom paperlib.device import cap_cpu_instruction_set\nos.environ.pop('ATEN_CPU_CAPABILITY', None)\n"
            "cap_cpu_instruction_set()\ntorch.ones(64).exp()\nprint(torch.backends.cpu.get_cpu_capability())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() in ("AVX2", "DEFAULT")  # DEFAULT on a CPU without AVX2; never AVX512
