"""The browser demo: upload photos, and see every loaded colorizer's result side by side (Gradio).

The page shows the grey input, each model's colorization (labelled with model, space and run) and the original. For a
colour photo it also gives each model's ΔE2000 and colourfulness (CF) against it. Every result can be downloaded at full
resolution: the chroma is predicted at the working size and joined with the photo's full-resolution L, as predict does.

Colour hints (:mod:`colorize.inference.hinting`): a click on the first photo places a hint of the chosen colour there, and a
reference photo gives a global hint; every model trained to take that kind of hint recolours, the others ignore it
(their captions say so).
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from colorize.errors import UserError
from colorize.files import save_png
from colorize.images import ImageReadError, read_rgb, to_uint8_image
from colorize.inference.colorizing import colorize_lightness, network_predictor
from colorize.inference.hinting import HintError, UserHints, parse_hints, reference_vector
from colorize.inference.loading import load_colorizer, resolve_device, working_size
from colorize.metrics import GREY_CF, colourfulness, delta_e_ciede2000
from colorize.networks.colorizer import Colorizer
from colorize.runs import Run, find_runs
from colorize.spaces import rgb_to_lab

METRIC_HEADERS = ["photo", "model", "ΔE2000 ↓", "CF", "CF of the photo"]


class DemoError(UserError, ValueError):
    """A demo that cannot start as asked; the message says what to change."""


@dataclass
class Shown:
    """A colorizer as the page shows it."""

    label: str  # model · space · run
    colorizer: Colorizer
    size: int  # the working size its run trained at
    checkpoint: Path | None = None


@dataclass
class Results:
    gallery: list[tuple[str, str]]  # (image file, caption), one row per photo: grey | each model | original
    metrics: list[list[object]]  # rows of METRIC_HEADERS, for colour photos
    downloads: list[str]  # every colorization, full resolution, PNG
    messages: list[str]  # one per photo that could not be read
    hint_messages: list[str] = field(default_factory=list)  # hints that could not be used, once each
    hinted: str | None = None  # the photo the hints are on


def best_checkpoints(runs_root: str | Path) -> list[Path]:
    """Each run's best checkpoint under ``runs_root`` (a sweep's folder, or one run)."""
    runs = find_runs(runs_root)
    if not runs:
        raise DemoError(f"{runs_root}: no run directories found (a run has config.yaml and checkpoints/).")
    found = [run.best_checkpoint for run in runs]
    checkpoints = [path for path in found if path is not None]
    if not checkpoints:
        raise DemoError(f"{runs_root}: its runs have no checkpoints yet.")
    return checkpoints


def label(colorizer: Colorizer, checkpoint: Path) -> str:
    """model (its body, where the family lets it be chosen) · space · run."""
    spec = colorizer.spec
    name = str(spec.options["name"])
    name = name if spec.body == name else f"{name} ({spec.body})"
    run = Run.of_checkpoint(checkpoint)
    return f"{name} · {colorizer.space.name} · {run.name if run is not None else checkpoint.stem}"


def load_colorizers(checkpoints: Sequence[Path], device: torch.device) -> list[Shown]:
    if not checkpoints:
        raise DemoError("no checkpoints: give CKPT=runs/<run>/checkpoints/<file>.ckpt or RUNS=runs/<sweep>.")
    shown = []
    for path in checkpoints:
        colorizer = load_colorizer(path, device)
        shown.append(Shown(label(colorizer, path), colorizer, working_size(path), Path(path)))
    return shown


def takes_hints(shown: Shown) -> str:
    """What the page says of a model's hints, and for clicked hints what they did at the budget it was trained with."""
    kind = shown.colorizer.hint_kind
    taken = [name for name, yes in (("clicked hints", kind.local), ("a reference photo", kind.global_)) if yes]
    said = f"takes {' and '.join(taken)}" if taken else "takes no hints"
    return f"{said}; {hint_expectation(shown.checkpoint)}" if kind.local and shown.checkpoint else said


def hint_expectation(checkpoint: Path) -> str:
    """What hints did for this checkpoint on its run's held-out photos (evaluate's hint curve), or how to find out."""
    run = Run.of_checkpoint(checkpoint)
    reports = [] if run is None else run.evaluations([], every=True)
    curves = [r for _, r in reports if "hint_curve" in r and Path(r["checkpoint"]).name == checkpoint.name]
    if not curves:
        return f"what a hint does for it is not measured yet (python -m colorize.evaluate {checkpoint})"
    curve, report = curves[0]["hint_curve"], curves[0]
    psnr = dict(zip(curve["counts"], curve["psnr"], strict=True))
    shown = ", ".join(f"{psnr[n]:.1f} dB with {n} hint{'s' if n != 1 else ''}" for n in (0, 1, 10) if n in psnr)
    photos, size = report["test_set"].get("images"), report["protocol"].get("eval_size")
    return f"on {photos} test photo(s) at {size} px, evaluate measured PSNR {shown}"


def model_hints(
    shown: Shown, points: str | None, photo_size: tuple[int, int], reference: torch.Tensor | None, size: int
) -> tuple[UserHints | None, str]:
    """The hints of the page that ``shown`` takes, and what its caption adds: that it ignored the others."""
    kind = shown.colorizer.hint_kind
    local = parse_hints(points, photo_size, "hints") if points is not None and kind.local else ()
    vector = reference_vector(shown.colorizer, reference, size) if reference is not None and kind.global_ else None
    ignored = (points is not None and not kind.local) or (reference is not None and not kind.global_)
    hints = UserHints(tuple(local), photo_size, vector) if local or vector is not None else None
    return hints, " (ignores hints: not trained with them)" if ignored else ""


def colorize_photos(
    colorizers: Sequence[Shown],
    photos: Sequence[Path],
    size: int,
    out_dir: Path,
    max_pixels: int,
    hints: Sequence[dict] = (),
    reference: Path | None = None,
) -> Results:
    """Colorize each photo with every model into ``out_dir``; ``size`` 0 means each run's own working size.

    ``hints``: points of a hints file (``{"x", "y", "color"}``) on the first photo that can be read; ``reference``: a
    photo whose global hint goes with every photo. Each model takes those it was trained to take.
    """
    results = Results([], [], [], [])
    device = colorizers[0].colorizer.device
    try:
        reference_rgb = read_rgb(reference, max_pixels=max_pixels) if reference is not None else None
    except ImageReadError as e:
        results.hint_messages.append(f"the reference photo {str(e).replace(str(reference), Path(reference).name)}")
        reference_rgb = None
    for index, photo in enumerate(photos):
        try:
            rgb = read_rgb(photo, max_pixels=max_pixels).to(device).unsqueeze(0)
        except ImageReadError as e:
            results.messages.append(str(e).replace(str(photo), photo.name))  # the upload's name, not the server's path
            continue
        points = json.dumps({"hints": list(hints)}) if hints and results.hinted is None else None
        results.hinted = results.hinted or (photo.name if points else None)
        original = rgb.float() / 255
        cf_photo = float(colourfulness(original)[0])
        colour_photo = cf_photo >= GREY_CF
        target_lab = rgb_to_lab(original) if colour_photo else None
        folder = out_dir / f"{index:03d}"
        lightness = colorizers[0].colorizer.space.encode(rgb)[0]
        grey = folder / f"{photo.stem}-grey.png"
        save_png(grey, to_uint8_image(colorizers[0].colorizer.space.decode_grey(lightness)[0]))
        results.gallery.append((str(grey), f"{photo.name}: grey input (L)"))
        for number, shown in enumerate(colorizers):
            space = shown.colorizer.space
            try:
                given, note = model_hints(shown, points, (rgb.shape[-1], rgb.shape[-2]), reference_rgb, size or shown.size)
            except HintError as e:
                results.hint_messages += [str(e)] if str(e) not in results.hint_messages else []
                given, note = None, " (without hints: see above)"
            predict = network_predictor(shown.colorizer, given)
            colour = colorize_lightness(space, space.encode(rgb)[0], predict, size or shown.size)
            path = folder / f"{photo.stem}-{number}-{shown.colorizer.spec.options['name']}-{space.name}.png"
            save_png(path, to_uint8_image(colour[0]))
            results.gallery.append((str(path), shown.label + note))
            results.downloads.append(str(path))
            if target_lab is not None:
                delta_e = delta_e_ciede2000(rgb_to_lab(colour), target_lab).mean()
                cf = float(colourfulness(colour)[0])
                results.metrics.append([photo.name, shown.label, round(float(delta_e), 2), round(cf, 1), round(cf_photo, 1)])
        upright = folder / f"{photo.stem}-original.png"  # EXIF orientation applied, in a format every browser shows
        save_png(upright, to_uint8_image(original[0]))
        kind = "original (colour)" if colour_photo else "original (grey: no metrics)"
        results.gallery.append((str(upright), f"{photo.name}: {kind}"))
    return results


def build_app(colorizers: Sequence[Shown], out_root: Path, max_pixels: int):
    import gradio as gr  # the demo extra

    columns = len(colorizers) + 2
    models = "\n".join(f"- {c.label} (working size {c.size} px)" for c in colorizers)

    hint_models = "\n".join(f"- {c.label}: {takes_hints(c)}" for c in colorizers)

    def run(files: list[str] | None, size: float, hints: list[dict], reference: str | None):
        if not files:
            return [], [], [], "Upload one or more photos first."
        out_dir = Path(tempfile.mkdtemp(dir=out_root, prefix="request-"))
        photos = [Path(f) for f in files]
        reference_path = Path(reference) if reference else None
        results = colorize_photos(colorizers, photos, int(size), out_dir, max_pixels, hints, reference_path)
        done = len(files) - len(results.messages)
        status = [f"Colorized {done} photo(s) with {len(colorizers)} model(s)."] if done else []
        status += [f"{len(hints)} hint(s) on {results.hinted}."] if results.hinted else []
        status += [f"**Could not use {message}**" for message in results.messages + results.hint_messages]
        return results.gallery, results.metrics, results.downloads, "\n\n".join(status)

    def show_hints(files: list[str] | None, hints: list[dict]) -> str | None:
        """The first photo that can be read, upright, with a dot of each hint's colour where it was placed."""
        for file in files or []:
            try:
                photo = read_rgb(file, max_pixels=max_pixels)
                break
            except ImageReadError:
                continue
        else:
            return None
        path = Path(tempfile.mkdtemp(dir=out_root, prefix="hints-")) / "hints.png"
        save_png(path, marked(to_uint8_image(photo.float() / 255), hints))
        return str(path)

    def add_hint(files: list[str] | None, hints: list[dict], colour: str, event: gr.SelectData):
        hints = [*hints, {"x": event.index[0], "y": event.index[1], "color": colour}]
        return hints, show_hints(files, hints)

    # Gradio passes the click's SelectData to a parameter annotated with its class; here annotations are strings.
    add_hint.__annotations__["event"] = gr.SelectData

    # delete_cache: Gradio's copies of uploads and results older than a day go, checked hourly.
    with gr.Blocks(title="colorize demo", analytics_enabled=False, delete_cache=(3600, 86400)) as app:
        gr.Markdown(f"# colorize\nUpload photos, colour or grey: only their lightness is used.\n\nModels:\n{models}")
        hints = gr.State([])
        with gr.Row():
            photos = gr.File(label="photos", file_count="multiple", file_types=["image"], elem_id="photos")
            with gr.Column():
                size = gr.Slider(
                    0,
                    1024,
                    value=0,
                    step=16,
                    label="working size: the shorter side, in pixels, at which chroma is predicted (0: each run's own)",
                    elem_id="size",
                )
                button = gr.Button("Colorize", variant="primary", elem_id="colorize")
                status = gr.Markdown(elem_id="status")
        with gr.Accordion("Colour hints", open=True):
            gr.Markdown(
                "Click the first photo to give a colour at that point; a reference photo gives its colours to every photo. "
                f"Models not trained with a kind of hint (model.hints) ignore it.\n\n{hint_models}"
            )
            with gr.Row():
                hint_photo = gr.Image(
                    label="the first photo: click to place a hint", type="filepath", interactive=False, elem_id="hint-photo"
                )
                with gr.Column():
                    colour = gr.ColorPicker("#1e64ff", label="hint colour", interactive=True, elem_id="hint-colour")
                    clear = gr.Button("Clear hints", elem_id="clear-hints")
                    reference = gr.Image(label="reference photo (global hint)", type="filepath", elem_id="reference")
        gallery = gr.Gallery(
            label="grey input | each model | original",
            columns=columns,
            object_fit="contain",
            interactive=False,
            buttons=["download", "fullscreen"],
            elem_id="results",
        )
        metrics = gr.Dataframe(headers=METRIC_HEADERS, label="metrics against the colour photo", elem_id="metrics")
        downloads = gr.File(label="full-resolution results (PNG)", file_count="multiple", interactive=False, elem_id="downloads")
        inputs, outputs = [photos, size, hints, reference], [gallery, metrics, downloads, status]
        button.click(run, inputs=inputs, outputs=outputs)
        # New photos start without hints; each hint, a cleared one or a new reference recolours at once.
        photos.change(lambda files: ([], show_hints(files, [])), inputs=[photos], outputs=[hints, hint_photo])
        hint_photo.select(add_hint, inputs=[photos, hints, colour], outputs=[hints, hint_photo]).then(run, inputs, outputs)
        clear.click(lambda files: ([], show_hints(files, [])), inputs=[photos], outputs=[hints, hint_photo]).then(
            run, inputs, outputs
        )
        reference.change(run, inputs, outputs)
    return app


def marked(image: np.ndarray, hints: Sequence[dict]) -> np.ndarray:
    """uint8 RGB (H, W, 3) with a dot of each hint's colour at its point, ringed in black and white to show on any colour."""
    from PIL import Image, ImageDraw

    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    radius = max(3, min(picture.size) // 60)
    for hint in hints:
        x, y = hint["x"], hint["y"]
        draw.ellipse((x - radius - 2, y - radius - 2, x + radius + 2, y + radius + 2), fill="white")
        draw.ellipse((x - radius - 1, y - radius - 1, x + radius + 1, y + radius + 1), fill="black")
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=hint["color"])
    return np.asarray(picture)


def serve(
    checkpoints: Sequence[Path], runs: Sequence[str], host: str, port: int, share: bool, device: str, max_pixels: int
) -> None:
    """Load every checkpoint (and each run's best under ``runs``) and serve the page until stopped."""
    checkpoints = [*checkpoints, *(p for root in runs for p in best_checkpoints(root))]
    colorizers = load_colorizers(checkpoints, resolve_device(device))
    out_root = Path(tempfile.mkdtemp(prefix="colorize-demo-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so that `finally` removes out_root on a plain kill too
    try:
        app = build_app(colorizers, out_root, max_pixels)
        app.queue().launch(server_name=host, server_port=port, share=share, allowed_paths=[str(out_root)], show_error=True)
    finally:
        shutil.rmtree(out_root, ignore_errors=True)
