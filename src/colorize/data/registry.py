"""The one table of data sources that the config, ``--help``, the DataModule, prepare and evaluate read.

A source is one module, ``colorize/data/sources/<name>.py``: a :class:`DataSource` subclass with its options dataclass
(schema, defaults, ranges; its docstring's first line describes the source), registered with :func:`register`. A
source of photos (a :class:`~colorize.data.photo_source.PhotoSource`) says how it makes its train and validation
photos; the crops, the loaders and their resume position then come from the shared crop machinery
(:mod:`colorize.data.crops`). A source that is read another way (streaming) makes its own. Declarations import
neither torch nor any heavy library: those are imported inside the methods, when the source is used.
``configs/data/<name>.yaml`` is optional.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from colorize.errors import UserError
from colorize.options import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, SEED, ConfigError, Range, option, suggest

if TYPE_CHECKING:
    from torch import Tensor
    from torch.utils.data import DataLoader, Dataset


class DataError(UserError, ValueError):
    """Data that cannot be used for training; the message says what to fix."""


class Photos(Protocol):
    """A source's photos of one split: uint8 RGB tensors (3, H, W), each with a name (a file's path, a photo's name)."""

    names: Sequence[str]

    def __len__(self) -> int: ...

    def load(self, index: int) -> Tensor: ...


@dataclass
class DataOptions:
    """What every source's options hold; a source's options dataclass inherits this."""

    source: str = ""  # set by the choice, data=<name>
    split_seed: int = option(0, SEED)  # of the fixed validation crops (and of a split, for sources that split)
    crop_size: int = option(128, AT_LEAST_ONE)
    batch_size: int = option(16, AT_LEAST_ONE)
    num_workers: int | None = option(None, NON_NEGATIVE)  # None: one per CPU core, leaving one free, at most 8
    train_crops_per_image: int = option(1, AT_LEAST_ONE)  # random crops drawn from each training image per epoch
    val_crops_per_image: int = option(1, AT_LEAST_ONE)  # fixed crops taken from each validation image
    hflip: bool = True
    # An unreadable image (corrupt, truncated, empty, not an image): skip it with a warning, or stop training.
    on_bad_file: str = option("skip", choices=("skip", "error"))
    # Resize each photo so that its shorter side is this many pixels (never enlarging) before cropping; JPEGs
    # are decoded at reduced size. None: crops at the photo's own resolution. See colorize.data.resized.
    prepare_size: int | None = option(None, AT_LEAST_ONE)
    # make prepare: write the train and val photos as LitData chunks here (a folder, or s3://, gs://... URL),
    # to train from with data=streaming data.root=<the same>. See colorize.data.sources.streaming.
    stream_to: str | None = None
    stream_encoding: str = option("jpeg", choices=("jpeg", "raw"))  # raw: uint8 pixels, 3 bytes each
    stream_quality: int = option(90, Range(1, 100))  # JPEG quality of stream_encoding=jpeg


@dataclass
class SplitOptions:
    """For a source that splits one collection of photos in two: its validation share."""

    val_fraction: float = option(0.1, FRACTION)  # share of images held out for validation


class DataSource:
    """A source of training and validation data: subclasses set ``name`` and ``options``. A source of photos
    subclasses :class:`colorize.data.photo_source.PhotoSource`, which makes the rest from its photos."""

    name: str = ""  # data=<name>
    options: type = DataOptions  # the dataclass of data.*

    @property
    def summary(self) -> str:
        return (self.options.__doc__ or "").strip().splitlines()[0]

    def check(self, cfg: Any) -> None:
        """Refuse options that cannot work (a folder that is not there) before torch is imported: cheap checks only."""

    def photos(self, cfg: Any) -> tuple[Photos, Photos]:
        """The train and validation photos at their own size."""
        raise DataError(f"data={self.name} is not a set of photos: it can be trained on, but not prepared or evaluated.")

    def splits(self, cfg: Any) -> tuple[Photos, Photos]:
        """The train and validation photos at ``data.prepare_size``."""
        raise DataError(f"data={self.name} is not a set of photos: it can be trained on, but not prepared or evaluated.")

    def identity(self, cfg: Any) -> str:
        """What the photos are, as a prepared data set records its input (e.g. a folder's path)."""
        return self.name

    def prepare(self, cfg: Any) -> Any:
        """Fill whatever this source keeps ahead of training (``make prepare``) and report what was done; None: it keeps
        nothing."""
        return None

    def datasets(self, cfg: Any, seed: int) -> tuple[Dataset, Dataset]:
        """The training crops (random, from ``seed``) and the fixed validation crops."""
        raise NotImplementedError

    def train_loader(self, dataset: Dataset, cfg: Any, replicas: int, rank: int, epoch: int, start: int) -> DataLoader:
        """This process's share of an epoch's training batches, from ``epoch`` after its first ``start`` samples."""
        raise NotImplementedError

    def val_loader(self, dataset: Dataset, cfg: Any) -> DataLoader:
        raise NotImplementedError


SOURCES: dict[str, DataSource] = {}


def register(source: DataSource) -> DataSource:
    if source.name in SOURCES and type(SOURCES[source.name]) is not type(source):
        raise ValueError(f"Two data sources are named {source.name!r}.")
    SOURCES[source.name] = source
    return source


def get_source(name: str) -> DataSource:
    try:
        return SOURCES[name]
    except KeyError:
        raise ConfigError(
            f"Unknown data source {name!r}. Choose one of: {', '.join(SOURCES)}.{suggest(str(name), list(SOURCES))}"
        ) from None
