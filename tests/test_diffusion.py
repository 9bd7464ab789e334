"""The schedule and the samplers, pinned the way diffusers pins its schedulers: values at given
timesteps, full loops with a known answer (the exact noise predictor of Gaussian data, whose
samplers are linear maps with a closed form), and a seeded network's full DDIM loop."""

import numpy as np
import pytest
import torch

from paperlib.config import DiffusionConfig, preset
from paperlib.diffusion import Schedule, ddim_sample, ddpm_sample
from paperlib.train import new_model

MU, S, N = 0.2, 0.1, 8  # per-pixel data distribution N(MU, S^2): well inside [-1, 1], so no clamping acts


class GaussianEps:
    """The exact (posterior-mean) noise predictor for data x0 ~ N(MU, S^2) per pixel:
    E[eps | x_t] = sqrt(1 - abar) (x_t - sqrt(abar) MU) / (abar S^2 + 1 - abar)."""

    N = N

    def __init__(self, schedule: Schedule):
        self.ab = schedule.alpha_bar.float()

    def __call__(self, x, t, labels):
        ab = self.ab[t].view(-1, 1, 1, 1)
        return (1 - ab).sqrt() * (x - ab.sqrt() * MU) / (ab * S**2 + 1 - ab)


def _ddim_moments(schedule: Schedule, steps: int) -> tuple[float, float]:
    """Mean and std after DDIM from N(0, 1) with the exact predictor: each step is x -> a x + b."""
    ab = schedule.alpha_bar.numpy()
    ts = np.linspace(schedule.T - 1, 0, steps).round().astype(int)
    m, v = 0.0, 1.0
    for i, t in enumerate(ts):
        a_t = ab[t]
        prev = ab[ts[i + 1]] if i + 1 < steps else 1.0
        k = np.sqrt(1 - a_t) / (a_t * S**2 + 1 - a_t)  # eps = k (x - sqrt(a_t) MU)
        x0_a, x0_b = (1 - np.sqrt(1 - a_t) * k) / np.sqrt(a_t), np.sqrt(1 - a_t) * k * MU  # x0_hat = x0_a x + x0_b
        eps_a, eps_b = (1 - np.sqrt(a_t) * x0_a) / np.sqrt(1 - a_t), -np.sqrt(a_t) * x0_b / np.sqrt(1 - a_t)
        a, b = np.sqrt(prev) * x0_a + np.sqrt(1 - prev) * eps_a, np.sqrt(prev) * x0_b + np.sqrt(1 - prev) * eps_b
        m, v = a * m + b, a * a * v
    return m, np.sqrt(v)


def _ddpm_moments(schedule: Schedule) -> tuple[float, float]:
    """Mean and std after ancestral DDPM with the exact predictor (linear steps plus fresh noise)."""
    ab, beta = schedule.alpha_bar.numpy(), schedule.betas.numpy()
    m, v = 0.0, 1.0
    for t in range(schedule.T - 1, -1, -1):
        k = np.sqrt(1 - ab[t]) / (ab[t] * S**2 + 1 - ab[t])
        c = beta[t] / np.sqrt(1 - ab[t])
        a, b = (1 - c * k) / np.sqrt(1 - beta[t]), c * k * np.sqrt(ab[t]) * MU / np.sqrt(1 - beta[t])
        noise = beta[t] * (1 - ab[t - 1]) / (1 - ab[t]) if t > 0 else 0.0
        m, v = a * m + b, a * a * v + noise
    return m, np.sqrt(v)


def test_the_schedule_at_given_timesteps():
    s = Schedule(DiffusionConfig())
    assert s.alpha_bar[0].item() == pytest.approx(0.9999, rel=1e-12)
    assert s.alpha_bar[499].item() == pytest.approx(0.0785872429, rel=1e-8)
    assert s.alpha_bar[999].item() == pytest.approx(4.03582977e-05, rel=1e-7)
    eps = GaussianEps(s)(torch.full((1, 1, N, N), 0.3), torch.tensor([499]), None)
    assert eps[0, 0, 0, 0].item() == pytest.approx(np.sqrt(1 - 0.0785872429) * (0.3 - np.sqrt(0.0785872429) * MU)
                                                   / (0.0785872429 * S**2 + 1 - 0.0785872429), rel=1e-5)


@pytest.mark.parametrize("steps, pinned_std", [(20, 0.053922), (50, 0.078166), (1000, 0.098319)])
def test_ddim_with_the_exact_predictor_of_gaussian_data(steps, pinned_std):
    """DDIM keeps the mean and, with few steps, narrows the distribution (std 0.054 at 20 steps,
    0.078 at 50, 0.098 at 1000 for data of std 0.1): the closed form, pinned, and the sampler agrees."""
    s = Schedule(DiffusionConfig())
    mean, std = _ddim_moments(s, steps)
    assert mean == pytest.approx(MU, abs=2e-4) and std == pytest.approx(pinned_std, rel=1e-4)
    x = ddim_sample(GaussianEps(s), s, np.zeros((2048, 2)), steps, seed=0)
    assert x.mean().item() == pytest.approx(mean, abs=4 * std / np.sqrt(x.numel()))
    assert x.std().item() == pytest.approx(std, rel=0.02)
    again = ddim_sample(GaussianEps(s), s, np.zeros((2048, 2)), steps, seed=0)
    assert torch.equal(x, again)  # deterministic for a seed


def test_ddpm_with_the_exact_predictor_of_gaussian_data():
    s = Schedule(DiffusionConfig())
    mean, std = _ddpm_moments(s)
    assert mean == pytest.approx(MU, abs=1e-6) and std == pytest.approx(0.096311, rel=1e-4)  # ancestral sampling: close to 0.1
    x = ddpm_sample(GaussianEps(s), s, np.zeros((512, 2)), seed=0)
    assert x.mean().item() == pytest.approx(mean, abs=4 * std / np.sqrt(x.numel()))
    assert x.std().item() == pytest.approx(std, rel=0.03)


@pytest.mark.parametrize("prediction", ["v", "x0"])
def test_every_prediction_samples_what_the_noise_prediction_samples(prediction):
    """The exact predictor written as v or x0: the samplers read it back as the same noise."""
    eps_schedule = Schedule(DiffusionConfig())
    schedule = Schedule(DiffusionConfig(prediction=prediction, loss_weight="min_snr"))
    exact = GaussianEps(eps_schedule)

    def model(x, t, labels):
        eps, ab = exact(x, t, labels), schedule.alpha_bar.float()[t].view(-1, 1, 1, 1)
        x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
        return x0 if prediction == "x0" else ab.sqrt() * eps - (1 - ab).sqrt() * x0

    model.N = N
    a = ddim_sample(exact, eps_schedule, np.zeros((64, 2)), 20, seed=3)
    b = ddim_sample(model, schedule, np.zeros((64, 2)), 20, seed=3)
    assert torch.allclose(a, b, atol=1e-4)
    x0, t, noise = torch.randn(5, 1, N, N), torch.tensor([0, 10, 400, 800, 999]), torch.randn(5, 1, N, N)
    x_t = schedule.q_sample(x0, t, noise)
    assert torch.allclose(schedule.to_eps(schedule.target(x0, t, noise), x_t, t), noise, atol=1e-3)


def test_loss_weights_and_timesteps_at_given_steps():
    snr = Schedule(DiffusionConfig()).snr
    assert Schedule(DiffusionConfig(loss_weight="min_snr")).loss_weights()[0].item() == pytest.approx(5.0 / snr[0].item())
    assert Schedule(DiffusionConfig(loss_weight="min_snr")).loss_weights()[999].item() == pytest.approx(1.0)  # SNR < 5: weight 1
    assert Schedule(DiffusionConfig(loss_weight="min_snr", prediction="v")).loss_weights()[999].item() == pytest.approx(
        snr[999].item() / (snr[999].item() + 1))
    assert Schedule(DiffusionConfig(loss_weight="inverse_snr")).loss_weights()[999].item() == pytest.approx(20.0)
    p = Schedule(DiffusionConfig(timesteps="lognormal")).timestep_probabilities()
    log_sigma = -0.5 * torch.log(Schedule(DiffusionConfig()).snr)
    mean = (p * log_sigma).sum().item()
    assert p.sum().item() == pytest.approx(1.0) and mean == pytest.approx(-1.2, abs=0.05)  # ln sigma ~ N(-1.2, 1.2^2), discretised
    assert ((p * (log_sigma - mean) ** 2).sum().sqrt().item()) == pytest.approx(1.2, abs=0.05)


def test_a_seeded_smoke_unets_full_ddim_loop():
    run = preset("smoke")
    model = new_model(run, "cpu").eval()
    x = ddim_sample(model, Schedule(run.diffusion), [[4.0, 9.0], [12.5, 3.0]], steps=20, seed=0)
    assert x.shape == (2, 1, 16, 16)
    assert x.sum().item() == pytest.approx(104.2015, rel=1e-4)
    assert x[0, 0, 3, 5].item() == pytest.approx(-0.999609, abs=1e-4)


def test_samplers_take_labels_on_the_device_without_numpy():
    """On a GPU a tensor cannot become a numpy array; the samplers must not ask for one."""
    s = Schedule(DiffusionConfig(T=50))
    labels = torch.zeros(4, 2)
    original = torch.Tensor.__array__

    def refuse(self, *args, **kwargs):
        raise TypeError("can't convert cuda:0 device type tensor to numpy (imitated)")

    torch.Tensor.__array__ = refuse
    try:
        ddim_sample(GaussianEps(s), s, labels, 5, seed=0)
        ddpm_sample(GaussianEps(s), s, labels, seed=0)
    finally:
        torch.Tensor.__array__ = original


def test_the_noise_an_x0_prediction_implies_is_finite_under_bf16_at_t0():
    """Under bf16 autocast the network's output is bf16; abar at t = 0 (0.9999) rounds to 1 there,
    so the implied noise must be computed in fp32."""
    schedule = Schedule(DiffusionConfig(prediction="x0"))
    x = torch.randn(4, 1, 8, 8).bfloat16()
    output = (0.5 * x).bfloat16()
    t = torch.zeros(4, dtype=torch.long)
    eps = schedule.to_eps(output, x, t)
    assert eps.dtype == torch.float32 and torch.isfinite(eps).all()
    expected = (x.float() - schedule.alpha_bar[0].sqrt().float() * output.float()) / (1 - schedule.alpha_bar[0]).sqrt().float()
    assert torch.allclose(eps, expected, rtol=1e-4)
