"""Trained runs that travel: load in two lines, export, import (checked), prune."""

import json
import tarfile

import numpy as np
import pytest

import paperlib
from paperlib import runs, store
from paperlib.config import preset
from paperlib.evaluate import generate


def _tiny(**data):
    return preset("smoke", **data).replace(train={"steps": 4, "checkpoint_every": 2, "warmup": 1}, diffusion={"sample_steps": 2})


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    trained = [_tiny(), _tiny(family="sos")]
    store.train_all(trained, root, workers=1, progress=False)
    return root, trained


def test_load_returns_the_model_behind_the_cached_evaluation(cache):
    root, trained = cache
    model = paperlib.load(trained[0].hash(), root)
    ev = store.evaluation(trained[0], root)
    images, _ = generate(model, store.Schedule(trained[0].diffusion), ev.labels, trained[0].diffusion.sample_steps)
    assert np.abs(images.astype(np.float16).astype(np.float32) - ev.images.astype(np.float32)).max() < 0.5
    with pytest.raises(FileNotFoundError, match="not trained.*run_all.py --preset"):
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
    assert not store.plan(trained, other)  # nothing to train: every evaluation came along
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
