"""The noise schedule, the training loss and the samplers, kept apart from the network.

A linear beta schedule (T = 1000, 1e-4..0.02; Ho et al. 2020), the noise-prediction MSE of
Eq. 2 (and the options of `DiffusionConfig`: velocity or image prediction, min-SNR weights,
log-normal timesteps), the ancestral DDPM sampler and the deterministic DDIM sampler (Song et
al. 2021) that takes fewer steps. Every sampler draws its noise from a seeded generator and
reads the network's output as noise (`Schedule.to_eps`), whatever it predicts.
"""

from __future__ import annotations

import numpy as np
import torch

from .config import DiffusionConfig


class Schedule:
    """betas, alphas and their cumulative products for one `DiffusionConfig`, and what follows from
    them: per-timestep loss weights, the timestep distribution of training, the training targets."""

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
        self._t_probs = self.timestep_probabilities().float().to(self.device)
        return self

    @property
    def snr(self) -> torch.Tensor:
        return self.alpha_bar / (1 - self.alpha_bar)

    def loss_weights(self) -> torch.Tensor:
        """Per-timestep weights of the squared error of the prediction (all 1 for Eq. 2)."""
        c, snr = self.config, self.snr
        if c.loss_weight == "uniform":
            return torch.ones(self.T, dtype=torch.float64)
        if c.loss_weight == "inverse_snr":
            return (1 / snr).clamp(1.0, c.max_weight)
        clipped = snr.clamp(max=c.snr_gamma)  # min-SNR-gamma: min(SNR, gamma) on the x0 error
        return {"eps": clipped / snr, "v": clipped / (snr + 1), "x0": clipped}[c.prediction]

    def timestep_probabilities(self) -> torch.Tensor:
        """P(t) of training: uniform, or the discretised log-normal density of the noise level."""
        if self.config.timesteps == "uniform":
            return torch.full((self.T,), 1.0 / self.T, dtype=torch.float64)
        log_sigma = -0.5 * torch.log(self.snr)
        width = torch.gradient(log_sigma)[0].abs()
        density = torch.exp(-0.5 * ((log_sigma - self.config.t_mean) / self.config.t_std) ** 2) * width
        return density / density.sum()

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps."""
        ab = self._ab[t][:, None, None, None]
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def target(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """What the network is trained to output: eps, v = sqrt(abar) eps - sqrt(1 - abar) x0, or x0."""
        if self.config.prediction == "eps":
            return noise
        if self.config.prediction == "x0":
            return x0
        ab = self._ab[t][:, None, None, None]
        return ab.sqrt() * noise - (1 - ab).sqrt() * x0

    def to_eps(self, output: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The noise the network's output implies at x_t (the samplers' reading of any prediction),
        in fp32 whatever the network computed in: under bf16, 1 - abar at t = 0 (1e-4) rounds to 0
        and x0-prediction would divide by it."""
        output = output.float()
        if self.config.prediction == "eps":
            return output
        ab = self._ab[t].view(-1, *[1] * (x.dim() - 1))
        x = x.float()
        if self.config.prediction == "x0":
            return (x - ab.sqrt() * output) / (1 - ab).sqrt()
        return ab.sqrt() * output + (1 - ab).sqrt() * x

    def training_inputs(self, x0: torch.Tensor, generator: torch.Generator | None = None):
        """The inputs of one training step: t (uniform in {0..T-1}, or as `timesteps` says) and
        eps ~ N(0, I), drawn in that order from `generator` (on its own device); returns (x_t, t,
        target)."""
        where = generator.device if generator is not None else x0.device
        if self.config.timesteps == "uniform":
            t = torch.randint(0, self.T, (x0.shape[0],), generator=generator, device=where)
        else:
            t = torch.multinomial(self._t_probs.to(where), x0.shape[0], replacement=True, generator=generator)
        noise = torch.randn(x0.shape, generator=generator, device=where, dtype=x0.dtype)
        if where != x0.device:  # draws made on the host (deterministic mode): two copies
            t, noise = t.to(x0.device, non_blocking=True), noise.to(x0.device, non_blocking=True)
        return self.q_sample(x0, t, noise), t, self.target(x0, t, noise)

    def weighted_mse(self, predicted: torch.Tensor, target: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of each sample's squared error times its timestep's weight (the last
        three dimensions are one image; leading ones are kept but the batch's)."""
        per_sample = (predicted.float() - target).pow(2).mean(dim=(-3, -2, -1))
        return (self._weight[t] * per_sample).mean(dim=-1)

    def loss(self, model, x0: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Eq. 2: E_{t, x0, eps} ||eps - eps_theta(x_t, t, c)||^2 with t uniform in {0..T-1},
        each timestep weighted as `DiffusionConfig.loss_weight` says (1 for Eq. 2 as written);
        the target and the timesteps as the config's options say."""
        x_t, t, target = self.training_inputs(x0, generator)
        return self.weighted_mse(model(x_t, t, labels), target, t)


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
        steps_t = torch.full((n,), int(t), device=device)
        eps = schedule.to_eps(model(x, steps_t, labels), x, steps_t)
        a_t = ab[t]
        x0 = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-1, 1)
        eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
        a_prev = ab[ts[i + 1]] if i + 1 < steps else torch.tensor(1.0, device=device)
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return x.clamp(-1, 1)


@torch.no_grad()
def ddpm_sample(model, schedule: Schedule, labels, seed: int = 0, on_step=None, x=None) -> torch.Tensor:
    """Ancestral DDPM sampling over all T steps (Ho et al. 2020, Alg. 2); returns x0 in [-1, 1].
    The starting noise is drawn from `seed`, or given as `x`; the later draws come from `seed`."""
    device = schedule.device
    labels = label_tensor(labels, device)
    n, N = labels.shape[0], model.N
    start, g = initial_noise((n, 1, N, N), seed, device)
    x = start if x is None else x
    ab = schedule._ab
    betas = schedule.betas.float().to(device)
    for i, t in enumerate(range(schedule.T - 1, -1, -1)):
        if on_step is not None:
            on_step(i, t)
        steps_t = torch.full((n,), t, device=device)
        eps = schedule.to_eps(model(x, steps_t, labels), x, steps_t)
        mean = (x - betas[t] / (1 - ab[t]).sqrt() * eps) / (1 - betas[t]).sqrt()
        if t > 0:
            var = betas[t] * (1 - ab[t - 1]) / (1 - ab[t])
            x = mean + var.sqrt() * torch.randn(x.shape, generator=g).to(device)
        else:
            x = mean
    return x.clamp(-1, 1)


def sample(model, schedule: Schedule, labels, steps: int | None = None, seed: int = 0, on_step=None, x=None) -> torch.Tensor:
    """DDIM with `steps` steps, or full DDPM when steps is None or equals T (starting from `x` if given)."""
    if steps is None or steps >= schedule.T:
        return ddpm_sample(model, schedule, labels, seed, on_step, x)
    return ddim_sample(model, schedule, labels, steps, seed, on_step, x)
