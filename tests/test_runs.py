"""Trained runs that travel: load in two lines, export, import (checked), prune."""

import hashlib
import io
import json
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest

import paperlib
from paperlib import runfolder, runs, scheduler, store
from paperlib.config import preset
from paperlib.evaluate import generate


def _tiny(**data):
    return preset("smoke", **data).replace(train={"steps": 4, "checkpoint_every": 2, "warmup": 1}, diffusion={"sample_steps": 2})


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    trained = [_tiny(), _tiny(family="sos")]
    scheduler.train_all(trained, root, workers=1, progress=False)
    return root, trained


def test_load_returns_the_model_behind_the_cached_evaluation(cache):
    root, trained = cache
    model = paperlib.load(trained[0].hash(), root)
    ev = store.evaluation(trained[0], root)
    images, _ = generate(model, store.Schedule(trained[0].diffusion), ev.labels, trained[0].diffusion.sample_steps)
    assert np.abs(images.astype(np.float16).astype(np.float32) - ev.images.astype(np.float32)).max() < 0.5
    with pytest.raises(FileNotFoundError, match="not trained.*paperlib --preset"):
        paperlib.load(_tiny(sigma_x=0.7), root)  # never trains behind the user's back


def test_an_exported_cache_imports_checked_and_trains_nothing(cache, tmp_path, monkeypatch):
    root, trained = cache
    monkeypatch.setattr(runs, "preset_runs", lambda name: trained)
    archive = tmp_path / "runs.tar.gz"
    manifest = runs.export("smoke", archive, root)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert set(manifest["runs"]) == {r.hash() for r in trained} and not any("checkpoint" in n for n in names)
    other = tmp_path / "elsewhere"
    assert sorted(runs.import_archive(archive, other)) == sorted(r.hash() for r in trained)
    assert not scheduler.plan(trained, other)  # nothing to train: every evaluation came along
    trainer = store.train_or_load(trained[0], other, progress=False)  # weights without optimiser state: loaded, not retrained
    assert trainer.finished and not (other / trained[0].hash() / "checkpoint.pt").exists()
    assert runs.import_archive(archive, other) == []  # a run already there is left alone


def test_a_tampered_archive_is_refused(cache, tmp_path, monkeypatch):
    root, trained = cache
    monkeypatch.setattr(runs, "preset_runs", lambda name: trained[:1])
    archive = tmp_path / "runs.tar.gz"
    runs.export("smoke", archive, root)
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(bad, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name.endswith("run.json"):
                data = json.dumps({"steps": 999}).encode()
                member.size = len(data)
            dst.addfile(member, __import__("io").BytesIO(data))
    with pytest.raises(ValueError, match="does not match its SHA-256"):
        runs.import_archive(bad, tmp_path / "x")


def test_prune_frees_the_checkpoints_of_finished_runs_only(tmp_path):
    done, partial = _tiny(), _tiny(sigma_x=0.6)
    store.train_or_load(done, tmp_path, progress=False)
    store.Trainer(partial, out_dir=store.run_dir(partial, tmp_path)).fit(until=2, progress=False)
    count, freed = runs.prune(tmp_path)
    assert count == 1 and freed > 0
    assert not store.folder(done, tmp_path).has_checkpoint and store.folder(partial, tmp_path).has_checkpoint
    assert paperlib.load(done, tmp_path) is not None


def _rewrite(archive, out, extra=(), manifest_extra=None):
    """A copy of `archive` with `extra` members (TarInfo, bytes or None) appended and the
    manifest's first run given `manifest_extra` entries (rel -> sha256)."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == runs.MANIFEST and manifest_extra:
                manifest = json.loads(data)
                first = next(iter(manifest["runs"]))
                manifest["runs"][first].update(manifest_extra)
                data = json.dumps(manifest).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
        for info, data in extra:
            dst.addfile(info, io.BytesIO(data) if data is not None else None)
    return out


def _member(name, data=b"", **fields):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in fields.items():
        setattr(info, k, v)
    return info, data


@pytest.fixture()
def exported(cache, tmp_path, monkeypatch):
    root, trained = cache
    monkeypatch.setattr(runs, "preset_runs", lambda name: trained[:1])
    archive = tmp_path / "runs.tar.gz"
    runs.export("smoke", archive, root)
    return archive, trained[0].hash()


def _hostile_archives(archive, run_hash, tmp_path):
    payload = b"written by a stranger"
    digest = hashlib.sha256(payload).hexdigest()
    yield "traversal", _rewrite(archive, tmp_path / "a.tar.gz", [_member(f"{run_hash}/../../escaped.txt", payload)],
                                {"../../escaped.txt": digest}), "leaves its run folder"
    yield "absolute", _rewrite(archive, tmp_path / "b.tar.gz", [_member(f"{run_hash}//tmp/escaped.txt", payload)],
                               {"/tmp/escaped.txt": digest}), "absolute path"
    yield "symlink", _rewrite(archive, tmp_path / "c.tar.gz", [_member(f"{run_hash}/evaluations/eval_00000001.npz", type=tarfile.SYMTYPE,
                                                                         linkname="/etc/passwd")]), "symbolic link"
    yield "hard link", _rewrite(archive, tmp_path / "d.tar.gz", [_member(f"{run_hash}/evaluations/eval_00000002.npz", type=tarfile.LNKTYPE,
                                                                           linkname="/etc/passwd")]), "hard link"
    yield "device", _rewrite(archive, tmp_path / "e.tar.gz", [_member(f"{run_hash}/evaluations/eval_00000003.npz", type=tarfile.CHRTYPE)]), \
        "device"
    yield "duplicate", _rewrite(archive, tmp_path / "f.tar.gz", [_member(f"{run_hash}/{runfolder.RECORD}", payload)]), "appears twice"
    yield "unknown file", _rewrite(archive, tmp_path / "g.tar.gz", [_member(f"{run_hash}/.bashrc", payload)], {".bashrc": digest}), \
        "not a file a run folder holds"
    yield "not a hash", _rewrite(archive, tmp_path / "h.tar.gz", [_member(f"../{runfolder.CONFIG}", payload)]), "not in the manifest"


def test_hostile_archives_are_refused_before_anything_is_written(exported, tmp_path):
    archive, run_hash = exported
    for name, hostile, message in _hostile_archives(archive, run_hash, tmp_path):
        cache = tmp_path / "deep" / "er" / f"cache-{name.replace(' ', '-')}"
        with pytest.raises(runs.ArchiveError, match=message):
            runs.import_archive(hostile, cache)
        assert not cache.exists(), name  # not even the run folder
    assert not list(tmp_path.rglob("escaped.txt")) and not Path("/tmp/escaped.txt").exists()


def test_a_member_larger_than_any_run_file_is_refused_unread(exported, tmp_path, monkeypatch):
    archive, _ = exported
    monkeypatch.setattr(runs, "MAX_MEMBER_BYTES", 1000)  # the smoke weights are larger
    with pytest.raises(runs.ArchiveError, match="declares .* bytes"):
        runs.import_archive(archive, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_the_command_line_says_one_line_and_exits_1(exported, tmp_path, capsys):
    archive, run_hash = exported
    hostile = next(h for name, h, _ in _hostile_archives(archive, run_hash, tmp_path) if name == "traversal")
    assert runs.main(["import", str(hostile), "--runs", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(hostile) in err and "leaves its run folder" in err
    assert runs.main(["export", "smoke", str(tmp_path / "empty.tar.gz"), "--runs", str(tmp_path / "no-such-cache")]) == 1
    assert "no trained run" in capsys.readouterr().err and not (tmp_path / "empty.tar.gz").exists()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[:200])
    assert runs.main(["import", str(truncated), "--runs", str(tmp_path / "cache")]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_weights_and_imported_files_are_readable_by_the_group(cache, exported, tmp_path):
    root, trained = cache
    assert stat.S_IMODE((root / trained[0].hash() / runfolder.WEIGHTS).stat().st_mode) & 0o044 == 0o044
    archive, run_hash = exported
    runs.import_archive(archive, tmp_path / "cache")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "cache" / run_hash).rglob("*") if p.is_file() and p.name != ".lock"}
    assert modes and all(m & 0o044 == 0o044 for m in modes.values()), modes


@pytest.fixture()
def served(tmp_path):
    """A folder served over HTTP on 127.0.0.1 (the address an archive is published at)."""
    import functools
    import http.server
    import threading

    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_archive_fetched_by_address_is_checked_against_its_hash_then_imported(exported, served, tmp_path):
    archive, run_hash = exported
    folder, address = served
    (folder / "runs.tar.gz").write_bytes(archive.read_bytes())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(runs.ArchiveError, match="SHA256|hash"):
        runs.fetch(f"{address}/runs.tar.gz", "0" * 64, tmp_path / "refused", folder=tmp_path / "downloads-a")
    assert not (tmp_path / "refused").exists()
    assert runs.fetch(f"{address}/runs.tar.gz", digest, tmp_path / "cache", folder=tmp_path / "downloads-b") == [run_hash]
    assert paperlib.sample(run_hash, [[8.0, 8.0], [3.5, 12.0]], tmp_path / "cache").shape == (2, 16, 16)
