"""Every registered colour space against the contract of colorize.spaces.registry: conversions, normalisation over the
sRGB gamut, decoding, gradients. Its classify bins are tested in tests/test_bins.py; a family trained in every space in
tests/test_train.py (test_fast_dev_run: every family x every space, a cover of both in the fast suite)."""

import numpy as np
import pytest
import torch
from skimage import color, data

from colorize.networks.bins import srgb_faces
from colorize.options import ConfigError
from colorize.spaces import METRIC_SPACE, SPACES, get_space, rgb_to_lab

NAMES = list(SPACES)
ROUND_TRIP = 1e-4  # largest RGB error of encode -> decode over the sRGB cube: a fortieth of an 8-bit level


def photos() -> list[np.ndarray]:
    return [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]


def as_batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).float().div(255).unsqueeze(0)


def as_image(lcc: torch.Tensor) -> np.ndarray:
    return lcc[0].permute(1, 2, 0).double().numpy()


# Independent references: scikit-image's conversions, and for OKLab the sRGB primaries and white as CSS Color 4 and
# Ottosson's reference code give them.
OKLAB_OF = {(255, 0, 0): (0.627955, 0.224863, 0.125846), (0, 255, 0): (0.866440, -0.233888, 0.179498)}
OKLAB_OF |= {(0, 0, 255): (0.452014, -0.032457, -0.311528), (255, 255, 255): (1.0, 0.0, 0.0)}
REFERENCES = {"lab": color.rgb2lab, "luv": color.rgb2luv, "ycbcr": color.rgb2ypbpr}


@pytest.mark.parametrize("name", NAMES)
def test_conversion_agrees_with_an_independent_implementation(name):
    space = get_space(name)
    if name == "oklab":
        rgb = np.array([list(OKLAB_OF)], dtype=np.uint8)
        expected = np.array([list(OKLAB_OF.values())])
        assert np.abs(as_image(space.rgb_to_space(as_batch(rgb))) - expected).max() < 1e-5
        return
    for image in photos():
        ours = as_image(space.rgb_to_space(as_batch(image)))
        assert np.abs(ours - REFERENCES[name](image)).max() < 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_through_normalised_space(name):
    space = get_space(name)
    rgb = torch.cat([as_batch(image[:256, :256]) for image in photos()])
    lightness, chroma = space.encode(rgb)
    assert lightness.shape == (4, 1, 256, 256) and chroma.shape == (4, 2, 256, 256)
    assert (space.decode(lightness, chroma) - rgb).abs().max() < ROUND_TRIP


@pytest.mark.parametrize("name", NAMES)
def test_uint8_and_float_input_agree(name):
    space = get_space(name)
    image = torch.from_numpy(data.coffee()[::2, ::2].copy()).permute(2, 0, 1).unsqueeze(0)
    for a, b in zip(space.encode(image), space.encode(image.float() / 255)):
        torch.testing.assert_close(a, b)


def srgb_cube(step: int = 1, slab: int = 16):
    """The 8-bit sRGB colours on every ``step``-th level of each channel (all 2^24 for step 1), as (3, 1, N) images of
    ``slab`` red levels each."""
    levels = torch.arange(0, 256, step, dtype=torch.float32) / 255
    for red in levels.split(slab):
        r, g, b = torch.meshgrid(red, levels, levels, indexing="ij")
        yield torch.stack([r, g, b]).reshape(3, 1, -1)


def assert_tightly_inside_the_unit_box(low: torch.Tensor, high: torch.Tensor, name: str) -> None:
    """Extremes (3,) of normalised (L, chroma): inside [-1, 1]; L spans it, and each chroma reaches beyond ±0.95."""
    assert (low >= -1).all() and (high <= 1).all(), (name, low, high)
    assert low[0] < -0.999 and high[0] > 0.999, name
    assert (low[1:] < -0.95).all() and (high[1:] > 0.95).all(), name


@pytest.mark.parametrize("name", NAMES)
def test_normalised_targets_fill_but_stay_inside_unit_box_on_the_gamut_surface(name):
    """The fast suite's check of the normalisation: every chroma the cube reaches is reached on its faces (see
    colorize.networks.bins.srgb_face_chroma), and black and white are corners, so the extremes of all 2^24 colours
    lie on the faces."""
    lightness, chroma = get_space(name).encode(srgb_faces())
    values = torch.cat([lightness, chroma]).reshape(3, -1)
    assert_tightly_inside_the_unit_box(values.min(dim=1).values, values.max(dim=1).values, name)


@pytest.mark.parametrize("name", NAMES)
def test_every_fifth_level_of_srgb_round_trips(name):
    """The fast suite's sample of the round trip below: 52^3 colours."""
    space = get_space(name)
    for rgb in srgb_cube(step=5):
        assert (space.decode(*space.encode(rgb)) - rgb).abs().max() < ROUND_TRIP


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_all_srgb_colours_normalise_inside_the_unit_box_and_round_trip(name):
    """All 2^24 8-bit sRGB colours, a slab of the cube at a time."""
    space = get_space(name)
    low, high, error = torch.full((3,), np.inf), torch.full((3,), -np.inf), 0.0
    for rgb in srgb_cube():
        lightness, chroma = space.encode(rgb)
        values = torch.cat([lightness, chroma]).reshape(3, -1)
        low, high = torch.minimum(low, values.min(dim=1).values), torch.maximum(high, values.max(dim=1).values)
        error = max(error, (space.decode(lightness, chroma) - rgb).abs().max().item())
    assert_tightly_inside_the_unit_box(low, high, name)
    assert error < ROUND_TRIP, (name, error)


@pytest.mark.parametrize("name", NAMES)
def test_a_grey_photo_has_one_lightness_per_grey_level_and_no_chroma(name):
    """Why each space's own lightness can be the model's input: on a grey photo it is a strictly increasing function of
    the grey level, so nothing is lost or added, and (lightness, grey chroma) decodes to the same grey."""
    space = get_space(name)
    greys = (torch.arange(256, dtype=torch.float32) / 255).view(1, 1, 1, 256).expand(1, 3, 1, 256)
    lightness, chroma = space.encode(greys)
    assert (lightness.diff(dim=-1) > 0).all()
    torch.testing.assert_close(chroma, space.grey_chroma(lightness), rtol=0, atol=1e-4)
    assert (space.decode_grey(lightness) - greys).abs().max() < ROUND_TRIP


@pytest.mark.parametrize("name", NAMES)
def test_gradients_flow_through_encode_and_decode(name):
    space = get_space(name)
    rgb = (torch.rand(2, 3, 8, 8, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
    lightness, chroma = space.encode(rgb)
    out = space.decode(lightness, chroma)
    out.sum().backward()
    assert rgb.grad is not None and torch.isfinite(rgb.grad).all() and rgb.grad.abs().sum() > 0
    chroma_in = chroma.detach().clone().requires_grad_()
    space.decode(lightness.detach(), chroma_in).mean().backward()
    assert torch.isfinite(chroma_in.grad).all() and chroma_in.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_gradients_are_finite_at_black_and_white(name):
    """OKLab's cube root has an infinite slope at 0: its space makes it linear below a knee."""
    space = get_space(name)
    for dtype in (torch.float32, torch.float64):
        rgb = torch.tensor([0.0, 1.0, 1e-9], dtype=dtype).view(1, 1, 1, 3).expand(1, 3, 1, 3).clone().requires_grad_()
        lightness, chroma = space.encode(rgb)
        (lightness.sum() + chroma.sum()).backward()
        assert torch.isfinite(rgb.grad).all(), (name, dtype, rgb.grad)
        lcc = torch.tensor([-1.0, 0.0, 0.0], dtype=dtype).view(1, 3, 1, 1).requires_grad_()
        space.decode(lcc[:, :1], lcc[:, 1:]).sum().backward()
        assert torch.isfinite(lcc.grad).all(), (name, dtype)


@pytest.mark.parametrize("name", NAMES)
def test_decode_clamps_to_displayable_range(name):
    space = get_space(name)
    lightness = torch.rand(2, 1, 16, 16) * 2 - 1
    wild = torch.randn(2, 2, 16, 16) * 5
    rgb = space.decode(lightness, wild)
    assert torch.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1


@pytest.mark.parametrize("name", NAMES)
def test_the_grey_baseline_decodes_to_grey(name):
    space = get_space(name)
    lightness = torch.linspace(-1, 1, 64).view(1, 1, 8, 8)
    rgb = space.decode_grey(lightness)
    assert (rgb.max(dim=1).values - rgb.min(dim=1).values).max() < 2e-3


def test_unknown_space_lists_choices_and_the_nearest():
    with pytest.raises(ConfigError, match="lab, luv, oklab, ycbcr.*Did you mean 'oklab'"):
        get_space("okLab")


@pytest.mark.parametrize("name", NAMES)
def test_decode_in_gamut_keeps_lightness_where_clamping_does_not(name):
    """Random normalised (L, chroma) decode into the gamut with the space's own lightness kept; clamping RGB moves it.

    A lightness error is measured as the difference of the greys the two lightnesses denote, in RGB: near black a
    cube-root lightness (OKLab's) moves a lot for an invisible change of colour."""
    space = get_space(name)
    generator = torch.Generator().manual_seed(0)
    lightness = torch.rand(1, 1, 48, 48, generator=generator) * 2 - 1
    wild = torch.rand(1, 2, 48, 48, generator=generator) * 2 - 1

    def l_error(out: torch.Tensor) -> float:
        return (space.decode_grey(space.encode(out)[0]) - space.decode_grey(lightness)).abs().max().item()

    assert l_error(space.decode(lightness, wild)) > 0.1  # clamping RGB moves L a lot for random chroma
    rgb = space.decode_in_gamut(lightness, wild)
    assert rgb.min() >= 0 and rgb.max() <= 1
    assert l_error(rgb) < 2e-4  # a twentieth of an 8-bit level
    # In-gamut colours are left as they are.
    photo = as_batch(data.astronaut()[::8, ::8])
    true_l, true_chroma = space.encode(photo)
    torch.testing.assert_close(space.decode_in_gamut(true_l, true_chroma), space.decode(true_l, true_chroma))


@pytest.mark.parametrize("name", NAMES)
def test_conversions_are_exact_under_bf16_autocast(name):
    """Under autocast (bf16-mixed training on a GPU) matrix products would run in bf16: off by several Lab units."""
    space = get_space(name)
    rgb = as_batch(data.coffee()[::8, ::8])
    lightness, chroma = space.encode(rgb)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto_l, auto_c = space.encode(rgb)
        decoded = space.decode_in_gamut(lightness, chroma)
        lab = rgb_to_lab(rgb)
    torch.testing.assert_close(auto_l, lightness)
    torch.testing.assert_close(auto_c, chroma)
    torch.testing.assert_close(decoded, space.decode_in_gamut(lightness, chroma))
    torch.testing.assert_close(lab, rgb_to_lab(rgb))


def test_delta_e_is_computed_in_cie_lab():
    rgb = as_batch(data.rocket()[::8, ::8])
    assert METRIC_SPACE.chroma_names == ("a", "b")
    assert np.abs(as_image(rgb_to_lab(rgb)) - color.rgb2lab(as_image(rgb))).max() < 1e-3
