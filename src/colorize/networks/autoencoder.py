"""``cnn``: a plain convolutional encoder-decoder from L (and any hint channels) to feature maps of the input's size."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch.nn.functional as F
from torch import Tensor, nn

from colorize.networks.widening import widen_first_conv

if TYPE_CHECKING:
    from colorize.networks.hint_field import Injection


def conv_block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ConvAutoencoder(nn.Module):
    """Five conv blocks down to a 1/8-resolution bottleneck, three transposed convs back up: ``base_channels`` maps.

    Inputs of any size work: they are padded to a multiple of 8 and the output is cropped back.
    """

    stride = 8

    def __init__(self, in_channels: int = 1, base_channels: int = 32) -> None:
        super().__init__()
        c = base_channels
        self.out_channels = c
        self.encoder = nn.Sequential(
            conv_block(in_channels, c),
            conv_block(c, 2 * c, stride=2),
            conv_block(2 * c, 4 * c, stride=2),
            conv_block(4 * c, 8 * c, stride=2),
            conv_block(8 * c, 8 * c),
        )
        self.decoder = nn.Sequential(up_block(8 * c, 4 * c), up_block(4 * c, 2 * c), up_block(2 * c, c))
        self.stage_channels = [8 * c, 4 * c, 2 * c, c]  # the bottleneck, then each up block: where inject() adds

    def widen_input(self, extra_channels: int) -> None:
        """Take ``extra_channels`` hint channels after L; their weights start at zero."""
        widen_first_conv(self, extra_channels)

    def forward(self, x: Tensor, inject: Injection | None = None) -> Tensor:
        """``inject`` adds to the bottleneck (stage 0) and to the output of each up block (stages 1-3)."""
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % self.stride, -width % self.stride
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        if inject is None:
            return self.decoder(self.encoder(x))[..., :height, :width]
        y = inject(0, self.encoder(x))
        for stage, block in enumerate(self.decoder, start=1):
            y = inject(stage, block(y))
        return y[..., :height, :width]
