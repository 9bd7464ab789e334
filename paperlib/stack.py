"""Many models at once: K runs that share an architecture trained and sampled as one stacked model.

The paper's findings are sweeps of small models that differ only in their data and seed. A
stack holds the K runs' parameters along a leading model axis (`torch.func.stack_module_state`)
and evaluates all K networks in one vectorised call (`vmap` over `functional_call`), so the
per-step work of a small model (optimiser, dispatch, Python) is paid once for K of them.

A stack is an execution detail. Each run keeps its own `Trainer`: dataset, seed, batch order,
timestep and noise draws, learning-rate schedule, EMA, optimiser state, checkpoints and
evaluations in its own folder. Every step the stack draws each run's batch exactly as the run's
own Trainer would, and at each checkpoint it writes the stacked state back into the K Trainers,
which save themselves: a run can be resumed alone or in another stack, and K runs trained as a
stack end with the weights they would have alone, up to float rounding (grouped convolutions
add in another order). Only runs at the same step with the same `stack_key` stack.
"""

from __future__ import annotations

import copy
import json
import time

import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from .config import RunConfig
from .data import eval_labels, from_model_range
from .diffusion import Schedule, _noise, ddim_sample
from .evaluate import Evaluation, score
from .model import capture
from .train import _ACTIVE, Trainer, lr_factor, make_optimizer, whole_step


def stack_key(run: RunConfig) -> str | None:
    """Runs with equal keys can train as one stack: same network, image size, diffusion and
    optimisation; they may differ in data (family, sigma, held-out region, lambda, data seed)
    and training seed. None for runs evaluated during training (they train alone)."""
    if run.train.eval_steps:
        return None
    shared = {"model": run.model, "N": run.data.N, "diffusion": run.diffusion,
              "train": run.replace(train={"seed": 0, "threads": 0, "checkpoint_every": 1}).train}
    return json.dumps({k: v if isinstance(v, int) else repr(v) for k, v in shared.items()}, sort_keys=True)


class StackedModel:
    """K networks of one architecture as one callable on stacked inputs (K, n, ...); with
    `compile`, the vectorised call is `torch.compile`d once for the stack's shape."""

    def __init__(self, modules, requires_grad: bool, compile: bool = False):
        self.base = copy.deepcopy(modules[0]).to("meta")
        params, self.buffers = stack_module_state(list(modules))
        self.params = {k: v.detach().requires_grad_(requires_grad) for k, v in params.items()}
        self.N, self.K = modules[0].N, len(modules)
        self.layers: tuple[str, ...] = ()
        self.recorded: dict[str, torch.Tensor] = {}
        self._forward = vmap(self._one)
        if compile:
            self._forward = torch.compile(self._forward, dynamic=False)

    def _one(self, params, buffers, x, t, labels):
        with capture(self.base, self.layers) as records:
            out = functional_call(self.base, (params, buffers), (x, t, labels))
        return out, {name: r[-1] for name, r in records.items()}

    def __call__(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        out, recorded = self._forward(self.params, self.buffers, x, t, labels)
        self.recorded = recorded
        return out

    def unstack(self, modules) -> None:
        """Copy the stacked parameters back into K modules of the same architecture."""
        for k, module in enumerate(modules):
            persistent = module.state_dict().keys()
            module.load_state_dict({**{n: p[k].detach() for n, p in self.params.items()},
                                    **{n: b[k] for n, b in self.buffers.items() if n in persistent}})


class StackedTrainer:
    """Train the runs of several `Trainer`s (same `stack_key`, same step) as one stack; `compile`
    is the execution option of `Trainer`'s, applied to the stacked network (one compilation per
    stack shape; measured by `python -m paperlib.bench stacked --compile`)."""

    def __init__(self, trainers: list[Trainer], compile: bool = False):
        keys = {stack_key(t.run) for t in trainers}
        steps = {t.step for t in trainers}
        if len(keys) != 1 or None in keys:
            raise ValueError("trainers: runs of a stack need one stack_key (same network, N, diffusion and optimisation; no eval_steps)")
        if len(steps) != 1:
            raise ValueError(f"trainers: runs of a stack must be at the same step, got {sorted(steps)}")
        self.trainers = trainers
        self.run = trainers[0].run
        self.device = trainers[0].device
        self.step = trainers[0].step
        self.model = StackedModel([t.model for t in trainers], requires_grad=True, compile=compile)
        self.ema = StackedModel([t.ema for t in trainers], requires_grad=False)
        self.parameters = list(self.model.params.values())
        self.optimizer = make_optimizer(self.parameters, self.run, self.device)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(self.run, s))
        self.scheduler.load_state_dict(trainers[0].scheduler.state_dict())
        self.optimizer.param_groups[0]["lr"] = trainers[0].optimizer.param_groups[0]["lr"]
        self._stack_optimizer_state()
        self.schedule: Schedule = trainers[0].schedule
        # bf16 autocast where the runs' Trainers use it (GPUs of compute capability >= 8); fp32
        # elsewhere, fp16 included (a stack has no gradient scaler).
        self.bf16 = trainers[0].dtype == torch.bfloat16

    def _stack_optimizer_state(self) -> None:
        """Stack the K AdamW states (after a resume) into the stacked optimiser, parameter by parameter."""
        states = [[t.optimizer.state[p] for p in t.model.parameters()] for t in self.trainers]
        for i, stacked in enumerate(self.parameters):
            if not states[0][i]:
                continue
            self.optimizer.state[stacked] = {k: states[0][i][k].clone() if k == "step" else torch.stack([s[i][k] for s in states])
                                             for k in states[0][i]}

    def train_step(self) -> torch.Tensor:
        """One optimiser step of every run; returns the K losses."""
        batches = [t.training_batch(self.step) for t in self.trainers]
        x_t, t, noise, labels = (torch.stack(parts) for parts in zip(*batches))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            predicted = self.model(x_t, t, labels)
        losses = self.schedule.weighted_mse(predicted, noise, t)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        if self.run.train.grad_clip:
            self._clip_each(self.run.train.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.params.values()), self.parameters, 1 - self.run.train.ema)
        self.step += 1
        return losses.detach()

    def _clip_each(self, max_norm: float) -> None:
        """`clip_grad_norm_` for each run of the stack on its own gradient norm."""
        grads = [p.grad for p in self.parameters]
        norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads], dim=1).norm(dim=1)
        coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *[1] * (g.dim() - 1)))

    def write_back(self) -> None:
        """Copy the stacked weights, EMA, optimiser and scheduler state into each run's Trainer."""
        self.model.unstack([t.model for t in self.trainers])
        self.ema.unstack([t.ema for t in self.trainers])
        for k, trainer in enumerate(self.trainers):
            for stacked, own in zip(self.parameters, trainer.model.parameters()):
                state = self.optimizer.state.get(stacked)
                if state:
                    trainer.optimizer.state[own] = {n: v.clone() if n == "step" else v[k].clone() for n, v in state.items()}
            trainer.scheduler.load_state_dict(self.scheduler.state_dict())
            trainer.optimizer.param_groups[0]["lr"] = self.optimizer.param_groups[0]["lr"]
            trainer.step = self.step

    def checkpoint(self) -> None:
        """Write the stack back into its Trainers and save each (what a stop signal does)."""
        self.write_back()
        for trainer in self.trainers:
            trainer.checkpoint()

    def fit(self, until: int | None = None, progress: bool = True, checkpoint_every: int | None = None) -> "StackedTrainer":
        """Train every run to `until` (default: the config's steps), checkpointing each run into
        its own folder every `checkpoint_every` steps and exporting it at the end."""
        tc = self.run.train
        until = tc.steps if until is None else until
        every = checkpoint_every or tc.checkpoint_every
        if self.step == 0:
            for trainer in self.trainers:
                trainer.start_record()
        bar = tqdm(total=until, initial=self.step, disable=not progress, desc=f"train a stack of {len(self.trainers)}", unit="step")
        t0, step0 = time.perf_counter(), self.step
        _ACTIVE.append(self)
        try:
            self._loop(until, every, bar, t0, step0)
        finally:
            _ACTIVE.remove(self)
        bar.close()
        self.write_back()
        for trainer in self.trainers:
            if trainer.out_dir is not None and trainer.step >= tc.steps:
                trainer.export()
        return self

    def _loop(self, until: int, every: int, bar, t0: float, step0: int) -> None:
        tc = self.run.train
        while self.step < until:
            start = time.perf_counter()
            with whole_step():
                losses = self.train_step()
            spent = time.perf_counter() - start
            for trainer, loss in zip(self.trainers, losses):
                trainer.elapsed += spent / len(self.trainers)
                trainer._pending_loss = loss
            bar.update(1)
            last = self.step == until
            if self.step % self.trainers[0].log_every == 0 or last:
                rate = tc.batch_size * (self.step - step0) / max(1e-9, time.perf_counter() - t0)
                for trainer in self.trainers:
                    trainer.step = self.step
                    trainer.log(rate)
            if self.step % every == 0 or last:
                self.checkpoint()


@torch.no_grad()
def evaluate_stack(trainers: list[Trainer], steps: int | None = None, seed: int = 0, layers=(), batch_size: int = 1024,
                   progress: bool = False) -> list[Evaluation]:
    """The standard evaluation of each run (its EMA model on the N x N labels, DDIM, seed 0 noise,
    `layers` at the last step), with the K models sampled together: the same starting noise as a
    run evaluated alone (`evaluate.evaluate`), so the same images up to float rounding."""
    run = trainers[0].run
    steps = steps or run.diffusion.sample_steps
    if len({stack_key(t.run) for t in trainers}) != 1:
        raise ValueError("trainers: evaluated together only with one stack_key")
    stacked = StackedModel([t.ema for t in trainers], requires_grad=False)
    stacked.layers = tuple(layers)
    K, N = len(trainers), run.data.N
    labels = eval_labels(N)
    images, acts = [[] for _ in range(K)], [{name: [] for name in layers} for _ in range(K)]
    bar = tqdm(total=steps * -(-len(labels) // batch_size), disable=not progress, desc=f"sample a stack of {K}", unit="step", leave=False)
    for start in range(0, len(labels), batch_size):
        chunk = labels[start:start + batch_size]
        n = len(chunk)
        noise, _ = _noise((n, 1, N, N), seed + start, trainers[0].device)
        lab = torch.as_tensor(chunk, dtype=torch.float32, device=trainers[0].device)

        def flat_model(x, t, labels_):
            out = stacked(x.view(K, n, 1, N, N), t.view(K, n), labels_.view(K, n, 2))
            return out.reshape(K * n, 1, N, N)

        flat_model.N = N
        x = ddim_sample(flat_model, trainers[0].schedule, lab.repeat(K, 1), steps, seed + start,
                        on_step=lambda i, t: bar.update(1), x=noise.repeat(K, 1, 1, 1))
        x = from_model_range(x[:, 0]).view(K, n, N, N).cpu().numpy()
        for k in range(K):
            images[k].append(x[k])
            for name in layers:
                acts[k][name].append(stacked.recorded[name][k].float().cpu().numpy())
    bar.close()
    return [score(np.concatenate(images[k]).astype(np.float16), labels, trainers[k].run.data,
                  {name: np.concatenate(v) for name, v in acts[k].items()}) for k in range(K)]
