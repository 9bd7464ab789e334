"""Sweeps beyond one process: the run cache's jobs on SLURM or as local jobs, through submitit.

`store.plan` cuts the runs into jobs (a run, or a stack of runs); here each job becomes one task
of a submitit job array, with a cap on how many run at once. A task trains into the shared run
cache (locks keep two tasks off one run), checkpoints when SLURM warns of a time limit or a
preemption (SIGUSR1/SIGUSR2, held back until a training step is whole) and is requeued; the
requeued task resumes from that checkpoint. Without SLURM, submitit's local executor runs the
same tasks as processes of this machine. The notebooks then read the cache.

    python run_all.py --preset gpu --launcher slurm --partition gpu --runs /shared/runs
    python run_all.py --preset smoke --launcher local
"""

from __future__ import annotations

from pathlib import Path

from .config import RunConfig
from .device import enable_tf32
from .store import plan, run_job
from .train import checkpoint_active, save_on_signal


class TrainTask:
    """Jobs of the plan (one on SLURM, a share of them locally) as one submitit task, run in turn;
    `checkpoint` is what submitit calls on a warning signal: save every run being trained, and
    requeue the same task (it resumes, skipping the runs already done)."""

    def __init__(self, root: str, jobs: list[list[dict]], device: str = "auto"):
        self.root, self.jobs, self.device = root, jobs, device

    def __call__(self) -> list[str]:
        import torch

        save_on_signal()
        if self.device == "cpu" or not torch.cuda.is_available():
            torch.set_num_threads(1)
        else:
            enable_tf32()
        return [name for job in self.jobs for name in run_job([RunConfig.from_dict(d) for d in job], self.root, device=self.device)]

    def checkpoint(self, *args, **kwargs):
        import submitit

        checkpoint_active()
        return submitit.helpers.DelayedSubmission(TrainTask(self.root, self.jobs, self.device))


def executor(kind: str, folder: Path, partition: str | None = None, max_parallel: int = 8, timeout_min: int = 240,
             gpus_per_task: int = 1, extra: dict | None = None):
    """A submitit executor: "slurm" (a job array on `partition`, at most `max_parallel` tasks at
    once, one GPU each) or "local" (processes of this machine)."""
    try:
        import submitit
    except ImportError as error:
        raise ImportError("launcher: the cluster launchers need submitit: pip install 'paperlib[cluster]'") from error
    if kind not in ("slurm", "local"):
        raise ValueError(f"launcher: unknown launcher {kind!r}; choose 'slurm' or 'local'")
    ex = submitit.AutoExecutor(folder=str(folder), cluster=kind)
    params = {"timeout_min": timeout_min, "slurm_array_parallelism": max_parallel, "name": "paperlib"}
    if kind == "slurm":
        if not partition:
            raise ValueError("partition: the slurm launcher needs --partition")
        params.update(slurm_partition=partition, gpus_per_node=gpus_per_task, slurm_signal_delay_s=120, **(extra or {}))
    ex.update_parameters(**params)
    return ex


def submit(runs, root, kind: str = "local", partition: str | None = None, max_parallel: int = 8, timeout_min: int = 240,
           wait: bool = True, device: str = "auto", extra: dict | None = None) -> list:
    """Submit every job of `plan(runs)` (nothing for runs already evaluated) as one job array;
    with `wait`, block until all tasks end and raise if one failed. Returns the submitit jobs.
    SLURM caps the array at `max_parallel` running tasks; submitit's local executor starts every
    task at once, so locally the jobs are dealt into at most `max_parallel` tasks instead."""
    root = Path(root)
    jobs = plan(runs, root)
    if not jobs:
        return []
    ex = executor(kind, root / "_submitit", partition, max_parallel, timeout_min, extra=extra)
    shares = [jobs[i::max_parallel] for i in range(min(max_parallel, len(jobs)))] if kind == "local" else [[job] for job in jobs]
    tasks = [TrainTask(str(root), [[r.to_dict() for r in job] for job in share], device) for share in shares]
    with ex.batch():
        submitted = [ex.submit(task) for task in tasks]
    if wait:
        for job in submitted:
            job.result()
    return submitted
