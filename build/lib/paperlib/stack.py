"""Many models at once: K runs that share an architecture trained and sampled as one stacked model.

The paper's findings are sweeps of small models that differ only in their data and seed. A
stack holds the K runs' parameters along a leading model axis (`torch.func.stack_module_state`)
and evaluates all K networks in one vectorised call (`vmap` over `functional_call`), so the
per-step work of a small model (optimiser, dispatch, Python; on a GPU, kernel launches) is paid
once for K of them.

A stack is an execution detail. Each run keeps its own `Trainer`: dataset, seed, batch order,
timestep and noise draws, learning-rate schedule, EMA, optimiser state, checkpoints and
evaluations in its own folder. Every step the stack draws each run's batch exactly as the run's
own Trainer would (the K batches rendered in one call from the runs' joined image tables), and at
each checkpoint it writes the stacked state back into the K Trainers through their public state
(`Trainer.load_state_dict`), which save themselves: a run can be resumed alone or in another
stack, and K runs trained as a stack end with the weights they would have alone, up to float
rounding. Only runs at the same step with the same `stack_key` stack. The training loop is
`train.fit`, shared with a run alone.
"""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from . import curves
from . import data as datamod
from .config import RunConfig
from .device import autocast, autocast_dtype
from .diffusion import Schedule, ddim_sample
from .evaluate import Evaluation, evaluation_batch, score, starting_noise
from .model import capture
from .train import Trainer, fit, lr_factor, make_optimizer, step_generator


def stack_key(run: RunConfig) -> str | None:
    """Runs with equal keys can train as one stack: same network, image size, diffusion and
    optimisation; they may differ in data (family, sigma, held-out region, lambda, data seed)
    and training seed. None for runs evaluated during training (they train alone)."""
    if run.train.eval_steps:
        return None
    shared = {"model": run.model, "N": run.data.N, "diffusion": run.diffusion,
              "train": run.replace(train={"seed": 0, "checkpoint_every": 1}).train}
    return json.dumps({k: v if isinstance(v, int) else repr(v) for k, v in shared.items()}, sort_keys=True)


class StackedModel:
    """K networks of one architecture as one callable on stacked inputs (K, n, ...). With
    `compile`, the vectorised call is `torch.compile`d once for the stack's shape (on a GPU with
    CUDA graphs, mode "reduce-overhead"); `eager()` goes back to the plain call (what the
    trainer does should compiling fail)."""

    def __init__(self, modules, requires_grad: bool, compile: bool = False):
        modules = list(modules)
        for module in modules:  # one mode for all, the stack's purpose: training, or sampling (a run alone may have sampled)
            module.train(requires_grad)
        self.base = copy.deepcopy(modules[0]).to("meta")
        params, self.buffers = stack_module_state(modules)
        self.params = {k: v.detach().requires_grad_(requires_grad) for k, v in params.items()}
        self.N, self.K = modules[0].N, len(modules)
        self.layers: tuple[str, ...] = ()
        self.recorded: dict[str, torch.Tensor] = {}
        self._eager = vmap(self._one)
        self._forward = self._eager
        if compile:
            cuda = next(iter(self.params.values())).device.type == "cuda"
            self._forward = torch.compile(self._eager, dynamic=False, mode="reduce-overhead" if cuda else None)

    def _one(self, params, buffers, x, t, labels):
        with capture(self.base, self.layers) as records:
            out = functional_call(self.base, (params, buffers), (x, t, labels))
        return out, {name: r[-1] for name, r in records.items()}

    @property
    def compiled(self) -> bool:
        return self._forward is not self._eager

    def eager(self) -> None:
        self._forward = self._eager

    def __call__(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        out, self.recorded = self._forward(self.params, self.buffers, x, t, labels)
        return out

    def module_state(self, k: int, module: torch.nn.Module) -> dict:
        """The state dict of model k of the stack, as `module` (of the same architecture) names it."""
        persistent = module.state_dict().keys()
        return {**{n: p[k].detach().clone() for n, p in self.params.items()},
                **{n: b[k].clone() for n, b in self.buffers.items() if n in persistent}}


class StackedTrainer:
    """Train the runs of several `Trainer`s (same `stack_key`, same step) as one stack, with
    `train.fit`. `compile` applies `torch.compile` to the stacked network (see `StackedModel`)."""

    def __init__(self, trainers: list[Trainer], compile: bool = False):
        keys = {stack_key(t.run) for t in trainers}
        steps = {t.step for t in trainers}
        if len(keys) != 1 or None in keys:
            raise ValueError("trainers: runs of a stack need one stack_key (same network, N, diffusion and optimisation; no eval_steps)")
        if len(steps) != 1:
            raise ValueError(f"trainers: runs of a stack must be at the same step, got {sorted(steps)}")
        if trainers[0].dtype == torch.float16:
            raise ValueError("trainers: fp16 needs a gradient scaler per run; stacks train in the device's policy (bf16 or fp32)")
        for t in trainers:  # the stack a run starts in; the smaller stacks left as runs plateau keep that list
            t.stacked_with = t.stacked_with or sorted(o.run.hash() for o in trainers if o is not t)
        self.trainers = trainers
        self.compile = compile
        self.run = trainers[0].run
        self.device = trainers[0].device
        self.dtype = trainers[0].dtype
        self.step = trainers[0].step
        states = [t.state_dict() for t in trainers]
        self.model = StackedModel([t.model for t in trainers], requires_grad=True, compile=compile)
        self.ema = StackedModel([t.ema for t in trainers], requires_grad=False)
        self.parameters = list(self.model.params.values())
        self.optimizer = make_optimizer(self.parameters, self.run, self.device)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(self.run.train, s))
        self.scheduler.load_state_dict(states[0]["scheduler"])
        self.optimizer.param_groups[0]["lr"] = states[0]["optimizer"]["param_groups"][0]["lr"]
        for i, stacked in enumerate(self.parameters):  # the K AdamW states (after a resume), parameter by parameter
            own = [s["optimizer"]["state"].get(i) for s in states]
            if own[0]:
                self.optimizer.state[stacked] = {k: own[0][k].clone() if k == "step" else torch.stack([o[k] for o in own]).to(self.device)
                                                 for k in own[0]}
        self.schedule: Schedule = trainers[0].schedule
        self.table = datamod.ImageTable.cat([t.table for t in trainers])
        self.offsets = np.cumsum([0] + [len(t.dataset) for t in trainers[:-1]])

    def training_batch(self, step: int):
        """(x_t, t, target, labels), each (K, B, ...): every run's batch as its own Trainer draws it,
        the K batches' indices copied to the device at once and their images rendered in one call."""
        idx = np.concatenate([t.batch_indices(step) + o for t, o in zip(self.trainers, self.offsets)])
        rows = self.table[torch.from_numpy(idx).to(self.device, non_blocking=True)]
        K = len(self.trainers)
        x0 = datamod.to_model_range(rows.render())[:, None].view(K, -1, 1, self.run.data.N, self.run.data.N)
        draws = [self.schedule.training_inputs(x0[k], step_generator(t.run.train.seed, step, self.device)) for k, t in enumerate(self.trainers)]
        x_t, t, target = (torch.stack(parts) for parts in zip(*draws))
        return x_t, t, target, rows.labels.float().view(K, -1, 2)

    def _losses_and_gradients(self, x_t, t, target, labels) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.dtype):
            predicted = self.model(x_t, t, labels)
        losses = self.schedule.weighted_mse(predicted, target, t)
        losses.sum().backward()
        return losses

    def train_step(self) -> torch.Tensor:
        """One optimiser step of every run; returns the K losses. A compiled stack whose forward or
        backward fails to compile (the backward compiles at its first call) warns and takes the
        same step eagerly: nothing of the step has changed the runs' state by then."""
        x_t, t, target, labels = self.training_batch(self.step)
        try:
            losses = self._losses_and_gradients(x_t, t, target, labels)
        except Exception as error:  # noqa: BLE001  (compilers fail in many ways; eager always works)
            if not self.model.compiled:
                raise
            warnings.warn(f"compiling the stack failed ({type(error).__name__}: {error}); training it eagerly", stacklevel=2)
            self.model.eager()
            losses = self._losses_and_gradients(x_t, t, target, labels)
        if self.run.train.grad_clip:
            self._clip_each(self.run.train.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.params.values()), self.parameters, 1 - self.run.train.ema)
        self.step += 1
        return losses.detach()

    def _clip_each(self, max_norm: float) -> None:
        """`clip_grad_norm_` for each run of the stack on its own gradient norm, in a few kernels:
        the K norms from all gradients joined, one foreach multiply."""
        grads = [p.grad for p in self.parameters]
        norms = torch.cat([g.flatten(1) for g in grads], dim=1).norm(dim=1)
        coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        torch._foreach_mul_(grads, [coef.view(-1, *[1] * (g.dim() - 1)) for g in grads])

    def sync(self) -> None:
        """Write the stacked weights, EMA, optimiser and scheduler state back into each run's Trainer."""
        for k, trainer in enumerate(self.trainers):
            state = trainer.state_dict()
            state.update(step=self.step, model=self.model.module_state(k, trainer.model), ema=self.ema.module_state(k, trainer.ema),
                         scheduler=self.scheduler.state_dict())
            state["optimizer"] = {"param_groups": [{**state["optimizer"]["param_groups"][0], "lr": self.optimizer.param_groups[0]["lr"]}],
                                  "state": {i: {n: v.clone() if n == "step" else v[k].clone() for n, v in self.optimizer.state[p].items()}
                                            for i, p in enumerate(self.parameters) if self.optimizer.state.get(p)}}
            trainer.load_state_dict(state)

    def read_out(self, labels) -> list[Evaluation]:
        """The learning curve's read-out of every run's EMA model, sampled together (`paperlib.curves`)."""
        return sample_stacked(self.ema, self.trainers, labels, curves.readout_steps(self.run))

    def without(self, leaving: list[Trainer]):
        """The engine that trains the other runs on (their state written back first): a stack, or
        the one Trainer that is left."""
        self.sync()
        rest = [t for t in self.trainers if t not in leaving]
        return StackedTrainer(rest, compile=self.compile) if len(rest) > 1 else rest[0]

    def checkpoint(self) -> None:
        """Write the stack back into its Trainers and save each (what a stop does too)."""
        self.sync()
        for trainer in self.trainers:
            trainer.checkpoint()

    def fit(self, until: int | None = None, progress: bool = True, checkpoint_every: int | None = None) -> "StackedTrainer":
        return fit(self, (), until, progress, None, checkpoint_every)


def evaluate_stack(trainers: list[Trainer], steps: int | None = None, seed: int = 0, layers=(), labels=None,
                   progress: bool = False) -> list[Evaluation]:
    """The standard evaluation of each run (its EMA model on the N x N labels, or `labels`;
    DDIM, seed-0 noise, `layers` at the last step), the K models sampled together: the same
    starting noise as a run evaluated alone (`evaluate.evaluate`), so the same images up to float
    rounding."""
    if len({stack_key(t.run) for t in trainers}) != 1:
        raise ValueError("trainers: evaluated together only with one stack_key")
    stacked = StackedModel([t.ema for t in trainers], requires_grad=False)
    labels = datamod.eval_labels(trainers[0].run.data.N) if labels is None else labels
    return sample_stacked(stacked, trainers, labels, steps or trainers[0].run.diffusion.sample_steps, seed, layers, progress)


@torch.no_grad()
def sample_stacked(stacked: StackedModel, trainers: list[Trainer], labels, steps: int, seed: int = 0, layers=(),
                   progress: bool = False) -> list[Evaluation]:
    """Sample the K models of `stacked` (the runs of `trainers`) on `labels` with DDIM in the
    device's precision, in batches sized to its memory (`evaluation_batch`), and score each run."""
    run, device = trainers[0].run, trainers[0].device
    stacked.layers = tuple(layers)
    K, N = len(trainers), run.data.N
    labels = np.asarray(labels, dtype=np.float64)
    batch = max(1, evaluation_batch(run.model, N, device) // K)
    images, acts = [[] for _ in range(K)], [{name: [] for name in layers} for _ in range(K)]
    bar = tqdm(total=steps * -(-len(labels) // batch), disable=not progress, desc=f"sample a stack of {K}", unit="step", leave=False)
    everyone = starting_noise(len(labels), N, seed)
    for start in range(0, len(labels), batch):
        chunk = labels[start:start + batch]
        n = len(chunk)
        noise = everyone[start:start + batch].to(device)

        def flat_model(x, t, labels_):
            out = stacked(x.view(K, n, 1, N, N), t.view(K, n), labels_.view(K, n, 2))
            return out.reshape(K * n, 1, N, N)

        flat_model.N = N
        with autocast(device, autocast_dtype(device)):
            x = ddim_sample(flat_model, trainers[0].schedule, np.tile(chunk, (K, 1)), steps, seed + start,
                            on_step=lambda i, t: bar.update(1), x=noise.repeat(K, 1, 1, 1))
        x = datamod.from_model_range(x[:, 0]).view(K, n, N, N).cpu().numpy()
        for k in range(K):
            images[k].append(x[k])
            for name in layers:
                acts[k][name].append(stacked.recorded[name][k].float().cpu().numpy())
    bar.close()
    stacked.layers = ()
    return [score(np.concatenate(images[k]).astype(np.float16), labels, trainers[k].run.data,
                  {name: np.concatenate(v) for name, v in acts[k].items()}) for k in range(K)]
