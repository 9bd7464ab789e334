"""Sweeps beyond one process: the run cache's jobs on SLURM or as local jobs, through submitit.

`scheduler.plan` cuts the runs into jobs (a run, or a stack of runs); here each job becomes one task
of a submitit job array, with a cap on how many run at once. A task trains into the shared run
cache (locks keep two tasks off one run). On SLURM, submitit owns the signals: at a time-limit
warning or a preemption (SIGUSR2) it calls `TrainTask.checkpoint`, requeues the task and exits;
`train.fit` checkpoints every run it trains as that exit passes, and the requeued task resumes
there. Without SLURM, submitit's local executor runs the same tasks as processes of this
machine, each shown its own GPU. The notebooks then read the cache.

    python run_all.py --preset gpu --launcher slurm --partition gpu --gpu A100 --runs /shared/runs
    python run_all.py --preset smoke --launcher local
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .config import RunConfig
from .device import init_worker
from .scheduler import plan, run_job
from .train import stop_on_signals

SLURM_CPUS_PER_TASK = 4  # data rendering and the Python side of a training step
SLURM_MEM_GB = 16


class TrainTask:
    """Jobs of the plan (one on SLURM, a share of them locally) as one submitit task, run in turn;
    `checkpoint` is what submitit calls on SLURM's warning signal: requeue the same task (it
    resumes, skipping the runs already done)."""

    def __init__(self, root: str, jobs: list[list[dict]], device: str = "auto", execution: dict | None = None):
        self.root, self.jobs, self.device, self.execution = root, jobs, device, dict(execution or {})

    def __call__(self) -> list[str]:
        if os.environ.get("SUBMITIT_EXECUTOR") != "slurm":  # on SLURM submitit's handlers checkpoint and requeue
            stop_on_signals(keep_handlers=True)  # locally, whatever submitit set (its USR2 at the time limit) stays
        device = self.device
        if device == "auto":
            device = "cuda:0" if torch.cuda.is_available() else "cpu"  # locally each task sees its own GPU as cuda:0
        init_worker(device)
        return [name for job in self.jobs for name in run_job([RunConfig.from_dict(d) for d in job], self.root, device=device, **self.execution)]

    def checkpoint(self, *args, **kwargs):
        import submitit

        return submitit.helpers.DelayedSubmission(TrainTask(self.root, self.jobs, self.device, self.execution))


def local_gpus(tasks: int, device_count: int) -> list[tuple[int, ...]]:
    """The GPUs each local task sees: one each, in turn (several tasks may share one); none on a CPU."""
    return [(i % device_count,) if device_count else () for i in range(tasks)]


def executor(kind: str, folder: Path, partition: str | None = None, max_parallel: int = 8, timeout_min: int = 240,
             gpus_per_task: int = 1, extra: dict | None = None):
    """A submitit executor: "slurm" (a job array on `partition`, at most `max_parallel` tasks at
    once, one GPU, `SLURM_CPUS_PER_TASK` cores and `SLURM_MEM_GB` each) or "local" (processes of
    this machine; `submit` gives each task its GPU)."""
    try:
        import submitit
    except ImportError as error:
        raise ImportError("launcher: the cluster launchers need submitit: pip install 'paperlib[cluster]'") from error
    if kind not in ("slurm", "local"):
        raise ValueError(f"launcher: unknown launcher {kind!r}; choose 'slurm' or 'local'")
    if kind == "local":  # the plain local executor: AutoExecutor does not pass on which GPUs a task sees
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=timeout_min)
        return ex
    if not partition:
        raise ValueError("partition: the slurm launcher needs --partition")
    ex = submitit.AutoExecutor(folder=str(folder), cluster=kind)
    ex.update_parameters(timeout_min=timeout_min, slurm_array_parallelism=max_parallel, name="paperlib", slurm_partition=partition,
                         gpus_per_node=gpus_per_task, cpus_per_task=SLURM_CPUS_PER_TASK, mem_gb=SLURM_MEM_GB, slurm_signal_delay_s=120,
                         **(extra or {}))
    return ex


def submit(runs, root, kind: str = "local", partition: str | None = None, max_parallel: int = 8, timeout_min: int = 240,
           wait: bool = True, device: str = "auto", extra: dict | None = None, target: str | None = None,
           device_count: int | None = None, **execution) -> list:
    """Submit every job of `plan(runs)` (nothing for runs already evaluated) as one job array,
    planned for `target` (a GPU name of the cost model: the cluster's GPU, not this login node);
    with `wait`, block until all tasks end and raise if one failed. Returns the submitit jobs.
    SLURM caps the array at `max_parallel` running tasks; submitit's local executor starts every
    task at once, so locally the jobs are dealt into at most `max_parallel` tasks instead, each
    shown one of this machine's `device_count` GPUs (default: all of them, in turn)."""
    root = Path(root)
    jobs = plan(runs, root, target).jobs
    if not jobs:
        return []
    ex = executor(kind, root / "_submitit", partition, max_parallel, timeout_min, extra=extra)
    if kind == "slurm":
        tasks = [TrainTask(str(root), [[r.to_dict() for r in job]], device, execution) for job in jobs]
        with ex.batch():
            submitted = [ex.submit(task) for task in tasks]
    else:
        shares = [jobs[i::max_parallel] for i in range(min(max_parallel, len(jobs)))]
        count = torch.cuda.device_count() if device_count is None else device_count
        submitted = []
        for share, gpus in zip(shares, local_gpus(len(shares), count)):
            ex.update_parameters(gpus_per_node=len(gpus), visible_gpus=gpus)
            submitted.append(ex.submit(TrainTask(str(root), [[r.to_dict() for r in job] for job in share], device, execution)))
    if wait:
        for job in submitted:
            job.result()
    return submitted
