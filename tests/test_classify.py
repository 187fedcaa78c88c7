"""The classify family end to end: every space and body trains through colorize.train; predict and evaluate read it;
its head's stride, its prior bias and its warm start; a checkpoint from before them predicts as it did."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from PIL import Image

from colorize.config import load_config
from colorize.errors import UserError
from colorize.evaluate import main as evaluate_main
from colorize.inference.loading import load_colorizer
from colorize.models.modules import build_module, create_module
from colorize.models.modules.classify import ClassificationColorizer
from colorize.networks.bins import annealed_mean, gamut_bins, rebalancing_weights
from colorize.networks.heads import BinHead, ChromaHead
from colorize.options import ConfigError
from colorize.predict import main as predict_main
from colorize.runs import Run, upgrade_saved
from colorize.spaces import get_space
from colorize.training.fit import train
from conftest import SPACE_NAMES, TINY, random_photo, tiny_config

DATA = Path(__file__).parent / "data"


# Bins and their widths are the space's: the cnn body in every space; the resnet body in the first, the rest slow.
@pytest.mark.parametrize(
    ("network", "space"),
    [("cnn", space) for space in SPACE_NAMES]
    + [pytest.param("resnet", space, marks=() if space == SPACE_NAMES[0] else pytest.mark.slow) for space in SPACE_NAMES],
)
def test_fast_dev_run(tmp_path, network, space):
    cfg = tiny_config(tmp_path, "model=classify", f"model.body={network}", f"space={space}", "trainer.fast_dev_run=true")
    result = train(cfg)
    module = result.module
    assert isinstance(module, ClassificationColorizer) and module.space.name == space
    assert result.trainer.global_step == 1
    assert module.prior.sum() == pytest.approx(1.0)
    assert torch.isfinite(module.class_weights).all() and (module.class_weights > 0).all()
    assert module.net.head.logits.out_channels == len(module.bin_centres)  # one logit per bin
    logged = result.trainer.callback_metrics
    assert {"train/loss", "train/entropy", "val/delta_e"} <= set(logged)


@pytest.fixture(scope="module")
def classify_checkpoint(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("classify")
    cfg = tiny_config(tmp_path, "model=classify", "space=luv", "trainer.max_steps=2", "logger=none", "name=c")
    return train(cfg).run.dir / "checkpoints" / "last.ckpt"


def test_predict_colorizes_a_photo_with_a_classify_checkpoint(tmp_path, classify_checkpoint):
    photo = tmp_path / "in" / "photo.png"
    photo.parent.mkdir()
    Image.fromarray(random_photo(70, 90)).save(photo)
    assert predict_main([str(classify_checkpoint), str(photo), str(tmp_path / "out")]) == 0
    out = Image.open(tmp_path / "out" / "photo.png")
    assert out.size == (90, 70) and out.mode == "RGB"
    colorizer = load_colorizer(classify_checkpoint)
    assert colorizer.spec.head == "bins" and len(colorizer.head.centres) > 200
    with torch.no_grad():
        chroma = colorizer(torch.zeros(1, 1, 40, 40))
    assert chroma.shape == (1, 2, 40, 40) and chroma.abs().max() <= 1


def test_evaluate_scores_a_classify_checkpoint(tmp_path, classify_checkpoint):
    out = tmp_path / "evaluation"
    assert evaluate_main([str(classify_checkpoint), "--out", str(out), "--no-fid"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert (report["model"], report["space"]) == ("classify", "luv")
    row = report["rows"]["classify-luv"]
    assert row["delta_e"] > 0 and "cf" in row and "delta_cf" in row


# ---------------------------------------------------------------- the head's stride


@pytest.mark.parametrize("stride", [1, 2, 4, 8])
def test_bin_logits_are_per_block_and_the_chroma_keeps_the_input_s_size(tmp_path, stride):
    net = build_module(tiny_config(tmp_path, "model=classify", f"model.head_stride={stride}")).net.eval()
    lightness = torch.rand(2, 1, 37, 50) * 2 - 1  # neither side a multiple of any stride
    with torch.no_grad():
        logits = net.head.bin_logits(net.features(lightness))
        chroma = net(lightness)
    assert logits.shape[-2:] == (-(-37 // stride), -(-50 // stride)) and logits.shape[1] == len(net.head.centres)
    assert chroma.shape == (2, 2, 37, 50) and chroma.abs().max() <= 1
    if stride > 1:  # at a block's centre the chroma is the block's decoded distribution
        block = net.head.decode(logits)[..., 1, 1]
        centre = stride + stride // 2
        window = chroma[..., centre - 1 : centre + 1, centre - 1 : centre + 1].mean(dim=(-2, -1))
        torch.testing.assert_close(window, block, rtol=0, atol=1e-5)


def test_the_loss_scores_each_block_against_its_mean_chroma(tmp_path):
    module = build_module(tiny_config(tmp_path, "model=classify", "model.head_stride=4"))
    batch = module.encode_batch(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8))
    expected = F.avg_pool2d(module.physical_chroma(batch), 4)
    torch.testing.assert_close(module.target_chroma(batch), expected)


@pytest.mark.parametrize("value", [0, 3, 16])
def test_a_head_stride_out_of_range_is_refused_at_config_time(value):
    with pytest.raises(ConfigError, match=rf"model.head_stride={value} must be one of 1, 2, 4, 8"):
        load_config([*TINY, "model=classify", f"model.head_stride={value}"])


# ---------------------------------------------------------------- the prior as the logits' starting bias


@pytest.mark.parametrize("prior_bias", [True, False])
def test_the_bin_logits_start_at_the_rebalanced_prior(tmp_path, prior_bias):
    module = build_module(tiny_config(tmp_path, "model=classify", f"model.prior_bias={prior_bias}"))
    before = module.net.head.logits.bias.detach().clone()
    counts = torch.arange(len(module.bin_centres), dtype=torch.float64) % 7  # some bins never seen
    module.set_prior(counts)
    bias = module.net.head.logits.bias.detach()
    if not prior_bias:
        assert torch.equal(bias, before)
        return
    rebalanced = module.prior * rebalancing_weights(module.prior, module.model_cfg.uniform_mix)
    expected = (rebalanced / rebalanced.sum()).clamp_min(1e-6)
    torch.testing.assert_close(torch.softmax(bias, 0), expected / expected.sum())
    assert torch.isfinite(bias).all()


# ---------------------------------------------------------------- warm start of the body


def test_a_warm_start_loads_the_regression_body_and_a_fresh_head(tmp_path, cnn_checkpoint):
    cfg = tiny_config(tmp_path, "model=classify", f"model.body_ckpt={cnn_checkpoint}")
    module, init = create_module(cfg)
    trained = torch.load(cnn_checkpoint, weights_only=True)["state_dict"]
    body = {key: value for key, value in trained.items() if key.startswith("net.body.")}
    state = module.state_dict()
    assert body and all(torch.equal(state[key], value) for key, value in body.items())
    fresh = build_module(tiny_config(tmp_path, "model=classify")).state_dict()
    assert not all(torch.equal(state[key], fresh[key]) for key in body)  # not what a fresh body would have been
    assert state["net.head.logits.weight"].shape[0] == len(module.bin_centres)
    assert init == module.hparams.model["init"] == f"body_ckpt:{cnn_checkpoint}"


def test_a_warm_start_from_a_hinted_run_takes_its_hint_paths_but_not_its_output_blend(tmp_path):
    """classify has no output blend (model.hint_blend=false): the regression run's blend is left, its field taken."""
    root = tmp_path / "regression"
    args = ("model=cnn", "model.hints=local", "logger=none", "trainer.max_steps=1", "trainer.limit_val_batches=1")
    checkpoint = train(tiny_config(root, *args)).run.dir / "checkpoints" / "last.ckpt"
    module, _ = create_module(tiny_config(tmp_path, "model=classify", "model.hints=local", f"model.body_ckpt={checkpoint}"))
    trained = torch.load(checkpoint, weights_only=True)["state_dict"]
    state = module.state_dict()
    taken = [key for key in trained if key.startswith(("net.body.", "net.hint_paths.decoder.", "net.hint_encoder."))]
    assert any(".hint_paths.decoder." in key for key in taken) and any(".hint_paths.blend." in key for key in trained)
    assert all(torch.equal(state[key], trained[key]) for key in taken)
    assert not any(".hint_paths.blend." in key for key in state)


@pytest.mark.parametrize(
    "args, message",
    [
        (["space=luv"], r"holds a cnn body trained in lab, but this run has model.body=cnn in space=luv"),
        (["model.body=resnet"], r"holds a cnn body trained in lab, but this run has model.body=resnet in space=lab"),
        (["model.base_channels=16"], r"trained with other body options; add model.base_channels=8 to this run"),
        (["model.hints=local"], r"trained with other body options; add model.hints=none to this run"),
    ],
)
def test_a_warm_start_from_another_body_space_or_architecture_says_what_differs(tmp_path, cnn_checkpoint, args, message):
    cfg = tiny_config(tmp_path, "model=classify", *args, f"model.body_ckpt={cnn_checkpoint}")
    with pytest.raises(UserError, match=message):
        build_module(cfg)


def test_a_warm_start_from_a_missing_file_says_so(tmp_path):
    with pytest.raises(UserError, match=r"model.body_ckpt=.*missing.ckpt: no such file"):
        build_module(tiny_config(tmp_path, "model=classify", f"model.body_ckpt={tmp_path / 'missing.ckpt'}"))


def test_a_warm_started_run_trains(tmp_path, cnn_checkpoint):
    warm = f"model.body_ckpt={cnn_checkpoint}"
    result = train(tiny_config(tmp_path, "model=classify", warm, "trainer.fast_dev_run=true"))
    assert result.trainer.global_step == 1 and torch.isfinite(result.trainer.callback_metrics["train/loss"])


# ---------------------------------------------------------------- the head started from the regression run's


@pytest.mark.parametrize("space", SPACE_NAMES)
def test_a_bin_head_started_at_a_chroma_head_decodes_as_its_linear_part(space):
    torch.manual_seed(0)
    chroma_head = ChromaHead(16)
    centres = gamut_bins(get_space(space), get_space(space).bin_grid)
    head = BinHead(16, centres, get_space(space).chroma_offset, get_space(space).chroma_scale, 0.38, stride=4)
    with torch.no_grad():
        chroma_head[0].weight.mul_(0.3)
    features = 0.5 * torch.randn(32, 16, 1, 1).expand(32, 16, 16, 16)  # flat: the 3x3 kernel acts as its sum
    head.start_at(chroma_head, get_space(space).bin_grid)
    linear = F.conv2d(features, chroma_head[0].weight, chroma_head[0].bias, padding=1)
    inside = (..., slice(4, 12), slice(4, 12))
    assert linear[inside].abs().mean() > 0.05  # coloured, not grey
    torch.testing.assert_close(head(features)[inside], linear[inside], atol=1e-3, rtol=0)


@pytest.fixture
def coloured_cnn_checkpoint(tmp_path, cnn_checkpoint):
    """cnn_checkpoint with its chroma head's bias moved to a strong colour, so that what it predicts is not grey, and its
    weights scaled down, so that its tanh works near its linear part, as a trained head's does (one step's is random)."""
    checkpoint = torch.load(cnn_checkpoint, weights_only=False)
    checkpoint["state_dict"]["net.head.0.bias"] = torch.tensor([0.3, -0.25])
    checkpoint["state_dict"]["net.head.0.weight"] *= 0.1
    path = tmp_path / "coloured.ckpt"
    torch.save(checkpoint, path)
    return path


def test_head_from_ckpt_starts_classify_decoding_as_the_regression_run_and_training_keeps_that_start(
    tmp_path, coloured_cnn_checkpoint
):
    lightness = torch.linspace(-0.8, 0.8, 32).expand(2, 1, 32, 32)  # smooth, as most of a photo is
    with torch.no_grad():
        regression = load_colorizer(coloured_cnn_checkpoint, "cpu")(lightness)
        for flag in (False, True):
            cfg = tiny_config(
                tmp_path, "model=classify", f"model.body_ckpt={coloured_cnn_checkpoint}", f"model.head_from_ckpt={flag}"
            )
            module, _ = create_module(cfg)
            gap = (module.net.eval()(lightness) - regression)[..., 4:-4, 4:-4].abs().mean()
            assert (gap < 0.02) if flag else (gap > 0.1)
    assert regression.abs().mean() > 0.2
    started = module.net.head.logits.bias.clone()
    cfg = tiny_config(
        tmp_path,
        "model=classify",
        f"model.body_ckpt={coloured_cnn_checkpoint}",
        "model.head_from_ckpt=true",
        "trainer.fast_dev_run=true",
    )
    trained = train(cfg).module
    assert trained.prior.sum() > 0  # the prior was counted, but its bias did not replace the start
    torch.testing.assert_close(trained.net.head.logits.bias, started, atol=0.01, rtol=0)


def test_head_from_ckpt_without_a_body_ckpt_or_from_a_classify_run_says_what_to_give(tmp_path, classify_checkpoint):
    with pytest.raises(UserError, match=r"model.head_from_ckpt=true .* add model.body_ckpt="):
        build_module(tiny_config(tmp_path, "model=classify", "model.head_from_ckpt=true"))
    args = ("model=classify", "space=luv", f"model.body_ckpt={classify_checkpoint}", "model.head_from_ckpt=true")
    with pytest.raises(UserError, match=r"holds a classify model, whose network does not predict chroma directly"):
        build_module(tiny_config(tmp_path, *args))


# ---------------------------------------------------------------- checkpoints from before these options


def test_a_checkpoint_from_before_the_head_stride_loads_and_predicts_the_same():
    """tests/data/README.md: written at commit b408f12, before model.head_stride and model.prior_bias."""
    colorizer = load_colorizer(DATA / "v0.2.0-classify-lab.ckpt")
    assert colorizer.spec.options["head_stride"] == 1 and colorizer.head.stride == 1
    expected = torch.from_numpy(np.load(DATA / "v0.2.0-classify-outputs.npz")["classify"])
    with torch.no_grad():
        predicted = colorizer(torch.linspace(-1, 1, 960).reshape(1, 1, 24, 40))
    torch.testing.assert_close(predicted, expected)


def test_a_saved_config_from_before_the_head_stride_keeps_stride_1():
    """A run directory's config.yaml without model.head_stride: resuming it must build the network it trained."""
    current = OmegaConf.create(OmegaConf.to_container(load_config([*TINY, "model=classify"])))  # as config.yaml reads back
    assert upgrade_saved(current).model.head_stride == 4
    old = current.copy()
    del old.model["head_stride"], old.model["prior_bias"]
    assert (upgrade_saved(old).model.head_stride, upgrade_saved(old).model.prior_bias) == (1, False)


# ---------------------------------------------------------------- decoded at another temperature


def test_load_colorizer_decodes_at_the_temperature_given(classify_checkpoint):
    own = load_colorizer(classify_checkpoint)
    lightness = torch.rand(1, 1, 24, 24) * 2 - 1
    with torch.no_grad():
        expected = own(lightness)
        same = load_colorizer(classify_checkpoint, temperature=own.head.temperature)(lightness)
        logits = own.head.bin_logits(own.features(lightness))
        sharp = load_colorizer(classify_checkpoint, temperature=0.05)
        got = sharp(lightness)
    torch.testing.assert_close(same, expected)
    assert sharp.head.temperature == 0.05 and sharp.spec.options["temperature"] == 0.05
    head = own.head
    blocks = annealed_mean(logits, (head.centres - head.offset) / head.scale, 0.05)
    torch.testing.assert_close(got, F.interpolate(blocks, scale_factor=head.stride, mode="bilinear")[..., :24, :24])
    assert not torch.allclose(got, expected, atol=1e-4)


def test_predict_and_evaluate_take_a_temperature(tmp_path, classify_checkpoint):
    photo = tmp_path / "in" / "photo.png"
    photo.parent.mkdir()
    Image.fromarray(random_photo(40, 56)).save(photo)
    assert predict_main([str(classify_checkpoint), str(photo), str(tmp_path / "own.png")]) == 0
    assert predict_main([str(classify_checkpoint), str(photo), str(tmp_path / "sharp.png"), "--temperature", "0.05"]) == 0
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "own.png")), np.asarray(Image.open(tmp_path / "sharp.png")))

    run = Run(classify_checkpoint.parent.parent)
    assert evaluate_main([str(classify_checkpoint), "--no-fid", "--no-hint-curve"]) == 0
    assert evaluate_main([str(classify_checkpoint), "--no-fid", "--no-hint-curve", "--temperature", "0.05"]) == 0
    written = {path.parent.name: json.loads(path.read_text()) for path in run.dir.glob("evaluation/*/metrics.json")}
    own, sharp = sorted(written, key=len)
    assert sharp == own.replace(classify_checkpoint.stem, f"{classify_checkpoint.stem}-T0.05")  # beside, not over it
    assert written[sharp]["temperature"] == 0.05 and "temperature" not in written[own]
    # The run's verdicts read the checkpoint as trained only, though the other evaluation is newer.
    assert [path.parent.name for path, _ in run.evaluations([], every=True)] == [own]


def test_a_temperature_for_a_model_without_bins_or_below_zero_is_refused(cnn_checkpoint, classify_checkpoint, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.fromarray(random_photo(32, 32)).save(photo)
    assert predict_main([str(cnn_checkpoint), str(photo), str(tmp_path / "out.png"), "--temperature", "0.2"]) == 2
    assert "predicts chroma directly" in capsys.readouterr().err
    assert evaluate_main([str(classify_checkpoint), "--no-fid", "--temperature", "0"]) == 2
    assert "must be above 0" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()
