"""Exporting a trained colorizer for use without PyTorch: ONNX, with ``onnx_predict.py`` and ``portable.py`` beside it.

The export is the colorizer alone (a GAN's generator; its discriminator is not needed to colorize), from normalised L
(B, 1, H, W) of any height and width to normalised chroma (B, 2, H, W). Sides that are not a multiple of 32 are padded
inside the graph, as :class:`colorize.inference.colorizing.AnySize` pads them. The model's metadata holds what a user
needs to turn a photo into that input and the output back into a photo: the space, the normalisation constants, the
working size and the colorize version. A model trained with colour hints (``model.hints``) takes them as more inputs,
zeros for none: ``hint`` (B, 2, H, W) and ``mask`` (B, 1, H, W) for local hints, ``global_hint`` (B, Q + 3) for a
global one; its metadata says which (``hints``) and holds the histogram's bins, so that a reference photo's global hint
can be computed without PyTorch. Beside it go ``onnx_predict.py`` and ``portable.py``, copies of
:mod:`colorize.onnx_predict` and :mod:`colorize.portable`, which colorize a photo with onnxruntime, numpy and Pillow only.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from colorize import __version__
from colorize.errors import UserError
from colorize.files import atomic_write_bytes
from colorize.inference.colorizing import PAD_MULTIPLE, AnySize
from colorize.inference.loading import load_colorizer, temperature_label, working_size
from colorize.networks.colorizer import Colorizer
from colorize.networks.heads import BinHead
from colorize.portable import METADATA_PREFIX
from colorize.runs import Run

FORMATS = ("onnx",)
# What goes beside the model: the script and the numpy-and-Pillow module it imports.
SCRIPTS = tuple(Path(__file__).parent.parent / name for name in ("onnx_predict.py", "portable.py"))
# ONNX Runtime against PyTorch on the same input, normalised chroma: a larger gap means a broken export.
CHECK_TOLERANCE = 1e-3
# The ONNX inputs of a model trained with hints, by AnySize's argument names.
ONNX_INPUTS = {"hint": "hint", "mask": "mask", "global_vector": "global_hint"}


class ExportError(UserError, ValueError):
    """An export that cannot be done as asked; the message says what to change."""


def metadata(colorizer: Colorizer, size: int, checkpoint: Path) -> dict[str, object]:
    """What :mod:`colorize.onnx_predict` (or anyone) needs to use the model; each value is stored as JSON."""
    space = colorizer.space
    spec = colorizer.spec
    run = Run.of_checkpoint(checkpoint)
    # The space's L normalisation, read off the space itself at L = 0 and L = 100.
    black_white = torch.zeros(3, 1, 2)
    black_white[0, 0, 1] = 100.0
    low, high = space.normalize(black_white)[0].flatten().tolist()
    lightness_scale = 100.0 / (high - low)
    decoding = {"temperature": float(colorizer.head.temperature)} if isinstance(colorizer.head, BinHead) else {}
    binned = colorizer.hint_bins.layout() if colorizer.hint_bins is not None else {}  # how a reference's histogram is binned
    return (
        {
            "version": __version__,
            "space": space.name,
            "chroma_names": list(space.chroma_names),
            # L_norm = (L - lightness_offset) / lightness_scale; chroma_norm = (c - chroma_offset) / chroma_scale
            "lightness_offset": -low * lightness_scale,
            "lightness_scale": lightness_scale,
            "chroma_offset": list(space.chroma_offset),
            "chroma_scale": list(space.chroma_scale),
            "working_size": size,
            "model": str(spec.options["name"]),
            "body": spec.body,
            "head": spec.head,
            "run": run.name if run is not None else None,
            "checkpoint": checkpoint.name,
            "hints": colorizer.hints,
        }
        | decoding
        | binned
    )


def hint_examples(colorizer: Colorizer, lightness: torch.Tensor) -> dict[str, torch.Tensor | None]:
    """Random hints of the kinds ``colorizer`` takes, for L (B, 1, H, W), by AnySize's argument names (None: not taken)."""
    batch, _, height, width = lightness.shape
    local, global_ = colorizer.hint_kind.local, colorizer.hint_kind.global_
    return {
        "hint": torch.rand(batch, 2, height, width) * 2 - 1 if local else None,
        "mask": (torch.rand(batch, 1, height, width) < 0.1).float() if local else None,
        "global_vector": torch.rand(batch, colorizer.global_length) if global_ else None,
    }


def with_fixed_padding(colorizer: Colorizer) -> Colorizer:
    """A copy of ``colorizer`` whose TensorFlow-style "same" convolutions (timm's ``Conv2dSame``, in the tf_efficientnet
    encoders) pad by fixed amounts, where the original computes them from its input's size at every call.

    Computed from a symbolic size, that padding nests ceilings and maxima through every downsampling, and torch.export
    spent more than 90% of a 6-minute export of the default model reasoning about them. :class:`AnySize` gives the network
    sides that are multiples of ``PAD_MULTIPLE``; where each such convolution's input is then a multiple of its stride, its
    padding is the same for every size, so it is read off one ``PAD_MULTIPLE`` square input. A convolution whose input is
    not a multiple of its stride keeps its own padding. The export is checked against the original.
    """
    layers = sys.modules.get("timm.layers")  # a network holds timm's layers only once timm is imported
    if layers is None or not any(isinstance(module, layers.Conv2dSame) for module in colorizer.modules()):
        return colorizer
    fixed = copy.deepcopy(colorizer)
    sizes: dict[nn.Module, tuple[int, int]] = {}

    def record(conv: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        sizes[conv] = tuple(args[0].shape[-2:])

    hooks = [conv.register_forward_pre_hook(record) for conv in fixed.modules() if isinstance(conv, layers.Conv2dSame)]
    with torch.no_grad():
        AnySize(fixed)(torch.zeros(1, 1, PAD_MULTIPLE, PAD_MULTIPLE))
    for hook in hooks:
        hook.remove()
    for parent in list(fixed.modules()):
        for name, conv in list(parent.named_children()):
            size = sizes.get(conv)
            if size is None or any(side % stride for side, stride in zip(size, conv.stride, strict=True)):
                continue
            pad = layers.padding.pad_same_arg(list(size), conv.weight.shape[-2:], conv.stride, conv.dilation)
            plain = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, groups=conv.groups)
            plain.dilation, plain.weight, plain.bias = conv.dilation, conv.weight, conv.bias
            setattr(parent, name, nn.Sequential(nn.ZeroPad2d(pad), plain))
    return fixed


def export_onnx(colorizer: Colorizer, path: Path, meta: dict[str, object]) -> None:
    """Write ``colorizer`` as ONNX to ``path`` (atomically) with ``meta`` as metadata, and check it against PyTorch."""
    # The export extra; imported here so that the module and `--help` work without it.
    import onnxruntime

    colorizer = colorizer.cpu().eval()
    network = AnySize(colorizer).eval()
    example = torch.zeros(1, 1, 2 * PAD_MULTIPLE, 3 * PAD_MULTIPLE)
    hints = hint_examples(colorizer, example)
    batch, height, width = (torch.export.Dim(name, min=1, max=1 << 16) for name in ("batch", "height", "width"))
    image = {0: batch, 2: height, 3: width}
    shapes = {"hint": image, "mask": image, "global_vector": {0: batch}}
    names = [ONNX_INPUTS[name] for name, value in hints.items() if value is not None]
    program = torch.onnx.export(
        AnySize(with_fixed_padding(colorizer)).eval(),
        (example, *hints.values()),
        dynamo=True,
        external_data=False,
        input_names=["lightness", *names],
        output_names=["chroma"],
        dynamic_shapes={"lightness": image} | {name: shapes[name] if hints[name] is not None else None for name in hints},
        verbose=False,
    )
    program.model.doc_string = (
        f"colorize {__version__}: normalised L (B,1,H,W) -> normalised chroma (B,2,H,W) in {meta['space']}; "
        "metadata colorize.* holds the normalisation and the working size"
        + (f"; hints ({meta['hints']}): {', '.join(names)}, zeros for none" if names else "")
    )
    for key, value in meta.items():
        program.model.metadata_props[METADATA_PREFIX + key] = json.dumps(value)
    data = program.model_proto.SerializeToString()
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    probe = torch.rand(1, 1, 45, 71) * 2 - 1  # odd sides: the padding is exercised
    probe_hints = {name: value for name, value in hint_examples(colorizer, probe).items() if value is not None}
    with torch.inference_mode():
        expected = network(probe, **probe_hints).numpy()
    feed = {"lightness": probe.numpy()} | {ONNX_INPUTS[name]: value.numpy() for name, value in probe_hints.items()}
    got = session.run(None, feed)[0]
    gap = float(np.abs(got - expected).max())
    if got.shape != expected.shape or not gap <= CHECK_TOLERANCE:
        raise ExportError(f"the ONNX model does not reproduce the PyTorch model (largest difference {gap:.2g}); not written.")
    atomic_write_bytes(path, data)


def default_output(checkpoint: Path, fmt: str, temperature: float | None = None) -> Path:
    run = Run.of_checkpoint(checkpoint)
    folder = run.dir / "export" if run is not None else checkpoint.parent
    return folder / f"{checkpoint.stem}{temperature_label(temperature)}.{fmt}"


def write_scripts(folder: Path, overwrite: bool) -> list[Path]:
    """Copy onnx_predict.py and portable.py beside the model; an existing copy that differs is kept unless ``overwrite``
    (then neither is written)."""
    sources = {folder / script.name: script.read_bytes() for script in SCRIPTS}
    for target, source in sources.items():
        if target.exists() and target.read_bytes() != source and not overwrite:
            raise ExportError(f"{target} exists and differs from this colorize's {target.name}. Move it, or pass --overwrite.")
    for target, source in sources.items():
        atomic_write_bytes(target, source)
    return list(sources)


def export(
    checkpoint: Path,
    out: Path | None = None,
    fmt: str = "onnx",
    size: int | None = None,
    overwrite: bool = False,
    temperature: float | None = None,
) -> Path:
    """``temperature``: a classify model's bins decoded at it (see :func:`~colorize.inference.loading.load_colorizer`)."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt}: colorize exports {', '.join(FORMATS)}.")
    out = out or default_output(checkpoint, fmt, temperature)
    if out.exists() and not overwrite:
        raise ExportError(f"{out} exists. Choose another --out, or pass --overwrite.")
    colorizer = load_colorizer(checkpoint, temperature=temperature)
    export_onnx(colorizer, out, metadata(colorizer, working_size(checkpoint, size), checkpoint))
    write_scripts(out.parent, overwrite)
    return out
