"""The folder of one trained run: its layout, its lock, and every file in it.

A run of the cache lives in `<root>/<hash>/`. This module is the only one that knows the file
names; trainers, the scheduler and the evaluations read and write through a `RunFolder`:

    config.json             the configuration, its hash and provenance (when training starts)
    checkpoint.pt           the resumable state (the previous one kept as checkpoint.prev.pt)
    log.jsonl               loss, learning rate and images/s every few steps
    curve.jsonl             the learning curve: a cheap read-out of the EMA model at checkpoints
    model.safetensors       the EMA weights (when training ends)
    run.json                how the run went: steps, seconds, convergence, provenance
    evaluation.npz          the standard final evaluation
    untrained.npz           the same evaluation of the run's network before training (a control)
    evaluations/eval_<step>.npz   evaluations at the config's `eval_steps`
    evaluations/sampling_step_<k>.npz   the final evaluation's layers read at sampling step k (App. A.3)
    .lock                   held while a process trains or evaluates the run

Every file is written atomically (`files.atomic_write`). A file found damaged on reading is
renamed `<name>.<time>.damaged` with a warning that names it, and rebuilt from what is intact.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import warnings
from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout

from .files import atomic_write, atomic_write_json

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"
LOG = "log.jsonl"
CURVE = "curve.jsonl"
WEIGHTS = "model.safetensors"
RECORD = "run.json"
EVALUATION = "evaluation.npz"
UNTRAINED = "untrained.npz"
EVALUATIONS = "evaluations"
LOCK = ".lock"
FILES = (CONFIG, CHECKPOINT, PREVIOUS_CHECKPOINT, LOG, CURVE, WEIGHTS, RECORD, EVALUATION, UNTRAINED, EVALUATIONS, LOCK)
# What a run that travels holds (`paperlib.runs`): every file but its resumable state and lock.
TRAVELLING = (CONFIG, LOG, CURVE, WEIGHTS, RECORD, EVALUATION, UNTRAINED)
EVALUATION_AT = re.compile(rf"{EVALUATIONS}/(eval_[0-9]{{8}}|sampling_step_[0-9]{{4}})\.npz")
HASH = re.compile(r"[0-9a-f]{12}")


def is_travelling_file(rel: str) -> bool:
    """Whether `rel` (a path relative to a run folder, with "/") names a file a run that travels holds."""
    return rel in TRAVELLING or EVALUATION_AT.fullmatch(rel) is not None


class Damaged(Exception):
    """A file that exists but cannot be read back (truncated, corrupt): it is set aside."""


class RunFolder:
    """One run's folder. Creating the object touches nothing on disk; writers create the folder."""

    def __init__(self, path):
        self.path = Path(path)

    @classmethod
    def of(cls, run, root) -> "RunFolder":
        """The folder of `run` (a `RunConfig`) under `root`; one named by the run's legacy hash
        (from before execution settings left the hash) is renamed to the current name."""
        root = Path(root)
        folder, legacy = root / run.hash(), root / run.legacy_hash()
        if not folder.exists() and legacy != folder and legacy.exists():
            with contextlib.suppress(OSError):  # another process may be renaming it too
                legacy.rename(folder)
        return cls(folder)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # --- the lock and the status -----------------------------------------------------------------

    def lock(self, timeout: float = -1) -> FileLock:
        """The folder's lock (blocking by default; `timeout=0` fails at once with filelock.Timeout)."""
        self.path.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.path / LOCK), timeout=timeout)

    def is_locked(self) -> bool:
        """Whether another process holds the lock now."""
        if not self.path.exists():
            return False
        try:
            with self.lock(timeout=0):
                return False
        except Timeout:
            return True

    @property
    def trained(self) -> bool:
        return (self.path / WEIGHTS).exists()

    @property
    def evaluated(self) -> bool:
        return (self.path / EVALUATION).exists()

    @property
    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT).exists() or (self.path / PREVIOUS_CHECKPOINT).exists()

    def status(self) -> str:
        """"done" (evaluated), "trained", "running" (locked by a process now), "partial" (a
        checkpoint, nobody training) or "missing"."""
        if self.evaluated:
            return "done"
        if self.trained:
            return "trained"
        if self.is_locked():
            return "running"
        return "partial" if self.has_checkpoint else "missing"

    # --- damaged files ----------------------------------------------------------------------------

    def set_aside(self, path: Path, error: Exception) -> Path:
        """Rename a damaged file out of the way, with a warning naming it and the error."""
        damaged = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.damaged")
        path.replace(damaged)
        warnings.warn(f"damaged {path} ({type(error).__name__}: {error}); moved to {damaged.name}, rebuilding", stacklevel=3)
        return damaged

    def read_or_set_aside(self, path: Path, read: Callable[[Path], object]):
        """`read(path)`, or None when the file is missing; a file that raises `Damaged` is set aside."""
        if not path.exists():
            return None
        try:
            return read(path)
        except Damaged as error:
            self.set_aside(path, error.__cause__ or error)
            return None

    # --- checkpoints --------------------------------------------------------------------------------

    def save_checkpoint(self, write: Callable[[Path], None]) -> Path:
        """Write the resumable state atomically with `write(tmp)`, keeping the previous checkpoint
        as the fallback should the new one ever be found damaged."""
        path = self.path / CHECKPOINT
        if path.exists():
            path.replace(self.path / PREVIOUS_CHECKPOINT)
        return atomic_write(path, write)

    def load_checkpoint(self, load: Callable[[Path], None]) -> bool:
        """Load the newest intact checkpoint with `load(path)` (which raises `Damaged` for a file it
        cannot read); a damaged one is set aside and the one before it tried. False if none loaded."""
        for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
            if self.read_or_set_aside(self.path / name, lambda p: load(p) or True):
                return True
        return False

    def drop_checkpoints(self) -> int:
        """Delete the resumable state of a finished run (its weights stay); returns bytes freed."""
        freed = 0
        for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
            path = self.path / name
            if path.exists():
                freed += path.stat().st_size
                path.unlink()
        return freed

    # --- records ------------------------------------------------------------------------------------

    def write_config(self, record: dict) -> Path:
        return atomic_write_json(self.path / CONFIG, record)

    def read_config(self) -> dict | None:
        path = self.path / CONFIG
        return json.loads(path.read_text()) if path.exists() else None

    def write_record(self, record: dict) -> Path:
        return atomic_write_json(self.path / RECORD, record)

    def read_record(self) -> dict | None:
        path = self.path / RECORD
        return json.loads(path.read_text()) if path.exists() else None

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS

    # --- the log and the learning curve (append-only JSON lines) -----------------------------------

    def append_log(self, entry: dict) -> None:
        _append(self.path / LOG, entry)

    def read_log(self) -> list[dict]:
        """One entry per logged step (a step logged twice, before and after a resume, keeps its last)."""
        return _read_lines(self.path / LOG)

    def last_logged_step(self) -> int:
        log = self.read_log()
        return int(log[-1]["step"]) if log else 0

    def append_curve(self, entry: dict) -> None:
        _append(self.path / CURVE, entry)

    def read_curve(self) -> list[dict]:
        return _read_lines(self.path / CURVE)

    # --- evaluations ----------------------------------------------------------------------------------

    @property
    def evaluation_path(self) -> Path:
        return self.path / EVALUATION

    @property
    def untrained_path(self) -> Path:
        return self.path / UNTRAINED

    def evaluation_at(self, step: int) -> Path:
        """Where the evaluation at training step `step` (one of the config's `eval_steps`) is kept."""
        return self.path / EVALUATIONS / f"eval_{step:08d}.npz"

    def evaluation_at_sampling_step(self, index: int) -> Path:
        """Where the final evaluation read at sampling step `index` is kept."""
        return self.path / EVALUATIONS / f"sampling_step_{index:04d}.npz"

    def evaluations_over_training(self) -> dict[int, Path]:
        return {int(p.stem[5:]): p for p in sorted((self.path / EVALUATIONS).glob("eval_*[0-9].npz"))}

    def size_bytes(self) -> dict[str, int]:
        """Bytes on disk per kind of file: checkpoints, weights, evaluations, other."""
        out = {"checkpoints": 0, "weights": 0, "evaluations": 0, "other": 0}
        for path in self.path.rglob("*"):
            if path.is_file():
                kind = ("checkpoints" if path.name.startswith("checkpoint") else "weights" if path.name == WEIGHTS
                        else "evaluations" if path.suffix == ".npz" else "other")
                out[kind] += path.stat().st_size
        return out


def _append(path: Path, entry: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def _read_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    entries = {}
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # a line cut short when the process was killed
            continue
        entries[entry["step"]] = entry
    return [entries[s] for s in sorted(entries)]
