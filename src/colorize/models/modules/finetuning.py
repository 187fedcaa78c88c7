"""Fine-tuning a network's ``encoder``: a lower learning rate for it, and freezing it for the first epochs.

The options (``encoder_lr_scale``, ``freeze_encoder_epochs``) come with ``ResNetOptions``; a model
config without them trains every parameter alike. Used by the regression models and by the GAN's generator.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from colorize.networks.bodies import PRETRAINED_INITS

PRETRAINED_ENCODER_LR_SCALE = 0.1


def encoder_lr_scale(model_cfg: Any) -> float:
    """The encoder's learning rate as a fraction of ``lr``: as configured, else lower for pretrained weights."""
    scale = model_cfg.get("encoder_lr_scale")
    if scale is not None:
        return float(scale)
    pretrained = (model_cfg.get("init") or "").startswith(PRETRAINED_INITS)
    return PRETRAINED_ENCODER_LR_SCALE if pretrained else 1.0


def parameter_groups(net: nn.Module, model_cfg: Any, lr: float) -> list[dict]:
    """Optimiser parameter groups of a colorizer: "encoder" (its body's) at lr x encoder_lr_scale and "decoder" (the rest)
    at lr, or one group at lr."""
    trainable = [p for p in net.parameters() if p.requires_grad]
    scale = encoder_lr_scale(model_cfg)
    if scale == 1.0:
        return [{"params": trainable, "lr": lr}]
    encoder = {id(p) for p in net.body.encoder.parameters()}
    return [
        {"name": "encoder", "params": [p for p in trainable if id(p) in encoder], "lr": lr * scale},
        {"name": "decoder", "params": [p for p in trainable if id(p) not in encoder], "lr": lr},
    ]


def set_encoder_frozen(body: nn.Module, frozen: bool) -> None:
    """Frozen: no gradients and batch-norm statistics fixed (eval mode), so the encoder does not change at all.

    AdamW skips parameters without a gradient, so frozen ones get neither steps nor weight decay.
    """
    body.encoder.requires_grad_(not frozen)
    body.encoder.train(not frozen)


def freeze_for_epoch(body: nn.Module, model_cfg: Any, epoch: int) -> None:
    """Freeze the body's encoder during the first ``freeze_encoder_epochs`` epochs, and unfreeze it after."""
    epochs = model_cfg.get("freeze_encoder_epochs") or 0
    if epochs:
        set_encoder_frozen(body, frozen=epoch < epochs)
