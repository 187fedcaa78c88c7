"""The DataModule: batches of uint8 RGB crops from the configured source (see :mod:`colorize.data.registry`)."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
from lightning.pytorch.utilities.combined_loader import _shutdown_workers_and_reset_iterator
from torch.utils.data import DataLoader, Dataset

from colorize.data.crops import ImageBatch
from colorize.data.registry import get_source

log = logging.getLogger(__name__)


class ColorizationDataModule(L.LightningDataModule):
    """Batches of uint8 RGB crops, shaped (B, 3, crop, crop), from the source that ``cfg.source`` names.

    The loaders yield :class:`~colorize.data.crops.ImageBatch`; under a Trainer, ``on_before_batch_transfer`` passes on
    its ``rgb``. Code that iterates a loader itself takes ``batch.rgb``.
    """

    def __init__(self, cfg: Any, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.seed = seed  # of the training shuffle, crops and flips
        self.source = get_source(cfg.source)
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self._training = False  # a train loader was made: state_dict has a position to save
        self._resume_at: dict[str, int] = {}
        self._unreadable: dict[str, None] = {}  # met since the last report, in order
        self._warned: set[str] = set()
        self._loaders: list[DataLoader] = []  # every loader made, whose workers an error must shut down

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set, self.val_set = self.source.datasets(self.cfg, self.seed)

    def train_dataloader(self) -> DataLoader:
        """The training batches: from epoch 0, or from where a resumed checkpoint stopped (see ``state_dict``)."""
        assert self.train_set is not None
        replicas, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer is not None else (1, 0)
        at, self._resume_at = self._resume_at, {}
        self._training = True
        loader = self.source.train_loader(self.train_set, self.cfg, replicas, rank, at.get("epoch", 0), at.get("start", 0))
        self._loaders.append(loader)
        return loader

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None
        loader = self.source.val_loader(self.val_set, self.cfg)
        self._loaders.append(loader)
        return loader

    def on_exception(self, exception: BaseException) -> None:
        """Shut down every loader's workers. Lightning does so only for loaders whose first batch arrived; a worker
        left running ignores the SIGTERM with which Python ends it at exit (see ``worker_ignores_stop_signals``), so
        the process would never exit."""
        self.shut_down_loaders()

    def teardown(self, stage: str) -> None:
        """After fit, validate or test, as after an error: a loader Lightning did not iterate (e.g. classify's pass over
        the training crops for its colour prior) keeps its persistent workers, and the process would never exit."""
        self.shut_down_loaders()

    def shut_down_loaders(self) -> None:
        for loader in self._loaders:
            _shutdown_workers_and_reset_iterator(loader)
        self._loaders = []

    def state_dict(self) -> dict[str, int]:
        """Where the training shuffle stands, saved in every checkpoint.

        Lightning restores it before it first asks for the train loader (which it may do to count
        steps before it restores the loops), so a resumed run goes on with the very next batch.
        """
        if self.trainer is None or not self._training:
            return {}
        epoch = self.trainer.current_epoch
        progress = self.trainer.fit_loop.epoch_loop.batch_progress
        if progress.is_last_batch:  # the epoch's batches are done: a resume starts the next epoch
            return {"epoch": epoch + 1, "start": 0}
        return {"epoch": epoch, "start": progress.current.processed * self.cfg.batch_size}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._resume_at = dict(state_dict)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if not isinstance(batch, ImageBatch):
            return batch
        for why in batch.unreadable:
            if why not in self._warned:
                self._warned.add(why)
                log.warning("Skipped an unreadable file (a readable one took its place): %s", why)
            self._unreadable[why] = None
        return batch.rgb

    def pop_unreadable(self) -> list[str]:
        """The unreadable files met since the last call ("path: reason"), in the order met."""
        found, self._unreadable = list(self._unreadable), {}
        return found
