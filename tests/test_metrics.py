import numpy as np
import pytest

from paperlib import data, metrics
from paperlib.config import DataConfig, HoldOut
from paperlib.evaluate import score


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


@pytest.mark.parametrize("N", [8, 16, 32])
@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("family, periodic", [("bump", False), ("sos", False), ("bump", True), ("sos+stripes", False)])
def test_ground_truth_scores_100_on_every_reading(N, sigma, family, periodic):
    """A perfect image scores perfectly: Eq. 1, the per-axis profiles and validity, with no
    centroid fallback, on every evaluation label (on the torus too, edges included)."""
    config = DataConfig(family=family, N=N, sigma_x=sigma, sigma_y=sigma, d_x=1.0, d_y=1.0, periodic=periodic)
    labels = data.eval_labels(N)
    shape = "sos" if "sos" in family else "bump"
    ev = score(data.render(labels, N, sigma, sigma, shape, periodic).numpy(), labels, config)
    everything = ev.scores["all"]
    assert everything.pop("fallback") == 0 and everything.pop("n") == N * N
    assert everything.pop("one_stripe") == 0.0  # a perfect image is no lone stripe
    assert everything == {k: 1.0 for k in everything}
    assert ev.correlation.min() > 0.999


def test_a_bump_on_the_torus_edge_is_one_blob():
    """At x = 1 a periodic bump spills onto column N: one blob across the wrap, not two."""
    image = data.render([[1.0, 9.0]], 16, 1.0, 1.0, "bump", periodic=True).numpy()
    plain, fallback = metrics.locate(image, periodic=False)
    assert fallback[0] and abs(plain[0, 0] - 1) > 5  # without wrap-around: two blobs, centroid mid-canvas
    wrapped, fallback = metrics.locate(image, periodic=True)
    assert not fallback[0] and np.array_equal(wrapped[0], [1.0, 9.0])


def test_circular_centroid_on_the_torus():
    two = np.minimum(*(data.render([[x, 8.0]], 16, 1.0, 1.0, "bump", periodic=True).numpy() for x in (15.0, 3.0)))
    centre, fallback = metrics.locate(two, periodic=True)
    assert fallback[0] and centre[0] == pytest.approx([1.0, 8.0], abs=0.05)  # midway across the wrap


def test_profiles_read_each_stripe_of_a_split_crossing():
    """A sum of stripes whose horizontal stripe is drawn twice at half strength: Eq. 1 sees two
    crossings and falls back to the centroid, losing x; the column profile still finds x."""
    N = 32
    sx = np.exp(-(np.arange(1, N + 1) - 8.0) ** 2 / 4)
    half = 0.5 * (np.exp(-(np.arange(1, N + 1) - 10.0) ** 2 / 4) + np.exp(-(np.arange(1, N + 1) - 24.0) ** 2 / 4))
    image = 255 * (1 - (sx[None, :] + half[:, None]) / 2)
    eq1, fallback = metrics.locate(image[None])
    assert fallback[0] and abs(eq1[0, 0] - 8) >= 1
    assert metrics.profile_centres(image[None])[0, 0] == 8.0


def test_validity_tells_a_lone_stripe_from_a_sum_of_stripes():
    labels = np.array([[16.0, 16.0]])
    sos = data.render(labels, 32, 1.0, 1.0, "sos").numpy()
    stripe = data.render([[16.0, -20.0]], 32, 1.0, 1.0, "sos").numpy()  # the vertical stripe alone
    shifted = data.render(labels + [1.0, 0.0], 32, 1.0, 1.0, "sos").numpy()
    r = lambda img: metrics.validity(img, labels, 32, 1.0, 1.0, "sos")[0]  # noqa: E731
    assert r(sos) == pytest.approx(1.0) and r(shifted) > metrics.VALID_CORRELATION > r(stripe)
    assert metrics.validity(np.full((1, 32, 32), 255.0), labels, 32, 1.0, 1.0, "sos")[0] == 0.0
    blank = metrics.profile_centres(np.full((1, 32, 32), 255.0))
    assert np.isnan(blank).all() and not metrics.correct(blank, labels)["x"][0]


def test_a_crossing_of_stripes_is_not_a_valid_bump_even_at_n_8():
    """Fig. 5 at N = 8: Eq. 1 reads a crossing of stripes as a right bump; validity must not."""
    from paperlib.config import DataConfig
    from paperlib.evaluate import score

    config = DataConfig(family="bump+stripes", N=8, d_x=1.0, d_y=1.0)
    labels = data.eval_labels(8)
    crossings = data.render(labels, 8, 1.0, 1.0, "sos").numpy()
    bumps = data.render(labels, 8, 1.0, 1.0, "bump").numpy()
    crossed, right = score(crossings, labels, config), score(bumps, labels, config)
    assert crossed.scores["all"]["accuracy"] > 0.5 and crossed.scores["all"]["composed"] == 0.0
    assert right.scores["all"]["composed"] == 1.0


def test_a_lone_stripe_is_read_as_one_stripe_not_a_sum():
    from paperlib.config import DataConfig
    from paperlib.evaluate import score

    config = DataConfig(family="stripes", N=16, d_x=1.0, d_y=1.0, rim=False)
    labels = data.eval_labels(16)
    lone = data.render(np.stack([labels[:, 0], np.full(len(labels), -40.0)], 1), 16, 1.0, 1.0, "sos").numpy()
    ev = score(lone, labels, config)
    assert ev.scores["all"]["one_stripe"] == 1.0 and ev.scores["all"]["composed"] == 0.0
    assert score(data.render(labels, 16, 1.0, 1.0, "sos").numpy(), labels, config).scores["all"]["one_stripe"] == 0.0
