"""Colorizing videos, as ``predict`` colorizes photos: frame by frame, L kept, chroma from the model.

Decoding and encoding are FFmpeg's, through PyAV, so any common container and codec can be read.
Frames are colorized in batches (on the GPU if the model is there) exactly as a photo is
(:func:`colorize.inference.colorizing.colorize_lightness`), with their chroma made temporally stable by
:class:`colorize.inference.temporal.ChromaStabilizer` unless ``stabilize=False``. The output keeps every
frame's timestamp (so the frame rate, the frame count and the duration), the size, and every audio
stream, whose packets are copied unchanged. It is written to a temporary file that takes the
output's name only once complete.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from tqdm import tqdm

from colorize.errors import UserError
from colorize.files import atomic_writer
from colorize.images import to_uint8_image
from colorize.inference.colorizing import ChromaPredictor, colorize_lightness, network_predictor
from colorize.inference.temporal import ChromaStabilizer
from colorize.networks.colorizer import Colorizer

# FFmpeg's muxer for each suffix written (which suffix a video's output gets: colorize.inference.planning.output_suffix).
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}
VIDEO_CODEC = "libx264"
CRF = "18"  # x264's constant quality: 18 is close to visually lossless
BATCH_FRAMES = 16


class VideoError(UserError, ValueError):
    """A file that cannot be colorized as a video; the message names the file and why."""


def frame_predictor(colorizer: Colorizer, stabilizer: ChromaStabilizer | None) -> ChromaPredictor:
    """The model's chroma prediction for consecutive frames, made temporally stable by ``stabilizer`` if given."""
    network = network_predictor(colorizer)
    if stabilizer is None:
        return network
    return lambda lightness: stabilizer(lightness, network(lightness))


def colorize_frames(colorizer: Colorizer, frames: Sequence[np.ndarray], predict: ChromaPredictor, size: int) -> list[np.ndarray]:
    """Consecutive uint8 RGB frames (H, W, 3) -> their colorizations, in one batch on the colorizer's device."""
    rgb = torch.from_numpy(np.stack(frames)).to(colorizer.device).permute(0, 3, 1, 2)
    lightness, _ = colorizer.space.encode(rgb)
    return [to_uint8_image(frame) for frame in colorize_lightness(colorizer.space, lightness, predict, size)]


def add_video_stream(out: av.container.OutputContainer, width: int, height: int, rate: Fraction) -> av.VideoStream:
    """An H.264 stream; 4:2:0 chroma, as nearly every video has, unless a side is odd (then 4:4:4)."""
    stream = out.add_stream(VIDEO_CODEC, rate=rate, options={"crf": CRF})
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    return stream


def write_video(path: Path, frames: Sequence[np.ndarray], rate: Fraction | int) -> None:
    """Write uint8 RGB frames (H, W, 3) as an H.264 video at ``rate`` frames a second (test clips, demos);
    ``path`` ends in one of MUXERS' suffixes."""
    height, width = frames[0].shape[:2]
    with atomic_writer(path) as file, av.open(file, "w", format=MUXERS[path.suffix.lower()]) as out:
        stream = add_video_stream(out, width, height, Fraction(rate))
        for image in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")))
        out.mux(stream.encode(None))


def read_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video's first video stream, as uint8 RGB (H, W, 3)."""
    with open_video(path) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(container.streams.video[0])]


def stated_end(stream: av.VideoStream) -> float | None:
    """When the container says the stream ends, in seconds; None where it does not say."""
    if stream.duration:
        return float(((stream.start_time or 0) + stream.duration) * stream.time_base)
    tag = stream.metadata.get("DURATION")  # Matroska's, as h:mm:ss.nnnnnnnnn
    if tag:
        hours, minutes, seconds = tag.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return None


def open_video(source: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(source))
    except av.FFmpegError as e:
        raise VideoError(f"{source}: cannot read as a video ({e}); 0 frames decoded. Is the file complete?") from e
    if not container.streams.video:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "none"
        container.close()
        raise VideoError(f"{source}: holds no video stream (its streams: {kinds}); only videos and photos can be colorized.")
    return container


class DemuxedVideo:
    """A video's decoded frames and its audio streams' packets, in file order; counts what it decoded."""

    def __init__(self, container: av.container.InputContainer, video: av.VideoStream, audio: list[av.AudioStream]):
        self.container, self.video, self.audio = container, video, audio
        self.decoded, self.decoded_end = 0, 0.0  # frames, and where the last one ends (s)

    def __iter__(self) -> Iterator[av.VideoFrame | av.Packet]:
        source = self.container.name
        try:
            for packet in self.container.demux(self.video, *self.audio):
                if packet.stream.type == "audio":
                    if packet.dts is not None:  # not the empty packet that ends a stream
                        yield packet
                    continue
                for frame in packet.decode():
                    self.decoded += 1
                    if frame.pts is not None:
                        self.decoded_end = float((frame.pts + (frame.duration or 0)) * frame.time_base)
                    yield frame
        except av.FFmpegError as e:
            raise VideoError(
                f"{source}: corrupt or truncated: {self.decoded} frame(s) decoded before {e}. Nothing was written."
            ) from e

    def check_complete(self, source: Path, rate: Fraction) -> None:
        """Raise :class:`VideoError` if no frame, or fewer than the container promised, could be decoded."""
        if self.decoded == 0:
            raise VideoError(f"{source}: corrupt or truncated: 0 frames decoded. Nothing was written.")
        stated = stated_end(self.video)
        if stated is not None and self.decoded_end < stated - 1.5 / float(rate):
            raise VideoError(
                f"{source}: truncated: {self.decoded} frame(s) decoded, up to {self.decoded_end:.2f} s of its {stated:.2f} s. "
                "Nothing was written."
            )


def colorize_video(
    colorizer: Colorizer,
    source: Path,
    target: Path,
    size: int,
    stabilizer: ChromaStabilizer | None = None,
    batch_frames: int = BATCH_FRAMES,
    progress: float | None = None,
) -> int:
    """Colorize ``source`` into ``target`` (a suffix of MUXERS); returns the number of frames.

    ``stabilizer``: None colorizes each frame on its own. ``progress``: seconds between progress-bar
    updates, or None for no bar. Raises :class:`VideoError` for a corrupt or truncated file, naming how
    many frames were decoded; nothing is written then.
    """
    with open_video(source) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        audio = list(container.streams.audio)
        if stabilizer is not None:
            stabilizer.reset()
        predict = frame_predictor(colorizer, stabilizer)
        bar = tqdm(
            total=video.frames or None, unit="frame", desc=source.name, disable=progress is None, mininterval=progress or 0.1
        )
        rate = video.average_rate or video.guessed_rate or Fraction(25)
        with bar, atomic_writer(target) as file, av.open(file, "w", format=MUXERS[target.suffix.lower()]) as out:
            encoder = add_video_stream(out, video.codec_context.width, video.codec_context.height, rate)
            encoder.time_base = video.time_base
            copies = {stream.index: out.add_stream_from_template(stream) for stream in audio}
            pending: list[av.VideoFrame] = []

            def flush() -> None:
                colour = colorize_frames(colorizer, [f.to_ndarray(format="rgb24") for f in pending], predict, size)
                for original, image in zip(pending, colour):
                    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                    frame.pts, frame.time_base, frame.duration = original.pts, original.time_base, original.duration
                    out.mux(encoder.encode(frame))
                bar.update(len(pending))
                pending.clear()

            reader = DemuxedVideo(container, video, audio)
            for item in reader:
                if isinstance(item, av.Packet):
                    item.stream = copies[item.stream.index]
                    out.mux(item)
                    continue
                pending.append(item)
                if len(pending) == batch_frames:
                    flush()
            reader.check_complete(source, rate)
            if pending:
                flush()
            out.mux(encoder.encode(None))
    return reader.decoded
