"""The PatchGAN discriminator against pix2pix's layer specification, and the GAN losses against their formulas."""

import math
from functools import partial

import pytest
import torch
from torch import nn

from colorize.networks.losses import gan_loss
from colorize.networks.patchgan import PatchDiscriminator

# pix2pix's default NLayerDiscriminator (n_layers=3, ndf=64) on 3 input channels, conv by conv:
# (in channels, out channels, stride, followed by a norm layer). Every kernel is 4x4.
PIX2PIX_70 = [(3, 64, 2, False), (64, 128, 2, True), (128, 256, 2, True), (256, 512, 1, True), (512, 1, 1, False)]


def spec_parameters(spec, norm):
    """pix2pix's rule: a conv has a bias unless a BatchNorm (with its weight and bias) follows it."""
    total = 0
    for c_in, c_out, _, normed in spec:
        total += c_in * c_out * 4 * 4
        total += 2 * c_out if normed and norm == "batch" else c_out
    return total


@pytest.mark.parametrize("norm", ["batch", "instance", "spectral"])
def test_parameter_count_is_pix2pix_70x70(norm):
    d = PatchDiscriminator(in_channels=3, ndf=64, n_layers=3, norm=norm)
    assert sum(p.numel() for p in d.parameters()) == spec_parameters(PIX2PIX_70, norm)


def test_layers_and_receptive_field_follow_the_spec():
    d = PatchDiscriminator(in_channels=3, ndf=64, n_layers=3, norm="batch")
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0], c.bias is None) for c in convs] == [
        (c_in, c_out, stride, normed) for c_in, c_out, stride, normed in PIX2PIX_70
    ]
    assert all(c.kernel_size == (4, 4) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 3
    receptive_field, jump = 1, 1
    for c in convs:
        receptive_field += (c.kernel_size[0] - 1) * jump
        jump *= c.stride[0]
    assert receptive_field == 70


def test_output_is_a_grid_of_patch_logits():
    d = PatchDiscriminator(in_channels=3, ndf=8, n_layers=3)
    size = 64
    for _, _, stride, _ in PIX2PIX_70:  # 4x4 kernels, padding 1
        size = (size + 2 - 4) // stride + 1
    assert d(torch.randn(2, 3, 64, 64)).shape == (2, 1, size, size)


@pytest.mark.parametrize("norm", ["batch", "instance", "spectral"])
@pytest.mark.parametrize("n_layers", [1, 3])
def test_min_input_size_is_the_smallest_that_works(norm, n_layers):
    d = PatchDiscriminator(in_channels=3, ndf=4, n_layers=n_layers, norm=norm)
    s = d.min_input_size
    assert d(torch.randn(2, 3, s, s)).shape == (2, 1, 1, 1)
    with pytest.raises((RuntimeError, ValueError)):
        d(torch.randn(2, 3, s - 1, s - 1))


def test_spectral_norm_replaces_norm_layers():
    d = PatchDiscriminator(in_channels=3, ndf=8, n_layers=3, norm="spectral")
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5 and all(hasattr(c, "parametrizations") for c in convs)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) for m in d.modules())
    d(torch.randn(2, 3, 32, 32))
    weight = convs[2].weight.detach().flatten(1)
    assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, abs=0.05)


LOGITS = torch.tensor([[-2.0, -0.3], [0.4, 3.0]])


def test_vanilla_is_binary_cross_entropy_on_logits():
    p = torch.sigmoid(LOGITS)
    assert partial(gan_loss, mode="vanilla")(LOGITS, real=True) == pytest.approx(-torch.log(p).mean().item(), rel=1e-5)
    assert partial(gan_loss, mode="vanilla")(LOGITS, real=False) == pytest.approx(-torch.log(1 - p).mean().item(), rel=1e-5)


def test_lsgan_is_least_squares():
    assert partial(gan_loss, mode="lsgan")(LOGITS, real=True) == pytest.approx(((LOGITS - 1) ** 2).mean().item())
    assert partial(gan_loss, mode="lsgan")(LOGITS, real=False) == pytest.approx((LOGITS**2).mean().item())


def test_hinge_for_discriminator_and_generator():
    values = LOGITS.flatten().tolist()
    hinge = partial(gan_loss, mode="hinge")
    assert hinge(LOGITS, real=True) == pytest.approx(sum(max(0.0, 1 - v) for v in values) / 4)
    assert hinge(LOGITS, real=False) == pytest.approx(sum(max(0.0, 1 + v) for v in values) / 4)
    assert hinge(LOGITS, real=True, for_discriminator=False) == pytest.approx(-sum(values) / 4)


def test_generator_loss_falls_as_d_believes_the_fake():
    for mode in ("vanilla", "lsgan", "hinge"):
        loss = partial(gan_loss, mode=mode)
        fooled = loss(torch.full((4,), 0.9), real=True, for_discriminator=False)
        caught = loss(torch.full((4,), -0.9), real=True, for_discriminator=False)
        assert fooled < caught and math.isfinite(fooled.item())
