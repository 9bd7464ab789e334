"""`python -m paperlib.bench NAME`: see `paperlib.bench` for the list."""

from __future__ import annotations

import argparse
import json
import sys

import torch

from ..device import cap_cpu_instruction_set
from . import __doc__ as DOC
from .analysis import bench_geometry, bench_percolation
from .gpucheck import bench_gpu_check
from .throughput import bench_gpu, bench_sampling_batch, bench_stacked, bench_step_work, bench_workers
from .training import RECIPES, bench_recipes, bench_time_to_accuracy, bench_torus_controls, bench_torus_geometry, bench_train


def parser() -> argparse.ArgumentParser:
    out = argparse.ArgumentParser(prog="python -m paperlib.bench", description=DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    out.add_argument("--native-cpu", action="store_true",
                     help="measure with the CPU's widest vector instructions; by default capped at AVX2 on x86 CPUs, as run_all.py trains")
    sub = out.add_subparsers(dest="name", required=True)
    _training_parsers(sub)
    p = sub.add_parser("workers")
    p.add_argument("--preset", default="laptop", choices=["smoke", "laptop", "paper"])
    p.add_argument("--models", type=int, default=4)
    p.add_argument("--N", type=int, default=16)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--workers", type=int, default=2)
    p = sub.add_parser("stacked")
    p.add_argument("--preset", default="laptop", choices=["smoke", "laptop", "paper"])
    p.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--stacks", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--workers", type=int, default=2, help="one-thread worker processes (as run_all.py uses)")
    p.add_argument("--images", type=float, default=6000, help="training images per model and measurement")
    p.add_argument("--max-pixels", type=int, default=8 * 32 * 32, help="skip stacks with K * N^2 above this")
    p.add_argument("--ship", action="store_true", help="also write the table shipped with the package")
    p.add_argument("--compile", action="store_true", help="also measure each stack under torch.compile (minutes of compiling)")
    p = sub.add_parser("gpu")
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement (2 on a CPU)")
    p.add_argument("--paper-batch", type=int, default=128)
    p.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--stacks", type=int, nargs="+", default=[1, 4, 16, 64])
    p.add_argument("--compile", action="store_true", help="also measure with torch.compile (minutes of compiling)")
    p = sub.add_parser("step-work")
    p.add_argument("--ship", action="store_true", help="write the counts to the table the package ships")
    p = sub.add_parser("gpu-check")
    p.add_argument("--device", default="auto")
    _measurement_parsers(sub)
    return out


def _training_parsers(sub) -> None:
    """The benchmarks that train models: one recipe, recipes side by side, the torus table."""
    p = sub.add_parser("train")
    p.add_argument("--preset", default="laptop", choices=["smoke", "laptop", "paper"])
    p.add_argument("--steps", type=int, default=0, help="override the preset's steps")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p = sub.add_parser("time-to-accuracy")
    p.add_argument("--minutes", type=float, default=10.0, help="training minutes per recipe")
    p.add_argument("--every", type=float, default=1.0, help="minutes of training between evaluations")
    p.add_argument("--eval-labels", type=int, default=256, help="labels per intermediate evaluation (the last uses all)")
    p.add_argument("--sigma", type=float, default=1.0)
    p.add_argument("--baseline", action="store_true", help="also run the plain recipe, for the ratio")
    p.add_argument("--baseline-minutes", type=float, default=0.0, help="train the plain recipe longer (default: --minutes)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("recipes")
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES), help="the first is the reference")
    p.add_argument("--families", nargs="*", help="substrings of the family names to run (default: all)")
    p.add_argument("--every", type=int, default=500, help="steps between read-outs")
    p.add_argument("--cap-16", type=int, default=6000, help="most steps at N <= 16")
    p.add_argument("--cap-32", type=int, default=6000, help="most steps at N = 32")
    p.add_argument("--workers", type=int, default=2)
    p = sub.add_parser("torus-controls")
    p.add_argument("--runs", default=None, help="the run cache (default: runs/, $PAPERLIB_RUNS)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--draws", type=int, default=3, help="landmark draws of H2")
    p.add_argument("--seeds", type=int, default=2, help="seeds of the baseline")
    p.add_argument("--only", nargs="*", help="substrings of the rows to train and read (default: all)")
    p.add_argument("--scale", choices=("laptop", "paper"), default="laptop",
                   help="laptop: from section 3.1's laptop model; paper: from the paper preset's (a GPU: hours)")
    p.add_argument("--gpu", help="estimate for this GPU's sheet (H100, A100, ...) instead of this machine")
    p.add_argument("--dry-run", action="store_true", help="print the rows' estimated cost and train nothing")
    p = sub.add_parser("torus-geometry")
    p.add_argument("--minutes", type=float, default=10.0, help="training minutes per recipe")


def _measurement_parsers(sub) -> None:
    """The benchmarks of one measurement each: sampling batches, geometry, percolation."""
    p = sub.add_parser("sampling-batch")
    p.add_argument("--N", type=int, default=32)
    p.add_argument("--batches", type=int, nargs="+", default=[1024, 256, 64, 16])
    p.add_argument("--images", type=int, default=1024, help="images per measurement")
    p.add_argument("--repeats", type=int, default=3)
    p = sub.add_parser("geometry")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("percolation")
    p.add_argument("--repeats", type=int, default=5)


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    if not args.native_cpu:
        cap_cpu_instruction_set()  # before any tensor work; the bench's worker processes inherit it
    bench = {"train": bench_train, "time-to-accuracy": bench_time_to_accuracy, "torus-geometry": bench_torus_geometry,
             "workers": bench_workers, "stacked": bench_stacked, "gpu": bench_gpu, "gpu-check": bench_gpu_check,
             "geometry": bench_geometry, "percolation": bench_percolation, "recipes": bench_recipes,
             "torus-controls": bench_torus_controls, "sampling-batch": bench_sampling_batch, "step-work": bench_step_work}[args.name]
    figures = {**bench(args), "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    sys.stdout.flush()
    print(json.dumps(figures, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
