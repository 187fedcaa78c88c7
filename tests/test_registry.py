"""The registries: a model family, a data source or a colour space declared in one place (here, this file alone) is a
first-class one."""

from dataclasses import dataclass, fields, replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from colorize.config import available_choices, cli_config, load_config
from colorize.data import SOURCES, DataOptions
from colorize.data import register as register_source
from colorize.data.photo_source import PhotoSource
from colorize.inference.loading import load_colorizer
from colorize.models import FAMILIES, ModelFamily, register
from colorize.models.modules.base import ColorizerModule
from colorize.models.registry import ModelOptions
from colorize.networks.bins import gamut_bins
from colorize.networks.bodies import BODIES, AnyBodyOptions, Body, Built
from colorize.options import POSITIVE, ConfigError, option
from colorize.spaces import SPACES, ColorSpace
from colorize.spaces import register as register_space
from colorize.spaces.registry import mix
from colorize.training.fit import train
from conftest import tiny_config


class FlatFeatures(nn.Module):
    """The same learned features at every pixel: a body whose colorizer colours every pixel alike."""

    out_channels = 2

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Parameter(torch.zeros(2))

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = lightness.shape
        return self.features.view(1, 2, 1, 1).expand(batch, 2, height, width)


@dataclass
class FlatBodyOptions:
    """The flat body has no options."""


@dataclass
class FlatOptions(ModelOptions):
    """Colours every pixel alike: the throwaway family of the registry's test."""

    body: str = option("flat", choices=("flat",))
    lr: float = option(0.1, POSITIVE)


class FlatColorizer(ColorizerModule):
    def training_step(self, batch, batch_idx):
        loss = F.l1_loss(self(batch.lightness), batch.chroma)
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.model_cfg.lr)


@pytest.fixture
def flat_family():
    BODIES["flat"] = Body(FlatBodyOptions, lambda options, in_channels, load_weights: Built(FlatFeatures(), "random"))
    family = register(ModelFamily("flat", FlatOptions, FlatColorizer))
    yield family
    del FAMILIES["flat"], BODIES["flat"]


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
    learned = result.module.net.body.features.detach().clone()
    assert learned.abs().sum() > 0  # two SGD steps moved it
    reloaded = load_colorizer(result.run.dir / "checkpoints" / "last.ckpt")
    assert torch.equal(reloaded.body.features, learned) and reloaded.spec.options["name"] == "flat"
    lightness = torch.zeros(1, 1, 4, 4)
    torch.testing.assert_close(reloaded(lightness), result.module.net(lightness))


def test_fast_dev_run_for_the_throwaway_family(tmp_path, flat_family):
    result = train(tiny_config(tmp_path, "model=flat", "space=luv", "trainer.fast_dev_run=true", "logger=none"))
    assert result.trainer.global_step == 1 and result.module.space.name == "luv"


def test_two_families_cannot_share_a_name(flat_family):
    with pytest.raises(ValueError, match="Two model families"):
        register(ModelFamily("flat", FlatOptions, ColorizerModule))


def test_a_family_that_chooses_its_body_has_every_bodys_options_from_the_body_table():
    """gan and classify take model.body; their options are the union of the bodies' in BODIES, listed nowhere else."""
    every = {f.name for body in BODIES.values() for f in fields(body.options)}
    assert {f.name for f in fields(AnyBodyOptions)} == every
    for name in ("gan", "classify"):
        assert every <= {f.name for f in fields(FAMILIES[name].options)}
        assert set(load_config([f"model={name}"]).model) >= every


def test_an_option_of_a_body_is_refused_for_another_body_whichever_the_bodies(flat_family):
    """The check reads the body table: a body added there (flat, which has no options) refuses the others' too."""
    from colorize.networks.bodies import check_body_options

    with pytest.raises(ConfigError, match=r"model\.encoder .* of body resnet; model\.body=flat has no such option"):
        check_body_options("flat", ["lr", "encoder"], "the command line")
    check_body_options("resnet", ["lr", "encoder"], "the command line")


# ---------------------------------------------------------------- data sources


@dataclass
class NoiseOptions(DataOptions):
    """Smooth random photos made on the fly: the throwaway data source of the registry's test."""

    photos: int = option(6, POSITIVE)


class Noise(PhotoSource):
    name = "noise"
    options = NoiseOptions

    def photos(self, cfg):
        from conftest import random_photo

        class Made:
            def __init__(self, seeds):
                self.names = [f"noise-{seed}" for seed in seeds]

            def __len__(self):
                return len(self.names)

            def load(self, index):
                return torch.from_numpy(random_photo(40, 48, seed=index)).permute(2, 0, 1).contiguous()

        return Made(range(cfg.photos)), Made(range(cfg.photos, cfg.photos + 2))


@pytest.fixture
def noise_source():
    source = register_source(Noise())
    yield source
    del SOURCES["noise"]


def test_a_data_source_declared_in_one_place_is_a_choice_with_its_options_and_help(noise_source, capsys):
    assert "noise" in available_choices("data")
    with pytest.raises(SystemExit):
        cli_config(["--help", "data=noise"], "colorize.train")
    out = capsys.readouterr().out
    assert noise_source.summary in out and "data.photos=6  (> 0)" in out
    with pytest.raises(ConfigError, match="Did you mean 'noise'"):
        load_config(["data=nois"])


def test_a_data_source_declared_in_one_place_trains(tmp_path, noise_source):
    result = train(tiny_config(tmp_path, "data=noise", "data.photos=4", "trainer.fast_dev_run=true", "logger=none"))
    assert result.trainer.global_step == 1 and result.trainer.datamodule.source is noise_source


# ---------------------------------------------------------------- colour spaces

# An opponent space: intensity I = (R + G + B) / 3, red-green O1 = (R - G) / 2, yellow-blue O2 = (R + G) / 4 - B / 2.
TO_OPPONENT = ((1 / 3, 1 / 3, 1 / 3), (0.5, -0.5, 0.0), (0.25, 0.25, -0.5))
FROM_OPPONENT = ((1.0, 1.0, 2 / 3), (1.0, -1.0, 2 / 3), (1.0, 0.0, -4 / 3))


@pytest.fixture
def opponent_space():
    space = register_space(
        ColorSpace(
            "opponent",
            "Intensity and two opponent channels of gamma-encoded RGB: the throwaway space of the registry's test",
            lightness_name="I",
            chroma_names=("O1", "O2"),
            lightness_range=(0.0, 1.0),
            chroma_offset=(0.0, 0.0),
            chroma_scale=(0.505, 0.505),
            bin_grid=0.08,
            from_rgb=lambda rgb: mix(TO_OPPONENT, rgb),
            to_rgb=lambda lcc: mix(FROM_OPPONENT, lcc),
        )
    )
    yield space
    del SPACES["opponent"]


def test_a_space_declared_in_one_place_is_a_choice_with_its_help(opponent_space, capsys):
    assert "opponent" in available_choices("space")
    with pytest.raises(SystemExit):
        cli_config(["--help"], "colorize.train")
    out = capsys.readouterr().out
    assert opponent_space.summary in out and "I in opponent" in out
    with pytest.raises(ConfigError, match="Did you mean 'opponent'"):
        load_config(["space=oponent"])
    assert load_config(["space=opponent"]).space.name == "opponent"
    rgb = torch.rand(1, 3, 4, 4)
    torch.testing.assert_close(opponent_space.decode(*opponent_space.encode(rgb)), rgb)


def test_every_built_in_space_is_in_the_help(capsys):
    with pytest.raises(SystemExit):
        cli_config(["--help"], "colorize.train")
    out = capsys.readouterr().out
    for name, space in SPACES.items():
        assert f"  {name:12s} {space.summary}" in out


def test_a_space_declared_in_one_place_trains_with_its_own_bins(tmp_path, opponent_space):
    result = train(tiny_config(tmp_path, "model=classify", "space=opponent", "trainer.fast_dev_run=true", "logger=none"))
    assert result.trainer.global_step == 1 and result.module.space is opponent_space
    centres = result.module.bin_centres
    assert torch.equal(centres, gamut_bins(opponent_space, opponent_space.bin_grid)) and 50 < len(centres) < 500


def test_two_spaces_cannot_share_a_name(opponent_space):
    with pytest.raises(ValueError, match="Two colour spaces"):
        register_space(replace(opponent_space, bin_grid=0.1))
