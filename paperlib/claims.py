"""The paper's claims and what a run found, as data a program can compare.

Each notebook records the claims its figures decide with `record(...)` into
`<results>/claims/<notebook>.json`; `run_all.py` collects them into `claims.json` (a list of
objects with claim, section, figure, paper, measured, reproduced) and a Markdown table.
`reproduced` is True, False, or None when the preset cannot say (e.g. `smoke`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FIELDS = ("claim", "section", "figure", "paper", "measured", "reproduced")


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def record(results_dir, notebook: str, claim: str, section: str, figure: str, paper, measured, reproduced) -> dict:
    """Add (or replace, by claim text) one claim in this notebook's claims file."""
    if reproduced not in (True, False, None):
        raise ValueError(f"reproduced: must be True, False or None, got {reproduced!r}")
    entry = dict(zip(FIELDS, (claim, section, figure, paper, measured, reproduced)))
    path = Path(results_dir) / "claims" / f"{notebook}.json"
    entries = [e for e in (json.loads(path.read_text()) if path.exists() else []) if e["claim"] != claim]
    entries.append(entry)
    _atomic_write(path, json.dumps(entries, indent=1))
    return entry


def collect(results_dir) -> list[dict]:
    """All recorded claims of a results folder, in notebook order."""
    folder = Path(results_dir) / "claims"
    return [e for p in sorted(folder.glob("*.json")) for e in json.loads(p.read_text())]


def to_markdown(entries: list[dict]) -> str:
    mark = {True: "yes", False: "**no**", None: "n/a"}
    rows = ["| claim | section | figure | paper | this run | reproduced |", "|---|---|---|---|---|---|"]
    for e in entries:
        rows.append(f"| {e['claim']} | {e['section']} | {e['figure']} | {e['paper']} | {e['measured']} | {mark[e['reproduced']]} |")
    return "\n".join(rows) + "\n"


def write(results_dir, entries: list[dict]) -> tuple[Path, Path]:
    """Write `claims.json` and `claims.md` into the results folder."""
    folder = Path(results_dir)
    js, md = folder / "claims.json", folder / "claims.md"
    _atomic_write(js, json.dumps(entries, indent=1))
    _atomic_write(md, to_markdown(entries))
    return js, md
