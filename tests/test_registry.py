"""The model registry: a family declared in one place (here, this file alone) is a first-class model."""

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from colorize.config import available_choices, cli_config, load_config
from colorize.models import FAMILIES, ModelFamily, load_colorizer, register
from colorize.models.base import ColorizerModule
from colorize.models.bodies import Built
from colorize.models.registry import ModelOptions
from colorize.options import POSITIVE, ConfigError, option
from colorize.train import train
from conftest import tiny_config


class FlatChroma(nn.Module):
    """One learned chroma for every pixel."""

    def __init__(self) -> None:
        super().__init__()
        self.chroma = nn.Parameter(torch.zeros(2))

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = lightness.shape
        return self.chroma.view(1, 2, 1, 1).expand(batch, 2, height, width)


@dataclass
class FlatOptions(ModelOptions):
    """Colours every pixel alike: the throwaway family of the registry's test."""

    lr: float = option(0.1, POSITIVE)


class FlatColorizer(ColorizerModule):
    @classmethod
    def build_net(cls, model_cfg, space, load_weights: bool) -> Built:
        return Built(FlatChroma(), "random")

    def training_step(self, batch, batch_idx):
        loss = F.l1_loss(self(batch.lightness), batch.chroma)
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.model_cfg.lr)


@pytest.fixture
def flat_family():
    family = register(ModelFamily("flat", FlatOptions, FlatColorizer))
    yield family
    del FAMILIES["flat"]


def test_a_family_declared_in_one_place_is_a_choice_with_its_options_and_help(flat_family, capsys):
    assert "flat" in available_choices("model")
    with pytest.raises(SystemExit):
        cli_config(["--help", "model=flat"], "colorize.train")
    out = capsys.readouterr().out
    assert flat_family.summary in out and "model.lr=0.1  (> 0)" in out
    with pytest.raises(ConfigError, match=r"model\.lr=-1.*> 0"):
        load_config(["model=flat", "model.lr=-1"])
    with pytest.raises(ConfigError, match="Did you mean 'flat'"):
        load_config(["model=flt"])


def test_a_family_declared_in_one_place_trains_and_reloads(tmp_path, flat_family):
    result = train(tiny_config(tmp_path, "model=flat", "trainer.fast_dev_run=false", "trainer.max_steps=2", "logger=none"))
    assert result.trainer.global_step == 2 and isinstance(result.module, FlatColorizer)
    learned = result.module.net.chroma.detach().clone()
    assert learned.abs().sum() > 0  # two SGD steps moved it
    reloaded = load_colorizer(result.run.dir / "checkpoints" / "last.ckpt")
    assert isinstance(reloaded, FlatColorizer) and torch.equal(reloaded.net.chroma, learned)


def test_fast_dev_run_for_the_throwaway_family(tmp_path, flat_family):
    result = train(tiny_config(tmp_path, "model=flat", "space=luv", "trainer.fast_dev_run=true", "logger=none"))
    assert result.trainer.global_step == 1 and result.module.space.name == "luv"


def test_two_families_cannot_share_a_name(flat_family):
    with pytest.raises(ValueError, match="Two model families"):
        register(ModelFamily("flat", FlatOptions, ColorizerModule))
