"""pix2pix's PatchGAN discriminator: a grid of real/fake logits, one per overlapping patch.

Layers, kernel sizes, strides, normalisation and initialisation follow ``NLayerDiscriminator`` and
``init_weights`` of junyanz/pytorch-CycleGAN-and-pix2pix; ``n_layers=3`` gives its 70x70 receptive field.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


def _conv(in_channels: int, out_channels: int, stride: int, bias: bool, spectral: bool) -> nn.Module:
    """A 4x4 conv with pix2pix's N(0, 0.02) initialisation, spectrally normalised if asked."""
    conv = nn.Conv2d(in_channels, out_channels, 4, stride, 1, bias=bias)
    nn.init.normal_(conv.weight, 0.0, 0.02)
    if bias:
        nn.init.zeros_(conv.bias)
    return spectral_norm(conv) if spectral else conv


def _block(in_channels: int, out_channels: int, stride: int, norm: str) -> list[nn.Module]:
    """Conv + norm + LeakyReLU(0.2). As in pix2pix, the conv has a bias unless a batch norm follows it."""
    if norm == "batch":
        batch_norm = nn.BatchNorm2d(out_channels)
        nn.init.normal_(batch_norm.weight, 1.0, 0.02)
        return [_conv(in_channels, out_channels, stride, False, False), batch_norm, nn.LeakyReLU(0.2, True)]
    if norm == "instance":  # no affine parameters and no running statistics, as in pix2pix
        return [_conv(in_channels, out_channels, stride, True, False), nn.InstanceNorm2d(out_channels), nn.LeakyReLU(0.2, True)]
    return [_conv(in_channels, out_channels, stride, True, True), nn.LeakyReLU(0.2, True)]


class PatchDiscriminator(nn.Module):
    """Conv(in, ndf, s2) + LeakyReLU; n_layers - 1 stride-2 blocks and one stride-1 block; Conv(., 1, s1).

    Channels double per block up to ``8 * ndf``. The first and last convs are never normalised;
    ``norm="spectral"`` spectrally normalises every conv and uses no norm layers.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        if norm not in ("batch", "instance", "spectral"):
            raise ValueError(f"norm must be batch, instance or spectral, not {norm!r}")
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, not {n_layers}")
        spectral = norm == "spectral"
        channels = [ndf * min(2**n, 8) for n in range(n_layers + 1)]
        layers = [_conv(in_channels, ndf, 2, True, spectral), nn.LeakyReLU(0.2, True)]
        for n in range(1, n_layers + 1):
            layers += _block(channels[n - 1], channels[n], stride=2 if n < n_layers else 1, norm=norm)
        layers.append(_conv(channels[-1], 1, 1, True, spectral))
        self.model = nn.Sequential(*layers)
        self.n_layers = n_layers

    @property
    def min_input_size(self) -> int:
        """The smallest height and width that still give one patch: n_layers halvings, then two 4x4 stride-1 convs."""
        return 3 * 2**self.n_layers

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
