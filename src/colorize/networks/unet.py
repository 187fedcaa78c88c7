"""``resnet``: a timm ``features_only`` encoder with a U-Net decoder.

The encoder / decoder / head split follows segmentation_models_pytorch (heads: :mod:`colorize.networks.heads`).
The decoder reads its input widths from the encoder's ``feature_info``, so any timm backbone fits, and each block
resizes to its skip connection, so any input size works. The last skip is the input itself,
which carries full-resolution edges to the head.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from colorize.networks.autoencoder import conv_block
from colorize.networks.widening import widen_conv, widen_first_conv

if TYPE_CHECKING:
    from colorize.networks.hint_field import Injection


def default_decoder_channels(stages: int) -> list[int]:
    """Halving widths that end at 16, one per encoder stage: 256, 128, 64, 32, 16 for a ResNet."""
    return [16 * 2 ** (stages - 1 - i) for i in range(stages)]


class DecoderBlock(nn.Module):
    """Resize to the skip connection's size, concatenate it, two 3x3 conv-BN-ReLU."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(conv_block(in_channels + skip_channels, out_channels), conv_block(out_channels, out_channels))

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.convs(torch.cat([x, skip], dim=1))


class UNetDecoder(nn.Module):
    """From the deepest feature map back to input resolution, one block per encoder stage."""

    def __init__(self, encoder_channels: Sequence[int], input_channels: int, decoder_channels: Sequence[int]) -> None:
        super().__init__()
        if len(decoder_channels) != len(encoder_channels):
            raise ValueError(
                f"decoder_channels has {len(decoder_channels)} entries but the encoder has {len(encoder_channels)} stages; "
                "give one width per stage, deepest first."
            )
        skip_channels = [*reversed(encoder_channels[:-1]), input_channels]
        in_channels = [encoder_channels[-1], *decoder_channels[:-1]]
        self.blocks = nn.ModuleList(
            DecoderBlock(i, s, o) for i, s, o in zip(in_channels, skip_channels, decoder_channels, strict=True)
        )

    def forward(self, features: Sequence[Tensor], x: Tensor, inject: Injection | None = None) -> Tensor:
        """``features`` from shallow to deep, as timm returns them; ``x`` the encoder's input; ``inject`` adds to the
        output of each block (stage 0 the deepest)."""
        y = features[-1]
        for stage, (block, skip) in enumerate(zip(self.blocks, [*reversed(features[:-1]), x], strict=True)):
            y = block(y, skip)
            if inject is not None:
                y = inject(stage, y)
        return y


class GlobalFusion(nn.Module):
    """A global embedding of the whole photo merged into every position of the bottleneck (Iizuka et al. 2016's fusion
    layer, as a FiLM): the deepest features averaged over the image, through a small MLP, give each channel a scale and
    a shift. They start at zero, so a pretrained encoder computes what it did until the fusion learns."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(channels, channels), nn.ReLU(inplace=True))
        self.film = nn.Linear(channels, 2 * channels)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: Tensor) -> Tensor:
        scale, shift = self.film(self.embed(x.mean(dim=(2, 3)))).chunk(2, dim=1)
        return x * (1 + scale[:, :, None, None]) + shift[:, :, None, None]


class UNet(nn.Module):
    """Normalised L (B, 1, H, W), and any hint channels, -> ``out_channels`` feature maps of the same size.

    ``input_mean`` / ``input_std`` normalise the grey value (L_norm + 1) / 2 = L / 100 before the
    encoder; the defaults 0.5 / 0.5 leave L_norm as it is. They are buffers, so a checkpoint
    restores the normalisation its encoder was trained with.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder_channels: Sequence[int] | None = None,
        input_mean: float = 0.5,
        input_std: float = 0.5,
        fusion: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        encoder_channels = encoder.feature_info.channels()
        self.fusion = GlobalFusion(encoder_channels[-1]) if fusion else None
        decoder_channels = list(decoder_channels or default_decoder_channels(len(encoder_channels)))
        self.decoder = UNetDecoder(encoder_channels, 1, decoder_channels)
        self.out_channels = decoder_channels[-1]
        self.stage_channels = decoder_channels  # each decoder stage's output, deepest first: where inject() adds
        self.register_buffer("input_mean", torch.tensor(float(input_mean)))
        self.register_buffer("input_std", torch.tensor(float(input_std)))

    def widen_input(self, extra_channels: int) -> None:
        """Take ``extra_channels`` hint channels after L, at the encoder's input and in the last skip connection, so
        that hints reach the head at full resolution; their weights start at zero."""
        widen_first_conv(self.encoder, extra_channels)
        widen_conv(self.decoder.blocks[-1].convs[0][0], extra_channels)

    def forward(self, x: Tensor, inject: Injection | None = None) -> Tensor:
        """``x``: normalised L, then any hint channels (as they are: only L is normalised for the encoder)."""
        grey = ((x[:, :1] + 1) / 2 - self.input_mean) / self.input_std
        inputs = torch.cat([grey, x[:, 1:]], dim=1) if x.shape[1] > 1 else grey
        features = self.encoder(inputs)
        if self.fusion is not None:
            features = [*features[:-1], self.fusion(features[-1])]
        return self.decoder(features, inputs, inject)
