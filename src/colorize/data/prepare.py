"""Preparing data ahead of training: the cache of resized photos, or a streaming data set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from colorize.data.registry import DataError, get_source

if TYPE_CHECKING:
    from colorize.data.litdata_stream import StreamReport
    from colorize.data.resized import CacheReport


def prepare(data: Any, progress: bool = True) -> CacheReport | StreamReport:
    """With ``data.stream_to``, write the source's photos there as a streaming data set; else fill what the source keeps
    ahead of training (a photo folder's ``data.cache_dir``). What was written, found, and could not be read."""
    if data.stream_to:
        from colorize.data.sources.streaming import prepare_stream

        return prepare_stream(data, progress)
    report = get_source(data.source).prepare(data)
    if report is None:
        raise DataError(
            "prepare fills the cache of a photo folder: give data=folder data.root=PATH data.prepare_size=SIZE "
            "data.cache_dir=PATH, the same as for the runs that will use it; or writes a streaming data set: "
            "give data.stream_to=PATH or URL."
        )
    return report
