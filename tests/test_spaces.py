import numpy as np
import pytest
import torch
from skimage import color, data

from colorize.spaces import SPACES, get_space, rgb_to_lab


def photos() -> list[np.ndarray]:
    return [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]


def as_batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).float().div(255).unsqueeze(0)


@pytest.mark.parametrize(("name", "reference"), [("lab", color.rgb2lab), ("luv", color.rgb2luv)])
def test_conversion_agrees_with_skimage(name, reference):
    space = get_space(name)
    for image in photos():
        ours = space.rgb_to_space(as_batch(image))[0].permute(1, 2, 0).double().numpy()
        theirs = reference(image)
        assert np.abs(ours - theirs).max() < 1e-3


@pytest.mark.parametrize("name", sorted(SPACES))
def test_round_trip_through_normalised_space(name):
    space = get_space(name)
    rgb = torch.cat([as_batch(image[:256, :256]) for image in photos()])
    lightness, chroma = space.encode(rgb)
    assert lightness.shape == (4, 1, 256, 256) and chroma.shape == (4, 2, 256, 256)
    assert (space.decode(lightness, chroma) - rgb).abs().max() < 1e-3


@pytest.mark.parametrize("name", sorted(SPACES))
def test_uint8_and_float_input_agree(name):
    space = get_space(name)
    image = torch.from_numpy(data.coffee()).permute(2, 0, 1).unsqueeze(0)
    for a, b in zip(space.encode(image), space.encode(image.float() / 255)):
        torch.testing.assert_close(a, b)


def full_srgb_gamut() -> torch.Tensor:
    levels = torch.arange(256, dtype=torch.float32) / 255
    r, g, b = torch.meshgrid(levels, levels, levels, indexing="ij")
    return torch.stack([r, g, b]).reshape(3, 256, 256 * 256)


def test_normalised_targets_fill_but_stay_inside_unit_box_over_the_whole_gamut():
    gamut = full_srgb_gamut()
    for space in SPACES.values():
        lightness, chroma = space.encode(gamut)
        assert lightness.min() >= -1 and lightness.max() <= 1
        assert chroma.abs().max() <= 1, space.name
        # The constants are tight: each chroma channel reaches beyond ±0.95 somewhere.
        per_channel = chroma.reshape(2, -1)
        assert (per_channel.max(dim=1).values > 0.95).all() and (per_channel.min(dim=1).values < -0.95).all()


@pytest.mark.parametrize("name", sorted(SPACES))
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


@pytest.mark.parametrize("name", sorted(SPACES))
def test_decode_clamps_to_displayable_range(name):
    space = get_space(name)
    lightness = torch.rand(2, 1, 16, 16) * 2 - 1
    wild = torch.randn(2, 2, 16, 16) * 5
    rgb = space.decode(lightness, wild)
    assert torch.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1


@pytest.mark.parametrize("name", sorted(SPACES))
def test_the_grey_baseline_decodes_to_grey(name):
    space = get_space(name)
    lightness = torch.linspace(-1, 1, 64).view(1, 1, 8, 8)
    rgb = space.decode_grey(lightness)
    assert (rgb.max(dim=1).values - rgb.min(dim=1).values).max() < 2e-3


def test_unknown_space_lists_choices():
    with pytest.raises(ValueError, match="lab, luv"):
        get_space("hsv")


@pytest.mark.parametrize("name", sorted(SPACES))
def test_decode_in_gamut_keeps_lightness_where_clamping_does_not(name):
    space = get_space(name)
    rgb = as_batch(data.astronaut()[::8, ::8])
    lightness, true_chroma = space.encode(rgb)
    wild = torch.rand(true_chroma.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    reference_l = color.rgb2lab(rgb[0].permute(1, 2, 0).numpy())[..., 0]

    def l_error(out: torch.Tensor) -> float:
        return np.abs(color.rgb2lab(out[0].permute(1, 2, 0).double().numpy())[..., 0] - reference_l).max()

    assert l_error(space.decode(lightness, wild)) > 10  # clamping RGB moves L a lot for random chroma
    assert l_error(space.decode_in_gamut(lightness, wild)) < 0.05
    # In-gamut colours are left as they are.
    torch.testing.assert_close(space.decode_in_gamut(lightness, true_chroma), space.decode(lightness, true_chroma))


@pytest.mark.parametrize("name", sorted(SPACES))
def test_conversions_are_exact_under_bf16_autocast(name):
    """Under autocast (bf16-mixed training on a GPU) kornia's matrix products would run in bf16: off by several Lab units."""
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
