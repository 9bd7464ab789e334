import numpy as np
import pytest
import torch

from paperlib import data
from paperlib.config import ModelConfig, RunConfig, preset
from paperlib.diffusion import Schedule, ddim_sample, ddpm_sample, sample
from paperlib.evaluate import evaluate, generate
from paperlib.model import LAYERS, UNet, capture, n_parameters


def _smoke_model(N=16, **changes):
    cfg = preset("smoke").model
    torch.manual_seed(0)
    return UNet(ModelConfig(**{**cfg.__dict__, **changes}), N).eval()


@pytest.mark.parametrize("N", [8, 16, 24, 48])
def test_unet_shapes_follow_the_canvas(N):
    model = _smoke_model(N)
    x = torch.randn(3, 1, N, N)
    out = model(x, torch.tensor([0, 10, 999]), torch.rand(3, 2) * N)
    assert out.shape == x.shape


@pytest.mark.parametrize("changes", [
    {"conditioning": "film"},
    {"coord_features": True},
    {"label_encoding": "transformer"},
    {"attention": (True, True, True)},
])
def test_unet_options_run(changes):
    model = _smoke_model(16, **changes)
    assert model(torch.randn(2, 1, 16, 16), torch.tensor([1, 2]), torch.rand(2, 2) * 16).shape == (2, 1, 16, 16)


def test_condition_is_concatenated_encodings():
    model = _smoke_model()
    cond = model.condition(torch.tensor([5]), torch.tensor([[3.0, 7.0]]))
    d = model.config.enc_dim
    assert cond.shape == (1, 3 * d)
    # sin(0 * f) = 0 and cos = 1 for t = 0
    zero = model.condition(torch.tensor([0]), torch.tensor([[0.0, 0.0]]))
    assert torch.allclose(zero[0, : d // 2], torch.zeros(d // 2))
    assert torch.allclose(zero[0, d // 2 : d], torch.ones(d // 2))


def test_paper_preset_is_the_full_model_and_dataset():
    """App. A.1 at full width (not trained here): ~23.8M parameters, 102,400 images."""
    run = preset("paper")
    model = UNet(run.model, run.data.N)
    assert 23.0e6 < n_parameters(model) < 24.5e6
    assert run.model.attention == (True, True, True) and run.model.width == 64
    assert run.model.label_encoding == "transformer" and run.model.conditioning == "bias"
    assert not run.model.coord_features
    assert run.data.N == 32 and run.data.sigma_x == run.data.sigma_y == 1.0
    assert len(data.make_dataset(run.data)) == 102_400
    assert run.diffusion.T == 1000 and run.diffusion.beta_start == 1e-4 and run.diffusion.beta_end == 0.02
    with torch.no_grad():
        out = model(torch.randn(2, 1, 32, 32), torch.tensor([0, 999]), torch.tensor([[1.0, 2.0], [30.0, 31.0]]))
    assert out.shape == (2, 1, 32, 32)


def test_capture_layer4_without_editing_the_model():
    model = _smoke_model()
    with capture(model, ["layer4", "up1"]) as rec:
        model(torch.randn(5, 1, 16, 16), torch.zeros(5, dtype=torch.long), torch.rand(5, 2) * 16)
    c3 = model.config.width * model.config.channel_mult[3]
    assert rec["layer4"][0].shape == (5, c3 * 2 * 2)  # down3 output at N/8 = 2
    assert rec["up1"][0].shape[0] == 5
    assert not model.down3._forward_hooks  # hooks removed afterwards
    with pytest.raises(ValueError, match="layers"):
        with capture(model, ["layer99"]):
            pass
    assert len(LAYERS) == 8


def test_schedule_matches_ddpm():
    s = Schedule(preset("paper").diffusion)
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    assert s.alpha_bar[-1].item() < 1e-4


def test_samplers_shapes_and_determinism():
    run = preset("smoke")
    model, schedule = _smoke_model(), Schedule(run.diffusion)
    labels = np.array([[3.0, 4.0], [10.0, 12.0]])
    a = ddim_sample(model, schedule, labels, steps=5, seed=1)
    b = ddim_sample(model, schedule, labels, steps=5, seed=1)
    c = ddim_sample(model, schedule, labels, steps=5, seed=2)
    assert a.shape == (2, 1, 16, 16) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= -1 and a.max() <= 1
    short = Schedule(run.diffusion.__class__(T=20, sample_steps=5))
    d1 = ddpm_sample(model, short, labels, seed=3)
    assert d1.shape == (2, 1, 16, 16) and torch.equal(d1, ddpm_sample(model, short, labels, seed=3))
    assert torch.equal(sample(model, short, labels, steps=None, seed=3), d1)


def test_generate_reads_activations_at_the_last_step():
    run = preset("smoke")
    model, schedule = _smoke_model(), Schedule(run.diffusion)
    labels = data.eval_labels(16)[:7]
    images, acts = generate(model, schedule, labels, steps=4, seed=0, layers=("layer4",))
    assert images.shape == (7, 16, 16) and acts["layer4"].shape[0] == 7
    seen = []
    with capture(model, ["layer4"]) as rec:
        ddim_sample(model, schedule, labels, steps=4, seed=0, on_step=lambda i, t: seen.append(t))
    assert np.allclose(rec["layer4"][-1].numpy(), acts["layer4"], atol=1e-5)
    assert seen[-1] == 0


def test_a_labels_image_does_not_depend_on_the_batches_it_is_sampled_in():
    run = preset("smoke")
    model, schedule = _smoke_model(), Schedule(run.diffusion)
    labels = data.eval_labels(16)[:7]
    whole, _ = generate(model, schedule, labels, steps=4, seed=3, batch_size=7)
    pieces, _ = generate(model, schedule, labels, steps=4, seed=3, batch_size=2)
    first, _ = generate(model, schedule, labels[:2], steps=4, seed=3)
    assert np.abs(whole - pieces).max() < 0.05 and np.abs(whole[:2] - first).max() < 0.05  # 0..255: float rounding only
    assert np.abs(whole - generate(model, schedule, labels, steps=4, seed=4)[0]).max() > 1  # the seed still matters


def test_evaluate_reports_regions():
    run = preset("smoke", holdout=data.HoldOut("cross", lo=6, hi=9))
    ev = evaluate(_smoke_model(), Schedule(run.diffusion), run.data, steps=3)
    assert set(ev.scores) >= {"all", "in_distribution", "out_of_distribution", "vertical", "horizontal", "intersection"}
    assert ev.scores["all"]["n"] == 256 and 0 <= ev.accuracy <= 1


def test_bad_model_parameters():
    with pytest.raises(ValueError, match="enc_dim"):
        ModelConfig(enc_dim=7)
    with pytest.raises(ValueError, match="conditioning"):
        ModelConfig(conditioning="cross-attention")
    with pytest.raises(ValueError, match="N"):
        RunConfig(data=preset("smoke").data.__class__(N=20))
