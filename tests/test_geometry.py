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


M = 20  # persistence tests on 20 x 20 grids, landmarks in the share of 300 of 1024 (H1 of all points costs ~N^4)
LANDMARKS = 120


@pytest.mark.parametrize("name", ["3D", "clifford", "lopsided 0.5", "lopsided 0.35", "hyper"])
def test_ideal_tori_read_as_tori(name):
    """Every torus, coupled, factorized, lopsided (one ring much smaller: short bars that still
    stand out of the noise) or hyper-factorized, reads (1, 2, 1) with no candidate bar."""
    X = {"3D": G.standard_torus(M, M), "clifford": G.embed(G.clifford_torus(M, M), 64, noise=0.01, seed=2),
         "lopsided 0.5": G.embed(G.clifford_torus(M, M, 0.5), 64, noise=0.01, seed=1),
         "lopsided 0.35": G.embed(G.clifford_torus(M, M, 0.35), 64, noise=0.01, seed=1),
         "hyper": G.embed(G.hyper_factorized_torus(M, M), 128, noise=0.01, seed=4)}[name]
    hom = G.persistence(X, M, M, n_landmarks=LANDMARKS)
    assert hom.betti == (1, 2, 1) and hom.candidates == (0, 0, 0) and hom.reads() == "yes"
    assert len(hom.null) == 3 and all(f > 0 for f in hom.null)


def test_the_training_images_of_the_torus_read_as_a_torus_and_a_null_does_not():
    """The positive control: the periodic bump images themselves (a true torus in pixel space),
    read the same way as a model's layer; the null (their pixels shuffled across images) is no torus."""
    from paperlib import data

    n = 16
    images = data.render(data.eval_labels(n), n, 1.0, 1.0, "bump", periodic=True).numpy().reshape(n * n, -1)
    assert G.persistence(images, n, n, n_landmarks=75).reads() == "yes"
    null = G.persistence(G.shuffled(images, 5), n, n, n_landmarks=75)
    assert null.reads() in ("no", "inconclusive") and null.betti[:2] == (1, 0)
    flat = data.render(data.eval_labels(n), n, 1.0, 1.0, "bump").numpy().reshape(n * n, -1)  # no wrap-around: a disk
    assert G.persistence(flat, n, n, n_landmarks=75).reads() != "yes"


def test_the_reading_of_clear_bars_and_candidates():
    diagrams = [np.zeros((1, 2)), np.zeros((0, 2)), np.zeros((0, 2))]
    hom = lambda clear, cand: G.Homology(diagrams, (1.0, 1.0, 1.0), clear, cand)  # noqa: E731
    assert hom((1, 2, 1), (0, 0, 0)).reads() == "yes"
    assert hom((1, 1, 1), (0, 1, 0)).reads() == "inconclusive"  # one H1 bar between the floor and twice it
    assert hom((1, 0, 1), (0, 0, 0)).reads() == "inconclusive"  # an H2 bar but no H1 bar: not a torus reading at all
    assert hom((1, 0, 0), (0, 0, 0)).reads() == "no" and hom((1, 3, 1), (0, 0, 0)).reads() == "no"


def test_hyper_factorized_rings_turn_away_from_each_other():
    X = G.embed(G.hyper_factorized_torus(N, N), 512, noise=0.01, seed=4)
    # its rings of different x turn away from each other: x-on-x nearer the 3D torus's x-on-y
    # statistics than the Clifford torus's (parallel) x-on-x
    rings, t3, cl = G.ring_tests(X, N, N), G.ring_tests(G.standard_torus(N, N), N, N), G.ring_tests(G.clifford_torus(N, N), N, N)
    for stat in G.STATISTICS:
        assert G.wasserstein_distance(rings["x_on_x"][stat], t3["x_on_y"][stat]) < G.wasserstein_distance(rings["x_on_x"][stat], cl["x_on_x"][stat])


def test_pc_ring_pairs_and_bootstrap_spectra():
    pairs = G.pc_ring_pairs(G.clifford_torus(M, M, 0.8), M, M)
    assert pairs["x"]["pair"] == (1, 2) and pairs["y"]["pair"] == (3, 4) and pairs["x"]["share_of_rings"] == 1.0
    X = G.embed(G.clifford_torus(M, M), 64, seed=0)
    boot = G.bootstrap_spectra(X, G.participation_ratio_of, 20)
    assert np.allclose(boot, 4.0, atol=0.3) and G.participation_ratio_of(G.pca_spectrum(X)) == pytest.approx(G.participation_ratio(X))


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
    X = G.embed(G.clifford_torus(M, M), 256, noise=0.01, seed=5)
    gx, gy = np.meshgrid(np.arange(1, M + 1), np.arange(1, M + 1))
    labels = np.stack([gx.ravel(), gy.ravel()], 1).astype(float)
    perm = np.random.default_rng(0).permutation(M * M)
    s = G.summarize(X[perm], labels[perm], n_landmarks=LANDMARKS)
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
