import numpy as np
import pytest

from paperlib import geometry as G

N = 32


@pytest.fixture(scope="module")
def tori():
    t3, cl = G.standard_torus(N, N), G.clifford_torus(N, N)
    return {
        "torus3d": t3,
        "clifford": cl,
        "torus3d_256": G.embed(t3, 256, noise=0.01, seed=1),
        "clifford_256": G.embed(cl, 256, noise=0.01, seed=2),
    }


def test_participation_ratio_of_clifford_torus_is_four():
    assert G.participation_ratio(G.clifford_torus(N, N)) == pytest.approx(4.0, rel=0.01)
    assert G.participation_ratio(G.embed(G.clifford_torus(N, N), 256, seed=3)) == pytest.approx(4.0, rel=0.01)
    assert G.explained_variance(G.clifford_torus(N, N), 4) == pytest.approx(1.0)
    assert G.participation_ratio(G.standard_torus(N, N)) < 3


def test_pca_spectrum_sorted_and_projection():
    X = G.embed(G.clifford_torus(N, N), 64, seed=0)
    lam = G.pca_spectrum(X)
    assert (np.diff(lam) <= 1e-12).all() and lam[4:].max() < 1e-10
    assert G.pca_project(X, 3).shape == (N * N, 3)


@pytest.mark.parametrize("name", ["torus3d", "clifford", "torus3d_256", "clifford_256"])
def test_betti_numbers_of_tori(tori, name):
    assert G.persistence(tori[name], maxdim=2).betti == (1, 2, 1)


@pytest.mark.parametrize("r_y", [1.0, 0.5, 0.35])
def test_lopsided_tori_read_as_tori(r_y):
    """A torus with one ring much smaller than the other has a short second H1 bar and a short H2
    bar, yet both stand well above the landmark noise: the rule must count them."""
    X = G.embed(G.clifford_torus(N, N, r_y), 512, noise=0.01, seed=1)
    assert G.persistence(X).betti == (1, 2, 1)


def test_hyper_factorized_torus_reads_as_a_torus():
    X = G.embed(G.hyper_factorized_torus(N, N), 512, noise=0.01, seed=4)
    hom = G.persistence(X)
    assert hom.betti == (1, 2, 1)
    assert len(hom.floor) == 3 and all(f >= 0 for f in hom.floor)
    # its rings of different x turn away from each other: x-on-x nearer the 3D torus's x-on-y
    # statistics than the Clifford torus's (parallel) x-on-x
    rings, t3, cl = G.ring_tests(X, N, N), G.ring_tests(G.standard_torus(N, N), N, N), G.ring_tests(G.clifford_torus(N, N), N, N)
    for stat in G.STATISTICS:
        assert G.wasserstein_distance(rings["x_on_x"][stat], t3["x_on_y"][stat]) < G.wasserstein_distance(rings["x_on_x"][stat], cl["x_on_x"][stat])


def test_betti_rule_counts_bars_above_the_last_gap():
    diagram = lambda lifetimes: np.array([[0.0, lt] for lt in lifetimes])  # noqa: E731
    h0 = np.vstack([[0.0, np.inf], diagram(np.linspace(0.12, 0.08, 50))])  # landmark spacing: no gap
    lopsided = [h0, diagram([1.25, 0.26, 0.11, 0.10, 0.10]), diagram([0.19, 0.044, 0.04])]
    assert G.betti_numbers(lopsided) == (1, 2, 1)
    noise_only = [h0, diagram(np.linspace(0.30, 0.05, 30)), diagram([0.05, 0.048])]  # a bulk, and H2 under 2x the floor
    assert G.betti_numbers(noise_only) == (1, 0, 0)
    tiny = [h0, diagram([1.0, 0.1]), diagram([0.02])]  # one H2 bar, but 2% of the longest bar
    assert G.betti_numbers(tiny) == (1, 1, 0)


def test_betti_numbers_of_a_circle_and_two_blobs():
    t = 2 * np.pi * np.arange(200) / 200
    circle = np.stack([np.cos(t), np.sin(t)], 1)
    assert G.persistence(circle, maxdim=2).betti[:2] == (1, 1)
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(0, 0.05, (100, 3)), rng.normal(5, 0.05, (100, 3))])
    assert G.persistence(blobs, maxdim=1).betti[0] == 2


@pytest.mark.parametrize("dims", ["", "_256"])
def test_ideal_tori_are_told_apart(tori, dims):
    for name, other in (("torus3d", "clifford"), ("clifford", "torus3d")):
        d = G.torus_distances(tori[name + dims], N, N)
        assert d[name]["mean"] < 0.05
        assert d[other]["mean"] > 4 * d[name]["mean"] + 0.1  # a wide margin


def test_clifford_rings_are_orthogonal_and_parallel():
    s = G.ring_tests(G.clifford_torus(N, N), N, N)
    assert np.allclose(s["x_on_y"]["orthogonality"], 0, atol=1e-8)
    assert np.allclose(s["x_on_y"]["parallelism"], 1)
    assert np.allclose(s["x_on_x"]["orthogonality"], 1)
    assert np.allclose(s["x_on_x"]["parallelism"], 0, atol=1e-8)
    assert len(s["x_on_y"]["parallelism"]) == N * N and len(s["x_on_x"]["parallelism"]) == N * (N - 1) // 2


def test_hyper_factorized_x_on_x_resembles_3d_torus_x_on_y():
    """Section 3.1: each x value with its own orthogonal direction gives x-on-x statistics like
    the 3D torus's x-on-y (rings that share one axis and are orthogonal in the other)."""
    ix, iy = np.meshgrid(np.arange(N), np.arange(N))
    ix, iy = ix.ravel(), iy.ravel()
    theta, phi = 2 * np.pi * ix / N, 2 * np.pi * iy / N
    H = np.zeros((N * N, 2 + N + 1))
    H[:, 0], H[:, 1] = np.cos(theta), np.sin(theta)
    H[np.arange(N * N), 2 + ix] = np.cos(phi)  # the y ring's first axis is x's own direction
    H[:, -1] = np.sin(phi)
    H = G.embed(H, 256, noise=0.01, seed=4)
    hyper = G.ring_tests(H, N, N)
    t3 = G.ring_tests(G.standard_torus(N, N), N, N)
    cl = G.ring_tests(G.clifford_torus(N, N), N, N)
    for stat in G.STATISTICS:
        to_3d = G.wasserstein_distance(hyper["x_on_x"][stat], t3["x_on_y"][stat])
        to_cl = G.wasserstein_distance(hyper["x_on_x"][stat], cl["x_on_x"][stat])
        assert to_3d < 0.05 and to_cl > 0.4


def test_summary_of_labelled_activations_in_any_order():
    X = G.embed(G.clifford_torus(N, N), 256, noise=0.01, seed=5)
    gx, gy = np.meshgrid(np.arange(1, N + 1), np.arange(1, N + 1))
    labels = np.stack([gx.ravel(), gy.ravel()], 1).astype(float)
    perm = np.random.default_rng(0).permutation(N * N)
    s = G.summarize(X[perm], labels[perm])
    assert 3.9 < s["participation_ratio"] < 4.5  # 4 plus a little isotropic noise
    assert s["explained_variance_top4"] > 0.95
    assert s["betti"] == [1, 2, 1]
    assert s["wasserstein_clifford"] < s["wasserstein_torus3d"]


def test_bad_input_raises():
    X = G.clifford_torus(N, N)
    gx, gy = np.meshgrid(np.arange(N), np.arange(N))
    labels = np.stack([gx.ravel(), gy.ravel()], 1)
    with pytest.raises(ValueError, match="grid needs"):
        G.ring_tests(X[:-5], N, N)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        G.participation_ratio(bad)
    with pytest.raises(ValueError, match="labels"):
        G.summarize(X, labels[:-1])
    with pytest.raises(ValueError, match="labels"):
        G.summarize(X[:-1], labels[:-1])  # 1023 labels do not fill a grid
    with pytest.raises(ValueError, match="R, r"):
        G.standard_torus(R=1, r=2)
