"""Colorization as classification (Zhang, Isola & Efros, ECCV 2016): chroma bins, soft targets, rebalancing, decoding.

The chroma plane of a colour space is cut into square cells of side ``grid`` (in the space's own
units), centred on multiples of ``grid``; the bins are the cells that some 8-bit sRGB colour falls
in. A network predicts one logit per bin; it learns from soft-encoded targets (each pixel's chroma
spread over its nearest bins with Gaussian weights), weighted per pixel so that rare colours count
more (class rebalancing), and its distribution is turned back into chroma by the annealed mean.

Each space declares its own grid (:attr:`~colorize.spaces.ColorSpace.bin_grid`, chosen so that every space has about
as many bins as Lab) and its own Gaussian width (:attr:`~colorize.spaces.ColorSpace.bin_sigma`, half a cell).

Everything here is plain torch on whatever device its inputs are on. Chroma is in physical units
(a, b or u, v, ...) unless a function says otherwise; the affine normalisation of a
:class:`~colorize.spaces.ColorSpace` commutes with the annealed mean, so decoding against
normalised bin centres gives normalised chroma.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

from colorize.spaces import SPACES, ColorSpace


class _GridsByName(Mapping[str, float]):
    """Each registered space's ``bin_grid`` by its name, for code that holds a space's name rather than the space."""

    def __getitem__(self, name: str) -> float:
        return SPACES[name].bin_grid

    def __iter__(self) -> Iterator[str]:
        return iter(SPACES)

    def __len__(self) -> int:
        return len(SPACES)


DEFAULT_GRID: Mapping[str, float] = _GridsByName()
NEIGHBOURS = 5  # bins each target pixel is spread over
CHUNK = 1 << 16  # pixels per distance matrix (CHUNK x bins floats)


def srgb_faces() -> Tensor:
    """The 8-bit sRGB colours on the faces of the RGB cube, 6 x 256^2 of them, as an image one pixel high (3, 1, N)."""
    levels = torch.arange(256, dtype=torch.float32) / 255
    u, v = (t.reshape(-1) for t in torch.meshgrid(levels, levels, indexing="ij"))
    faces = []
    for axis in range(3):
        for value in (0.0, 1.0):
            channels = [u, v]
            channels.insert(axis, torch.full_like(u, value))
            faces.append(torch.stack(channels))
    return torch.cat(faces, dim=1).unsqueeze(1)


@lru_cache(maxsize=8)
def srgb_face_chroma(space: ColorSpace) -> Tensor:
    """Chroma (2, N) of the 8-bit sRGB colours on the faces of the RGB cube.

    Every chroma the whole cube reaches is reached on its faces (the set of colours of one chroma
    is a curve through the cube, which ends on its surface), so the faces, 6 x 256^2 colours, find
    the same cells as all 2^24 colours for a 64th of the work; ``tests/test_bins.py`` checks the
    whole cube against the bins.
    """
    return space.rgb_to_space(srgb_faces())[1:].reshape(2, -1)


def gamut_bins(space: ColorSpace, grid: float) -> Tensor:
    """Centres (Q, 2) of the ``grid``-sided chroma cells that some 8-bit sRGB colour falls in, sorted.

    A cell is centred on a multiple of ``grid`` and holds the chroma within ``grid / 2`` of it on each axis.
    """
    if not grid > 0:
        raise ValueError(f"The bin grid must be positive, not {grid}.")
    cells = torch.round(srgb_face_chroma(space) / grid).to(torch.int64)
    low = cells.min(dim=1, keepdim=True).values
    shifted = cells - low
    rows = int(shifted[1].max()) + 1
    occupied = torch.bincount(shifted[0] * rows + shifted[1]).nonzero().flatten()
    kept = torch.stack([occupied // rows, occupied % rows], dim=1) + low.T
    return kept.float() * grid


def grid_for_count(space: ColorSpace, count: int, candidates: list[float]) -> float:
    """The grid among ``candidates`` whose bin count in ``space`` is nearest to ``count`` (the smaller grid on a tie)."""
    return min(candidates, key=lambda grid: (abs(len(gamut_bins(space, grid)) - count), grid))


def nearest_bins(chroma: Tensor, centres: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Squared distances and indices (B, k, H, W) of the ``k`` bin centres nearest each pixel of ``chroma`` (B, 2, H, W).

    Nearest first. Computed ``CHUNK`` pixels at a time, so memory stays at CHUNK x Q floats.
    """
    batch, _, height, width = chroma.shape
    points = chroma.float().movedim(1, -1).reshape(-1, 2)
    centres = centres.float()
    distances, indices = [], []
    for part in points.split(CHUNK):
        _, index = torch.cdist(part, centres).topk(k, dim=1, largest=False)
        distances.append((part.unsqueeze(1) - centres[index]).square().sum(-1))  # exact, not cdist's expansion
        indices.append(index)

    def image(flat: list[Tensor]) -> Tensor:
        return torch.cat(flat).reshape(batch, height, width, k).movedim(-1, 1)

    return image(distances), image(indices)


def soft_encode(chroma: Tensor, centres: Tensor, sigma: float, k: int = NEIGHBOURS) -> tuple[Tensor, Tensor]:
    """Each pixel's chroma as weights on its ``k`` nearest bins: Gaussian in distance (``sigma``), summing to 1.

    Returns ``(indices, weights)``, each (B, k, H, W), nearest bin first: a sparse form of the
    (B, Q, H, W) target distribution, which at 256^2 x 32 x 313 would not fit in memory twice.
    """
    squared, indices = nearest_bins(chroma, centres, k)
    return indices, torch.softmax(-squared / (2 * sigma**2), dim=1)


def soft_cross_entropy(log_probs: Tensor, indices: Tensor, weights: Tensor) -> Tensor:
    """Per-pixel cross-entropy (B, H, W) of bin log-probabilities (B, Q, H, W) against a sparse soft target
    from :func:`soft_encode`."""
    return -(weights * log_probs.gather(1, indices)).sum(dim=1)


def annealed_mean(logits: Tensor, centres: Tensor, temperature: float) -> Tensor:
    """Chroma (B, 2, H, W) decoded from bin logits (B, Q, H, W): the mean of the distribution sharpened by ``temperature``.

    softmax(log p / T) = softmax(logits / T): T = 1 gives the mean, T -> 0 the mode. Its units are those of ``centres``.
    """
    probs = torch.softmax(logits.float() / temperature, dim=1)
    return F.conv2d(probs, centres.to(probs).T[:, :, None, None])  # sum over bins; twice as fast as einsum on a CPU


def entropy(log_probs: Tensor) -> Tensor:
    """Entropy in nats (B, H, W) of each pixel's bin distribution, from its log-probabilities (B, Q, H, W)."""
    return -(log_probs.exp() * log_probs).sum(dim=1)


def smoothed_prior(counts: Tensor, centres: Tensor, sigma: float) -> Tensor:
    """The empirical bin distribution from ``counts`` (Q,), smoothed by a Gaussian of ``sigma`` over the chroma plane."""
    if not counts.sum() > 0:
        raise ValueError("No pixels were counted: the prior needs at least one training crop.")
    kernel = torch.exp(-torch.cdist(centres.double(), centres.double()).square() / (2 * sigma**2))
    smoothed = kernel @ (counts.double() / counts.sum())
    return (smoothed / smoothed.sum()).to(centres.dtype)


def rebalancing_weights(prior: Tensor, uniform_mix: float) -> Tensor:
    """Zhang et al.'s class weights: w proportional to 1 / ((1 - λ) prior + λ / Q), scaled so that E_prior[w] = 1.

    λ = ``uniform_mix``; λ = 1 weighs every bin alike.
    """
    if not 0 <= uniform_mix <= 1:
        raise ValueError(f"uniform_mix must lie in [0, 1], not {uniform_mix}.")
    weights = 1 / ((1 - uniform_mix) * prior.double() + uniform_mix / len(prior))
    return (weights / (prior.double() * weights).sum()).to(prior.dtype)
