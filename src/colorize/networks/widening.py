"""Widening a network's input convolution for more input channels (colour hints), with zero weights.

A body that takes hint channels after L (:mod:`colorize.networks.hints`) has its input convolutions widened here. The new
weights are zero, so a pretrained network keeps its meaning: given anything in the new channels, it computes what it
did before, until it learns to use them.
"""

from __future__ import annotations

import torch
from torch import nn


def first_conv(net: nn.Module) -> nn.Conv2d:
    """The first Conv2d of ``net`` in registration order: the input conv of the cnn body and of timm encoders."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise ValueError(f"{type(net).__name__} has no Conv2d")


def widen_conv(conv: nn.Conv2d, extra_in_channels: int) -> nn.Conv2d:
    """Give ``conv`` ``extra_in_channels`` more input channels, after its own, with zero weights; in place.

    The module, its class (e.g. timm's Conv2dSame) and its name stay, so whatever refers to it (timm's
    ``feature_info``, hooks) stays valid. An optimiser must be made after this.
    """
    if conv.groups != 1:
        raise ValueError(f"cannot widen a grouped convolution ({conv.groups} groups)")
    weight = conv.weight
    zeros = weight.new_zeros(weight.shape[0], extra_in_channels, *weight.shape[2:])
    conv.weight = nn.Parameter(torch.cat([weight.detach(), zeros], dim=1), requires_grad=weight.requires_grad)
    conv.in_channels += extra_in_channels
    # A conv that transforms its weights (weight standardisation) would give zero weights an effect.
    span = max((k - 1) * d + 1 for k, d in zip(conv.kernel_size, conv.dilation, strict=True)) * 2 + max(conv.stride)
    with torch.no_grad():
        probe = weight.new_zeros(1, conv.in_channels, span, span)
        before = conv(probe)
        probe[:, -extra_in_channels:] = 1
        if not torch.equal(conv(probe), before):
            raise ValueError(f"{type(conv).__name__} transforms its weights, so zero weights for new channels are not neutral")
    return conv


def widen_first_conv(net: nn.Module, extra_in_channels: int) -> nn.Conv2d:
    """:func:`widen_conv` on the first conv of ``net``; returns it. A pretrained network keeps its meaning:
    given zeros in the new channels, it computes what it did before."""
    return widen_conv(first_conv(net), extra_in_channels)
