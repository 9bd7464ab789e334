"""Rebuild every figure: execute each section's notebook with papermill under one preset.

    python run_all.py [--preset auto|smoke|laptop|paper] [--only 1 3 ...]

Executed notebooks, figures (PNG and PDF) and the claims table go to results/<preset>/.
Trained models are cached by configuration hash under runs/ (shared by all notebooks), so a
second run trains nothing and an interrupted one resumes. A failing notebook does not stop the
others; the exit code is non-zero when any failed, with a summary at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import papermill as pm
from tqdm.auto import tqdm

from paperlib import claims
from paperlib.config import resolve_preset

ROOT = Path(__file__).resolve().parent
NOTEBOOKS = ROOT / "notebooks"
# Expected minutes per notebook on the machine each preset is meant for; measured on the
# project's 2-core CPU for smoke and laptop.
ESTIMATE_MINUTES = {
    "01_datasets": {"smoke": 0.3, "laptop": 0.3, "paper": 0.3},
    "02_factorization": {"smoke": 0.7, "laptop": 23.0, "paper": 60.0},
    "05_percolation": {"smoke": 0.5, "laptop": 95.0, "paper": 120.0},
}
DEFAULT_ESTIMATE = {"smoke": 1.0, "laptop": 20.0, "paper": 60.0}


def section_of(path: Path) -> str:
    return path.stem.split("_")[0].lstrip("0")


def estimate(path: Path, preset: str) -> float:
    return ESTIMATE_MINUTES.get(path.stem, DEFAULT_ESTIMATE)[preset]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="auto", help="auto (paper on a GPU, laptop on a CPU), smoke, laptop or paper")
    parser.add_argument("--only", nargs="+", metavar="SECTION", help="section numbers to run, e.g. --only 1 3")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="folder of the section notebooks")
    parser.add_argument("--results", type=Path, default=ROOT / "results", help="results root; a folder per preset inside")
    args = parser.parse_args(argv)
    preset = resolve_preset(args.preset)

    notebooks = sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        wanted = {s.lstrip("0") for s in args.only}
        unknown = wanted - {section_of(p) for p in notebooks}
        if unknown:
            parser.error(f"--only: no notebook for section(s) {sorted(unknown)}; have {[section_of(p) for p in notebooks]}")
        notebooks = [p for p in notebooks if section_of(p) in wanted]
    results = args.results.resolve() / preset
    (results / "notebooks").mkdir(parents=True, exist_ok=True)

    total = sum(estimate(p, preset) for p in notebooks)
    print(f"preset {preset}: {len(notebooks)} notebook(s), estimated {total:.1f} min; results -> {results}", flush=True)
    start, failures, left = time.perf_counter(), [], total
    bar = tqdm(total=len(notebooks), unit="notebook")
    for path in notebooks:
        bar.set_description(f"{path.stem} (about {left:.0f} min left)")
        try:
            pm.execute_notebook(str(path), str(results / "notebooks" / path.name), kernel_name="python3", cwd=str(path.parent),
                                parameters={"preset": preset, "results_dir": str(results)}, progress_bar=False)
        except Exception as error:  # noqa: BLE001  (one notebook's failure must not stop the others)
            failures.append((path.name, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"))
        left -= estimate(path, preset)
        bar.update(1)
    bar.close()

    entries = claims.collect(results)
    js, md = claims.write(results, entries)
    minutes = (time.perf_counter() - start) / 60
    print(f"\n{len(notebooks) - len(failures)}/{len(notebooks)} notebooks ran in {minutes:.1f} min (estimated {total:.1f}); "
          f"{len(entries)} claims -> {js}, {md}")
    for name, why in failures:
        print(f"FAILED {name}: {why}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
