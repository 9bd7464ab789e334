"""Test-session settings shared by the unit tests and nbval: notebooks run under the `smoke`
preset (their `preset = "auto"` reads $PAPERLIB_PRESET), so the same files serve users and CI."""

import os

os.environ.setdefault("PAPERLIB_PRESET", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
