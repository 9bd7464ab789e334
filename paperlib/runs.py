"""Trained runs that travel: export a preset's run cache to one archive, import it elsewhere,
prune the optimiser checkpoints of finished runs.

    python -m paperlib.runs export laptop runs-laptop.tar.gz   # the preset's trained runs, no checkpoints
    python -m paperlib.runs import runs-laptop.tar.gz          # checked file by file against the manifest
    python -m paperlib.runs fetch URL --sha256 HEX             # download an archive of known hash, then import it
    python -m paperlib.runs prune                              # free the checkpoints of finished runs
    python -m paperlib.runs list laptop                        # status, steps and size of each run

An archive holds, per run, everything but its resumable state (`checkpoint*.pt`): the weights,
records, log, learning curve and evaluations, and a `manifest.json` with every file's SHA-256.
Archives are shared, so import reads one as a stranger's: before writing anything it refuses a
member that is not a regular file (links, devices), a name given twice, a size no run file has, a
path that is absolute, climbs out with "..", or names a file no run folder holds, files that do
not match their manifest, and a folder whose name is not its configuration's hash. It never
overwrites a run already in the cache. Errors on the command line are one line, exit status 1. With the imported
cache, `run_all.py` trains nothing that the archive holds and rebuilds every figure from it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from . import paths, runfolder, store
from .config import PRESETS, RunConfig
from .experiments import SECTIONS
from .files import atomic_write

MANIFEST = "manifest.json"
KEPT_OUT = (runfolder.CHECKPOINT, runfolder.PREVIOUS_CHECKPOINT, runfolder.LOCK)
# The largest file a run folder holds is the `paper` model's weights (about 95 MB); an archive
# member declaring more than this is refused before it is read.
MAX_MEMBER_BYTES = 1 << 30
MAX_MANIFEST_BYTES = 16 << 20


class ArchiveError(ValueError):
    """An archive that cannot be exported or imported as it is; nothing was written."""


def preset_runs(preset: str) -> list[RunConfig]:
    return list({r.hash(): r for s in SECTIONS for r in s.runs(preset)}.values())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in KEPT_OUT and not p.name.endswith((".tmp", ".damaged")))


def export(preset: str, archive, root=None) -> dict:
    """Write the preset's trained runs (weights and results, no checkpoints) to a .tar.gz; returns
    the manifest. A cache holding none of them is an error, and no archive is written."""
    root = Path(root if root is not None else paths.runs_dir(preset))
    trained = [run for run in preset_runs(preset) if store.folder(run, root).trained]
    if not trained:
        raise ArchiveError(f"{root} holds no trained run of the {preset!r} preset: nothing to export (is --runs right?)")
    manifest = {"preset": preset, "runs": {}}

    def write(tmp: Path) -> None:
        with tarfile.open(tmp, "w:gz") as tar:
            for run in trained:
                here = store.folder(run, root)
                entries = {}
                for path in _files(here.path):
                    rel = path.relative_to(here.path).as_posix()
                    if not runfolder.is_travelling_file(rel):
                        continue
                    data = path.read_bytes()
                    entries[rel] = _sha256(data)
                    _add(tar, f"{run.hash()}/{rel}", data)
                manifest["runs"][run.hash()] = entries
            _add(tar, MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())

    atomic_write(archive, write)
    return manifest


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def _check_name(run_hash: str, rel: str) -> None:
    """Refuse a manifest entry that could land outside its run folder, or that names a file no run
    folder holds: an archive is shared between people, so it is read as if written by a stranger."""
    where = f"{run_hash}/{rel}"
    if not runfolder.HASH.fullmatch(run_hash):
        raise ArchiveError(f"{run_hash!r} is not a run folder's name (12 hex digits)")
    if rel.startswith(("/", "\\")) or PurePosixPath(rel).is_absolute() or (len(rel) > 1 and rel[1] == ":"):
        raise ArchiveError(f"{where}: an absolute path")
    if ".." in PurePosixPath(rel).parts or "\\" in rel:
        raise ArchiveError(f"{where}: a path that leaves its run folder")
    if not runfolder.is_travelling_file(rel):
        raise ArchiveError(f"{where}: not a file a run folder holds ({', '.join(runfolder.TRAVELLING)}, {runfolder.EVALUATIONS}/eval_<step>.npz)")


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """The archive's members by name: regular files of a sane size only (no links, devices,
    folders or repeated names)."""
    members = {}
    for m in tar.getmembers():
        if not m.isreg():
            kind = "a symbolic link" if m.issym() else "a hard link" if m.islnk() else "a folder" if m.isdir() else "a device or pipe"
            raise ArchiveError(f"member {m.name!r} is {kind}; an archive of runs holds regular files only")
        if m.name in members:
            raise ArchiveError(f"member {m.name!r} appears twice")
        limit = MAX_MANIFEST_BYTES if m.name == MANIFEST else MAX_MEMBER_BYTES
        if m.size > limit:
            raise ArchiveError(f"member {m.name!r} declares {m.size} bytes, more than any run file ({limit})")
        members[m.name] = m
    return members


def read_archive(archive) -> dict[str, dict[str, bytes]]:
    """An exported archive's runs (hash -> file -> bytes), every name, size, link and SHA-256
    checked against the manifest and every folder against its configuration's hash; raises
    `ArchiveError` at the first fault, having written nothing."""
    try:
        return _read_archive(archive)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise ArchiveError(f"not a readable .tar.gz ({type(error).__name__}: {error})") from error


def _read_archive(archive) -> dict[str, dict[str, bytes]]:
    with tarfile.open(archive, "r:gz") as tar:
        members = _members(tar)
        if MANIFEST not in members:
            raise ArchiveError(f"no {MANIFEST}; was it written by `python -m paperlib.runs export`?")
        try:
            manifest = json.loads(tar.extractfile(members[MANIFEST]).read())
            listed = {run_hash: dict(entries) for run_hash, entries in manifest["runs"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ArchiveError(f"{MANIFEST} is not a manifest of runs ({error})") from error
        for run_hash, entries in listed.items():
            for rel in entries:
                _check_name(run_hash, rel)
        unlisted = set(members) - {MANIFEST} - {f"{h}/{rel}" for h, entries in listed.items() for rel in entries}
        if unlisted:
            raise ArchiveError(f"member {sorted(unlisted)[0]!r} is not in the manifest")
        contents = {}
        for run_hash, entries in listed.items():
            files = {}
            for rel, digest in entries.items():
                member = members.get(f"{run_hash}/{rel}")
                data = tar.extractfile(member).read() if member is not None else None
                if data is None or _sha256(data) != digest:
                    raise ArchiveError(f"{run_hash}/{rel} is missing or does not match its SHA-256 in the manifest")
                files[rel] = data
            if runfolder.CONFIG not in files:
                raise ArchiveError(f"{run_hash} has no {runfolder.CONFIG}")
            try:
                config = RunConfig.from_dict(json.loads(files[runfolder.CONFIG]))
            except (ValueError, KeyError, TypeError) as error:
                raise ArchiveError(f"{run_hash}/{runfolder.CONFIG} is not a run configuration ({error})") from error
            if config.hash() != run_hash:
                raise ArchiveError(f"folder {run_hash} holds the run {config.hash()}")
            contents[run_hash] = files
    return contents


def import_archive(archive, root=None) -> list[str]:
    """Add an exported archive's runs to the cache `root` (`read_archive` checks all of it first);
    a run the cache has trained already is left alone. Returns the runs added."""
    root = Path(root if root is not None else paths.runs_root())
    contents = read_archive(archive)
    added = []
    for run_hash, files in contents.items():
        here = runfolder.RunFolder(root / run_hash)
        if here.trained:
            continue
        with here.lock():
            inside = here.path.resolve()
            for rel, data in files.items():
                target = here.path / rel
                if not target.resolve().is_relative_to(inside):  # a symbolic link already in the cache
                    raise ArchiveError(f"{target} resolves outside {here.path}")
                atomic_write(target, lambda tmp, data=data: tmp.write_bytes(data))
        added.append(run_hash)
    return added


def fetch(url: str, sha256: str, root=None, folder=None) -> list[str]:
    """Download an exported archive from `url` (pooch: cached, resumed, checked against its SHA-256
    before use) and import it into the cache `root` with every check of `import_archive`."""
    import pooch

    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ArchiveError(f"--sha256: {sha256!r} is not a SHA-256 (64 hex digits)")
    try:
        path = pooch.retrieve(url, known_hash=f"sha256:{sha256.lower()}", path=folder or pooch.os_cache("paperlib"), progressbar=False)
    except ValueError as error:  # pooch's hash mismatch
        raise ArchiveError(f"{url}: {error}") from error
    return import_archive(path, root)


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
    p = sub.add_parser("fetch", help="download an archive of known SHA-256 and import it")
    p.add_argument("url")
    p.add_argument("--sha256", required=True, help="the archive's SHA-256, as its publisher states it")
    p.add_argument("--runs", type=Path, help="the run cache (default: runs/, $PAPERLIB_RUNS)")
    p = sub.add_parser("prune", help="delete the checkpoints of finished runs")
    p.add_argument("--runs", type=Path)
    p = sub.add_parser("list", help="the preset's runs: status, steps, convergence and size")
    p.add_argument("preset", choices=PRESETS)
    p.add_argument("--runs", type=Path)
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (ArchiveError, tarfile.TarError, OSError, requests_error()) as error:
        where = f"{args.archive}: " if getattr(args, "archive", None) and not str(error).startswith(str(args.archive)) else ""
        print(f"{parser.prog} {args.verb}: error: {where}{error}", file=sys.stderr)
        return 1


def requests_error() -> type:
    """The error a failed download raises (requests, which pooch uses), for one-line messages."""
    try:
        import requests

        return requests.RequestException
    except ImportError:
        return OSError


def _run(args) -> int:
    if args.verb == "export":
        manifest = export(args.preset, args.archive, args.runs)
        print(f"{len(manifest['runs'])} trained run(s) -> {args.archive} ({args.archive.stat().st_size / 1e6:.1f} MB)")
    elif args.verb == "import":
        added = import_archive(args.archive, args.runs)
        print(f"{len(added)} run(s) added to {args.runs or paths.runs_root()}")
    elif args.verb == "fetch":
        added = fetch(args.url, args.sha256, args.runs)
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
