"""Rebuild every figure, the claims table and the report: `python run_all.py --help`. The same as
the `paperlib` command an install provides (`paperlib.cli`); kept at the top of the checkout."""

import sys

from paperlib.cli import main

if __name__ == "__main__":
    sys.exit(main())
