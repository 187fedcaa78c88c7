"""DDColor's perceptual loss: L1 between VGG16 features of a prediction and of its target, on RGB in [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN as IMAGENET_MEAN
from timm.data import IMAGENET_DEFAULT_STD as IMAGENET_STD
from torch import Tensor, nn
from torchvision.models import VGG16_Weights, vgg

from colorize.weight_files import MAKE_WEIGHTS, WeightsUnavailable, torchvision_weights_file


def vgg16_state_dict() -> dict[str, Tensor]:
    """torchvision's VGG16 ImageNet weights, from its cache."""
    path = torchvision_weights_file(VGG16_Weights.IMAGENET1K_V1)
    if not path.is_file():
        raise WeightsUnavailable(
            f"The perceptual loss needs torchvision's {path.name}, which is not in {path.parent}: {MAKE_WEIGHTS}."
        )
    return torch.load(path, map_location="cpu", weights_only=True)


class VGGPerceptualLoss(nn.Module):
    """DDColor's perceptual loss on RGB in [0, 1]: the L1 distance between VGG16 features of the prediction and of
    the target, summed over layers with BasicSR's ``PerceptualLoss`` weights as DDColor sets them
    (options/train/train_ddcolor.yml): conv1_1 1/16, conv2_1 1/8, conv3_1 1/4, conv4_1 1/2, conv5_1 1, each conv's
    output before its ReLU, after ImageNet input normalisation. DDColor uses vgg16_bn and multiplies by 5; here it is
    plain VGG16 (the one whose ImageNet weights a registry package holds), and the caller chooses the weight.

    The frozen VGG is kept out of the module tree, so it is neither in ``state_dict()`` (checkpoints stay small)
    nor in ``parameters()``; ``.to()`` still moves it. Its weights are read from torchvision's cache, where ``make weights``
    installs them; raises :class:`WeightsUnavailable` when they are not there.
    """

    LAYERS = {0: 1 / 16, 5: 1 / 8, 10: 1 / 4, 17: 1 / 2, 24: 1.0}  # indices in torchvision's vgg16().features

    def __init__(self) -> None:
        super().__init__()
        state = vgg16_state_dict()
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
