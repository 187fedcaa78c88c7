"""Colour hints: training's simulation, evaluation's fixed hints, the encoder, widening a first conv, and hints files."""

import colorsys
import json
import math

import numpy as np
import pytest
import timm
import torch
from omegaconf import OmegaConf
from scipy.stats import chisquare
from timm.layers import StdConv2d
from torch import nn

from colorize import portable
from colorize.errors import UserError
from colorize.inference.hinting import HintError, check_hints_supported, hint_colours, parse_hints, read_hints
from colorize.models.modules.hint_simulation import (
    PLACEMENTS,
    draw_hint_points,
    drop_global_hints,
    geometric_counts,
    hint_generator,
    simulate_hints,
    simulate_local_hints,
)
from colorize.networks.autoencoder import ConvAutoencoder
from colorize.networks.bins import nearest_bins
from colorize.networks.hint_options import EVAL_HINT_COUNTS, EVAL_PATCH, PLACEMENT_NAMES, HintOptions
from colorize.networks.hints import HintEncoder, global_hints, global_size, histogram_bins, local_hints, no_hints
from colorize.networks.widening import widen_conv, widen_first_conv
from colorize.options import ConfigError, check_options
from colorize.reports.hint_curves import evaluation_points
from colorize.spaces import SPACES

SPACE_NAMES = sorted(SPACES)


def random_chroma(batch: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 2, height, width, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_hint_counts_follow_the_geometric_law():
    p, draws = 1 / 8, 20_000
    counts = geometric_counts(draws, p, torch.Generator().manual_seed(1))
    last = 30  # n >= last pooled into one cell, expected 20000 (7/8)^30 ≈ 360
    observed = torch.bincount(counts.clamp(max=last), minlength=last + 1).double()
    pmf = [p * (1 - p) ** n for n in range(last)] + [(1 - p) ** last]
    statistic, p_value = chisquare(observed.numpy(), [draws * q for q in pmf])
    assert p_value > 0.01, (statistic, p_value)
    assert abs(counts.double().mean().item() - 7) < 0.2 and abs((counts == 0).double().mean().item() - 1 / 8) < 0.01
    assert not geometric_counts(100, 1.0, torch.Generator()).any()


def test_drawn_points_follow_the_options():
    points = draw_hint_points(64, 40, 50, hint_generator(0, 0), p=0.2, sides=[2, 5], placement="uniform")
    side = points.side[points.valid]
    assert set(side.tolist()) == {2, 5}
    assert (points.top[points.valid] >= 0).all() and (points.top[points.valid] + side <= 40).all()
    assert (points.left[points.valid] >= 0).all() and (points.left[points.valid] + side <= 50).all()
    assert torch.equal(points.valid.sum(1), geometric_counts(64, 0.2, hint_generator(0, 0)))


def clipped_normal_std() -> float:
    """The std of a standard normal clipped to [-2, 2]: variance P(|z| < 2) - 4 phi(2) + 4 P(|z| > 2)."""
    inside, density = math.erf(2 / math.sqrt(2)), math.exp(-2) / math.sqrt(2 * math.pi)
    return math.sqrt(inside - 4 * density + 4 * (1 - inside))


@pytest.mark.parametrize(("placement", "spread"), [("normal", clipped_normal_std() / 4), ("uniform", 1 / math.sqrt(12))])
def test_training_points_are_placed_as_asked(placement, spread):
    points = draw_hint_points(64, 256, 200, hint_generator(1, 2), p=0.01, sides=[6], placement=placement)
    assert points.valid.sum() > 4000
    for corner, extent in ((points.top, 256), (points.left, 200)):
        room = extent - 6 + 1
        used = corner[points.valid].double()
        assert abs(used.mean().item() - (room / 2 - 0.5)) < 2 and abs(used.std().item() - room * spread) < 1.5


def painted_by_hand(chroma: torch.Tensor, points) -> tuple[torch.Tensor, torch.Tensor]:
    """Zhang's loop: each patch in turn gets its mean true chroma, a later patch over an earlier one."""
    hint, mask = torch.zeros_like(chroma), torch.zeros_like(chroma[:, :1])
    for b in range(len(chroma)):
        for k in range(points.top.shape[1]):
            if points.valid[b, k]:
                t, left, s = (int(v[b, k]) for v in (points.top, points.left, points.side))
                hint[b, :, t : t + s, left : left + s] = chroma[b, :, t : t + s, left : left + s].mean(dim=(1, 2), keepdim=True)
                mask[b, :, t : t + s, left : left + s] = 1
    return hint, mask


@pytest.mark.parametrize("placement", ["normal", "uniform"])
def test_each_patch_has_its_true_mean_colour_and_later_patches_win(placement):
    chroma = random_chroma(6, 24, 30)
    points = draw_hint_points(6, 24, 30, hint_generator(7, 3), p=1 / 12, placement=placement)
    assert points.valid.sum() > 30  # enough patches that some overlap
    hint, mask = local_hints(chroma, points)
    expected_hint, expected_mask = painted_by_hand(chroma, points)
    assert torch.equal(mask, expected_mask)
    torch.testing.assert_close(hint, expected_hint, rtol=0, atol=1e-6)
    assert hint[mask.expand_as(hint) == 0].abs().max() == 0


def test_same_seed_and_step_give_the_same_hints_and_others_differ():
    chroma = random_chroma(8, 32, 32)
    first = simulate_local_hints(chroma, hint_generator(3, 10))
    again = simulate_local_hints(chroma, hint_generator(3, 10))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    for other in (hint_generator(3, 11), hint_generator(4, 10), hint_generator(3, 10, rank=1)):
        assert not torch.equal(simulate_local_hints(chroma, other)[1], first[1])


def test_hints_never_touch_the_global_random_state():
    options = HintOptions(hints="both")
    space = SPACES["lab"]
    rgb = torch.rand(4, 3, 32, 32)
    chroma = space.encode(rgb)[1]
    bins = histogram_bins(space)
    encoder = HintEncoder("both", global_size(len(bins.centres)))
    state = torch.get_rng_state()
    hints = simulate_hints(options, chroma, rgb, space, bins, hint_generator(0, 1))
    local_hints(chroma, evaluation_points(10, 32, 32, seeds=[0, 1, 2, 3]))
    encoder(torch.zeros(4, 1, 32, 32), *hints)
    assert torch.equal(torch.get_rng_state(), state)
    assert hints.mask.any() and hints.global_vector.any()


def test_no_hints_give_lightness_and_zeros():
    lightness = torch.rand(2, 1, 16, 20) * 2 - 1
    encoder = HintEncoder("both", global_length=global_size(261), global_channels=4)
    assert encoder.extra_channels == 3 + 4
    x = encoder(lightness, *no_hints(2, 16, 20, global_size(261)))
    assert x.shape == (2, 8, 16, 20)
    assert torch.equal(x[:, :1], lightness) and not x[:, 1:].any()
    assert HintEncoder("local").extra_channels == 3 and HintEncoder("none")(lightness).shape == lightness.shape


def some_hints(batch: int, height: int, width: int, q: int) -> tuple[torch.Tensor, ...]:
    chroma = random_chroma(batch, height, width, seed=5)
    hint, mask = local_hints(chroma, evaluation_points(20, height, width, seeds=list(range(batch))))
    return hint, mask, torch.rand(batch, global_size(q), generator=torch.Generator().manual_seed(2))


def test_a_widened_cnn_computes_what_it_did_and_learns_from_hints():
    torch.manual_seed(0)
    net = ConvAutoencoder(base_channels=8).eval()
    lightness = torch.rand(2, 1, 32, 40) * 2 - 1
    before = net(lightness)
    old = net.encoder[0][0].weight.detach().clone()
    encoder = HintEncoder("both", global_size(261), global_channels=4)
    conv = widen_first_conv(net, encoder.extra_channels)
    assert conv is net.encoder[0][0] and conv.in_channels == 8 and conv.weight.shape[1] == 8
    assert torch.equal(conv.weight[:, :1], old) and not conv.weight[:, 1:].any()
    with torch.no_grad():
        torch.testing.assert_close(net(encoder(lightness, *no_hints(2, 32, 40, global_size(261)))), before, rtol=0, atol=1e-6)
    out = net(encoder(lightness, *some_hints(2, 32, 40, 261)))
    torch.testing.assert_close(out.detach(), before.detach(), rtol=0, atol=1e-6)  # new weights are zero: any hint is inert
    out.square().sum().backward()
    assert conv.weight.grad[:, 1:].abs().sum() > 0  # ... but they learn


@pytest.mark.parametrize(("name", "stem"), [("resnet18", "conv1"), ("tf_efficientnet_lite0", "conv_stem")])
def test_a_widened_timm_encoder_keeps_its_features(name, stem):
    torch.manual_seed(0)
    encoder = timm.create_model(name, pretrained=False, features_only=True, in_chans=1).eval()
    channels, reductions = encoder.feature_info.channels(), encoder.feature_info.reduction()
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        before = encoder(x)
        conv = widen_first_conv(encoder, 3)
        assert conv is getattr(encoder, stem) and not conv.weight[:, 1:].any()
        after = encoder(torch.cat([x, torch.rand(2, 3, 64, 64)], dim=1))
    assert encoder.feature_info.channels() == channels and encoder.feature_info.reduction() == reductions
    assert [f.shape[1] for f in after] == channels
    for a, b in zip(after, before, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_widening_refuses_a_conv_that_standardises_its_weights():
    with pytest.raises(ValueError, match="transforms its weights"):
        widen_conv(StdConv2d(1, 8, 3), 3)


def test_evaluation_locations_are_nested_prefixes():
    full = evaluation_points(max(EVAL_HINT_COUNTS), 64, 80, seeds=[0, 1, 2])
    for n in EVAL_HINT_COUNTS:
        fewer = evaluation_points(n, 64, 80, seeds=[0, 1, 2])
        assert torch.equal(fewer.top, full.top[:, :n]) and torch.equal(fewer.left, full.left[:, :n])
    assert not torch.equal(full.top[0], full.top[1])  # images get their own locations
    assert (full.side == EVAL_PATCH).all() and (full.top + EVAL_PATCH <= 64).all() and (full.left + EVAL_PATCH <= 80).all()
    chroma = random_chroma(3, 64, 80)
    hint, mask = local_hints(chroma, evaluation_points(0, 64, 80, seeds=[0, 1, 2]))
    assert not hint.any() and not mask.any()
    hint, mask = local_hints(chroma, evaluation_points(10, 64, 80, seeds=[0, 1, 2]))
    assert torch.equal((hint, mask)[1], painted_by_hand(chroma, evaluation_points(10, 64, 80, [0, 1, 2]))[1])


def test_evaluation_locations_are_normal_around_the_centre():
    points = evaluation_points(4000, 256, 256, seeds=[9])
    room = 256 - EVAL_PATCH + 1
    for corner in (points.top.double(), points.left.double()):
        assert abs(corner.mean().item() - (room / 2 - 0.5)) < 2  # floor lowers the mean by half a pixel
        assert abs(corner.std().item() - room / 4 * clipped_normal_std()) < 1.5
    assert abs(torch.corrcoef(torch.stack([points.top[0], points.left[0]]).double())[0, 1].item()) < 0.05


def test_global_hints_of_a_flat_colour():
    """Training's global vector of a flat photo, and that of a reference photo (colorize.portable's), in every space."""
    colour = (200, 60, 40)
    rgb = torch.tensor(colour, dtype=torch.float32).view(1, 3, 1, 1).expand(2, 3, 16, 16) / 255
    for space in SPACES.values():
        bins = histogram_bins(space)
        vector = global_hints(space.encode(rgb)[1], rgb, space, bins)
        q = len(bins.centres)
        assert vector.shape == (2, q + 3) == (2, bins.global_length)
        physical = space.rgb_to_space(rgb[:1, :, :1, :1])[:, 1:]
        expected = torch.zeros(q)
        expected[nearest_bins(physical, bins.centres, 1)[1].item()] = 1
        torch.testing.assert_close(vector[0, :q], expected)
        assert vector[0, q] == 1 and vector[0, q + 2] == 1
        assert abs(vector[0, q + 1].item() - colorsys.rgb_to_hsv(*(c / 255 for c in colour))[1]) < 1e-6
        torch.testing.assert_close(vector[1], vector[0])
        reference = np.full((24, 20, 3), colour, dtype=np.uint8)
        reference_vector = portable.global_hint(reference, 16, space.name, bins.layout())[0]
        np.testing.assert_allclose(reference_vector, vector[0].numpy(), atol=1e-6)


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_the_global_histogram_counts_each_block_in_its_nearest_bin(name):
    space = SPACES[name]
    bins = histogram_bins(space, grid=12.0)
    blocks = torch.rand(3, 3, 10, 12, generator=torch.Generator().manual_seed(4))
    rgb = blocks.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)  # 4x4 blocks: pooling keeps their colour
    histogram = global_hints(space.encode(rgb)[1], rgb, space, bins)[:, : len(bins.centres)]
    nearest = nearest_bins(space.rgb_to_space(blocks)[:, 1:], bins.centres, 1)[1].flatten(1)
    expected = torch.stack([torch.bincount(n, minlength=len(bins.centres)) for n in nearest]).float() / 120
    torch.testing.assert_close(histogram, expected)


def test_dropping_global_hints_zeroes_parts_and_their_flags():
    vector = torch.rand(400, global_size(10)) + 0.1
    assert torch.equal(drop_global_hints(vector, hint_generator(0, 0), 0.0), vector)
    assert not drop_global_hints(vector, hint_generator(0, 0), 1.0).any()
    dropped = drop_global_hints(vector, hint_generator(0, 0), 0.5)
    histogram_kept, saturation_kept = dropped[:, 10] > 0, dropped[:, 12] > 0
    assert torch.equal(dropped[histogram_kept, :11], vector[histogram_kept, :11]) and not dropped[~histogram_kept, :11].any()
    assert torch.equal(dropped[saturation_kept, 11:], vector[saturation_kept, 11:]) and not dropped[~saturation_kept, 11:].any()
    assert 150 < histogram_kept.sum() < 250 and (histogram_kept != saturation_kept).any()  # each part on its own


def test_global_projection_is_constant_over_the_image():
    encoder = HintEncoder("global", global_size(5), global_channels=3)
    vector = torch.rand(2, global_size(5))
    x = encoder(torch.zeros(2, 1, 6, 7), global_vector=vector)
    assert x.shape == (2, 4, 6, 7)
    torch.testing.assert_close(x[:, 1:, 3, 4], encoder.project(vector).detach())
    assert torch.equal(x[:, 1:], x[:, 1:, :1, :1].expand(-1, -1, 6, 7))


def hints_text(*hints: dict, **top) -> str:
    return json.dumps({"hints": list(hints), **top})


POINT = {"x": 10, "y": 20, "color": "#ff8800"}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (hints_text(POINT, {"x": 400, "y": 5, "color": "#ff8800"}), ["hint 2", "outside the 400x300 photo"]),
        (hints_text(POINT, {"x": 3, "y": -1, "color": "#ff8800"}), ["hint 2", "outside"]),
        (hints_text({"x": 1, "y": 2, "color": "#12345g"}), ["hint 1 (x=1, y=2)", "#rrggbb"]),
        (hints_text({"x": 1, "y": 2, "color": [256, 0, 0]}), ["hint 1", "out of range", "0 to 255"]),
        (hints_text({"x": 1, "y": 2, "color": [1.5, 0, 0]}), ["hint 1", "three integers"]),
        (hints_text(POINT, POINT, {"x": 1, "y": 2, "colour": "#ff8800"}), ["hint 3", "unknown key 'colour'", "'color'"]),
        (hints_text({"x": 1, "color": "#ff8800"}), ["hint 1", "'y' is missing"]),
        (hints_text(POINT, {"x": 1, "y": 2, "color": "#ff8800", "patch": 0}), ["hint 2", "patch 0"]),
        (hints_text(POINT, pach=3), ["unknown key 'pach'", "'patch'"]),
        (hints_text(), ["lists no hints"]),
        ("", ["is empty"]),
        ("  \n", ["is empty"]),
        ('{"hints": [', ["not valid JSON", "line 1"]),
        ("[1, 2]", ["JSON object"]),
    ],
)
def test_hints_file_errors_name_the_hint(text, words):
    with pytest.raises(HintError) as error:
        parse_hints(text, (400, 300), "hints.json")
    assert isinstance(error.value, UserError)
    for word in words:
        assert word in str(error.value), str(error.value)


def test_a_hints_file_is_read(tmp_path):
    path = tmp_path / "hints.json"
    path.write_text(hints_text(POINT, {"x": 399.5, "y": 0, "color": [1, 2, 3], "patch": 5}, patch=7))
    first, second = read_hints(path, (400, 300))
    assert (first.number, first.rgb, first.patch) == (1, (255, 136, 0), 7)
    assert (second.number, second.x, second.rgb, second.patch) == (2, 399.5, (1, 2, 3), 5)
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(HintError, match="empty.json is empty"):
        read_hints(tmp_path / "empty.json", (400, 300))


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_a_colour_hint_is_that_colours_chroma_at_the_working_size(name):
    space = SPACES[name]
    hints = parse_hints(
        hints_text({"x": 200, "y": 150, "color": "#3a7bd5"}, {"x": 0, "y": 299, "color": [200, 60, 40]}), (400, 300)
    )
    hint, mask = (torch.from_numpy(m) for m in portable.hint_maps(hints, (400, 300), (80, 100), hint_colours(hints, space)))
    assert hint.shape == (1, 2, 80, 100) and mask.shape == (1, 1, 80, 100)
    expected_mask = torch.zeros(80, 100)
    expected_mask[39:42, 49:52] = 1  # (200, 150) of 400x300 is (50, 40) of 100x80: a 3x3 patch around it
    expected_mask[77:80, 0:3] = 1  # the corner: the patch stays inside
    assert torch.equal(mask[0, 0], expected_mask)
    for (row, col), colour in (((40, 50), (0x3A, 0x7B, 0xD5)), ((79, 0), (200, 60, 40))):
        flat = torch.tensor(colour, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, 4, 4) / 255
        torch.testing.assert_close(hint[0, :, row, col], space.encode(flat)[1][0, :, 0, 0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_a_network_that_uses_hints_takes_the_hint_colour(name):
    """A 1x1 conv that predicts grey, widened and then set to copy the hint where the mask is set."""
    space = SPACES[name]
    colour = (200, 60, 40)
    flat = torch.tensor(colour, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, 12, 16) / 255
    lightness = space.encode(flat)[0]
    grey = space.grey_chroma(lightness)[0, :, 0, 0]
    net = nn.Conv2d(1, 2, 1)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.copy_(grey)
    encoder = HintEncoder("local")
    widen_first_conv(net, encoder.extra_channels)
    with torch.no_grad():
        net.weight[:, 1:3, 0, 0] = torch.eye(2)
        net.weight[:, 3, 0, 0] = -grey  # inside the mask: hint + grey - grey
    points = parse_hints(hints_text({"x": 8, "y": 6, "color": list(colour)}), (16, 12))
    hint, mask = (torch.from_numpy(m) for m in portable.hint_maps(points, (16, 12), (12, 16), hint_colours(points, space)))
    with torch.no_grad():
        automatic = space.decode(lightness, net(encoder(lightness, torch.zeros_like(hint), torch.zeros_like(mask))))
        guided = space.decode(lightness, net(encoder(lightness, hint, mask)))
    target = torch.tensor(colour) / 255
    assert (guided[0, :, 6, 8] - target).abs().max() < 2 / 255
    assert (automatic[0, :, 6, 8] - target).abs().max() > 0.2  # grey before the hint
    torch.testing.assert_close(guided[0, :, 0, 0], automatic[0, :, 0, 0])  # unchanged away from it


def test_hints_are_refused_by_a_model_trained_without_them():
    with pytest.raises(HintError, match=r"trained without local colour hints \(model.hints=none\)"):
        check_hints_supported("none", local=True, global_=False)
    with pytest.raises(HintError, match="--reference"):
        check_hints_supported("local", local=False, global_=True)
    check_hints_supported("both", local=True, global_=True)


def test_hint_options_have_ranges():
    schema = OmegaConf.structured(HintOptions)
    check_options(schema, HintOptions)
    assert HintOptions().hint_p == 1 / 8 and HintOptions().hint_patch_sides == list(range(1, 10))
    for key, value, words in [
        ("hints", "loca", "Did you mean 'local'"),
        ("hint_p", 0.0, "out of range"),
        ("hint_patch_sides", [0, 3], "out of range"),
        ("hint_patch_sides", [], "at least one patch side"),
        ("hint_global_drop", 1.5, "out of range"),
    ]:
        bad = OmegaConf.merge(schema, {key: value})
        with pytest.raises(ConfigError, match=words):
            check_options(bad, HintOptions)
    assert math.isclose(1 / HintOptions().hint_p - 1, 7)  # the mean number of hints
    assert tuple(PLACEMENTS) == PLACEMENT_NAMES  # the schema's choices are the placements that exist
