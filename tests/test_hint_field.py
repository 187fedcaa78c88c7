"""The dense hint field and its paths (issue 29, part 1): hints spread by normalised convolution, into every decoder
stage and through the output blend; a network learns to use them; no hint leaves the network as it was."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from colorize.config import load_config
from colorize.inference.loading import load_colorizer
from colorize.models import FAMILIES
from colorize.models.modules.hint_simulation import simulate_local_hints
from colorize.networks.bodies import BODIES
from colorize.networks.colorizer import build_colorizer
from colorize.networks.hint_field import HintField, gaussian_taps, pyramid_factor
from colorize.networks.hint_options import DEFAULT_FIELD_SIGMAS, HintOptions
from colorize.networks.hints import local_hints
from colorize.options import ConfigError, check_options
from colorize.reports.hint_curves import evaluation_points
from colorize.training.fit import train
from conftest import SPACE_NAMES, tiny_config


def evaluation_hints(chroma: torch.Tensor, n: int, seed: int | list[int], side: int = 6):
    """Evaluation's hints on a batch of chroma: at the same places in every image (one seed), or each its own (a list)."""
    seeds = seed if isinstance(seed, list) else [seed] * len(chroma)
    return local_hints(chroma, evaluation_points(n, *chroma.shape[-2:], seeds=seeds, side=side))


DATA = Path(__file__).parent / "data"
TINY_OPTIONS = {
    "cnn": {"base_channels": 8},
    "resnet": {"encoder": "resnet18", "pretrained": False, "decoder_channels": [64, 32, 16, 16, 8]},
}


def colorizer(family: str, space: str = "lab", **options):
    """A tiny colorizer of ``family`` with local hints and the field's defaults (``options`` win)."""
    model = OmegaConf.merge(OmegaConf.structured(FAMILIES[family].options), {"name": family, "hints": "local", **options})
    model = OmegaConf.to_container(OmegaConf.merge(model, TINY_OPTIONS[model.body]))
    return build_colorizer(FAMILIES[family].spec(model, space)).net


def one_patch(height: int, width: int, top: int, left: int, side: int, colour=(0.6, -0.3)):
    hint, mask = torch.zeros(1, 2, height, width), torch.zeros(1, 1, height, width)
    mask[..., top : top + side, left : left + side] = 1
    hint[:, :, top : top + side, left : left + side] = torch.tensor(colour).view(1, 2, 1, 1)
    return hint, mask


# ---------------------------------------------------------------- the field


def test_no_hint_gives_an_all_zero_field():
    dense = HintField(DEFAULT_FIELD_SIGMAS)(torch.zeros(2, 2, 37, 53), torch.zeros(2, 1, 37, 53))
    assert dense.field.shape == (2, 8, 37, 53) and dense.confidence.shape == (2, 4, 37, 53)
    assert not dense.field.any() and not dense.confidence.any() and not dense.features().any()


@pytest.mark.parametrize("shape", [(64, 96), (37, 53)])
def test_one_patch_spreads_its_colour_with_a_confidence_that_falls_with_distance(shape):
    height, width = shape
    hint, mask = one_patch(height, width, 10, 12, 4)
    dense = HintField(DEFAULT_FIELD_SIGMAS)(hint, mask)
    confident = dense.confidence > 1e-3
    fields = dense.field.unflatten(1, (-1, 2))
    colour = torch.tensor([0.6, -0.3]).view(1, 1, 2, 1, 1)
    assert ((fields - colour).abs() < 1e-4)[confident[:, :, None].expand_as(fields)].all()  # one hint: its colour
    for scale in range(len(DEFAULT_FIELD_SIGMAS)):
        row = dense.confidence[0, scale, 12]
        assert row[13] > row[13 + 6] > row[13 + 20] >= 0  # falls away from the patch
    # wider scales reach further (16 px to the right of the patch); the whole image's is the same everywhere
    aside = dense.confidence[0, :, 12, 30]
    assert aside[0] < aside[1] < aside[2] and aside[3] == dense.confidence[0, 3, -1, -1] > 0.5
    assert dense.confidence.max() < 1 and dense.field.abs().max() <= 0.6 + 1e-5


def test_two_colours_are_weighted_by_nearness_and_the_whole_image_averages_them():
    hint, mask = one_patch(64, 64, 4, 4, 4, (0.5, 0.5))
    other, other_mask = one_patch(64, 64, 50, 50, 4, (-0.5, 0.0))
    dense = HintField([4.0])(hint + other, mask + other_mask)
    assert dense.field[0, 0, 6, 6] > 0.45 and dense.field[0, 0, 52, 52] < -0.45
    torch.testing.assert_close(dense.field[0, 2:, 0, 0], torch.tensor([0.0, 0.25]))  # the mean of both patches


@pytest.mark.parametrize("sigma", [2.0, 8.0, 32.0])
def test_the_pyramid_blur_is_close_to_a_full_resolution_gaussian(sigma):
    """The wide blurs are taken at 1/r resolution (r = 4, 16 for 8, 32 px): a smooth field loses little."""
    maps = torch.zeros(1, 1, 128, 160)
    maps[..., 40:46, 70:76] = 1
    maps[..., 100:103, 20:23] = 1
    field = HintField([sigma])
    taps = gaussian_taps(sigma)
    radius = taps.numel() // 2
    exact = F.conv2d(maps, taps.view(1, 1, -1, 1), padding=(radius, 0))
    exact = F.conv2d(exact, taps.view(1, 1, 1, -1), padding=(0, radius))
    assert pyramid_factor(sigma) == {2.0: 1, 8.0: 4, 32.0: 16}[sigma]
    blurred = field.blur(maps, 0)
    assert float((blurred - exact).abs().max()) < 0.25 * float(exact.max())  # 0.19 at 32 px: 8 x 10 cells, bilinear
    assert float(blurred.sum()) == pytest.approx(float(exact.sum()), rel=0.02)


# ---------------------------------------------------------------- the colorizer's paths


@pytest.mark.parametrize("family", ["cnn", "resnet"])
def test_without_hints_the_paths_change_nothing_whatever_they_learned(family):
    """No hint is all zeros: the decoder projections see zeros and the blend gives the prediction itself weight 1."""
    torch.manual_seed(0)
    net = colorizer(family).eval()
    with torch.no_grad():
        for parameter in net.hint_paths.parameters():
            parameter.copy_(torch.randn_like(parameter))
        lightness = torch.rand(2, 1, 64, 96) * 2 - 1
        inputs = net.inputs(lightness)
        plain = net.head(net.body(inputs))
        assert torch.equal(net(lightness), plain)
        hint, mask = evaluation_hints(torch.rand(2, 2, 64, 96) * 2 - 1, 5, seed=[0, 1])
        assert (net(lightness, hint, mask) - plain).abs().max() > 1e-2  # hints take both paths


def test_each_path_is_where_the_options_put_it():
    assert colorizer("cnn", hint_field=False, hint_blend=False).hint_paths is None
    only_field = colorizer("cnn", hint_blend=False).hint_paths
    assert only_field.blend is None and [p.out_channels for p in only_field.decoder.projections] == [64, 32, 16, 8]
    only_blend = colorizer("resnet", hint_field=False).hint_paths
    assert only_blend.decoder is None and only_blend.blend.logits.in_channels == 8 + 3 * 4
    assert colorizer("cnn", hints="global").hint_paths is None  # the field spreads local hints
    classify = colorizer("classify")
    assert classify.hint_paths.blend is None and classify.hint_paths.decoder is not None


@pytest.mark.parametrize("body", list(BODIES))
def test_a_body_offers_each_decoder_stage_to_inject(body):
    options = OmegaConf.merge(OmegaConf.structured(BODIES[body].options), TINY_OPTIONS[body])
    net = BODIES[body].build(options, 1, False).net.eval()
    lightness = torch.rand(1, 1, 64, 64) * 2 - 1
    stages = []

    def inject(stage, x):
        stages.append((stage, x.shape[1]))
        return x

    with torch.no_grad():
        assert torch.equal(net(lightness, inject), net(lightness))
    assert stages == list(enumerate(net.stage_channels))


def make_flat(batch: int, generator: torch.Generator, size: int = 32):
    """L a random texture, chroma one random flat colour per image: its colour cannot be told from its L."""
    chroma = (torch.rand(batch, 2, 1, 1, generator=generator) - 0.5).expand(batch, 2, size, size).contiguous()
    lightness = F.avg_pool2d(torch.rand(batch, 1, size + 3, size + 3, generator=generator), 4, 1) * 2 - 1
    return lightness, chroma


@pytest.mark.parametrize("family", ["cnn", pytest.param("resnet", marks=pytest.mark.slow)])
def test_a_network_trained_with_hints_uses_them_where_colour_is_unknowable(family):
    """The issue's test: trained on random flat colours, with hints it gets the colour; without, it stays at the mean."""
    torch.manual_seed(0)
    net = colorizer(family)
    optimiser = torch.optim.AdamW(net.parameters(), 2e-3)
    generator = torch.Generator().manual_seed(1)
    for _ in range(40):
        lightness, chroma = make_flat(16, generator)
        loss = (net(lightness, *simulate_local_hints(chroma, generator)) - chroma).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    lightness, chroma = make_flat(64, torch.Generator().manual_seed(2))
    mean_error = (chroma - chroma.mean(dim=(0, 2, 3), keepdim=True)).abs().mean()
    net.eval()
    with torch.no_grad():
        without = (net(lightness) - chroma).abs().mean()
        hinted = (net(lightness, *evaluation_hints(chroma, 5, seed=list(range(64)), side=3)) - chroma).abs().mean()
    assert without > 0.9 * mean_error  # nothing to go on: the mean
    assert hinted < 0.2 * mean_error


# ---------------------------------------------------------------- options, training, old checkpoints


def test_the_field_options_have_ranges():
    schema = OmegaConf.structured(HintOptions)
    for key, value, words in [
        ("hint_field_sigmas", [2, 0.1], "out of range"),
        ("hint_field_sigmas", [1000], "out of range"),
    ]:
        with pytest.raises(ConfigError, match=words):
            check_options(OmegaConf.merge(schema, {key: value}), HintOptions)
    with pytest.raises(ConfigError, match="model.hint_blend=True must be false for classify"):
        load_config(["model=classify", "model.hint_blend=true"])
    with pytest.raises(ConfigError, match="model.hint_field"):
        load_config(["model=cnn", "model.hint_field=sometimes"])
    options = HintOptions()
    assert options.hint_field and options.hint_blend and options.hint_field_sigmas == list(DEFAULT_FIELD_SIGMAS)


SHORT = ["trainer.fast_dev_run=true", "logger=none"]


@pytest.mark.parametrize("space", SPACE_NAMES)
@pytest.mark.parametrize(
    "model",
    ["cnn", pytest.param("resnet", marks=pytest.mark.slow), pytest.param("gan", marks=pytest.mark.slow), "classify"],
)
def test_each_family_trains_through_the_field_in_each_space(tmp_path, model, space):
    random_init = ["model.pretrained=false"] if load_config([f"model={model}"]).model.body == "resnet" else []
    result = train(tiny_config(tmp_path, f"model={model}", f"space={space}", "model.hints=local", *random_init, *SHORT))
    paths = result.module.net.hint_paths
    assert result.trainer.global_step >= 1 and paths.decoder is not None and (paths.blend is None) == (model == "classify")
    assert all(p.abs().sum() > 0 for p in paths.decoder.parameters())  # they start at zero: each has learned


@pytest.mark.parametrize("name", ["cnn-local-lab", "cnn-both-luv"])
def test_a_hint_checkpoint_from_before_the_field_loads_and_predicts_the_same(name):
    """tests/data/README.md: written by the commit before the field, with what it predicted then, with and without hints."""
    net = load_colorizer(DATA / f"before-hint-field-{name}.ckpt")
    assert net.hint_paths is None
    expected = np.load(DATA / "before-hint-field-outputs.npz")
    key = name.removeprefix("cnn-")
    lightness = torch.linspace(-1, 1, 960).reshape(1, 1, 24, 40)
    chroma = torch.stack([torch.linspace(-0.6, 0.6, 960), torch.linspace(0.5, -0.4, 960)]).reshape(1, 2, 24, 40)
    hint, mask = evaluation_hints(chroma, 5, seed=0, side=3)
    vector = torch.linspace(0, 0.1, net.global_length)[None] if net.global_length else None
    with torch.no_grad():
        torch.testing.assert_close(net(lightness), torch.from_numpy(expected[key]))
        torch.testing.assert_close(net(lightness, hint, mask, vector), torch.from_numpy(expected[f"{key}-hinted"]))
    assert not math.isclose(float(expected[key].sum()), float(expected[f"{key}-hinted"].sum()))  # its hints count
