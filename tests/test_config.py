import pytest

from colorize.config import ConfigError, available_choices, cli_config, load_config


def test_defaults_compose_every_group():
    cfg = load_config([])
    assert (cfg.model.name, cfg.space.name, cfg.data.source, cfg.logger.kind) == ("cnn", "lab", "sample", "wandb")


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
    with pytest.raises(SystemExit) as info:
        cli_config(["space=lub"], "colorize.train")
    assert info.value.code == 2
    assert "Did you mean 'luv'" in capsys.readouterr().err


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
