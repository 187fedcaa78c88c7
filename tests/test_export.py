"""ONNX export and the torch-free onnx_predict and portable: the same chroma as PyTorch, the same photo as predict."""

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from colorize import portable
from colorize.checkpoints import marker
from colorize.export import main
from colorize.inference.colorizing import AnySize, network_predictor, resize
from colorize.inference.export import export, hint_examples, with_fixed_padding
from colorize.inference.hinting import UserHints, parse_hints, read_hints, reference_vector
from colorize.models.modules import build_module
from colorize.networks.hints import global_hints
from colorize.portable import working_shape
from colorize.predict import main as predict_main
from colorize.spaces import SPACES
from conftest import MODELS, SPACE_NAMES, hint_checkpoint, tiny_config

pytest.importorskip("onnxruntime", reason="needs the export extra: uv sync --extra export (make test installs it)")
from colorize import onnx_predict  # noqa: E402

ODD_SIZES = [(257, 383), (75, 131)]
# onnxruntime against PyTorch, normalised chroma in [-1, 1] (float32 arithmetic in another order).
CHROMA_TOLERANCE = 1e-4


def save_untrained(tmp_path: Path, *args: str) -> Path:
    """A colorize checkpoint of an untrained tiny module, as load_colorizer reads it."""
    offline = ["model.pretrained=false"] if tiny_config(tmp_path, *args).model.body == "resnet" else []  # no hub
    module = build_module(tiny_config(tmp_path, *args, *offline))
    path = tmp_path / "model.ckpt"
    torch.save({"colorize": marker(), "hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, path)
    return path


def real_lightness(space, height: int, width: int) -> torch.Tensor:
    photo = torch.from_numpy(skdata.coffee()[:height, :width]).permute(2, 0, 1)[None]
    return space.encode(photo)[0]


# --- fast: portable's numpy twins against colorize.spaces, colorize.inference and training's hints ----------------


@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_numpy_conversion_is_the_space_s(space_name):
    space = SPACES[space_name]
    rgb = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32)
    expected = space.rgb_to_space(torch.from_numpy(rgb).permute(2, 0, 1)).permute(1, 2, 0).numpy()
    got = portable.rgb_to_space(rgb, space_name)
    assert np.abs(got[..., 0] - expected[..., 0]).max() < 1e-3  # L
    assert np.abs(got[..., 1:] - expected[..., 1:]).max() < 2e-3  # chroma


def test_portable_knows_every_space():
    """A space added to colorize.spaces needs its numpy twins in colorize.portable, or the exported script cannot use it."""
    assert set(portable.FROM_RGB) == set(portable.TO_RGB) == set(SPACES)


@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_numpy_in_gamut_decoding_is_the_space_s(space_name):
    """Random chroma over the whole normalised box: most of it lies outside the sRGB gamut, so the bisection runs."""
    space = SPACES[space_name]
    rng = np.random.default_rng(1)
    lightness = rng.uniform(-1, 1, (1, 1, 96, 96)).astype(np.float32)
    chroma = rng.uniform(-1, 1, (1, 2, 96, 96)).astype(np.float32)
    expected = space.decode_in_gamut(torch.from_numpy(lightness), torch.from_numpy(chroma))[0].permute(1, 2, 0).numpy()
    lcc = np.concatenate(
        [
            (lightness[0, 0] * space.lightness_scale + space.lightness_offset)[..., None],
            chroma[0].transpose(1, 2, 0) * np.array(space.chroma_scale, np.float32) + np.array(space.chroma_offset, np.float32),
        ],
        axis=-1,
    )
    got = portable.in_gamut_rgb(lcc, space_name)
    outside = (np.abs(portable.to_unclamped_rgb(lcc, space_name) - 0.5) > 0.5 + 1e-4).any(-1)
    assert outside.mean() > 0.5
    levels = np.abs(got - expected) * 255
    assert np.quantile(levels, 0.999) < 0.5 and levels.max() < 2.0


@pytest.mark.parametrize("shape", [(40, 61), (383, 257)])
def test_numpy_resize_is_inference_s(shape):
    """Pillow's bilinear filter, shrinking (antialiased) and enlarging, against torch's in colorize.inference."""
    channel = np.random.default_rng(2).random((129, 191), dtype=np.float32)
    expected = resize(torch.from_numpy(channel)[None, None], shape)[0, 0].numpy()
    assert np.abs(portable.resize(channel, shape) - expected).max() < 1e-4


HINTS = {"patch": 5, "hints": [{"x": 10, "y": 7, "color": "#3a7bd5"}, {"x": 130.5, "y": 0, "color": [200, 60, 40], "patch": 2}]}


@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_numpy_hint_maps_are_inference_s(space_name):
    """The script's hint map, its colours converted in numpy, against predict's, converted by the space."""
    colorizer = build_module(tiny_config(Path("."), "model.hints=local", f"space={space_name}")).net
    space = colorizer.space
    hints = parse_hints(json.dumps(HINTS), (131, 75))
    colours = portable.rgb_to_space(np.array([h.rgb for h in hints], dtype=np.float32) / 255, space_name)[..., 1:]
    colours = (colours - np.array(space.chroma_offset)) / np.array(space.chroma_scale)
    for shape in ((75, 131), (30, 52)):
        inputs = UserHints(hints, (131, 75)).inputs(colorizer, torch.zeros(1, 1, *shape))
        got_hint, got_mask = portable.hint_maps(hints, (131, 75), shape, colours)
        np.testing.assert_array_equal(got_mask, inputs["mask"].numpy())
        np.testing.assert_allclose(got_hint, inputs["hint"].numpy(), atol=1e-5)
        assert got_mask.sum() == 5 * 5 + 2 * 2  # both patches, whole: the second at the photo's top right corner


@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_numpy_global_hint_is_training_s(space_name):
    """A reference's global vector (portable's, which predict and the script use) against the one training sees of the
    same photo at the working size (colorize.networks.hints.global_hints, in torch)."""
    colorizer = build_module(tiny_config(Path("."), "model.hints=global", f"space={space_name}")).net
    photo = skdata.astronaut()[:300, :257]
    expected = reference_vector(colorizer, torch.from_numpy(photo).permute(2, 0, 1), 64)[0].numpy()
    got = portable.global_hint(photo, 64, space_name, colorizer.hint_bins.layout())[0]
    np.testing.assert_array_equal(got, expected)  # predict's is the script's
    small = resize(torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255, working_shape(300, 257, 64)).clamp(0, 1)
    trained = global_hints(colorizer.space.encode(small)[1], small, colorizer.space, colorizer.hint_bins)[0].numpy()
    assert got.shape == trained.shape
    # A block's chroma on a bin's edge may fall either side of it (resizing differs in the last bits).
    assert np.abs(got[:-3] - trained[:-3]).sum() < 0.02 and got[:-3].sum() == pytest.approx(1)
    np.testing.assert_allclose(got[-3:], trained[-3:], atol=2e-3)


def test_onnx_predict_imports_no_torch():
    code = "import sys, colorize.onnx_predict; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
    names = {n.module for n in ast.walk(ast.parse(Path(portable.__file__).read_text())) if isinstance(n, ast.ImportFrom)}
    assert not any(name and name.startswith("colorize") for name in names)  # portable.py stands alone beside a model


@pytest.mark.parametrize("missing", ["numpy", "PIL", "onnxruntime"])
def test_onnx_predict_without_its_packages_says_what_to_install(tmp_path, missing):
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    Image.fromarray(skdata.coffee()[:40, :50]).save(tmp_path / "photo.png")
    code = textwrap.dedent(
        f"""
        import runpy, sys
        sys.modules[{missing!r}] = None  # as if it were not installed
        sys.argv = ["onnx_predict", *{[str(tmp_path / name) for name in ("model.onnx", "photo.png", "out.png")]!r}]
        runpy.run_module("colorize.onnx_predict", run_name="__main__")
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "install onnxruntime numpy pillow" in run.stderr and f"{missing} is missing" in run.stderr
    assert "Traceback" not in run.stderr and run.stderr.count("\n") == 1, run.stderr


# The default model's encoder, untrained and with a small decoder: its stride-2 convolutions pad TensorFlow's "same" way.
LITE0 = ["model=resnet", "model.encoder=tf_efficientnet_lite0", "model.pretrained=false", "model.decoder_channels=[8,8,8,8,8]"]


def test_fixed_padding_computes_what_same_padding_does():
    """What the export sees instead of timm's Conv2dSame, whose padding from a symbolic size took minutes to export."""
    from timm.layers import Conv2dSame

    colorizer = build_module(tiny_config(Path("."), *LITE0, "model.hints=both")).net.eval()
    fixed = with_fixed_padding(colorizer)
    assert sum(isinstance(m, Conv2dSame) for m in colorizer.modules()) == 5  # the stem and four stages: the original stays
    assert not any(isinstance(m, Conv2dSame) for m in fixed.modules())
    for height, width in ((45, 71), (64, 96), (97, 33)):
        lightness = torch.rand(2, 1, height, width) * 2 - 1
        hints = {name: value for name, value in hint_examples(colorizer, lightness).items() if value is not None}
        with torch.no_grad():
            torch.testing.assert_close(AnySize(fixed)(lightness, **hints), AnySize(colorizer)(lightness, **hints), rtol=0, atol=0)
    cnn = build_module(tiny_config(Path("."))).net
    assert with_fixed_padding(cnn) is cnn


def test_export_refuses_an_unknown_format_and_an_existing_output(tmp_path, capsys):
    assert main([str(tmp_path / "any.ckpt"), "--format", "tflite"]) == 2
    assert "exports onnx" in capsys.readouterr().err
    (tmp_path / "taken.onnx").write_bytes(b"mine")
    assert main([str(tmp_path / "any.ckpt"), "--out", str(tmp_path / "taken.onnx")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "taken.onnx").read_bytes() == b"mine"


def test_onnx_predict_errors_are_clear(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.fromarray(skdata.coffee()[:40, :50]).save(photo)
    assert onnx_predict.main([str(tmp_path / "none.onnx"), str(photo), str(tmp_path / "out.png")]) == 2
    assert "no such model file" in capsys.readouterr().err
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    assert onnx_predict.main([str(tmp_path / "bad.onnx"), str(photo), str(tmp_path / "out.png")]) == 2
    assert "not an ONNX model" in capsys.readouterr().err
    assert onnx_predict.main([str(tmp_path / "bad.onnx"), str(photo), str(photo)]) == 2
    assert "is the input photo" in capsys.readouterr().err
    with pytest.raises(portable.ImageFileError, match="cannot read as an image"):
        portable.read_rgb(tmp_path / "bad.onnx")


# --- slow: real exports (about 20 s each on 2 CPU cores) --------------------------------------------------------


def test_a_classify_model_exports_at_the_temperature_given(tmp_path, capsys):
    from colorize.inference.loading import load_colorizer

    torch.manual_seed(0)  # untrained logits are nearly flat: how much sharpening moves them depends on the weights
    checkpoint = save_untrained(tmp_path, "model=classify")
    assert main([str(checkpoint), "--temperature", "0.05"]) == 0
    model = tmp_path / "model-T0.05.onnx"  # beside the checkpoint, named apart from an export at its own temperature
    assert str(model) in capsys.readouterr().out
    session = onnx_predict.OnnxColorizer(model)
    assert session.metadata["temperature"] == 0.05
    lightness = torch.rand(1, 1, 45, 71) * 2 - 1
    expected = network_predictor(load_colorizer(checkpoint, temperature=0.05))(lightness).numpy()
    own = network_predictor(load_colorizer(checkpoint))(lightness).numpy()
    got = session.predict_chroma(lightness.numpy())
    assert np.abs(got - expected).max() < CHROMA_TOLERANCE and np.abs(got - own).max() > 10 * CHROMA_TOLERANCE


@pytest.mark.slow
def test_a_classify_model_with_its_head_from_a_regression_run_trains_in_luv_and_exports(tmp_path):
    """model.head_from_ckpt changes how the bin logits start, not the network: it exports as any classify model."""
    from colorize.inference.loading import load_colorizer
    from colorize.training.fit import train

    short = ("space=luv", "logger=none", "trainer.max_steps=1", "trainer.limit_val_batches=1")
    regression = train(tiny_config(tmp_path / "r", "model=cnn", *short)).run.dir / "checkpoints" / "last.ckpt"
    warm = ("model=classify", f"model.body_ckpt={regression}", "model.head_from_ckpt=true")
    checkpoint = train(tiny_config(tmp_path / "c", *warm, *short)).run.dir / "checkpoints" / "last.ckpt"
    session = onnx_predict.OnnxColorizer(export(checkpoint, tmp_path / "c.onnx"))
    module = load_colorizer(checkpoint)
    lightness = real_lightness(module.space, *ODD_SIZES[1])
    expected = network_predictor(module)(lightness).numpy()
    assert np.abs(session.predict_chroma(lightness.numpy()) - expected).max() < CHROMA_TOLERANCE


@pytest.fixture(scope="module")
def exported(trained_runs, tmp_path_factory):
    """family -> (checkpoint, onnx file): the trained cnn-luv run, and every other family untrained, in lab and luv by turns."""
    runs = {"cnn": trained_runs / "cnn-luv-seed0" / "checkpoints" / "last.ckpt"}
    for i, family in enumerate(f for f in MODELS if f != "cnn"):
        runs[family] = save_untrained(tmp_path_factory.mktemp(family), f"model={family}", f"space={SPACE_NAMES[i % 2]}")
    out = tmp_path_factory.mktemp("exports")
    return {family: (ckpt, export(ckpt, out / f"{family}.onnx")) for family, ckpt in runs.items()}


@pytest.mark.slow
@pytest.mark.parametrize("family", MODELS)
def test_onnx_matches_pytorch_on_random_and_real_inputs_at_odd_sizes(exported, family):
    from colorize.inference.loading import load_colorizer

    checkpoint, model = exported[family]
    module = load_colorizer(checkpoint)
    session = onnx_predict.OnnxColorizer(model)
    for height, width in ODD_SIZES:
        noise = torch.rand(2, 1, height, width) * 2 - 1
        for lightness in (noise, real_lightness(module.space, height, width)):
            expected = network_predictor(module)(lightness).numpy()
            got = session.predict_chroma(lightness.numpy())
            assert got.shape == expected.shape == (lightness.shape[0], 2, height, width)
            assert np.abs(got - expected).max() < CHROMA_TOLERANCE


@pytest.mark.slow
def test_metadata_round_trips(exported):
    from colorize.inference.export import metadata
    from colorize.inference.loading import load_colorizer

    for family, (checkpoint, model) in exported.items():
        module = load_colorizer(checkpoint)
        read = onnx_predict.OnnxColorizer(model).metadata
        assert read == metadata(module, read["working_size"], checkpoint)
        space = SPACES[read["space"]]
        assert (read["chroma_offset"], read["chroma_scale"]) == (list(space.chroma_offset), list(space.chroma_scale))
        assert read["model"] == family and read["version"]
    for source in (Path(onnx_predict.__file__), Path(portable.__file__)):  # the script beside the model, and its module
        assert exported["cnn"][1].parent.joinpath(source.name).read_bytes() == source.read_bytes()
    cnn = onnx_predict.OnnxColorizer(exported["cnn"][1]).metadata
    assert (cnn["run"], cnn["working_size"]) == ("cnn-luv-seed0", 32)  # from the run's config: data.crop_size=32
    assert onnx_predict.OnnxColorizer(exported["gan"][1]).metadata["body"] == "cnn"
    classify = onnx_predict.OnnxColorizer(exported["classify"][1]).metadata
    assert (classify["model"], classify["body"], classify["head"]) == ("classify", "cnn", "bins")


def run_copied_script(model: Path, *args: str, cwd: Path) -> None:
    """``python onnx_predict.py MODEL ARGS``, the copy written beside the model, as a user runs it, where torch and colorize
    cannot be imported (a sitecustomize blocks them)."""
    blocker = cwd / "no-torch"
    blocker.mkdir(exist_ok=True)
    (blocker / "sitecustomize.py").write_text('import sys\nsys.modules["torch"] = sys.modules["colorize"] = None\n')
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    argv = [sys.executable, str(model.parent / "onnx_predict.py"), str(model), *args]
    run = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.slow
@pytest.mark.parametrize("family", ["cnn", "gan", "classify"])
def test_the_copied_script_without_torch_matches_predict_on_a_real_photo(exported, family, tmp_path):
    """The onnx_predict.py written beside the model, run where torch and colorize cannot be imported."""
    checkpoint, model = exported[family]
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skdata.astronaut()[:383, :257]).save(photo)
    assert predict_main([str(checkpoint), str(photo), str(tmp_path / "torch"), "--size", "64"]) == 0
    run_copied_script(model, str(photo), str(tmp_path / "onnx.png"), "--size", "64", cwd=tmp_path)
    expected = np.asarray(Image.open(tmp_path / "torch" / "astronaut.png")).astype(int)
    got = np.asarray(Image.open(tmp_path / "onnx.png")).astype(int)
    assert got.shape == expected.shape == (383, 257, 3)
    levels = np.abs(got - expected)
    assert levels.max() <= 2 and (levels > 1).mean() < 1e-3
    assert np.abs(expected - np.asarray(Image.open(photo)).astype(int)).max() > 5  # a colorization, not the input


@pytest.fixture(scope="module")
def exported_spaces(tmp_path_factory):
    """space -> (checkpoint, onnx file) of an untrained tiny cnn in that space."""
    made = {}
    for space in SPACE_NAMES:
        folder = tmp_path_factory.mktemp(f"space-{space}")
        checkpoint = save_untrained(folder, "model=cnn", f"space={space}")
        made[space] = (checkpoint, export(checkpoint, folder / f"{space}.onnx"))
    return made


@pytest.mark.slow
@pytest.mark.parametrize("space_name", SPACE_NAMES)
def test_every_space_exports_and_the_copied_script_matches_predict(exported_spaces, space_name, tmp_path):
    """ONNX against PyTorch, and the script's numpy conversions against the space's torch ones, photo for photo."""
    from colorize.inference.loading import load_colorizer

    checkpoint, model = exported_spaces[space_name]
    module, session = load_colorizer(checkpoint), onnx_predict.OnnxColorizer(model)
    assert session.space == space_name
    lightness = real_lightness(module.space, 75, 131)
    assert np.abs(session.predict_chroma(lightness.numpy()) - network_predictor(module)(lightness).numpy()).max() < 1e-4
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skdata.astronaut()[:383, :257]).save(photo)
    assert predict_main([str(checkpoint), str(photo), str(tmp_path / "torch"), "--size", "64"]) == 0
    run_copied_script(model, str(photo), str(tmp_path / "onnx.png"), "--size", "64", cwd=tmp_path)
    expected = np.asarray(Image.open(tmp_path / "torch" / "astronaut.png")).astype(int)
    levels = np.abs(np.asarray(Image.open(tmp_path / "onnx.png")).astype(int) - expected)
    assert levels.max() <= 2 and (levels > 1).mean() < 1e-3


@pytest.mark.slow
def test_the_default_encoder_exports_and_matches_pytorch(tmp_path):
    """tf_efficientnet_lite0 (the default model's encoder), exported with its padding fixed, at odd sizes and in a batch."""
    from colorize.inference.loading import load_colorizer

    model = export(save_untrained(tmp_path, *LITE0), tmp_path / "lite0.onnx")
    module, session = load_colorizer(tmp_path / "model.ckpt"), onnx_predict.OnnxColorizer(model)
    for height, width in (*ODD_SIZES, (32, 33)):
        lightness = torch.rand(2, 1, height, width) * 2 - 1
        expected = network_predictor(module)(lightness).numpy()
        assert np.abs(session.predict_chroma(lightness.numpy()) - expected).max() < CHROMA_TOLERANCE


@pytest.fixture(scope="module")
def exported_hints(tmp_path_factory):
    """hints -> (checkpoint, onnx file) of an untrained tiny cnn whose hint channels have weights, lab and luv by turns."""
    folder = tmp_path_factory.mktemp("hint-exports")
    made = {}
    for hints, space in (("local", "lab"), ("both", "luv")):
        checkpoint = hint_checkpoint(folder, hints, space)
        made[hints] = (checkpoint, export(checkpoint, folder / f"{hints}.onnx"))
    return made


@pytest.mark.slow
@pytest.mark.parametrize("hints", ["local", "both"])
def test_onnx_with_hints_matches_pytorch(exported_hints, hints, tmp_path):
    from colorize.inference.loading import load_colorizer

    checkpoint, model = exported_hints[hints]
    module = load_colorizer(checkpoint)
    session = onnx_predict.OnnxColorizer(model)
    assert session.hints == hints and session.hint_inputs == ["hint", "mask", "global_hint"][: 2 if hints == "local" else 3]
    reference = skdata.coffee()[:200, :250]
    vector = reference_vector(module, torch.from_numpy(reference).permute(2, 0, 1), 32) if hints == "both" else None
    for height, width in ODD_SIZES:
        lightness = real_lightness(module.space, height, width)
        given = UserHints(parse_hints(json.dumps(HINTS), (131, 75)), (131, 75), vector)
        hint, mask = given.inputs(module, lightness)["hint"], given.inputs(module, lightness)["mask"]
        global_hint = None if vector is None else vector.numpy()
        for user_hints, onnx_hints in (
            (None, {}),
            (given, {"hint": hint.numpy(), "mask": mask.numpy(), "global_hint": global_hint}),
        ):
            expected = network_predictor(module, user_hints)(lightness).numpy()
            got = session.predict_chroma(lightness.numpy(), **onnx_hints)
            assert np.abs(got - expected).max() < CHROMA_TOLERANCE
        # The hints count (an untrained network barely looks at its inputs), well beyond the tolerance.
        difference = network_predictor(module, given)(lightness) - network_predictor(module)(lightness)
        assert float(difference.abs().max()) > 10 * CHROMA_TOLERANCE

    # The copied script, torch-free, takes the same hints file and reference as predict, and gives the same photo.
    photo, hints_path, reference_path = tmp_path / "photo.png", tmp_path / "hints.json", tmp_path / "reference.png"
    Image.fromarray(skdata.astronaut()[:75, :131]).save(photo)
    hints_path.write_text(json.dumps(HINTS))
    Image.fromarray(reference).save(reference_path)
    args = ["--size", "32", "--hints", str(hints_path)] + (["--reference", str(reference_path)] if hints == "both" else [])
    assert predict_main([str(checkpoint), str(photo), str(tmp_path / "torch.png"), *args]) == 0
    run_copied_script(model, str(photo), str(tmp_path / "onnx.png"), *args, cwd=tmp_path)
    expected, got = (np.asarray(Image.open(tmp_path / name)).astype(int) for name in ("torch.png", "onnx.png"))
    levels = np.abs(got - expected)
    assert levels.max() <= 2 and (levels > 1).mean() < 1e-2
    run_copied_script(model, str(photo), str(tmp_path / "plain.png"), "--size", "32", cwd=tmp_path)
    assert (np.asarray(Image.open(tmp_path / "plain.png")) != got).any()  # the script used the hints (same code otherwise)
    assert read_hints(hints_path, (131, 75))[1].patch == 2


@pytest.mark.slow
def test_onnx_predict_refuses_hints_a_model_cannot_take(exported_hints, exported, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.fromarray(skdata.coffee()[:40, :50]).save(photo)
    (tmp_path / "hints.json").write_text(json.dumps({"hints": [{"x": 60, "y": 1, "color": "#ffffff"}]}))
    cases = [
        (exported["cnn"][1], ["--hints", str(tmp_path / "hints.json")], "trained without local colour hints (model.hints=none)"),
        (exported_hints["local"][1], ["--reference", str(photo)], "trained without a global hint (model.hints=local)"),
        (exported_hints["local"][1], ["--hints", str(tmp_path / "hints.json")], "hint 1: the point (x=60, y=1) is outside"),
    ]
    for model, args, words in cases:
        assert onnx_predict.main([str(model), str(photo), str(tmp_path / "out.png"), *args]) == 2
        err = capsys.readouterr().err
        assert words in err and err.startswith("error: ") and err.count("\n") == 1, err
