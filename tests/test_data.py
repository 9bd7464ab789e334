import math

import numpy as np
import pytest
import torch

from paperlib import data
from paperlib.config import DataConfig, HoldOut


def test_bump_pixel_values_by_hand():
    # bump at (16, 16), sigma 1: pixel (x=17, y=16) has 255 (1 - exp(-1/4)); x is the column.
    img = data.render([[16.0, 16.0]], 32, 1.0, 1.0, "bump")[0]
    assert img[15, 15] == pytest.approx(0.0, abs=1e-4)
    assert img[15, 16] == pytest.approx(255 * (1 - math.exp(-0.25)), rel=1e-5)
    assert img[17, 15] == pytest.approx(255 * (1 - math.exp(-1.0)), rel=1e-5)
    # independent sigmas: sigma_x = 2 widens along the columns only
    img = data.render([[16.0, 16.0]], 32, 2.0, 1.0, "bump")[0]
    assert img[15, 17] == pytest.approx(255 * (1 - math.exp(-4 / 16)), rel=1e-5)
    assert img[17, 15] == pytest.approx(255 * (1 - math.exp(-4 / 4)), rel=1e-5)


def test_top_left_pixel_is_one_one():
    img = data.render([[1.0, 1.0], [32.0, 1.0]], 32, 1.0, 1.0, "bump")
    assert img[0, 0, 0] == pytest.approx(0.0, abs=1e-4)
    assert img[1, 0, 31] == pytest.approx(0.0, abs=1e-4)  # x = 32 is the last column of the first row


def test_sos_pixel_values_by_hand():
    img = data.render([[10.0, 20.0]], 32, 1.0, 1.0, "sos")[0]
    assert img[19, 9] == pytest.approx(0.0, abs=1e-4)
    # far from the horizontal stripe, on the vertical one: half dark
    assert img[0, 9] == pytest.approx(255 * (1 - (1 + math.exp(-361 / 4)) / 2), rel=1e-5)
    assert img[19, 10] == pytest.approx(255 * (1 - (math.exp(-0.25) + 1) / 2), rel=1e-5)


def test_periodic_wraps_distances():
    flat = data.render([[1.0, 16.0]], 32, 1.0, 1.0, "bump")[0]
    torus = data.render([[1.0, 16.0]], 32, 1.0, 1.0, "bump", periodic=True)[0]
    assert flat[15, 31] == pytest.approx(255.0, abs=1e-3)  # 31 px away on the plane
    assert torus[15, 31] == pytest.approx(255 * (1 - math.exp(-0.25)), rel=1e-5)  # 1 px away on the torus


def test_grid_counts():
    assert len(data.grid(32, 0.1, 0.1)) == 102_400
    axis = data.grid_axis(32, 1.0)
    assert axis[0] == 1 and axis[-1] == 32 and len(axis) == 32
    assert len(data.grid(32, 1.0, 0.5)) == 32 * 64
    assert len(data.grid(32, 1.0, 1.0, margin=6)) == 44 * 44


def test_cross_split_and_parts():
    labels = data.eval_labels(32)
    regions = data.regions(labels, HoldOut("cross"), 32)
    band = 7  # 13..19 inclusive
    assert regions["out_of_distribution"].sum() == 32 * 32 - 25 * 25
    assert regions["intersection"].sum() == band * band
    assert regions["vertical"].sum() == band * 25 and regions["horizontal"].sum() == band * 25
    v = labels[regions["vertical"]]
    assert ((v[:, 0] >= 13) & (v[:, 0] <= 19)).all() and not ((v[:, 1] >= 13) & (v[:, 1] <= 19)).any()


def test_other_holdouts():
    labels = data.eval_labels(32)
    assert data.heldout_mask(labels, HoldOut("lesion", width=6), 32).sum() == 7 * 32  # x in [13, 19]
    assert data.heldout_mask(labels, HoldOut("interior_square", width=4), 32).sum() == 25  # [14, 18]^2
    ext = data.heldout_mask(labels, HoldOut("exterior_square", width=4), 32)
    assert ext.sum() == 16 and labels[ext].max() == 4
    frac = data.heldout_mask(data.grid(32, 0.1, 0.1), HoldOut("center_fraction", fraction=0.2), 32).mean()
    assert frac == pytest.approx(0.2, abs=0.01)


def test_bump_dataset_excludes_holdout_and_reports_kinds():
    ds = data.make_dataset(DataConfig(d_x=1, d_y=1, holdout=HoldOut("cross")))
    assert len(ds) == 25 * 25
    assert not data.heldout_mask(ds.labels, HoldOut("cross"), 32).any()
    assert ds.counts() == {"2d": 625, "rim": 0, "1d": 0, "0d": 0}
    assert ds.images().shape == (625, 32, 32)


def test_stripes_extended_space():
    cfg = DataConfig(family="stripes", d_x=1, d_y=1, rim=False)
    ds = data.make_dataset(cfg)
    # 44 x 44 labels; 32 x 32 on the canvas; the rim band is 3 wide: (38^2 - 32^2) labels
    assert ds.counts() == {"2d": 0, "rim": 0, "1d": 2 * 2 * 3 * 32, "0d": 44**2 - 38**2 - 2 * 2 * 3 * 32}
    with_rim = data.make_dataset(DataConfig(family="stripes", d_x=1, d_y=1, rim=True))
    assert with_rim.counts()["rim"] == 38**2 - 32**2
    # a 1D label shows only its vertical stripe, half dark
    one_d = ds.labels[(ds.kind == "1d") & (ds.labels[:, 1] < 0)][0]
    img = data.render([one_d], 32, 1, 1, "sos")[0]
    col = int(one_d[0]) - 1
    assert img[:, col].numpy() == pytest.approx(np.full(32, 127.5), abs=0.5)
    assert label_is_0d_blank(ds)


def label_is_0d_blank(ds):
    zero_d = ds.labels[ds.kind == "0d"][:1]
    return bool(data.render(zero_d, 32, 1, 1, "sos").min() > 254)


def test_mixtures():
    sos = data.make_dataset(DataConfig(family="sos+stripes", d_x=1, d_y=1, holdout=HoldOut("cross")))
    counts = sos.counts()
    assert counts["2d"] == 625 and counts["1d"] == 384 and counts["rim"] == 420
    bump = data.make_dataset(DataConfig(family="bump+stripes", d_x=1, d_y=1, holdout=HoldOut("cross")))
    assert (bump.shape[bump.kind == "2d"] == data.BUMP).all()
    assert (bump.shape[bump.kind != "2d"] == data.SOS).all()
    # the 1D stripes cover the full x range, cross included
    one_d_x = bump.labels[(bump.kind == "1d") & ((bump.labels[:, 1] < 0) | (bump.labels[:, 1] > 32)), 0]
    assert set(range(13, 20)) <= set(one_d_x.astype(int))


def test_nested_subsample_is_superset():
    small = data.nested_subsample(1000, 0.1, seed=3)
    big = data.nested_subsample(1000, 0.5, seed=3)
    assert len(small) == 100 and len(big) == 500
    assert set(small) < set(big)
    assert not np.array_equal(small, data.nested_subsample(1000, 0.1, seed=4))


def test_subsampled_dataset_same_points_for_every_sigma():
    a = data.make_dataset(DataConfig(d_x=1, d_y=1, fraction=0.3, sigma_x=0.5, sigma_y=0.5, seed=1))
    b = data.make_dataset(DataConfig(d_x=1, d_y=1, fraction=0.3, sigma_x=2.0, sigma_y=2.0, seed=1))
    c = data.make_dataset(DataConfig(d_x=1, d_y=1, fraction=0.6, sigma_x=2.0, sigma_y=2.0, seed=1))
    assert np.array_equal(a.labels, b.labels)
    assert {tuple(r) for r in a.labels} < {tuple(r) for r in c.labels}


@pytest.mark.parametrize("changes, field", [
    ({"sigma_x": 0.0}, "sigma_x"),
    ({"sigma_y": -1.0}, "sigma_y"),
    ({"d_x": 0.0}, "d_x"),
    ({"N": 30}, "N"),
    ({"fraction": 0.0}, "fraction"),
    ({"fraction": 1.5}, "fraction"),
    ({"family": "blobs"}, "family"),
    ({"holdout": HoldOut("cross", lo=13, hi=40)}, "holdout.lo/hi"),
    ({"holdout": HoldOut("interior_square", width=40)}, "holdout.width"),
])
def test_bad_parameters_name_the_field(changes, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        DataConfig(**changes)


def test_unknown_holdout_named():
    with pytest.raises(ValueError, match=r"holdout\.kind"):
        HoldOut("star")


def test_render_is_vectorised_torch():
    out = data.render(np.array([[3.0, 4.0]] * 5), 16, 1, 1, torch.tensor([0, 1, 0, 1, 0]))
    assert out.shape == (5, 16, 16) and out.dtype == torch.float32
    assert not torch.equal(out[0], out[1])
