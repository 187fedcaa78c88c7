"""Slow: a short real training run on the built-in sample photos learns to colour."""

import csv

import pytest
import torch
import torch.nn.functional as F

from colorize.data.datamodule import ColorizationDataModule
from colorize.spaces import get_space
from colorize.training.fit import train
from conftest import tiny_config


def val_curve(run_dir, key):
    with open(run_dir / "metrics.csv") as f:
        return [float(r[key]) for r in csv.DictReader(f) if r.get(key)]


def grey_baseline_l1(cfg) -> float:
    dm = ColorizationDataModule(cfg.data)
    dm.setup("fit")
    space = get_space(cfg.space.name)
    losses = []
    for batch in dm.val_dataloader():
        lightness, chroma = space.encode(batch.rgb)
        losses.append(F.l1_loss(space.grey_chroma(lightness), chroma, reduction="sum") / chroma[0].numel())
    return (torch.stack(losses).sum() / len(dm.val_set)).item()


@pytest.mark.slow
@pytest.mark.parametrize("space", ["lab", "luv"])
def test_short_run_on_sample_photos_learns(tmp_path, space):
    cfg = tiny_config(
        tmp_path,
        f"space={space}",
        "logger=csv",
        "data.crop_size=64",
        "data.batch_size=16",
        "data.train_crops_per_image=32",
        "data.val_crops_per_image=16",
        "model.base_channels=16",
        "trainer.max_epochs=6",
        "trainer.num_sanity_val_steps=0",
    )
    result = train(cfg)
    l1 = val_curve(result.run.dir, "val/l1")
    delta_e = val_curve(result.run.dir, "val/delta_e")
    assert len(l1) == 6
    assert min(l1[-2:]) < 0.8 * l1[0]
    assert min(l1[-2:]) < grey_baseline_l1(cfg)
    assert min(delta_e[-2:]) < delta_e[0]
