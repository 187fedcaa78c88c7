"""The classify family end to end: every space and body trains through colorize.train; predict and evaluate read it."""

import json

import pytest
import torch
from PIL import Image

from colorize.evaluate import main as evaluate_main
from colorize.inference.loading import load_colorizer
from colorize.models.modules.classify import ClassificationColorizer
from colorize.predict import main as predict_main
from colorize.training.fit import train
from conftest import SPACE_NAMES, random_photo, tiny_config


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
