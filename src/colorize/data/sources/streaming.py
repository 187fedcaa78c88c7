"""``streaming``: data sets bigger than a disk, as LitData chunks written once by ``make prepare`` and streamed.

``make prepare ARGS="data=folder data.root=~/photos data.prepare_size=288 data.stream_to=/data/photos-stream"`` writes
any source of photos; ``data=streaming data.root=/data/photos-stream`` (or ``s3://...``) trains from it, each DDP
process and loader worker streaming its own share. LitData is imported only when this source is used; the reading
and writing are in :mod:`colorize.data.litdata_stream`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from colorize.data.registry import DataOptions, DataSource, get_source, register

if TYPE_CHECKING:
    from colorize.data.litdata_stream import StreamingCrops, StreamingLoader, StreamReport


@dataclass
class StreamingOptions(DataOptions):
    """A data set written as LitData chunks by make prepare (data.stream_to), streamed from a folder or a cloud URL."""

    root: str | None = None  # the folder or URL it was written to (required)


class Streaming(DataSource):
    name = "streaming"
    options = StreamingOptions

    def datasets(self, cfg: Any, seed: int) -> tuple[StreamingCrops, StreamingCrops]:
        from colorize.data.litdata_stream import streaming_sets

        return streaming_sets(cfg, seed)

    def train_loader(self, dataset: Any, cfg: Any, replicas: int, rank: int, epoch: int, start: int) -> StreamingLoader:
        """LitData shares the data set out over the processes itself; the loader keeps its own resume position."""
        from colorize.data.litdata_stream import streaming_loader

        loader = streaming_loader(dataset, cfg, train=True)
        loader.resume(epoch, start)
        return loader

    def val_loader(self, dataset: Any, cfg: Any) -> StreamingLoader:
        from colorize.data.litdata_stream import streaming_loader

        return streaming_loader(dataset, cfg, train=False)


register(Streaming())


def prepare_stream(cfg: Any, progress: bool = True) -> StreamReport:
    """Write the train and validation photos of ``cfg`` (data options), at ``data.prepare_size``, to ``data.stream_to``."""
    from colorize.data import litdata_stream

    source = get_source(cfg.source)
    return litdata_stream.write_stream(cfg, source.splits(cfg), source.identity(cfg), progress)
