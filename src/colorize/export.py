"""Export a trained colorizer for use without PyTorch: ``python -m colorize.export CKPT [--format onnx]``.

Writes ``runs/<run>/export/<checkpoint>.onnx`` (or ``--out``): the network alone (a GAN's generator;
its discriminator is not needed to colorize), from normalised L (B, 1, H, W) of any height and width
to normalised chroma (B, 2, H, W). Sides that are not a multiple of 32 are padded inside the graph,
as ``colorize.inference.network_predictor`` pads them. The model's metadata holds what a user needs to
turn a photo into that input and the output back into a photo: the space, the normalisation
constants, the working size and the colorize version. Beside it goes ``onnx_predict.py``, a copy of
:mod:`colorize.onnx_predict`, which colorizes a photo with onnxruntime, numpy and Pillow only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from colorize import __version__
from colorize.errors import UserError
from colorize.files import atomic_write_bytes
from colorize.inference import PAD_MULTIPLE, network_predictor
from colorize.models import ColorizerModule, load_colorizer
from colorize.predict import working_size
from colorize.runs import run_dir_of_checkpoint

FORMATS = ("onnx",)
SCRIPT = Path(__file__).with_name("onnx_predict.py")
# ONNX Runtime against PyTorch on the same input, normalised chroma: a larger gap means a broken export.
CHECK_TOLERANCE = 1e-3


class ExportError(UserError, ValueError):
    """An export that cannot be done as asked; the message says what to change."""


class PaddedNetwork(nn.Module):
    """A colorizer's forward for any input size: replicate-padded to a multiple of 32, then cropped back."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, lightness: Tensor) -> Tensor:
        height, width = lightness.shape[-2], lightness.shape[-1]
        pad_h = (PAD_MULTIPLE - height % PAD_MULTIPLE) % PAD_MULTIPLE
        pad_w = (PAD_MULTIPLE - width % PAD_MULTIPLE) % PAD_MULTIPLE
        padded = F.pad(lightness, (0, pad_w, 0, pad_h), mode="replicate")
        return self.module(padded)[..., :height, :width].float()


def metadata(module: ColorizerModule, size: int, checkpoint: Path) -> dict[str, object]:
    """What :mod:`colorize.onnx_predict` (or anyone) needs to use the model; each value is stored as JSON."""
    space = module.space
    model = module.model_cfg
    run_dir = run_dir_of_checkpoint(checkpoint)
    # The space's L normalisation, read off the space itself at L = 0 and L = 100.
    black_white = torch.zeros(3, 1, 2)
    black_white[0, 0, 1] = 100.0
    low, high = space.normalize(black_white)[0].flatten().tolist()
    lightness_scale = 100.0 / (high - low)
    return {
        "version": __version__,
        "space": space.name,
        "chroma_names": list(space.chroma_names),
        # L_norm = (L - lightness_offset) / lightness_scale; chroma_norm = (c - chroma_offset) / chroma_scale
        "lightness_offset": -low * lightness_scale,
        "lightness_scale": lightness_scale,
        "chroma_offset": list(space.chroma_offset),
        "chroma_scale": list(space.chroma_scale),
        "working_size": size,
        "model": str(model.name),
        "generator": str(model.get("generator", model.name)),
        "run": run_dir.name if run_dir is not None else None,
        "checkpoint": checkpoint.name,
    }


def export_onnx(module: ColorizerModule, path: Path, meta: dict[str, object]) -> None:
    """Write ``module``'s network as ONNX to ``path`` (atomically) with ``meta`` as metadata, and check it."""
    # The export extra; imported here so that the module and `--help` work without it.
    import onnxruntime

    from colorize.onnx_predict import METADATA_PREFIX

    module = module.cpu().eval()
    network = PaddedNetwork(module).eval()
    example = torch.zeros(1, 1, 2 * PAD_MULTIPLE, 3 * PAD_MULTIPLE)
    batch, height, width = (torch.export.Dim(name, min=1, max=1 << 16) for name in ("batch", "height", "width"))
    program = torch.onnx.export(
        network,
        (example,),
        dynamo=True,
        external_data=False,
        input_names=["lightness"],
        output_names=["chroma"],
        dynamic_shapes={"lightness": {0: batch, 2: height, 3: width}},
        verbose=False,
    )
    program.model.doc_string = (
        f"colorize {__version__}: normalised L (B,1,H,W) -> normalised chroma (B,2,H,W) in {meta['space']}; "
        "metadata colorize.* holds the normalisation and the working size"
    )
    for key, value in meta.items():
        program.model.metadata_props[METADATA_PREFIX + key] = json.dumps(value)
    data = program.model_proto.SerializeToString()
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    probe = torch.rand(1, 1, 45, 71) * 2 - 1  # odd sides: the padding is exercised
    expected = network_predictor(module)(probe).numpy()
    got = session.run(None, {"lightness": probe.numpy()})[0]
    gap = float(np.abs(got - expected).max())
    if got.shape != expected.shape or not gap <= CHECK_TOLERANCE:
        raise ExportError(f"the ONNX model does not reproduce the PyTorch model (largest difference {gap:.2g}); not written.")
    atomic_write_bytes(path, data)


def default_output(checkpoint: Path, fmt: str) -> Path:
    run_dir = run_dir_of_checkpoint(checkpoint)
    folder = run_dir / "export" if run_dir is not None else checkpoint.parent
    return folder / f"{checkpoint.stem}.{fmt}"


def write_script(folder: Path, overwrite: bool) -> Path:
    """Copy onnx_predict.py beside the model; an existing copy that differs is kept unless ``overwrite``."""
    source = SCRIPT.read_bytes()
    target = folder / "onnx_predict.py"
    if target.exists() and target.read_bytes() != source and not overwrite:
        raise ExportError(f"{target} exists and differs from this colorize's onnx_predict.py. Move it, or pass --overwrite.")
    atomic_write_bytes(target, source)
    return target


def export(
    checkpoint: Path, out: Path | None = None, fmt: str = "onnx", size: int | None = None, overwrite: bool = False
) -> Path:
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt}: colorize exports {', '.join(FORMATS)}.")
    out = out or default_output(checkpoint, fmt)
    if out.exists() and not overwrite:
        raise ExportError(f"{out} exists. Choose another --out, or pass --overwrite.")
    module = load_colorizer(checkpoint)
    export_onnx(module, out, metadata(module, working_size(checkpoint, size), checkpoint))
    write_script(out.parent, overwrite)
    return out


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m colorize.export", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a colorize checkpoint, e.g. runs/<run>/checkpoints/best-*.ckpt")
    parser.add_argument("--format", default="onnx", help="onnx (the only format so far)")
    parser.add_argument("--out", help="the file to write (default: runs/<run>/export/<checkpoint>.onnx)")
    parser.add_argument("--size", type=int, help="working size recorded for onnx_predict (default: the run's crop size)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing export")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        out = export(Path(args.checkpoint), Path(args.out) if args.out else None, args.format.lower(), args.size, args.overwrite)
    except ModuleNotFoundError as e:
        print(
            f"error: export needs {e.name}: install the export extra (uv sync --extra export, or make export).", file=sys.stderr
        )
        return 2
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} and {out.parent / 'onnx_predict.py'}")
    print(f"colorize a photo without PyTorch: python {out.parent / 'onnx_predict.py'} {out} photo.jpg colour.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
