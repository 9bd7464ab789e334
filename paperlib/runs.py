"""Trained runs that travel: export a preset's run cache to one archive, import it elsewhere,
prune the optimiser checkpoints of finished runs.

    python -m paperlib.runs export laptop runs-laptop.tar.gz   # the preset's trained runs, no checkpoints
    python -m paperlib.runs import runs-laptop.tar.gz          # checked file by file against the manifest
    python -m paperlib.runs prune                              # free the checkpoints of finished runs
    python -m paperlib.runs list laptop                        # status, steps and size of each run

An archive holds, per run, everything but its resumable state (`checkpoint*.pt`): the weights,
records, log, learning curve and evaluations, and a `manifest.json` with every file's SHA-256.
Import refuses an archive whose files do not match their manifest, or a folder whose name is not
its configuration's hash, and never overwrites a run already in the cache. With the imported
cache, `run_all.py` trains nothing that the archive holds and rebuilds every figure from it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

from . import paths, runfolder, store
from .config import PRESETS, RunConfig
from .experiments import SECTIONS

MANIFEST = "manifest.json"
KEPT_OUT = (runfolder.CHECKPOINT, runfolder.PREVIOUS_CHECKPOINT, runfolder.LOCK)


def preset_runs(preset: str) -> list[RunConfig]:
    return list({r.hash(): r for s in SECTIONS for r in s.runs(preset)}.values())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in KEPT_OUT and not p.name.endswith((".tmp", ".damaged")))


def export(preset: str, archive, root=None) -> dict:
    """Write the preset's trained runs (weights and results, no checkpoints) to a .tar.gz; returns the manifest."""
    root = Path(root if root is not None else paths.runs_dir(preset))
    manifest = {"preset": preset, "runs": {}}
    with tarfile.open(archive, "w:gz") as tar:
        for run in preset_runs(preset):
            here = store.folder(run, root)
            if not here.trained:
                continue
            entries = {}
            for path in _files(here.path):
                data = path.read_bytes()
                name = f"{run.hash()}/{path.relative_to(here.path)}"
                entries[str(path.relative_to(here.path))] = _sha256(data)
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            manifest["runs"][run.hash()] = entries
        data = json.dumps(manifest, indent=1, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return manifest


def import_archive(archive, root=None) -> list[str]:
    """Add an exported archive's runs to the cache `root`, after checking every file against the
    manifest and every folder against its configuration's hash; returns the runs added."""
    root = Path(root if root is not None else paths.runs_root())
    with tarfile.open(archive, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        if MANIFEST not in members:
            raise ValueError(f"archive: {archive} has no {MANIFEST}; was it written by `python -m paperlib.runs export`?")
        manifest = json.loads(tar.extractfile(members[MANIFEST]).read())
        contents = {}
        for run_hash, entries in manifest["runs"].items():
            files = {}
            for rel, digest in entries.items():
                member = members.get(f"{run_hash}/{rel}")
                data = tar.extractfile(member).read() if member is not None else None
                if data is None or _sha256(data) != digest:
                    raise ValueError(f"archive: {run_hash}/{rel} is missing or does not match its SHA-256 in the manifest")
                files[rel] = data
            config = RunConfig.from_dict(json.loads(files[runfolder.CONFIG]))
            if config.hash() != run_hash:
                raise ValueError(f"archive: folder {run_hash} holds the run {config.hash()}")
            contents[run_hash] = files
    added = []
    for run_hash, files in contents.items():
        here = runfolder.RunFolder(root / run_hash)
        if here.trained:
            continue
        with here.lock():
            for rel, data in files.items():
                target = here.path / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        added.append(run_hash)
    return added


def prune(root=None) -> tuple[int, int]:
    """Delete the checkpoints of every finished run of the cache; returns (runs, bytes freed)."""
    root = Path(root if root is not None else paths.runs_root())
    count, freed = 0, 0
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        here = runfolder.RunFolder(path)
        if here.trained and here.has_checkpoint:
            with here.lock():
                freed += here.drop_checkpoints()
            count += 1
    return count, freed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paperlib.runs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("export", help="the preset's trained runs to a .tar.gz")
    p.add_argument("preset", choices=PRESETS)
    p.add_argument("archive", type=Path)
    p.add_argument("--runs", type=Path, help="the run cache (default: the preset's)")
    p = sub.add_parser("import", help="an exported archive into the run cache")
    p.add_argument("archive", type=Path)
    p.add_argument("--runs", type=Path, help="the run cache (default: runs/, $PAPERLIB_RUNS)")
    p = sub.add_parser("prune", help="delete the checkpoints of finished runs")
    p.add_argument("--runs", type=Path)
    p = sub.add_parser("list", help="the preset's runs: status, steps, convergence and size")
    p.add_argument("preset", choices=PRESETS)
    p.add_argument("--runs", type=Path)
    args = parser.parse_args(argv)
    if args.verb == "export":
        manifest = export(args.preset, args.archive, args.runs)
        print(f"{len(manifest['runs'])} trained run(s) -> {args.archive} ({args.archive.stat().st_size / 1e6:.1f} MB)")
    elif args.verb == "import":
        added = import_archive(args.archive, args.runs)
        print(f"{len(added)} run(s) added to {args.runs or paths.runs_root()}")
    elif args.verb == "prune":
        count, freed = prune(args.runs)
        print(f"checkpoints of {count} finished run(s) deleted: {freed / 1e6:.1f} MB freed")
    else:
        root = args.runs or paths.runs_dir(args.preset)
        for run in preset_runs(args.preset):
            here = store.folder(run, root)
            record = store.training_record(run.hash(), root) if here.path.exists() else {"steps": 0, "convergence": "-"}
            size = sum(here.size_bytes().values()) / 1e6 if here.path.exists() else 0.0
            print(f"{run.hash()}  N={run.data.N:<3d} {run.data.family:13s} {here.status():8s} {record['steps']:6d} steps  "
                  f"{record['convergence']:15s} {size:6.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
