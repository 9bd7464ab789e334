import numpy as np
import pytest

from paperlib import data, metrics
from paperlib.config import HoldOut


def _bumps(labels, shape="bump", N=32):
    return data.render(labels, N, 1.0, 1.0, shape).numpy()


def test_perfect_images_score_100():
    labels = data.eval_labels(32)
    pred = metrics.estimate_centres(_bumps(labels))
    assert np.array_equal(pred, labels)
    assert metrics.accuracy(pred, labels) == {"accuracy": 1.0, "x": 1.0, "y": 1.0}


def test_sos_images_score_100():
    labels = data.eval_labels(32)
    assert metrics.accuracy(metrics.estimate_centres(_bumps(labels, "sos")), labels)["accuracy"] == 1.0


def test_shift_by_two_pixels_scores_zero():
    labels = data.eval_labels(32)
    shifted = labels.copy()
    shifted[:, 0] = np.where(labels[:, 0] <= 30, labels[:, 0] + 2, labels[:, 0] - 2)
    pred = metrics.estimate_centres(_bumps(shifted))
    acc = metrics.accuracy(pred, labels)
    assert acc["accuracy"] == 0.0 and acc["x"] == 0.0 and acc["y"] == 1.0


def test_two_bumps_fall_back_to_centroid():
    a = _bumps([[8.0, 16.0]])[0]
    b = _bumps([[24.0, 16.0]])[0]
    both = np.minimum(a, b)[None]
    centre = metrics.estimate_centres(both)[0]
    assert centre == pytest.approx([16.0, 16.0], abs=0.05)  # midway, not at either bump


def test_blank_image_falls_back_to_centroid():
    blank = np.full((1, 32, 32), 255.0)
    blank[0, 0, 0] = 250.0  # a faint speck is not a bump
    centre = metrics.estimate_centres(blank)[0]
    assert centre == pytest.approx([1.0, 1.0])
    noise = np.full((1, 32, 32), 250.0)
    assert metrics.estimate_centres(noise)[0] == pytest.approx([16.5, 16.5])


def test_periodic_distance():
    pred = np.array([[32.0, 1.0]])
    labels = np.array([[1.0, 1.0]])
    assert metrics.accuracy(pred, labels)["x"] == 0.0
    assert metrics.accuracy(pred, labels, N=32, periodic=True)["x"] == 0.0  # 1 px away: not < 1
    assert metrics.accuracy(np.array([[32.5, 1.0]]), labels, N=32, periodic=True)["x"] == 1.0


def test_accuracy_by_region_on_cross():
    labels = data.eval_labels(32)
    regions = data.regions(labels, HoldOut("cross"), 32)
    # right in distribution; in the cross, y is off by 3
    truth = labels.copy()
    drawn = labels.copy()
    ood = regions["out_of_distribution"]
    drawn[ood, 1] = np.where(labels[ood, 1] <= 29, labels[ood, 1] + 3, labels[ood, 1] - 3)
    scores = metrics.accuracy_by_region(metrics.estimate_centres(_bumps(drawn)), truth, regions)
    assert scores["in_distribution"]["accuracy"] == 1.0
    assert scores["vertical"]["x"] == 1.0 and scores["vertical"]["y"] == 0.0
    assert scores["intersection"]["accuracy"] == 0.0
    assert scores["all"]["n"] == 1024 and scores["intersection"]["n"] == 49


def test_mismatched_inputs_raise():
    with pytest.raises(ValueError, match="pred/labels"):
        metrics.accuracy(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="regions"):
        metrics.accuracy_by_region(np.zeros((3, 2)), np.zeros((3, 2)), {"a": np.ones(4, bool)})
