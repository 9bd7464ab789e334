"""The noise schedule, the training loss and the samplers, kept apart from the network.

A linear beta schedule (T = 1000, 1e-4..0.02; Ho et al. 2020), the noise-prediction MSE of
Eq. 2, the ancestral DDPM sampler and the deterministic DDIM sampler (Song et al. 2021) that
takes fewer steps. Every sampler draws its noise from a seeded generator.
"""

from __future__ import annotations

import numpy as np
import torch

from .config import DiffusionConfig


class Schedule:
    """betas, alphas and their cumulative products for one `DiffusionConfig`."""

    def __init__(self, config: DiffusionConfig, device="cpu"):
        config.validate()
        self.config = config
        self.T = config.T
        self.betas = torch.linspace(config.beta_start, config.beta_end, config.T, dtype=torch.float64)
        self.alphas = 1 - self.betas
        self.alpha_bar = torch.cumprod(self.alphas, 0)
        self.to(device)

    def to(self, device) -> "Schedule":
        self.device = torch.device(device)
        self._ab = self.alpha_bar.float().to(self.device)
        self._weight = self.loss_weights().float().to(self.device)
        return self

    def loss_weights(self) -> torch.Tensor:
        """Per-timestep weights of the noise-MSE (all 1 for the paper's Eq. 2)."""
        if self.config.loss_weight == "uniform":
            return torch.ones(self.T, dtype=torch.float64)
        inverse_snr = (1 - self.alpha_bar) / self.alpha_bar
        return inverse_snr.clamp(1.0, self.config.max_weight)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps."""
        ab = self._ab[t][:, None, None, None]
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def training_inputs(self, x0: torch.Tensor, generator: torch.Generator | None = None):
        """The noised images of one training step: t uniform in {0..T-1}, eps ~ N(0, I), drawn in
        that order from `generator` (on its own device), and x_t. Returns (x_t, t, eps)."""
        where = generator.device if generator is not None else x0.device
        t = torch.randint(0, self.T, (x0.shape[0],), generator=generator, device=where)
        noise = torch.randn(x0.shape, generator=generator, device=where, dtype=x0.dtype)
        if where != x0.device:  # draws made on the host (deterministic mode): two copies
            t, noise = t.to(x0.device, non_blocking=True), noise.to(x0.device, non_blocking=True)
        return self.q_sample(x0, t, noise), t, noise

    def weighted_mse(self, predicted: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of each sample's noise-MSE times its timestep's weight (the last
        three dimensions are one image; leading ones are kept but the batch's)."""
        per_sample = (predicted.float() - noise).pow(2).mean(dim=(-3, -2, -1))
        return (self._weight[t] * per_sample).mean(dim=-1)

    def loss(self, model, x0: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Eq. 2: E_{t, x0, eps} ||eps - eps_theta(x_t, t, c)||^2 with t uniform in {0..T-1},
        each timestep weighted as `DiffusionConfig.loss_weight` says (1 for Eq. 2 as written)."""
        x_t, t, noise = self.training_inputs(x0, generator)
        return self.weighted_mse(model(x_t, t, labels), noise, t)


def initial_noise(shape, seed: int, device) -> tuple[torch.Tensor, torch.Generator]:
    """A sampler's starting noise, drawn on the host from `seed` (the same on every device), and
    the generator for any later draws."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(shape, generator=g).to(device), g


def label_tensor(labels, device) -> torch.Tensor:
    """(n, 2) labels as float32 on `device`, from a numpy array, a list or a tensor on any device."""
    if torch.is_tensor(labels):
        return labels.to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(labels), dtype=torch.float32, device=device)


@torch.no_grad()
def ddim_sample(model, schedule: Schedule, labels, steps: int = 50, seed: int = 0, on_step=None, x=None) -> torch.Tensor:
    """Deterministic DDIM (eta = 0) on `steps` evenly spaced timesteps; returns x0 in [-1, 1].

    `on_step(i, t)` is called before each network evaluation (i = 0 .. steps-1), e.g. to mark the
    final denoising step, where the paper reads its representations (App. A.3). The starting
    noise is drawn from `seed`, or given as `x` (a stack of models shares one seed's noise).
    """
    device = schedule.device
    labels = label_tensor(labels, device)
    n, N = labels.shape[0], model.N
    if x is None:
        x, _ = initial_noise((n, 1, N, N), seed, device)
    ts = np.linspace(schedule.T - 1, 0, steps).round().astype(int)
    ab = schedule._ab
    for i, t in enumerate(ts):
        if on_step is not None:
            on_step(i, int(t))
        eps = model(x, torch.full((n,), int(t), device=device), labels)
        a_t = ab[t]
        x0 = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-1, 1)
        eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
        a_prev = ab[ts[i + 1]] if i + 1 < steps else torch.tensor(1.0, device=device)
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return x.clamp(-1, 1)


@torch.no_grad()
def ddpm_sample(model, schedule: Schedule, labels, seed: int = 0, on_step=None) -> torch.Tensor:
    """Ancestral DDPM sampling over all T steps (Ho et al. 2020, Alg. 2); returns x0 in [-1, 1]."""
    device = schedule.device
    labels = label_tensor(labels, device)
    n, N = labels.shape[0], model.N
    x, g = initial_noise((n, 1, N, N), seed, device)
    ab = schedule._ab
    betas = schedule.betas.float().to(device)
    for i, t in enumerate(range(schedule.T - 1, -1, -1)):
        if on_step is not None:
            on_step(i, t)
        eps = model(x, torch.full((n,), t, device=device), labels)
        mean = (x - betas[t] / (1 - ab[t]).sqrt() * eps) / (1 - betas[t]).sqrt()
        if t > 0:
            var = betas[t] * (1 - ab[t - 1]) / (1 - ab[t])
            x = mean + var.sqrt() * torch.randn(x.shape, generator=g).to(device)
        else:
            x = mean
    return x.clamp(-1, 1)


def sample(model, schedule: Schedule, labels, steps: int | None = None, seed: int = 0, on_step=None) -> torch.Tensor:
    """DDIM with `steps` steps, or full DDPM when steps is None or equals T."""
    if steps is None or steps >= schedule.T:
        return ddpm_sample(model, schedule, labels, seed, on_step)
    return ddim_sample(model, schedule, labels, steps, seed, on_step)
