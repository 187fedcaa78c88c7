"""Training's metric vocabulary, in one common space whatever space a model was trained in: what training logs, and
the names and goals that W&B and the reports read.

Predictions are decoded to RGB first; PSNR and SSIM are taken on RGB in [0, 1],
CIEDE2000 on CIE Lab computed from those RGB images, and colourfulness on those
RGB images quantised to uint8. Lab and LUV runs are therefore scored by the same rules.

CIEDE2000 is written here in torch because neither kornia nor torchmetrics has
it, and skimage's numpy version would pull every validation batch off the GPU.
``tests/test_metrics.py`` checks it against ``skimage.color.deltaE_ciede2000``.

LPIPS and FID, which need pretrained networks, are the reports' (:mod:`colorize.reports.fid_lpips`); the video
flicker is video's (:func:`colorize.inference.temporal.chroma_flicker`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

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
