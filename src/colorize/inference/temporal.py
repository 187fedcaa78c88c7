"""Temporal stability for video: each frame's chroma blended with the previous output, carried along the motion.

Colorizing each frame on its own makes colours flicker: the network's guess for a wall or a face
changes a little from frame to frame. :class:`ChromaStabilizer` keeps a running output: for each new
frame it estimates the motion from the previous frame (Farnebäck optical flow, on L alone: the only
channel a grey film has), warps the previous output chroma along it, and blends it with the new
prediction. The blend trusts the past only where the warp is right: its weight falls as the warped
previous L departs from the current L (occlusions, things that appear, flow errors), and it is zero
for pixels whose motion comes from outside the frame. At a scene cut, detected from a jump in the L
histogram, the past is dropped, so no colour is carried from one shot into the next.

It works at the resolution chroma is predicted at (inference's working size), where flow is cheap.
:func:`chroma_flicker` measures what is left: the chroma that changes where lightness stays.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
from torch import Tensor

from colorize.spaces import rgb_to_lab

# Farnebäck parameters: a 4-level pyramid follows motions of tens of pixels at a working size of
# about 256 px; a 15-px window is robust to film grain. (OpenCV's own documented example values.)
FLOW_PARAMS = dict(pyr_scale=0.5, levels=4, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
HISTOGRAM_BINS = 32
MISMATCH_BLUR = 1.5  # px, the standard deviation of the Gaussian that smooths the L mismatch


def lightness_to_uint8(lightness: Tensor) -> np.ndarray:
    """Normalised L (1, h, w) in [-1, 1] -> (h, w) uint8, the input optical flow takes."""
    scaled = (lightness[0].float().clamp(-1, 1) + 1) * 127.5
    return scaled.round().to(torch.uint8).cpu().numpy()


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance between the L histograms of two uint8 images: 0 the same, 1 disjoint."""
    ha = np.bincount(a.ravel() >> 3, minlength=HISTOGRAM_BINS) / a.size
    hb = np.bincount(b.ravel() >> 3, minlength=HISTOGRAM_BINS) / b.size
    return float(np.abs(ha - hb).sum() / 2)


def backward_flow(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """For each pixel of ``current``, where it was in ``previous``: absolute (x, y) maps for cv2.remap."""
    flow = cv2.calcOpticalFlowFarneback(current, previous, None, **FLOW_PARAMS)
    height, width = current.shape
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return np.stack([grid_x + flow[..., 0], grid_y + flow[..., 1]], axis=-1)


def warp(image: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``image`` (h, w) or (h, w, c) sampled bilinearly at ``positions`` (h, w, 2)."""
    return cv2.remap(image, positions[..., 0], positions[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class ChromaStabilizer:
    """Turns per-frame chroma predictions into temporally stable ones, one frame after another.

    ``history`` is the most the previous output can weigh in a blend (where the warped L matches
    exactly); ``tolerance`` the L mismatch, in L units (0..100), at which its weight falls to
    ``history`` · e⁻¹; ``cut_threshold`` the L-histogram distance (0..1) above which a frame starts
    a new shot. Call :meth:`reset` between videos.
    """

    def __init__(self, history: float = 0.85, tolerance: float = 4.0, cut_threshold: float = 0.3) -> None:
        self.history = history
        self.tolerance = tolerance
        self.cut_threshold = cut_threshold
        self.cuts: list[int] = []  # indices of the frames that started a new shot (not the first)
        self.reset()

    def reset(self) -> None:
        self._previous: tuple[np.ndarray, np.ndarray] | None = None  # L (h, w) uint8, chroma (h, w, 2)
        self._frame = 0
        self.cuts = []

    def __call__(self, lightness: Tensor, chroma: Tensor) -> Tensor:
        """Consecutive frames' normalised L (B, 1, h, w) and predicted chroma (B, 2, h, w) -> stable chroma."""
        stable = [self._step(lum, pred) for lum, pred in zip(lightness, chroma.float().movedim(1, -1).cpu().numpy())]
        return torch.from_numpy(np.stack(stable)).movedim(-1, 1).to(chroma.device)

    def _step(self, lightness: Tensor, predicted: np.ndarray) -> np.ndarray:
        current = lightness_to_uint8(lightness)
        previous = self._previous
        if previous is not None and previous[0].shape != current.shape:
            previous = None
        if previous is not None and histogram_distance(current, previous[0]) > self.cut_threshold:
            self.cuts.append(self._frame)
            previous = None
        if previous is None:
            output = np.ascontiguousarray(predicted)
        else:
            output = self._blend(current, predicted, *previous)
        self._previous = (current, output)
        self._frame += 1
        return output

    def _blend(self, current: np.ndarray, predicted: np.ndarray, previous_l: np.ndarray, previous_chroma: np.ndarray):
        positions = backward_flow(current, previous_l)
        difference = (warp(previous_l, positions).astype(np.float32) - current) * (100 / 255)
        # Smoothed before its size is taken: grain and noise average out, a real mismatch (an edge) does not.
        mismatch = np.abs(cv2.GaussianBlur(difference, (0, 0), MISMATCH_BLUR))
        weight = self.history * np.exp(-((mismatch / self.tolerance) ** 2))
        height, width = current.shape
        inside = (positions[..., 0] >= 0) & (positions[..., 0] <= width - 1)
        inside &= (positions[..., 1] >= 0) & (positions[..., 1] <= height - 1)
        weight = (weight * inside)[..., None]
        return (weight * warp(previous_chroma, positions) + (1 - weight) * predicted).astype(np.float32)


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
