"""Frozen configuration dataclasses, their validation, a stable hash, and the three presets.

Every experiment is described by one `RunConfig` (data + model + diffusion + training). A bad
value raises `ValueError` naming the field as soon as the config is built, before any work.
The hash of a config names its cached run, so two notebooks asking for the same model share it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass, field

FAMILIES = ("bump", "sos", "stripes", "sos+stripes", "bump+stripes")
HOLDOUTS = ("none", "cross", "interior_square", "exterior_square", "lesion", "center_fraction")
LABEL_ENCODINGS = ("transformer", "canvas", "periodic")
CONDITIONINGS = ("bias", "film")
SCHEDULES = ("constant", "cosine")
LOSS_WEIGHTS = ("uniform", "inverse_snr", "min_snr")
PREDICTIONS = ("eps", "v", "x0")
TIMESTEPS = ("uniform", "lognormal")
BUDGETS = ("steps", "plateau", "geometry")
# The version of the plateau rule (`curves.convergence`), hashed with the runs trained to their
# plateau (a run's length depends on it). 1: margins on all labels; 2: and no region still rising.
PLATEAU_RULE = 2
# The version of the rule that a representation's geometry has settled (`curves.geometry_settled`),
# hashed with the runs trained until it has. 1: participation ratio within 10%, margins within 0.05.
GEOMETRY_RULE = 1
PRESETS = ("smoke", "laptop", "gpu", "paper")


def _require(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ValueError(f"{name}: {message}")


@dataclass(frozen=True)
class HoldOut:
    """A region of 2D labels left out of training (section 3.2, App. C.3, C.4, Fig. 5).

    kind: "cross" leaves out every label with mx or my in [lo, hi] (default [13, 19]);
    "interior_square" a `width` x `width` square at the canvas centre; "exterior_square" the same
    square in the top-left corner; "lesion" a vertical band of `width` centred on N/2;
    "center_fraction" the central square holding `fraction` of the labels.
    """

    kind: str = "none"
    lo: float = 13.0
    hi: float = 19.0
    width: float = 6.0
    fraction: float = 0.2

    def __post_init__(self) -> None:
        _require(self.kind in HOLDOUTS, "holdout.kind", f"unknown held-out region {self.kind!r}; choose from {HOLDOUTS}")

    def validate(self, N: int) -> None:
        _require(self.kind in HOLDOUTS, "holdout.kind", f"unknown held-out region {self.kind!r}; choose from {HOLDOUTS}")
        if self.kind == "cross":
            _require(0 <= self.lo <= self.hi <= N, "holdout.lo/hi", f"the cross [{self.lo}, {self.hi}] must lie inside the canvas [0, {N}]")
        if self.kind in ("interior_square", "exterior_square", "lesion"):
            _require(0 < self.width <= N, "holdout.width", f"width {self.width} must lie in (0, N={N}]")
        if self.kind == "center_fraction":
            _require(0 < self.fraction < 1, "holdout.fraction", f"{self.fraction} must lie in (0, 1)")


@dataclass(frozen=True)
class DataConfig:
    """Which images the model trains on (Methods, App. C.1, D.2).

    family: "bump" (2D Gaussian bumps), "sos" (2D sums of stripes), "stripes" (1D and 0D stripes
    of the extended label space, App. C.1), "sos+stripes" and "bump+stripes" (the mixtures of
    section 3.2). Centres lie on the grid k*d, k = 1..N/d, per axis; stripes extend that grid by
    `margin` on each side (44 = 32 + 2*6 in the paper). `fraction` is the lambda of sections 3.2
    and 3.3: a seeded, nested subsample of the 2D images (larger lambda is a superset).
    `rim` keeps the 2D "rim" (labels just outside the canvas whose stripe crossing is partly
    visible) in the stripes family; `rim_width` is its width in pixels.
    """

    family: str = "bump"
    N: int = 32
    sigma_x: float = 1.0
    sigma_y: float = 1.0
    d_x: float = 0.1
    d_y: float = 0.1
    periodic: bool = False
    holdout: HoldOut = field(default_factory=HoldOut)
    fraction: float = 1.0
    margin: int = 6
    rim: bool = True
    rim_width: float = 3.0
    include_0d: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _require(self.family in FAMILIES, "family", f"unknown dataset {self.family!r}; choose from {FAMILIES}")
        _require(isinstance(self.N, int) and self.N >= 8 and self.N % 8 == 0, "N", f"{self.N} must be a positive multiple of 8 (three 2x poolings)")
        for name in ("sigma_x", "sigma_y", "d_x", "d_y"):
            value = getattr(self, name)
            _require(math.isfinite(value) and value > 0, name, f"{value} must be > 0")
        for name in ("d_x", "d_y"):
            steps = self.N / getattr(self, name)
            _require(abs(steps - round(steps)) < 1e-6, name, f"N / {name} = {steps} must be a whole number of grid steps")
        _require(0 < self.fraction <= 1, "fraction", f"lambda = {self.fraction} must lie in (0, 1]")
        _require(self.margin >= 0, "margin", f"{self.margin} must be >= 0")
        _require(self.rim_width >= 0, "rim_width", f"{self.rim_width} must be >= 0")
        if "stripes" in self.family:
            _require(self.margin > 0, "margin", "stripes need an extended label space (margin > 0)")
            _require(not self.periodic, "periodic", "stripes live in an extended, non-periodic label space")
        self.holdout.validate(self.N)


@dataclass(frozen=True)
class ModelConfig:
    """The conditional UNet of App. A.1 and the documented options of the fast presets.

    `width` is the base channel count (64 in the paper); `channel_mult` the widths of the inc,
    down1, down2, down3 blocks; `attention` which of the three down levels (and, mirrored, up
    levels) carry self-attention. `enc_dim` is the length of each of the three concatenated
    sinusoidal encodings (t, x, y). Options beyond the paper, off in the `paper` preset:
    `label_encoding="canvas"` (frequencies pi*k/N matched to the canvas instead of base 10000;
    "periodic" takes 2*pi*k/N, whose encodings wrap around the canvas like the torus's labels),
    `coord_features` (sin/cos of the pixel coordinates at the label frequencies, 2 * enc_dim extra
    input channels) and `conditioning="film"` (the encoding scales as well as shifts each
    block's channels, so a block can form cos(w (x - mx)) = cos wx cos wmx + sin wx sin wmx).
    """

    width: int = 64
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    attention: tuple[bool, bool, bool] = (True, True, True)
    bottleneck_mult: int = 8
    enc_dim: int = 256
    label_encoding: str = "transformer"
    coord_features: bool = False
    conditioning: str = "bias"
    groups: int = 1
    heads: int = 4

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _require(self.width >= 1, "width", f"{self.width} must be >= 1")
        _require(len(self.channel_mult) == 4 and all(m >= 1 for m in self.channel_mult), "channel_mult", "needs 4 positive multipliers (inc, down1..down3)")
        _require(len(self.attention) == 3, "attention", "needs 3 flags (one per resolution level)")
        _require(self.bottleneck_mult >= 1, "bottleneck_mult", f"{self.bottleneck_mult} must be >= 1")
        _require(self.enc_dim >= 2 and self.enc_dim % 2 == 0, "enc_dim", f"{self.enc_dim} must be even and >= 2")
        _require(self.label_encoding in LABEL_ENCODINGS, "label_encoding", f"choose from {LABEL_ENCODINGS}")
        _require(self.conditioning in CONDITIONINGS, "conditioning", f"choose from {CONDITIONINGS}")
        _require(self.groups >= 1, "groups", f"{self.groups} must be >= 1")
        for m in (*self.channel_mult, self.bottleneck_mult):
            _require((self.width * m) % self.groups == 0, "groups", f"{self.groups} must divide every block width")
        if any(self.attention):
            _require(all((self.width * m) % self.heads == 0 for m in self.channel_mult), "heads", f"{self.heads} must divide every block width")


@dataclass(frozen=True)
class DiffusionConfig:
    """The DDPM noise schedule of App. A.4: linear betas from beta_start to beta_end over T steps,
    and what the network predicts and how its error is weighted.

    `loss_weight="uniform"` is Eq. 2 as written; "inverse_snr" weights each timestep's noise-MSE
    by clamp(1/SNR(t), 1, max_weight), more weight where the image is hidden by noise and only
    the label tells where the bump is; "min_snr" is min-SNR-gamma (Hang et al. 2023), the weight
    min(SNR, snr_gamma) on the x0 error, expressed for the prediction at hand. `prediction`:
    the noise ("eps", Eq. 2), the velocity ("v", Salimans & Ho 2022) or the image ("x0").
    `timesteps`: t uniform (Eq. 2), or "lognormal": the noise level sigma = sqrt((1 - abar) /
    abar) drawn log-normally (ln sigma ~ N(t_mean, t_std^2), as EDM, Karras et al. 2022) and
    taken to the nearest step, spending steps on the informative noise levels.
    """

    T: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    sample_steps: int = 50
    loss_weight: str = "uniform"
    max_weight: float = 20.0
    prediction: str = "eps"
    snr_gamma: float = 5.0
    timesteps: str = "uniform"
    t_mean: float = -1.2
    t_std: float = 1.2

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _require(self.T >= 2, "T", f"{self.T} must be >= 2")
        _require(0 < self.beta_start < self.beta_end < 1, "beta_start/beta_end", "need 0 < beta_start < beta_end < 1")
        _require(1 <= self.sample_steps <= self.T, "sample_steps", f"{self.sample_steps} must lie in [1, T]")
        _require(self.loss_weight in LOSS_WEIGHTS, "loss_weight", f"choose from {LOSS_WEIGHTS}")
        _require(self.max_weight >= 1, "max_weight", f"{self.max_weight} must be >= 1")
        _require(self.prediction in PREDICTIONS, "prediction", f"choose from {PREDICTIONS}")
        _require(self.snr_gamma > 0, "snr_gamma", f"{self.snr_gamma} must be > 0")
        _require(self.timesteps in TIMESTEPS, "timesteps", f"choose from {TIMESTEPS}")
        _require(self.t_std > 0, "t_std", f"{self.t_std} must be > 0")
        _require(self.loss_weight != "inverse_snr" or self.prediction == "eps", "loss_weight", "inverse_snr weights the noise error: prediction='eps'")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation (App. A.6): AdamW, warm-up then a constant or cosine learning rate, EMA weights.

    `steps` counts optimiser steps; `eval_steps` lists the steps at which the trainer's callbacks
    run (the "over training" figures). `seed` seeds the model's initialisation and every draw of
    training (the data subsample has its own seed, `DataConfig.seed`).

    The learning curve (`paperlib.curves`): every `curve_every` steps (0: steps / 8) the EMA
    model is read out cheaply (DDIM-20 on `curve_labels` seeded evaluation labels). `until`:
    "steps" trains exactly `steps` (the curve read from half-way on); "plateau" treats `steps` as
    a cap and stops at the first read-out where the curve has plateaued (`curves.convergence`),
    the learning rate following the cap's schedule; "geometry" (section 3.1) stops at the first
    read-out where the curve has plateaued and the representation's geometry, read at the
    `eval_steps` snapshots, has settled (`curves.geometry_settled`). The rules (with their
    versions, `PLATEAU_RULE`, `GEOMETRY_RULE`), not the steps spent, are hashed.

    Execution settings, which change how a run is computed but not what it computes, are left
    out of the run's hash (`EXECUTION_FIELDS`): `checkpoint_every`.
    """

    steps: int = 10_000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 100
    schedule: str = "cosine"
    min_lr_ratio: float = 0.05
    ema: float = 0.999
    grad_clip: float = 1.0
    eval_steps: tuple[int, ...] = ()
    checkpoint_every: int = 1000
    seed: int = 0
    until: str = "steps"
    curve_every: int = 0
    curve_labels: int = 256

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _require(self.steps >= 1, "steps", f"{self.steps} must be >= 1")
        _require(self.batch_size >= 1, "batch_size", f"{self.batch_size} must be >= 1")
        _require(self.lr > 0, "lr", f"{self.lr} must be > 0")
        _require(self.weight_decay >= 0, "weight_decay", f"{self.weight_decay} must be >= 0")
        _require(self.warmup >= 0, "warmup", f"{self.warmup} must be >= 0")
        _require(self.schedule in SCHEDULES, "schedule", f"choose from {SCHEDULES}")
        _require(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", "must lie in [0, 1]")
        _require(0 <= self.ema < 1, "ema", f"{self.ema} must lie in [0, 1)")
        _require(self.grad_clip >= 0, "grad_clip", "must be >= 0 (0 disables clipping)")
        _require(all(0 <= s <= self.steps for s in self.eval_steps), "eval_steps", "must lie in [0, steps]")
        _require(self.checkpoint_every >= 1, "checkpoint_every", "must be >= 1")
        _require(self.until in BUDGETS, "until", f"choose from {BUDGETS}")
        _require(self.curve_every >= 0, "curve_every", "must be >= 0 (0: steps / 8)")
        _require(self.curve_labels >= 1, "curve_labels", "must be >= 1")


EXECUTION_FIELDS = {"train": ("checkpoint_every",)}
# Fields added after paperlib 0.2, hashed only where they differ from these values, so that runs
# trained before they existed keep their names (and their place in the cache).
ADDED_FIELDS = {"diffusion": {"prediction": "eps", "snr_gamma": 5.0, "timesteps": "uniform", "t_mean": -1.2, "t_std": 1.2},
                "train": {"until": "steps", "curve_every": 0, "curve_labels": 256}}


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a trained model; its `hash()` names the run in the cache."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        self.data.validate()
        self.model.validate()
        self.diffusion.validate()
        self.train.validate()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """A stable 12-hex-digit digest of every field but the execution settings (JSON, sorted keys)."""
        d = self.to_dict()
        for section, names in EXECUTION_FIELDS.items():
            for name in names:
                d[section].pop(name)
        for section, defaults in ADDED_FIELDS.items():
            for name, value in defaults.items():
                if d[section][name] == value:
                    d[section].pop(name)
        if self.train.until in ("plateau", "geometry"):
            d["train"]["plateau_rule"] = PLATEAU_RULE
        if self.train.until == "geometry":
            d["train"]["geometry_rule"] = GEOMETRY_RULE
        return _digest(d)

    def legacy_hash(self) -> str:
        """How runs were named before execution settings left the hash (paperlib 0.2: every field,
        and a `threads` field of 0); `RunFolder.of` finds and renames such folders."""
        d = self.to_dict()
        for section, defaults in ADDED_FIELDS.items():
            for name in defaults:
                d[section].pop(name)
        d["train"]["threads"] = 0
        return _digest(d)

    def replace(self, **sections) -> "RunConfig":
        """Copy with some fields changed: `cfg.replace(data={"sigma_x": 2.0}, train={"steps": 10})`."""
        parts = {}
        for name, changes in sections.items():
            current = getattr(self, name)
            parts[name] = changes if dataclasses.is_dataclass(changes) else dataclasses.replace(current, **changes)
        return dataclasses.replace(self, **parts)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        data = dict(d["data"])
        data["holdout"] = HoldOut(**data["holdout"])
        model = {k: tuple(v) if isinstance(v, list) else v for k, v in d["model"].items()}
        train = {k: tuple(v) if isinstance(v, list) else v for k, v in d["train"].items()}
        return cls(DataConfig(**data), ModelConfig(**model), DiffusionConfig(**d["diffusion"]), TrainConfig(**train))


def _digest(d: dict) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]


def notebook_parameter(name: str, value):
    """A notebook's papermill parameter as the sweep expects it: `papermill -p sizes "[8, 16]"`
    passes the text "[8, 16]", which is read as the literal it spells (a list, a dict, a number);
    text that spells none is refused with how to pass it (`-y "sizes: [8, 16]"`)."""
    if not isinstance(value, str):
        return value
    import ast

    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise ValueError(f"{name}: {value!r} is not a list, dict or number; pass lists and dicts with -y, "
                         f"e.g. papermill ... -y \"{name}: [8, 16]\"") from None


def resolve_preset(name: str = "auto") -> str:
    """"auto" -> $PAPERLIB_PRESET if set (how CI runs the notebooks with "smoke"), else "gpu" on
    a CUDA GPU and "laptop" elsewhere, never "paper" (days of GPU time: only when asked for by
    name); any other name is checked and returned."""
    if name == "auto":
        name = os.environ.get("PAPERLIB_PRESET", "")
        if not name:
            import torch

            name = "gpu" if torch.cuda.is_available() else "laptop"
    if name not in PRESETS:
        raise ValueError(f"preset: unknown preset {name!r}; choose from {PRESETS} or 'auto'")
    return name


def preset(name: str, **data_changes) -> RunConfig:
    """The run of one preset for the default bump task; `data_changes` edit its DataConfig. Every
    preset conditions as App. A.1 does: sinusoidal encodings of t, x and y at transformer
    frequencies, concatenated and added at every block; nothing else tells the network where a
    pixel is. What `laptop` and `gpu` change for speed is optimisation and size (README, Presets).

    smoke:  a tiny model and a few steps, so every code path runs in seconds (CI, nbval).
    laptop: for a 2-core CPU: a width-8 UNet with attention only at the lowest level, encodings of
            32 per quantity, velocity prediction with min-SNR-5 weights, batch 32, EMA 0.995
            (`python -m paperlib.bench recipes`, BENCHMARKS.md); N=32, sigma=1, d=1 (1024 images),
            4000 steps; 2500 steps when `data_changes` make N <= 16. The sections train most
            models to their plateau with these as caps (`Budget`).
    gpu:    the laptop recipe on the paper's data, for one GPU (Colab included): d=0.1 (102,400
            images at N=32), batch 128, 8000 steps (about 10 epochs); the experiments run the
            paper's sweep points and sizes with it, stacked.
    paper:  App. A.1 and Methods as written: width 64, attention at every level, enc 3 x 256,
            N=32, sigma=1, d=0.1 (102,400 images), 200 epochs; days of GPU time for all figures.

    The earlier fast recipe, which told the network its position (`fast_recipe`), is a control.
    """
    if name not in PRESETS:
        raise ValueError(f"preset: unknown preset {name!r}; choose from {PRESETS}")
    if name == "smoke":
        cfg = RunConfig(
            data=DataConfig(N=16, d_x=1.0, d_y=1.0),
            model=ModelConfig(width=8, attention=(False, False, True), bottleneck_mult=4, enc_dim=16, heads=2),
            diffusion=DiffusionConfig(sample_steps=10),
            train=TrainConfig(steps=40, batch_size=16, warmup=5, checkpoint_every=20, ema=0.9, curve_labels=16),
        )
    elif name == "laptop":
        cfg = RunConfig(
            data=DataConfig(N=32, d_x=1.0, d_y=1.0),
            model=ModelConfig(width=8, attention=(False, False, True), bottleneck_mult=4, enc_dim=32, heads=2),
            diffusion=DiffusionConfig(sample_steps=50, prediction="v", loss_weight="min_snr", snr_gamma=5.0),
            train=TrainConfig(steps=4000, batch_size=32, lr=1e-3, warmup=200, ema=0.995),
        )
    elif name == "gpu":
        cfg = preset("laptop").replace(data={"d_x": 0.1, "d_y": 0.1}, train={"steps": 8000, "batch_size": 128, "warmup": 400})
    else:
        cfg = RunConfig(
            data=DataConfig(N=32, d_x=0.1, d_y=0.1),
            model=ModelConfig(width=64, attention=(True, True, True), bottleneck_mult=8, enc_dim=256),
            diffusion=DiffusionConfig(sample_steps=1000),
            train=TrainConfig(steps=200 * 102_400 // 128, batch_size=128, lr=3e-4, warmup=1000, ema=0.9995, checkpoint_every=5000),
        )
    cfg = cfg.replace(data=data_changes) if data_changes else cfg
    if name == "laptop" and cfg.data.N <= 16:
        cfg = cfg.replace(train={"steps": 2500})
    return cfg


def fast_recipe(run: RunConfig) -> RunConfig:
    """The fast recipe of the earlier laptop preset, now a control: label frequencies matched to the
    canvas (2 pi k / N on the torus, where the encoding itself is then a Clifford torus), coordinate
    features (sin/cos of each pixel's coordinates at those frequencies) and FiLM conditioning, which
    together hand the first block a renderer of a bump at any label. It trains where a section
    shows what positional information in the input does to a claim."""
    return run.replace(model={"label_encoding": "periodic" if run.data.periodic else "canvas", "coord_features": True, "conditioning": "film"})


@dataclass(frozen=True)
class Budget:
    """How long a section trains its models under a preset: to their plateau ("plateau") or until
    their geometry settles as well ("geometry"), at most `cap` steps, read out every `every`
    (`TrainConfig.until`); the learning rate follows the cap's schedule."""

    until: str
    cap: int
    every: int

    def __post_init__(self) -> None:
        _require(self.until in ("plateau", "geometry"), "budget.until", f"{self.until!r}: choose 'plateau' or 'geometry'")
        _require(1 <= self.every <= self.cap, "budget.every", f"{self.every} must lie in [1, cap={self.cap}]")

    def apply(self, run: RunConfig) -> RunConfig:
        return run.replace(train={"until": self.until, "steps": self.cap, "curve_every": self.every})
