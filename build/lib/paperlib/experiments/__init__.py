"""One module per paper section, mirroring the notebooks one to one; each function runs or loads
what one figure needs and returns tidy results for `paperlib.plots`.

`SECTIONS` is the registry that ties a notebook to its module: `run_all.py` trains each
section's `runs(preset)` up front and then executes its notebook. A notebook that is not in the
registry trains nothing of its own, and `run_all.py` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from . import compose_interpolate, datasets, factorization, percolation, sample_efficiency


@dataclass(frozen=True)
class Section:
    """A paper section: its number, its notebook's file stem, its experiment module, and the
    minutes its notebook takes once the models are trained (the laptop run's, rounded up)."""

    number: str
    notebook: str
    module: ModuleType
    minutes: float

    def runs(self, preset: str) -> list:
        """The models the section trains with the preset's sweep (none for the datasets section)."""
        return self.module.runs(preset) if hasattr(self.module, "runs") else []


SECTIONS = (
    Section("1", "01_datasets", datasets, 0.5),
    Section("2", "02_factorization", factorization, 13.0),
    Section("3", "03_compose_interpolate", compose_interpolate, 1.5),
    Section("4", "04_sample_efficiency", sample_efficiency, 1.0),
    Section("5", "05_percolation", percolation, 1.5),
)
BY_NOTEBOOK = {s.notebook: s for s in SECTIONS}
