"""The conditional UNet of App. A.1 (Fig. 7), read top to bottom.

inc -> down1 -> down2 -> down3 -> bottleneck -> up1 -> up2 -> up3 -> out. Each down block is a
2x max-pool then two DoubleConvs (conv, GroupNorm, GELU), each up block a 2x upsample, the skip
concatenated, then two DoubleConvs; self-attention follows the blocks at the resolutions chosen
in `ModelConfig.attention` (N/2, N/4, N/8; an up block mirrors the down block of its resolution;
none at full resolution, where it costs 2-3x on a CPU). The condition is the concatenation of
sinusoidal encodings of the timestep and of the x and y labels (no trainable embedding MLP,
App. A.1); every block adds its own linear projection of it to its channels (or, with
`conditioning="film"`, also scales them).

With `coord_features` the input also carries sin/cos of each pixel's coordinates at the label
frequencies; with FiLM conditioning these are first scaled by the label's encoding, so the 1x1
convolution that follows can sum cos(w px) cos(w mx) + sin(w px) sin(w mx) = cos(w (px - mx))
into a stripe at the label: a learned route from the label to absolute position (an option of
the fast presets). Its `width` channels are concatenated to the image before the first block.

Sizes follow the input: nothing assumes a 32 x 32 canvas, only that N is divisible by 8.
Activations of any block can be read with `capture(model, ["layer4"])` without editing the model.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ModelConfig

# The paper reads "layer 4" (App. A.1): the blocks of Fig. 7 numbered in order, so layer 4 is
# the output of the third down block (with its attention), the last one above the bottleneck.
LAYERS = ("inc", "down1", "down2", "down3", "bottleneck", "up1", "up2", "up3")
LAYER_ALIASES = {f"layer{i + 1}": name for i, name in enumerate(LAYERS)}


def sinusoidal(values: torch.Tensor, dim: int, freqs: torch.Tensor) -> torch.Tensor:
    """[sin(v f_k), cos(v f_k)] for each frequency: shape (n, dim)."""
    angles = values.float()[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def transformer_freqs(dim: int, base: float = 10_000.0) -> torch.Tensor:
    """The frequencies of Vaswani et al. (and of dome272's DDPM), 1 / base^(2k/dim)."""
    return base ** (-torch.arange(0, dim, 2).float() / dim)


def canvas_freqs(dim: int, N: int) -> torch.Tensor:
    """Frequencies pi k / N, k = 1..dim/2: periods from 2N down to a few pixels across the canvas."""
    return math.pi * torch.arange(1, dim // 2 + 1).float() / N


def periodic_freqs(dim: int, N: int) -> torch.Tensor:
    """Frequencies 2 pi k / N, k = 1..dim/2: every encoding is N-periodic, so labels mx and mx + N
    (the same point of the torus, section 3.1) are encoded alike."""
    return 2 * math.pi * torch.arange(1, dim // 2 + 1).float() / N


LABEL_FREQS = {"transformer": lambda dim, N: transformer_freqs(dim), "canvas": canvas_freqs, "periodic": periodic_freqs}


class DoubleConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, groups: int, c_mid: int | None = None, residual: bool = False):
        super().__init__()
        c_mid = c_mid or c_out
        self.residual = residual
        self.net = nn.Sequential(
            nn.Conv2d(c_in, c_mid, 3, padding=1, bias=False),
            nn.GroupNorm(groups, c_mid),
            nn.GELU(),
            nn.Conv2d(c_mid, c_out, 3, padding=1, bias=False),
            nn.GroupNorm(groups, c_out),
        )

    def forward(self, x):
        return F.gelu(x + self.net(x)) if self.residual else self.net(x)


class Condition(nn.Module):
    """Project the condition vector onto a block's channels: a shift, or a FiLM scale and shift."""

    def __init__(self, cond_dim: int, channels: int, film: bool):
        super().__init__()
        self.film = film
        self.proj = nn.Linear(cond_dim, channels * (2 if film else 1))

    def forward(self, h, cond):
        p = self.proj(F.silu(cond))[:, :, None, None]
        if not self.film:
            return h + p
        scale, shift = p.chunk(2, dim=1)
        return h * (1 + scale) + shift


class Down(nn.Module):
    def __init__(self, c_in, c_out, cond_dim, groups, film):
        super().__init__()
        self.convs = nn.Sequential(nn.MaxPool2d(2), DoubleConv(c_in, c_in, groups, residual=True), DoubleConv(c_in, c_out, groups))
        self.cond = Condition(cond_dim, c_out, film)

    def forward(self, x, cond):
        return self.cond(self.convs(x), cond)


def interpolation_matrix(n: int, device=None, dtype=None) -> torch.Tensor:
    """(2n, n) weights of 2x bilinear upsampling along one axis with aligned corners."""
    pos = torch.linspace(0, n - 1, 2 * n, dtype=torch.float64)
    lo = pos.floor().clamp(max=n - 2) if n > 1 else torch.zeros_like(pos)
    frac = pos - lo
    w = torch.zeros(2 * n, n, dtype=torch.float64)
    rows = torch.arange(2 * n)
    w[rows, lo.long()] = 1 - frac
    if n > 1:
        w[rows, lo.long() + 1] += frac
    return w.to(device=device, dtype=dtype)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Bilinear 2x upsampling (aligned corners). Under deterministic algorithms (`device.
    deterministic_mode`) it is two matmuls, whose backward is deterministic on a GPU, unlike
    the upsampling kernel's; the numbers agree to float rounding."""
    if not torch.are_deterministic_algorithms_enabled():
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
    h, w = x.shape[-2:]
    return interpolation_matrix(h, x.device, x.dtype) @ x @ interpolation_matrix(w, x.device, x.dtype).T


class Up(nn.Module):
    def __init__(self, c_in, c_out, cond_dim, groups, film):
        super().__init__()
        self.convs = nn.Sequential(DoubleConv(c_in, c_in, groups, residual=True), DoubleConv(c_in, c_out, groups, c_mid=c_in // 2))
        self.cond = Condition(cond_dim, c_out, film)

    def forward(self, x, skip, cond):
        x = torch.cat([skip, upsample2x(x)], dim=1)
        return self.cond(self.convs(x), cond)


class SelfAttention(nn.Module):
    """Multi-head self-attention over all positions of a feature map, with a feed-forward."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.ff = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, channels), nn.GELU(), nn.Linear(channels, channels))

    def forward(self, x):
        b, c, h, w = x.shape
        s = x.flatten(2).transpose(1, 2)
        s = s + self._attend(self.norm(s))
        s = s + self.ff(s)
        return s.transpose(1, 2).reshape(b, c, h, w)

    def _attend(self, s):
        """nn.MultiheadAttention's computation written out with its own weights: the feature maps
        here hold at most a few dozen positions, and plain matmuls vectorise over a stack of
        models (`torch.func.vmap`), where the fused attention kernel falls back to a loop."""
        b, n, c = s.shape
        heads = self.attn.num_heads
        q, k, v = F.linear(s, self.attn.in_proj_weight, self.attn.in_proj_bias).view(b, n, 3, heads, c // heads).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // heads), dim=-1)
        return self.attn.out_proj(((weights @ v).transpose(1, 2)).reshape(b, n, c))


class Block(nn.Module):
    """A named stage of the UNet: its conv block, then optional self-attention. The output of a
    Block is what `capture` records for that layer."""

    def __init__(self, conv: nn.Module, attention: nn.Module | None):
        super().__init__()
        self.conv = conv
        self.attention = attention or nn.Identity()

    def forward(self, *args):
        return self.attention(self.conv(*args))


class UNet(nn.Module):
    def __init__(self, config: ModelConfig, N: int):
        super().__init__()
        config.validate()
        self.config, self.N = config, N
        w, g, film = config.width, config.groups, config.conditioning == "film"
        c0, c1, c2, c3 = (w * m for m in config.channel_mult)
        cb = w * config.bottleneck_mult
        cond_dim = 3 * config.enc_dim
        attn = lambda on, c: SelfAttention(c, config.heads) if on else None  # noqa: E731
        a1, a2, a3 = config.attention

        self.register_buffer("t_freqs", transformer_freqs(config.enc_dim), persistent=False)
        self.register_buffer("label_freqs", LABEL_FREQS[config.label_encoding](config.enc_dim, N), persistent=False)
        self.register_buffer("coords", self._coordinate_channels(), persistent=False)

        n_coords = self.coords.shape[0]
        self.coord_film = Condition(cond_dim, n_coords, film=True) if n_coords and film else None
        self.coord_in = nn.Conv2d(n_coords, c0, 1) if n_coords else None
        self.inc = Block(DoubleConv(1 + (c0 if n_coords else 0), c0, g), None)
        self.down1 = Block(Down(c0, c1, cond_dim, g, film), attn(a1, c1))
        self.down2 = Block(Down(c1, c2, cond_dim, g, film), attn(a2, c2))
        self.down3 = Block(Down(c2, c3, cond_dim, g, film), attn(a3, c3))
        self.bottleneck = Block(nn.Sequential(DoubleConv(c3, cb, g), DoubleConv(cb, cb, g), DoubleConv(cb, c3, g)), None)
        self.up1 = Block(Up(c3 + c2, c1, cond_dim, g, film), attn(a2, c1))
        self.up2 = Block(Up(c1 + c1, c0, cond_dim, g, film), attn(a1, c0))
        self.up3 = Block(Up(c0 + c0, c0, cond_dim, g, film), None)
        self.out = nn.Conv2d(c0, 1, 1)

    def _coordinate_channels(self) -> torch.Tensor:
        """sin/cos of each pixel's x and y at the label frequencies: (2 * enc_dim, N, N)."""
        if not self.config.coord_features:
            return torch.zeros(0, self.N, self.N)
        pix = torch.arange(1, self.N + 1).float()
        f = sinusoidal(pix, self.config.enc_dim, self.label_freqs).T  # (enc_dim, N): along one axis
        n = self.N
        return torch.cat([f[:, None, :].expand(-1, n, n), f[:, :, None].expand(-1, n, n)], dim=0)

    def condition(self, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The concatenated encodings [enc(t), enc(mx), enc(my)] of App. A.1."""
        d = self.config.enc_dim
        return torch.cat([
            sinusoidal(t, d, self.t_freqs),
            sinusoidal(labels[:, 0], d, self.label_freqs),
            sinusoidal(labels[:, 1], d, self.label_freqs),
        ], dim=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Predict the noise in x (shape (n, 1, N, N)) at timesteps t for labels (n, 2)."""
        cond = self.condition(t, labels)
        if self.coords.shape[0]:
            coords = self.coords.expand(x.shape[0], -1, -1, -1)
            if self.coord_film is not None:
                coords = self.coord_film(coords, cond)
            x = torch.cat([x, self.coord_in(coords)], dim=1)
        h0 = self.inc(x)
        h1 = self.down1(h0, cond)
        h2 = self.down2(h1, cond)
        h3 = self.down3(h2, cond)
        h = self.bottleneck(h3)
        h = self.up1(h, h2, cond)
        h = self.up2(h, h1, cond)
        h = self.up3(h, h0, cond)
        return self.out(h)


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@contextmanager
def capture(model: UNet, layers=("layer4",)):
    """Record the outputs of named blocks during forward passes, flattened per sample.

    `layers` take block names (`LAYERS`) or the paper's numbering ("layer4" = "down3").
    Yields a dict name -> list of tensors (one per forward pass, detached, left on the model's
    device: a sampler that keeps only the last step never copies the others).
    """
    names = [LAYER_ALIASES.get(n, n) for n in layers]
    unknown = [n for n in names if n not in LAYERS]
    if unknown:
        raise ValueError(f"layers: unknown layer(s) {unknown}; choose from {LAYERS} or layer1..layer{len(LAYERS)}")
    records: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    handles = []
    for requested, name in zip(layers, names):
        def hook(_module, _inputs, output, key=requested):
            records[key].append(output.detach().flatten(1))
        handles.append(getattr(model, name).register_forward_hook(hook))
    try:
        yield records
    finally:
        for h in handles:
            h.remove()
