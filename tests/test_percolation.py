
import numpy as np
import pytest

from paperlib import data
from paperlib import percolation as P
from paperlib.config import DataConfig


def test_overlap_of_a_bump_with_itself_is_one():
    for sigma in (0.1, 0.5, 1.0, 2.0):
        a = P.bright_images([[16.0, 16.0], [3.3, 30.0]], 32, sigma)
        assert P.overlap(a, a) == pytest.approx([1.0, 1.0])
        assert P.pair_overlap(a, a) == pytest.approx([1.0, 1.0])
    overlaps = P.overlap_matrix(P.lattice(32)[:50], 32, 1.0)
    assert np.allclose(np.diag(overlaps), 1.0) and np.allclose(overlaps, overlaps.T) and overlaps.max() <= 1 + 1e-12


def test_overlap_falls_with_distance_for_pixel_aligned_pairs():
    for sigma in (0.5, 1.0, 2.0):
        values = [P.neighbour_overlap(d, sigma) for d in (1.0, 2.0, 3.0, 4.0)]
        assert all(a > b for a, b in zip(values, values[1:])), (sigma, values)
    assert P.neighbour_overlap(1.0, 2.0) > P.neighbour_overlap(1.0, 1.0) > P.neighbour_overlap(1.0, 0.5)


def test_directional_overlap_can_exceed_one():
    """A faint bump centred between pixels overlaps a pixel-centred one by more than itself."""
    half = P.bright_images([[16.5, 16.0]], 32, 0.3)
    whole = P.bright_images([[16.0, 16.0]], 32, 0.3)
    assert P.overlap(half, whole)[0] > 1 > P.overlap(whole, half)[0]


def test_pixelation_cusp_near_half_a_pixel():
    """Averaged over the lattice, the neighbour overlap is not smooth in d at d = 0.5, where the
    lattice meets only two pixel phases (Fig. 6b)."""
    ds = np.array([0.46, 0.48, 0.5, 0.52, 0.54])
    y = P.overlap_curves(ds, [0.5])[0]
    second_difference = y[1] - 2 * y[2] + y[3]
    smooth_scale = abs(y[0] - 2 * y[2] + y[4]) / 4
    assert abs(second_difference) > 3 * smooth_scale


def test_mass_ratio_limits():
    thresholds = [1e-3, 1.01]  # below the nearest-neighbour overlap / above every off-diagonal one
    r = P.simulate([1.0], [0.25, 1.0], thresholds, seeds=range(3))
    assert r.ratio[0, 1, 0] == pytest.approx(1.0)
    assert r.mean()[0, 1, 1] == pytest.approx(1 / 1024)
    assert r.mean()[0, 0, 1] == pytest.approx(1 / 256)


def test_sigma_point_one_never_percolates_at_0005():
    r = P.simulate([0.1], np.arange(0.1, 1.01, 0.1), [0.005], seeds=range(5))
    assert r.mean().max() < 0.02
    assert np.isnan(r.critical_fraction()[0, 0])


def test_larger_sigma_percolates_at_smaller_lambda():
    fractions = np.round(np.arange(0.05, 1.01, 0.05), 2)
    r = P.simulate([0.3, 0.5, 1.0], fractions, [0.05], seeds=range(5))
    crit = r.critical_fraction()[:, 0]
    assert crit[0] > crit[1] > crit[2]
    assert (np.diff(r.mean()[:, :, 0], axis=1) >= -0.05).all()  # rises with lambda (up to noise)


def test_simulation_uses_the_training_datasets_points():
    for fraction, seed in ((0.3, 0), (0.7, 2)):
        idx = P.sampled_points(fraction, seed)
        ds = data.make_dataset(DataConfig(d_x=1, d_y=1, fraction=fraction, seed=seed, sigma_x=0.3, sigma_y=0.3))
        assert np.array_equal(P.lattice()[idx], ds.labels)


def test_bad_sweep_parameters():
    with pytest.raises(ValueError, match="sigmas"):
        P.simulate([0.0], [0.5])
    with pytest.raises(ValueError, match="fractions"):
        P.simulate([1.0], [1.5])
