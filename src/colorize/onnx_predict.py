"""Colorize a photo with an exported colorize model, using onnxruntime, numpy and Pillow only.

    python -m colorize.onnx_predict MODEL.onnx PHOTO OUTPUT.png [--size N] [--overwrite] [--hints H.json] [--reference R.jpg]
    python onnx_predict.py MODEL.onnx PHOTO OUTPUT.png          # the copy `make export` writes beside the model

It does what ``colorize.predict`` does, without PyTorch: the photo's lightness L, scaled so that its
shorter side is the working size, goes through the network; the predicted chroma is upsampled to
the photo's size and joined with its full-resolution L; colours outside the sRGB gamut lose chroma,
not lightness. The colour space, its normalisation and the working size are read from the model's
metadata (written by ``colorize.export``). A model trained with colour hints takes a hints file (``--hints``) and a
reference photo (``--reference``) as ``colorize.predict`` does. The output matches ``colorize.predict`` to within one
level of 8-bit RGB on nearly every pixel (``tests/test_export.py`` measures it).

Everything but the ONNX session comes from :mod:`colorize.portable` (numpy and Pillow only), which ``make export``
copies beside this file: this file and it import nothing from torch, and nothing else from colorize.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

NEEDS = "onnx_predict needs onnxruntime, numpy and Pillow ({} is missing): pip install onnxruntime numpy pillow"

try:
    import numpy as np
    from PIL import Image

    if __package__:
        from . import portable
    else:  # run as a script: the portable.py that make export writes beside it
        import portable
except ModuleNotFoundError as e:
    missing = (e.name or "").partition(".")[0]
    if missing == "portable":
        print("error: onnx_predict.py needs portable.py beside it; make export writes both.", file=sys.stderr)
    elif missing in ("numpy", "PIL"):
        print(f"error: {NEEDS.format(missing)}", file=sys.stderr)
    else:
        raise
    sys.exit(2)


class OnnxPredictError(portable.PortableError):
    """A model or an output that cannot be used as given; the message says what to change."""


class OnnxColorizer:
    """An exported colorize model: normalised L (B, 1, H, W) -> normalised chroma (B, 2, H, W), any H and W."""

    def __init__(self, path: str | Path, providers: list[str] | None = None) -> None:
        path = Path(path)
        if not path.is_file():
            raise OnnxPredictError(f"{path}: no such model file (make export writes runs/<run>/export/<checkpoint>.onnx).")
        try:
            import onnxruntime
        except ModuleNotFoundError:
            raise OnnxPredictError(NEEDS.format("onnxruntime")) from None
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=providers or onnxruntime.get_available_providers())
        except Exception as e:  # onnxruntime raises its own exception types for bad files
            raise OnnxPredictError(f"{path}: not an ONNX model onnxruntime can load ({e}).") from None
        stored = self.session.get_modelmeta().custom_metadata_map
        prefix = portable.METADATA_PREFIX
        self.metadata = {k.removeprefix(prefix): json.loads(v) for k, v in stored.items() if k.startswith(prefix)}
        if "space" not in self.metadata:
            raise OnnxPredictError(f"{path}: an ONNX model without colorize's metadata. Export it with make export.")
        self.space = self.metadata["space"]
        if self.space not in portable.FROM_RGB:
            raise OnnxPredictError(
                f"{path} predicts in the space {self.space!r}, which this portable.py does not know "
                f"({', '.join(portable.FROM_RGB)}): use the onnx_predict.py and portable.py exported beside it."
            )
        self.working_size = int(self.metadata["working_size"])
        self.lightness_offset = float(self.metadata["lightness_offset"])
        self.lightness_scale = float(self.metadata["lightness_scale"])
        self.chroma_offset = np.array(self.metadata["chroma_offset"], dtype=np.float32)
        self.chroma_scale = np.array(self.metadata["chroma_scale"], dtype=np.float32)
        self.input_name = self.session.get_inputs()[0].name
        self.hint_inputs = [node.name for node in self.session.get_inputs()[1:]]  # of hint, mask, global_hint
        self.hints = self.metadata.get("hints", "none")  # model.hints it was trained with
        self.global_length = int(self.metadata.get("global_length", 0))

    def check_hints(self, local: bool, global_: bool) -> None:
        """Refuse hints the model was not trained to take."""
        portable.check_hints_taken(self.hints, "hint" in self.hint_inputs, "global_hint" in self.hint_inputs, local, global_)

    def predict_chroma(
        self,
        lightness: np.ndarray,
        hint: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        global_hint: np.ndarray | None = None,
    ) -> np.ndarray:
        """Normalised L (B, 1, H, W) float32 -> normalised chroma (B, 2, H, W); the hints the model takes, zeros if not given."""
        batch, _, height, width = lightness.shape
        given = {"hint": hint, "mask": mask, "global_hint": global_hint}
        shapes = {
            "hint": (batch, 2, height, width),
            "mask": (batch, 1, height, width),
            "global_hint": (batch, self.global_length),
        }
        feed = {self.input_name: np.ascontiguousarray(lightness, dtype=np.float32)}
        for name in self.hint_inputs:
            value = given[name]
            feed[name] = (
                np.zeros(shapes[name], np.float32)
                if value is None
                else np.ascontiguousarray(np.broadcast_to(value, shapes[name]), dtype=np.float32)
            )
        return self.session.run(None, feed)[0]

    def colorize(
        self,
        rgb: np.ndarray,
        size: int | None = None,
        hints: Sequence[portable.UserHint] = (),
        reference: np.ndarray | None = None,
    ) -> np.ndarray:
        """uint8 RGB (H, W, 3) -> its colorization, uint8 RGB of the same size; chroma predicted at ``size``.

        ``hints``: colours at points of the photo (``portable.read_hints``); ``reference``: uint8 RGB of a photo whose
        colours it should take on. Each only for a model trained to take it.
        """
        self.check_hints(bool(hints), reference is not None)
        height, width = rgb.shape[:2]
        size = self.working_size if size is None else size
        big_l = portable.rgb_to_space(rgb.astype(np.float32) / 255.0, self.space)[..., 0]
        lightness = (big_l - self.lightness_offset) / self.lightness_scale
        small = portable.resize(lightness, portable.working_shape(height, width, size))
        inputs = {}
        if hints:
            colours = portable.rgb_to_space(np.array([h.rgb for h in hints], dtype=np.float32) / 255, self.space)[..., 1:]
            colours = (colours - self.chroma_offset) / self.chroma_scale
            inputs["hint"], inputs["mask"] = portable.hint_maps(hints, (width, height), small.shape, colours)
        if reference is not None:
            inputs["global_hint"] = portable.global_hint(reference, size, self.space, self.metadata)
        chroma = self.predict_chroma(small[None, None], **inputs)[0]
        chroma = np.stack([portable.resize(c, (height, width)) for c in chroma], axis=-1)
        lcc = np.concatenate(
            [
                (np.clip(lightness, -1, 1) * self.lightness_scale + self.lightness_offset)[..., None],
                np.clip(chroma, -1, 1) * self.chroma_scale + self.chroma_offset,
            ],
            axis=-1,
        ).astype(np.float32)
        return np.round(portable.in_gamut_rgb(lcc, self.space) * 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="the .onnx file written by make export")
    parser.add_argument("photo", help="the photo to colorize (any size; colour or grey: only its lightness is used)")
    parser.add_argument("output", help="where to write the colorized photo (PNG unless the suffix says otherwise)")
    parser.add_argument("--size", type=int, help="shorter side, in pixels, at which chroma is predicted (default: the model's)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    parser.add_argument("--hints", help="a hints file: colours at points of the photo (a model exported with local hints)")
    parser.add_argument("--reference", help="a photo whose colours the result should take on (a model with global hints)")
    args = parser.parse_args(argv)
    photo, output = Path(args.photo), Path(args.output)
    try:
        if output.exists() and output.resolve() == photo.resolve():
            raise OnnxPredictError(f"{output} is the input photo. Choose another OUTPUT.")
        if output.exists() and not args.overwrite:
            raise OnnxPredictError(f"{output} exists. Choose another OUTPUT, or pass --overwrite.")
        colorizer = OnnxColorizer(args.model)
        colorizer.check_hints(args.hints is not None, args.reference is not None)
        rgb = portable.read_rgb(photo)
        hints = portable.read_hints(args.hints, (rgb.shape[1], rgb.shape[0])) if args.hints is not None else ()
        reference = portable.read_rgb(args.reference) if args.reference is not None else None
        colour = colorizer.colorize(rgb, args.size, hints, reference)
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".{output.name}.partial")  # never a half-written file under the final name
        fmt = Image.registered_extensions().get(output.suffix.lower(), "PNG")
        Image.fromarray(colour).save(partial, format=fmt)
        partial.replace(output)
    except portable.PortableError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"colorized {photo} into {output} ({colorizer.space}, chroma at {args.size or colorizer.working_size} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
