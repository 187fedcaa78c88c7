import shutil

import pytest

from colorize.config import ConfigError, available_choices, cli_config, config_dir, load_config


def test_defaults_compose_every_group():
    cfg = load_config([])
    assert (cfg.model.name, cfg.space.name, cfg.data.source, cfg.logger.kind) == ("resnet", "lab", "sample", "wandb")
    assert cfg.model.encoder == "tf_efficientnet_lite0"  # pretrained from a PyPI package, so offline too


def test_group_choice_and_overrides_apply():
    cfg = load_config(["space=luv", "data.batch_size=8", "trainer.max_epochs=3", "model.lr=1e-3", "logger=csv"])
    assert cfg.space.name == "luv"
    assert cfg.data.batch_size == 8 and isinstance(cfg.data.batch_size, int)
    assert cfg.trainer.max_epochs == 3
    assert cfg.model.lr == pytest.approx(1e-3)
    assert cfg.logger.kind == "csv"


def test_typo_in_key_names_the_near_key():
    with pytest.raises(ConfigError, match=r"model\.lrr.*Did you mean.*'lr'"):
        load_config(["model.lrr=0.1"])
    with pytest.raises(ConfigError, match=r"data\.bach_size.*batch_size"):
        load_config(["data.bach_size=4"])


def test_unknown_model_lists_the_choices():
    with pytest.raises(ConfigError) as info:
        load_config(["model=cnnn"])
    assert "Unknown model 'cnnn'" in str(info.value)
    for choice in available_choices("model"):
        assert choice in str(info.value)


def test_unknown_space_lists_the_choices():
    with pytest.raises(ConfigError, match=r"Unknown space 'hsv'\. Choose one of: lab, luv"):
        load_config(["space=hsv"])


def test_wrong_type_names_key():
    with pytest.raises(ConfigError, match=r"data\.batch_size"):
        load_config(["data.batch_size=many"])


def test_value_outside_choices_lists_them():
    with pytest.raises(ConfigError, match=r"model\.loss='l3'.*l1, l2, smooth_l1"):
        load_config(["model.loss=l3"])


def test_name_keys_are_chosen_by_group_only():
    with pytest.raises(ConfigError, match="model=NAME"):
        load_config(["model.name=resnet"])


def test_recorded_init_cannot_be_set():
    with pytest.raises(ConfigError, match="model.init is recorded"):
        load_config(["model.init=random"])


def test_word_without_equals_is_refused():
    with pytest.raises(ConfigError, match="key=value"):
        load_config(["batch_size"])


def test_cli_prints_error_and_exits_2(capsys):
    from colorize.train import main

    with pytest.raises(ConfigError, match="Did you mean 'luv'"):  # cli_config raises; the command's shell prints it
        cli_config(["space=lub"], "colorize.train")
    assert main(["space=lub"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error: Unknown space 'lub'") and "Did you mean 'luv'" in err and len(err.splitlines()) == 1


def test_cli_print_config_shows_resolved_values(capsys):
    with pytest.raises(SystemExit) as info:
        cli_config(["space=luv", "--print-config"], "colorize.train")
    assert info.value.code == 0
    assert "name: luv" in capsys.readouterr().out


def test_resume_base_keeps_saved_values_under_new_overrides():
    saved = load_config(["space=luv", "data.batch_size=5", "trainer.max_epochs=2"])
    cfg = load_config(["trainer.max_epochs=4"], base=saved)
    assert cfg.space.name == "luv" and cfg.data.batch_size == 5 and cfg.trainer.max_epochs == 4
    with pytest.raises(ConfigError, match="Cannot change the space"):
        load_config(["space=lab"], base=saved)


@pytest.mark.parametrize("family", ["gan", "classify"])
def test_an_option_of_another_body_is_refused_naming_the_body_that_has_it(family):
    with pytest.raises(ConfigError, match=r"model\.encoder .*an option of body resnet; model\.body=cnn has no such option"):
        load_config([f"model={family}", "model.body=cnn", "model.encoder=resnet18"])
    with pytest.raises(ConfigError, match=r"model\.base_channels .*an option of body cnn; model\.body=resnet has no such"):
        load_config([f"model={family}", "model.body=resnet", "model.base_channels=8"])
    cfg = load_config([f"model={family}", "model.body=resnet", "model.encoder=resnet18"])
    assert (cfg.model.body, cfg.model.encoder) == ("resnet", "resnet18")


def test_a_body_option_in_a_preset_file_is_refused_naming_the_file(tmp_path):
    from colorize.config import config_dir

    root = tmp_path / "configs"
    shutil.copytree(config_dir(), root)
    (root / "model").mkdir(exist_ok=True)
    (root / "model" / "gan.yaml").write_text("freeze_encoder_epochs: 2\n")
    assert load_config(["model=gan", "model.body=resnet"], root=root).model.freeze_encoder_epochs == 2
    with pytest.raises(ConfigError, match=r"model\.freeze_encoder_epochs \(from .*gan\.yaml\) is an option of body resnet"):
        load_config(["model=gan"], root=root)


def test_a_resumed_run_keeps_its_saved_body_options_but_refuses_new_ones_of_another_body():
    """A saved config holds every body's options (the schema's union); only what the command line adds is checked."""
    saved = load_config(["model=gan", "model.body=cnn"])
    assert "encoder" in saved.model
    assert load_config(["trainer.max_epochs=4"], base=saved).model.body == "cnn"
    with pytest.raises(ConfigError, match=r"model\.encoder \(from the command line\)"):
        load_config(["model.encoder=resnet18"], base=saved)


@pytest.mark.parametrize(
    "word, key, allowed",
    [
        ("model.lr=-1e-3", "model.lr", "> 0"),
        ("model.weight_decay=-0.1", "model.weight_decay", ">= 0"),
        ("model=cnn model.base_channels=0", "model.base_channels", "> 0"),
        ("data.batch_size=0", "data.batch_size", ">= 1"),
        ("data=folder data.val_fraction=1", "data.val_fraction", "in (0, 1)"),
        ("data.num_workers=-2", "data.num_workers", ">= 0"),
        ("trainer.max_epochs=-5", "trainer.max_epochs", ">= -1"),
        ("trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches", ">= 1"),
        ("logger.init_timeout=0", "logger.init_timeout", "> 0"),
        ("seed=-1", "seed", "in [0, 4.29497e+09]"),
        ("grid_images=-1", "grid_images", ">= 0"),
    ],
)
def test_a_value_out_of_range_names_the_key_and_the_range(word, key, allowed):
    with pytest.raises(ConfigError) as info:
        load_config(word.split())
    message = str(info.value)
    assert message.startswith(f"{key}=") and "out of range" in message and allowed in message


@pytest.mark.parametrize(
    "words, key",
    [
        (["model=gan", "model.lambda_l1=-100"], "model.lambda_l1"),  # would make G maximise its L1
        (["model=gan", "model.betas=[0.5,1.5]"], "model.betas"),
        (["model=gan", "model.n_layers=0"], "model.n_layers"),
        (["model=resnet", "model.decoder_channels=[64,0,16,16,8]"], "model.decoder_channels"),
        (["model=resnet", "model.freeze_encoder_epochs=-1"], "model.freeze_encoder_epochs"),
    ],
)
def test_model_options_have_ranges_too(words, key):
    with pytest.raises(ConfigError, match=rf"^{key}=.*out of range"):
        load_config(words)


@pytest.mark.parametrize(
    "word, problem",
    [
        ("trainer.limit_train_batches=1.5", "fraction of them"),
        ("trainer.limit_val_batches=-3", "number of batches"),
        ("trainer.devices=0", "number of devices"),
        ("trainer.fast_dev_run=-1", "number of batches"),
        ("trainer.max_time=1h", "DD:HH:MM:SS"),
        ("trainer.val_check_interval=0", "fraction of an epoch"),
    ],
)
def test_trainer_values_lightning_would_refuse_are_refused_first(word, problem):
    with pytest.raises(ConfigError, match=rf"^{word.split('=')[0]}=.*{problem}"):
        load_config([word])


def test_two_betas():
    with pytest.raises(ConfigError, match=r"model\.betas=.*two numbers"):
        load_config(["model=gan", "model.betas=[0.5]"])


def test_values_in_range_pass():
    cfg = load_config(
        ["trainer.limit_train_batches=0.5", "trainer.limit_val_batches=3", "trainer.devices=auto", "trainer.max_time=00:01:00:00"]
    )
    assert cfg.trainer.limit_train_batches == 0.5 and cfg.trainer.limit_val_batches == 3


def test_choices_come_from_the_tables_that_implement_them():
    from colorize.models.gan import D_NORMS, LR_SCHEDULES
    from colorize.networks.losses import GAN_MODES, RECONSTRUCTION_LOSSES

    for word, table in [
        ("model.loss=l3", RECONSTRUCTION_LOSSES),
        ("model.gan_mode=wgan", GAN_MODES),
        ("model.d_norm=group", D_NORMS),
        ("model.g_scheduler=step", LR_SCHEDULES),
    ]:
        with pytest.raises(ConfigError) as info:
            load_config(["model=gan" if "loss" not in word else "model=cnn", word])
        assert all(name in str(info.value) for name in table)


def test_yaml_files_hold_only_values_that_differ_from_the_schema():
    """A preset that repeats a default would silently win over a changed default."""
    from omegaconf import OmegaConf

    from colorize.config import GROUPS, config_dir, group_schema

    root = config_dir()
    checked = 0
    for group in GROUPS:
        for path in sorted((root / group).glob("*.yaml")):
            values = OmegaConf.load(path) or {}
            name = values.get("source", path.stem) if group == "data" else path.stem  # a data preset names its source
            schema = OmegaConf.structured(group_schema(group, name))
            for key, value in values.items():
                if key == "source":
                    continue
                assert value != schema[key], f"{path} repeats the default {key}: {value!r}"
                checked += 1
    top = OmegaConf.load(root / "train.yaml")
    assert set(top) == {"defaults"}, "configs/train.yaml holds only the default choices"
    assert checked > 5


def test_help_lists_every_model_and_a_models_options_with_ranges(capsys):
    from colorize.models import FAMILIES

    with pytest.raises(SystemExit):
        cli_config(["--help"], "colorize.train")
    out = capsys.readouterr().out
    assert all(f"  {name} " in out and family.summary in out for name, family in FAMILIES.items())
    with pytest.raises(SystemExit):
        cli_config(["--help", "model=gan"], "colorize.train")
    out = capsys.readouterr().out
    assert "model.lambda_l1=100.0  (>= 0)" in out and "model.gan_mode=vanilla  (one of vanilla, lsgan, hinge)" in out


def test_every_study_preset_loads_and_its_overrides_are_a_valid_config():
    from colorize.config import load_study_preset

    presets = available_choices("study")
    assert {"cpu", "gpu"} <= set(presets)
    for name in presets:
        preset = load_study_preset(name)
        assert preset.eval_size >= 0 and isinstance(preset.fid, bool)
        load_config(preset.overrides)  # raises on a bad word


@pytest.mark.parametrize(
    "text, problem",
    [
        ("eval_sise: 128\n", "eval_sise"),
        ("eval_size: -1\n", "eval_size"),
        ("fid: maybe\n", "fid"),
    ],
)
def test_a_bad_study_preset_names_the_file_and_the_key(tmp_path, text, problem):
    from colorize.config import load_study_preset

    shutil.copytree(config_dir(), tmp_path / "configs")
    (tmp_path / "configs" / "study" / "mine.yaml").write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_study_preset("mine", tmp_path / "configs")
    with pytest.raises(ConfigError, match="Unknown study preset 'cpuu'.*cpu.*Did you mean"):
        load_study_preset("cpuu", tmp_path / "configs")
