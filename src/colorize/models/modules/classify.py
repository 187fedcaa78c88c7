"""How ``classify`` learns (Zhang, Isola & Efros, ECCV 2016): soft-encoded targets and class rebalancing.

The colorizer's bin head (:class:`~colorize.networks.heads.BinHead`) gives one logit per bin. It learns by
cross-entropy against soft-encoded targets, each pixel weighted by how rare its colour is in the training data (class
rebalancing).

With ``model.head_stride`` s > 1 the head predicts one distribution per block of s x s pixels, and learns it from the
block's mean chroma, soft-encoded: the loss, its targets and the entropy it logs cost 1/s^2 of what they would per pixel.

The rebalancing needs the training data's colour prior: before the first step of a new run, one
pass over the training crops of epoch 0 (at most ``model.prior_crops`` of them) counts each pixel's
nearest bin. The pass draws no random numbers, so two runs count the same pixels and train on the
same batches. The prior and the weights are buffers (the bins are the head's): a checkpoint carries them, and a
resumed run takes them from there. With ``model.prior_bias`` a new run's bin logits start at the log of the
rebalanced prior (prior x weight, normalised): the distribution that minimises the weighted loss while ignoring the
input, which the network would otherwise spend its first steps learning.

``model.body_ckpt`` starts the body from a trained run's (any family with the same body, body options and space); the
head starts afresh, or with ``model.head_from_ckpt`` (and no prior bias) as a Gaussian around what that run's chroma head
predicts (:meth:`~colorize.networks.heads.BinHead.start_at`): classify then starts decoding about as the regression run
ended, and the cross-entropy moves it from there.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from colorize.errors import UserError
from colorize.models.modules.base import ColorBatch
from colorize.models.modules.regression import RegressionColorizer
from colorize.models.modules.warm_start import create_warm_started, trained_chroma_head
from colorize.networks.bins import (
    entropy,
    nearest_bins,
    rebalancing_weights,
    smoothed_prior,
    soft_cross_entropy,
    soft_encode,
)
from colorize.networks.colorizer import Colorizer
from colorize.networks.hints import Hints

log = logging.getLogger(__name__)

PROBABILITY_FLOOR = 1e-6  # of a bin in the bin logits' starting bias (model.prior_bias)
PRIOR_STRIDE = 4  # neighbouring pixels share their colour: every 4th row and column counts the same colours at 1/16 the cost


class ClassificationColorizer(RegressionColorizer):
    """Bin classification with class rebalancing; the optimiser and its options are the regression models'."""

    @classmethod
    def create(cls, cfg: Any) -> tuple[ClassificationColorizer, str | None]:
        """With ``model.body_ckpt``, the body starts from that trained run's (a resumed run's, from its checkpoint), and
        with ``model.head_from_ckpt`` the bin logits from its chroma head."""
        if not cfg.model.body_ckpt:
            if cfg.model.head_from_ckpt:
                raise UserError(
                    "model.head_from_ckpt=true starts the bin logits from the chroma head of the run model.body_ckpt names; "
                    "add model.body_ckpt=<the .ckpt of a cnn, resnet or gan run>, or drop model.head_from_ckpt."
                )
            return super().create(cfg)
        module, init = create_warm_started(cls, cfg, "body_ckpt", "body", head=False)
        if cfg.model.head_from_ckpt and not cfg.resume:
            head = module.net.head
            trained = trained_chroma_head(cfg.model, "body_ckpt", cfg.space.name, head.logits.in_channels)
            head.start_at(trained, module.space.bin_grid)  # one cell wide: see BinHead.start_at
        return module, init

    def __init__(self, model: dict, space: str, net: Colorizer | None = None) -> None:
        super().__init__(model, space, net)
        bins = len(self.bin_centres)
        self.register_buffer("prior", torch.zeros(bins))  # all zero until counted
        self.register_buffer("class_weights", torch.ones(bins))

    @property
    def bin_centres(self) -> Tensor:
        """The bins (Q, 2), in physical chroma: the colorizer's head's."""
        return self.net.head.centres

    def logits(self, lightness: Tensor, hints: Hints | None = None) -> Tensor:
        """Bin logits (B, Q, H/s, W/s), s = ``model.head_stride``."""
        return self.net.head.bin_logits(self.net.features(lightness, *(hints or ())))

    def physical_chroma(self, batch: ColorBatch) -> Tensor:
        return self.space.denormalize(batch.lightness, batch.chroma)[:, 1:]

    def target_chroma(self, batch: ColorBatch) -> Tensor:
        """The chroma the logits are scored against, in physical units: each block's mean, as the head sees blocks."""
        return self.net.head.blocks(self.physical_chroma(batch))

    # ------------------------------------------------------------ the prior

    def on_fit_start(self) -> None:
        if self.prior.sum() > 0:  # restored from a checkpoint
            return
        if self.trainer.datamodule is None:  # fit(module, dataloader), as the benchmark does: no data to count
            warnings.warn("classify: no datamodule to count the colour prior from; every bin weighs the same", stacklevel=1)
            self.set_prior(torch.ones(len(self.bin_centres)))
            self.class_weights.fill_(1.0)
            return
        counts = self.count_training_colours(self.model_cfg.prior_crops)
        self.set_prior(counts)
        log.info(
            "classify: colour prior from %d pixels; %d of %d bins seen", int(counts.sum()), int((counts > 0).sum()), len(counts)
        )

    @torch.no_grad()
    def count_training_colours(self, max_crops: int) -> Tensor:
        """Pixels per nearest bin (Q,) over the first ``max_crops`` crops of epoch 0's shuffle, summed over processes: the
        colours the loss scores (each block's mean with ``model.head_stride``), every ``PRIOR_STRIDE``-th pixel's.

        The loader's shuffle, crops and flips come from the data seed and the epoch alone, and its
        workers' seeds from its own generator: the pass draws nothing from the global random state.
        """
        datamodule = self.trainer.datamodule
        counts = torch.zeros(len(self.bin_centres), dtype=torch.float64, device=self.device)
        crops, share = 0, -(-max_crops // self.trainer.world_size)
        every = max(1, PRIOR_STRIDE // self.net.head.stride)  # in blocks of the head's stride
        for batch in datamodule.train_dataloader():
            rgb = batch.rgb if hasattr(batch, "rgb") else batch
            chroma = self.target_chroma(self.encode_batch(rgb.to(self.device)))[..., ::every, ::every]
            _, nearest = nearest_bins(chroma, self.bin_centres, k=1)
            counts += torch.bincount(nearest.flatten(), minlength=len(counts))
            crops += len(rgb)
            if crops >= share:
                break
        return self.trainer.strategy.reduce(counts, reduce_op="sum")

    def set_prior(self, counts: Tensor) -> None:
        """The smoothed prior from bin counts, the rebalancing weights it gives, and (``model.prior_bias``) the bin logits'
        bias at the log of the rebalanced prior."""
        self.prior.copy_(smoothed_prior(counts.to(self.bin_centres), self.bin_centres, self.space.bin_sigma))
        self.class_weights.copy_(rebalancing_weights(self.prior, self.model_cfg.uniform_mix))
        if self.model_cfg.prior_bias and not self.model_cfg.head_from_ckpt:
            rebalanced = self.prior * self.class_weights
            # A bin far from every counted colour has a prior that underflows to 0: a floor, not a logit of -inf.
            with torch.no_grad():
                self.net.head.logits.bias.copy_(torch.log((rebalanced / rebalanced.sum()).clamp_min(PROBABILITY_FLOOR)))

    # ------------------------------------------------------------ training

    def training_step(self, batch: ColorBatch, batch_idx: int) -> Tensor:
        batch = self.with_hints(batch, batch_idx)
        logits = self.logits(batch.lightness, batch.hints).float()
        log_probs = F.log_softmax(logits, dim=1)
        with torch.no_grad():
            indices, weights = soft_encode(self.target_chroma(batch), self.bin_centres, self.space.bin_sigma)
            pixel_weights = self.class_weights[indices[:, 0]]
        cross_entropy = soft_cross_entropy(log_probs, indices, weights)
        loss = (pixel_weights * cross_entropy).mean()
        if self.uses_rgb_losses:
            loss = loss + self.rgb_losses(batch, self.net.head.decode(logits, batch.lightness.shape[-2:]))
        size = len(batch.rgb)
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        with torch.no_grad():
            self.log("train/entropy", entropy(log_probs).mean(), batch_size=size)
            # The unweighted loss on pixels whose colour rebalancing weighs up (rare) or down (common).
            rare = pixel_weights > 1
            for name, where in (("rare", rare), ("common", ~rare)):
                if where.any():
                    self.log(f"train/loss_{name}", cross_entropy[where].mean(), batch_size=size)
            self.log("train/rare_pixels", rare.float().mean(), batch_size=size)
        return loss
