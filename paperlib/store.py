"""The run cache: a trained run lives in `root/<hash>/` (a `RunFolder`).

Asking twice for the same configuration trains once; asking after an interruption resumes from
the last checkpoint. Notebooks, `run_all.py`, worker processes and cluster jobs share models
through it; each run folder's lock keeps two processes off one run (another process that wants
the run moves on to other work and waits for it last). The default cache is `paths.runs_root()`.
This is what the sections use; filling the cache with many runs at once (stacks, workers) is
`paperlib.scheduler`'s.
"""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file

from . import claims as C
from . import curves, paths
from .config import RunConfig
from .device import pick_device
from .diffusion import Schedule
from .evaluate import Evaluation, evaluate, evaluation_callback, load_evaluation, load_evaluations, save_evaluation
from .model import UNet
from .runfolder import CONFIG, RunFolder
from .train import Trainer, new_model

LAYERS = ("layer4",)
SHAPE_LAYERS = ("layer2", "layer3", "layer4")  # read over training by runs trained until their geometry settles


def folder(run: RunConfig, root=None) -> RunFolder:
    """The run's folder in the cache `root` (default `paths.runs_root()`)."""
    return RunFolder.of(run, root if root is not None else paths.runs_root())


def run_dir(run: RunConfig, root=None) -> Path:
    return folder(run, root).path


def is_trained(run: RunConfig, root=None) -> bool:
    return folder(run, root).trained


def is_evaluated(run: RunConfig, root=None) -> bool:
    return folder(run, root).evaluated


def status(run: RunConfig, root=None) -> str:
    """"done", "trained", "running", "partial" or "missing" (`RunFolder.status`)."""
    return folder(run, root).status()


def train_or_load(run: RunConfig, root=None, callbacks=(), progress: bool = True, device: str = "auto", **execution) -> Trainer:
    """The trained run: loaded when its folder holds a finished checkpoint, resumed when it holds
    a partial one, trained from scratch otherwise, under the run's lock. A run with `eval_steps`
    is evaluated at those steps and the evaluations saved with it (`evaluations_over_training`).
    `execution` passes execution settings to the Trainer (precision, compile)."""
    here = folder(run, root)
    with here.lock():
        trainer = Trainer(run, out_dir=here.path, device=device, **execution)
        if not trainer.finished and here.trained and not here.has_checkpoint:  # imported or pruned: its weights, no optimiser state
            trainer.load_weights(here.weights_path)
            return trainer
        if not (trainer.finished and here.trained):  # a run stopped after its last step has its weights written by `fit`
            if run.train.eval_steps:
                callbacks = (evaluation_callback(here, SHAPE_LAYERS if run.train.until == "geometry" else LAYERS), *callbacks)
            trainer.fit(callbacks, progress=progress)
    return trainer


def _folder_of(run, root) -> RunFolder:
    return folder(run, root) if isinstance(run, RunConfig) else RunFolder(Path(root if root is not None else paths.runs_root()) / run)


def run_config(run, root=None) -> RunConfig:
    """The configuration of a run given as a `RunConfig` (itself) or as a hash (its cached `config.json`)."""
    if isinstance(run, RunConfig):
        return run
    here = _folder_of(run, root)
    try:
        return RunConfig.from_dict(here.read_config())
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"run {here.path.name}: {here.path / CONFIG} is not a run configuration ({error})") from error


def load_model(run, root=None, device: str = "cpu") -> UNet:
    """The EMA model of a trained run (a `RunConfig` or its hash) from its `model.safetensors`, in
    eval mode. It never trains: a run without weights raises FileNotFoundError naming what trains
    it; weights or a configuration that cannot be read raise ValueError naming the file."""
    here = _folder_of(run, root)
    if not here.trained:
        raise FileNotFoundError(f"run {here.path.name} is not trained in {here.path.parent}: train it with "
                                "`paperlib --preset <preset>` (`python run_all.py`, or `paperlib.store.train_or_load(config, root)`), "
                                "or import a trained cache with `python -m paperlib.runs import <archive>`")
    config = run_config(run, root)
    model = UNet(config.model, config.data.N)
    try:
        model.load_state_dict(load_file(str(here.weights_path)))
    except (SafetensorError, RuntimeError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"run {here.path.name}: {here.weights_path} cannot be loaded as this run's weights ({first}); "
                         "delete the run folder to train it again, or import it afresh") from error
    return model.to(device).eval()


def training_minutes(run: RunConfig, root=None) -> float:
    """Minutes of training the run's log records (its share of a stack's time); NaN if none."""
    log = folder(run, root).read_log()
    return log[-1]["elapsed_s"] / 60 if log else float("nan")


def evaluations_over_training(run: RunConfig, root=None) -> dict[int, Evaluation]:
    """The evaluations saved at the run's `eval_steps`, by step, rescored."""
    return load_evaluations(folder(run, root), run.data)


def evaluation(run: RunConfig, root=None, progress: bool = True, device: str = "auto", layers=LAYERS, **execution) -> Evaluation:
    """The run's standard final evaluation, computed (training first if needed) once and cached;
    a run evaluated at its last step during training reuses that evaluation. Asking for `layers`
    the cached one lacks evaluates again with all of them (the same images: the sampler is
    deterministic) and caches that. `execution`: the Trainer's execution settings (precision, compile)."""
    here = folder(run, root)
    load = lambda path: load_evaluation(path, run.data)  # noqa: E731
    ev = here.read_or_set_aside(here.evaluation_path, load)
    if ev is not None and set(layers) <= set(ev.activations):
        return ev
    trainer = train_or_load(run, root, progress=progress, device=device, **execution)
    with here.lock():
        ev = here.read_or_set_aside(here.evaluation_path, load)  # another process may have finished it meanwhile
        if ev is None or not set(layers) <= set(ev.activations):
            wanted = tuple(dict.fromkeys((*LAYERS, *layers, *(ev.activations if ev else ()))))
            over = here.read_or_set_aside(here.evaluation_at(trainer.step), load)  # a run stopped at its plateau: its last step
            ev = over if over is not None and set(wanted) <= set(over.activations) else \
                evaluate(trainer.ema, trainer.schedule, run.data, run.diffusion.sample_steps, 0, wanted, progress=progress)
            save_evaluation(ev, here.evaluation_path)
    return ev


def evaluation_at_sampling_step(run: RunConfig, index: int, root=None, layers=LAYERS, device: str = "auto") -> Evaluation:
    """The run's standard evaluation with `layers` read at sampling step `index` instead of the
    last (App. A.3: other denoising steps), from the trained run, cached in its folder."""
    here = folder(run, root)
    load = lambda path: load_evaluation(path, run.data)  # noqa: E731
    path = here.evaluation_at_sampling_step(index)
    ev = here.read_or_set_aside(path, load)
    if ev is None or not set(layers) <= set(ev.activations):
        trainer = train_or_load(run, root, progress=False, device=device)
        ev = evaluate(trainer.ema, trainer.schedule, run.data, run.diffusion.sample_steps, 0, tuple(layers), at_step=index)
        save_evaluation(ev, path)
    return ev


def untrained_evaluation(run: RunConfig, root=None, layers=LAYERS, device: str = "auto") -> Evaluation:
    """The standard evaluation of the run's network as initialised, never trained: the untrained
    control of the representation claims (cached in the run's folder)."""
    here = folder(run, root)
    load = lambda path: load_evaluation(path, run.data)  # noqa: E731
    ev = here.read_or_set_aside(here.untrained_path, load)
    if ev is None or not set(layers) <= set(ev.activations):
        model = new_model(run, pick_device(device))
        ev = evaluate(model, Schedule(run.diffusion, next(model.parameters()).device), run.data, run.diffusion.sample_steps, 0, tuple(layers))
        save_evaluation(ev, here.untrained_path)
    return ev


def training_record(run_hash: str, root=None) -> dict:
    """How a run trained, for the claims that rest on it: its hash, steps, and the convergence
    statement of its learning curve ("no curve" for runs trained before curves were kept)."""
    here = RunFolder(Path(root if root is not None else paths.runs_root()) / run_hash)
    record, curve = here.read_record() or {}, here.read_curve()
    verdict = curves.convergence(curve) if curve else None
    shape = {"geometry": record["geometry"]["status"]} if "geometry" in record else {}
    return {"hash": run_hash, "steps": record.get("steps", here.last_logged_step()),
            "convergence": verdict.status if verdict else "no curve", "rising": verdict.rising() if verdict else [], **shape}


def check_training(found: list, root=None) -> list:
    """The claims with the training of the runs each rests on attached (`claims.guard`)."""
    return [C.guard(c, [training_record(r["hash"], root) for r in c.runs]) if c.runs else c for c in found]
