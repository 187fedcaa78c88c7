"""resnet: the timm-encoder U-Net, where its weights come from (file, cache, hub, none), fine-tuning, training."""

import os
import socket
import subprocess
import sys
import time
import warnings

import huggingface_hub
import lightning as L
import pytest
import timm
import torch
from safetensors.torch import save_file
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from colorize.config import ConfigError, load_config
from colorize.data.datamodule import ColorizationDataModule
from colorize.errors import UserError
from colorize.inference.loading import load_colorizer
from colorize.models import FAMILIES
from colorize.models.modules import build_module, create_module
from colorize.models.modules.finetuning import encoder_lr_scale
from colorize.networks.colorizer import build_colorizer
from colorize.networks.pretrained import EncoderError, RandomInitWarning
from colorize.train import main
from colorize.training import fit as fit_module
from colorize.training.fit import train
from conftest import TINY_TRAINING, tiny_config

# A small encoder and decoder, for tests that train: any timm backbone works.
SMALL = ["model.encoder=resnet10t", "model.decoder_channels=[32,16,16,8,8]", "trainer.limit_val_batches=1"]
QUICK_TIMEOUT_S = 10  # timm's own retries take ~47 s with failing DNS, minutes on a stalled connection


def resnet_options(*args: str):
    return load_config(["model=resnet", *args]).model


def build_unet(options, load_weights: bool = True):
    """The resnet family's colorizer: the U-Net body and the chroma head."""
    return build_colorizer(FAMILIES["resnet"].spec(options, "lab"), load_weights)


@pytest.fixture(scope="module")
def eval_nets():
    nets = {}

    def get(encoder):
        if encoder not in nets:
            nets[encoder] = build_unet(resnet_options(f"model.encoder={encoder}", "model.pretrained=false")).net.eval()
        return nets[encoder]

    return get


@pytest.mark.parametrize("size", [64, 100, 256])
@pytest.mark.parametrize("encoder", ["resnet18", "resnet34", "resnet50"])
def test_unet_gives_full_resolution_chroma_for_any_size(eval_nets, encoder, size):
    net = eval_nets(encoder)
    with torch.no_grad():
        out = net(torch.rand(1, 1, size, size) * 2 - 1)
    assert out.shape == (1, 2, size, size)
    assert out.abs().max() <= 1


@pytest.mark.parametrize("encoder", ["resnet18", "resnet50"])
def test_decoder_widths_come_from_the_encoder(eval_nets, encoder):
    net = eval_nets(encoder)
    channels = timm.create_model(encoder, features_only=True).feature_info.channels()
    first = net.body.decoder.blocks[0].convs[0][0]
    assert first.in_channels == channels[-1] + channels[-2]
    assert [b.convs[0][0].in_channels for b in net.body.decoder.blocks][-1] == 32 + 1  # last skip: the input itself


def test_other_timm_backbones_fit_too():
    """convnext_atto has four stages, the first at 1/4 resolution: the decoder adapts to both."""
    net = build_unet(resnet_options("model.encoder=convnext_atto", "model.pretrained=false")).net.eval()
    assert len(net.body.decoder.blocks) == 4
    with torch.no_grad():
        assert net(torch.zeros(1, 1, 50, 70)).shape == (1, 2, 50, 70)


def test_non_square_odd_sizes_and_batches():
    net = build_unet(resnet_options("model.encoder=resnet18", "model.pretrained=false")).net
    assert net(torch.zeros(3, 1, 45, 77)).shape == (3, 2, 45, 77)


def test_decoder_channels_must_match_the_encoder_stages():
    with pytest.raises(ConfigError, match="one width per stage"):
        build_unet(resnet_options("model.pretrained=false", "model.decoder_channels=[64,32]"))
    net = build_unet(
        resnet_options("model.pretrained=false", "model.encoder=resnet18", "model.decoder_channels=[80,40,20,10,5]")
    ).net
    assert net.head[0].in_channels == 5


# ---------------------------------------------------------------- weights from a local file


@pytest.fixture(scope="module")
def resnet18_weights(tmp_path_factory):
    """A resnet18 ImageNet-classifier state dict (3 input channels, fc head) with non-default values, as a .pth."""
    torch.manual_seed(7)
    classifier = timm.create_model("resnet18", pretrained=False)
    with torch.no_grad():
        for key, t in classifier.state_dict().items():
            if key.endswith("running_var"):
                t.uniform_(0.5, 1.5)
            elif t.is_floating_point():
                t.normal_(0, 0.1)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    state = {k: v.clone() for k, v in classifier.state_dict().items()}
    torch.save(state, path)
    return path, state


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_local_weights_file_is_loaded_and_adapted_to_one_channel(resnet18_weights, tmp_path, fmt):
    path, saved = resnet18_weights
    if fmt == "safetensors":
        path = tmp_path / "resnet18.safetensors"
        save_file(saved, str(path))
    net, init = build_unet(resnet_options("model.encoder=resnet18", f"model.weights={path}"))
    assert init == f"file:{path.resolve()}"
    loaded = net.body.encoder.state_dict()
    assert loaded["conv1.weight"].shape == (64, 1, 7, 7)
    torch.testing.assert_close(loaded["conv1.weight"], saved["conv1.weight"].sum(dim=1, keepdim=True))
    compared = [k for k in loaded if k != "conv1.weight" and not k.endswith("num_batches_tracked")]
    assert len(compared) > 50
    for key in compared:
        torch.testing.assert_close(loaded[key], saved[key], msg=key)
    # input_norm=auto: pretrained weights get the pretraining's normalisation, averaged over RGB
    assert net.body.input_mean.item() == pytest.approx(sum(IMAGENET_DEFAULT_MEAN) / 3)
    assert net.body.input_std.item() == pytest.approx(sum(IMAGENET_DEFAULT_STD) / 3)


def test_input_norm_follows_the_weights_unless_set(resnet18_weights):
    path, _ = resnet18_weights
    random_net = build_unet(resnet_options("model.encoder=resnet18", "model.pretrained=false")).net
    assert (random_net.body.input_mean.item(), random_net.body.input_std.item()) == (0.5, 0.5)  # L_norm passes unchanged
    x = torch.rand(1, 1, 8, 8) * 2 - 1
    assert torch.equal(((x + 1) / 2 - random_net.body.input_mean) / random_net.body.input_std, x)
    forced = build_unet(resnet_options("model.encoder=resnet18", "model.pretrained=false", "model.input_norm=imagenet"))
    assert forced.net.body.input_mean.item() == pytest.approx(sum(IMAGENET_DEFAULT_MEAN) / 3)
    plain = build_unet(resnet_options("model.encoder=resnet18", f"model.weights={path}", "model.input_norm=none"))
    assert plain.net.body.input_std.item() == 0.5


def test_bad_weights_files_are_user_errors(resnet18_weights, tmp_path):
    path, _ = resnet18_weights
    with pytest.raises(EncoderError, match="is not a file"):
        build_unet(resnet_options(f"model.weights={tmp_path / 'missing.pth'}"))
    with pytest.raises(EncoderError, match="must hold a state dict of timm's resnet50"):
        build_unet(resnet_options("model.encoder=resnet50", f"model.weights={path}"))
    with pytest.raises(EncoderError, match="contradict"):
        build_unet(resnet_options(f"model.weights={path}", "model.pretrained=false"))


def test_unknown_encoder_names_close_matches(tmp_path, capsys):
    with pytest.raises(EncoderError, match="resnet34"):
        build_unet(resnet_options("model.encoder=resnt34", "model.pretrained=false"))
    assert main([*TINY_TRAINING, "model=resnet", "model.encoder=resnt34", f"runs_dir={tmp_path}", "logger=none"]) == 2
    assert "is not a timm model" in capsys.readouterr().err


# ---------------------------------------------------------------- the hub: its cache, never the network


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def unreachable_hub(empty_hub_cache, monkeypatch):
    """Online mode, but the hub endpoint is a local port where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")


@pytest.fixture
def no_network(empty_hub_cache, monkeypatch):
    """Online mode, and any connection fails the test: building a network reads files only."""

    def connect(*args, **kwargs):
        raise AssertionError("building an encoder must not touch the network")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(socket.socket, "connect", connect)


def assert_advice(message: str) -> None:
    assert "model.weights=" in message and "model.pretrained=false" in message and "timm/resnet18" in message
    assert "python -m colorize.weights --encoder resnet18" in message


def test_required_pretrained_weights_not_cached_fail_at_once_with_advice(no_network):
    start = time.monotonic()
    with pytest.raises(EncoderError) as raised:
        build_unet(resnet_options("model.encoder=resnet18", "model.pretrained=true"))
    assert time.monotonic() - start < QUICK_TIMEOUT_S
    assert "model.pretrained=true" in str(raised.value) and "not in the local cache" in str(raised.value)
    assert_advice(str(raised.value))


def test_default_falls_back_to_random_init_with_one_warning(no_network):
    start = time.monotonic()
    with pytest.warns(RandomInitWarning) as caught:
        net, init = build_unet(resnet_options("model.encoder=resnet18"))
    assert time.monotonic() - start < QUICK_TIMEOUT_S
    assert init == "random"
    assert len([w for w in caught if issubclass(w.category, RandomInitWarning)]) == 1
    assert "RANDOM" in str(caught[0].message)
    assert_advice(str(caught[0].message))
    assert net.body.input_mean.item() == 0.5


def test_explicit_random_init_warns_nothing(no_network):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomInitWarning)
        assert build_unet(resnet_options("model.encoder=resnet18", "model.pretrained=false")).init == "random"


@pytest.mark.parametrize(
    ("options", "fetched"),
    [
        (["model=resnet", "model.encoder=resnet18"], ["resnet18"]),
        (["model=resnet"], []),  # EfficientNet-Lite0: its weights come with an installed package
        (["model=resnet", "model.encoder=resnet18", "model.pretrained=false"], []),
        (["model=resnet", "model.encoder=resnet18", "model.weights=/w.pth"], []),
        (["model=gan", "model.body=resnet", "model.encoder=resnet18"], ["resnet18"]),
        (["model=gan"], []),  # a cnn generator has no encoder
    ],
)
def test_a_new_run_fetches_hub_weights_it_lacks_before_building(options, fetched, empty_hub_cache, monkeypatch):
    """Training, not networks/, downloads: what a new run's pretrained encoder needs, into the cache networks/ reads."""
    calls = []
    monkeypatch.setattr(fit_module, "fetch_encoder_weights", lambda encoder: calls.append(encoder))
    fit_module.fetch_pretrained_encoder(load_config(options))
    assert calls == fetched


def test_fetching_with_the_hub_unreachable_answers_fast_with_a_note(unreachable_hub, capsys):
    start = time.monotonic()
    fit_module.fetch_pretrained_encoder(load_config(["model=resnet", "model.encoder=resnet18"]))
    assert time.monotonic() - start < QUICK_TIMEOUT_S
    assert "note: cannot download resnet18's pretrained weights" in capsys.readouterr().err


def test_weights_in_the_hub_cache_are_used_offline(no_network, empty_hub_cache, resnet18_weights):
    """What a run with internet access leaves behind (timm's download) serves later offline runs."""
    _, saved = resnet18_weights
    repo = empty_hub_cache / "models--timm--resnet18.a1_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    save_file(saved, str(snapshot / "model.safetensors"))
    net, init = build_unet(resnet_options("model.encoder=resnet18", "model.pretrained=true"))
    assert init == "hub:timm/resnet18.a1_in1k"
    torch.testing.assert_close(net.body.encoder.state_dict()["layer4.1.conv2.weight"], saved["layer4.1.conv2.weight"])


# ---------------------------------------------------------------- rebuilding and recording


def test_rebuilding_from_a_checkpoint_never_fetches_weights(tmp_path, resnet18_weights, unreachable_hub):
    path, saved = resnet18_weights
    copy = tmp_path / "weights.pth"
    copy.write_bytes(path.read_bytes())
    result = train(tiny_config(tmp_path, "model=resnet", f"model.weights={copy}", "trainer.fast_dev_run=true", "logger=none"))
    assert result.module.model_cfg.init == f"file:{copy.resolve()}"
    checkpoint = tmp_path / "model.ckpt"
    result.trainer.save_checkpoint(checkpoint)
    copy.unlink()  # a rebuild that read model.weights again would fail now
    rebuilt = load_colorizer(checkpoint)
    assert rebuilt.body.input_mean.item() == pytest.approx(sum(IMAGENET_DEFAULT_MEAN) / 3)
    x = torch.rand(2, 1, 40, 40) * 2 - 1
    expected = result.module.eval()(x)
    assert expected.isfinite().all()
    torch.testing.assert_close(rebuilt(x), expected)


def test_resumed_runs_keep_their_recorded_init_and_fetch_nothing(tmp_path, unreachable_hub):
    cfg = tiny_config(tmp_path, "model=resnet", "model.pretrained=true", f"resume={tmp_path / 'last.ckpt'}")
    cfg.model.init = "hub:timm/resnet18.a1_in1k"
    module, init = create_module(cfg)  # pretrained=true with an unreachable hub would raise if weights were fetched
    assert init == module.hparams.model["init"] == "hub:timm/resnet18.a1_in1k"


def test_init_is_recorded_in_the_config_file_and_wandb(tmp_path):
    cfg = tiny_config(tmp_path, "model=resnet", "space=luv", *SMALL, "trainer.max_epochs=1", "trainer.limit_train_batches=1")
    result = train(cfg)
    assert "init: random" in (result.run.dir / "config.yaml").read_text()
    wandb_run = [lg for lg in result.trainer.loggers if type(lg).__name__ == "WandbLogger"][0].experiment
    assert wandb_run.config["model"]["init"] == "random"
    assert "init:random" in wandb_run.tags and wandb_run.group == "resnet-luv"


# ---------------------------------------------------------------- fine-tuning


def snapshot(module):
    return {
        name: {k: v.clone() for k, v in getattr(module.net.body, name).state_dict().items()} for name in ("encoder", "decoder")
    }


class Snapshots(L.Callback):
    def __init__(self, module):
        self.taken = [snapshot(module)]

    def on_train_epoch_end(self, trainer, pl_module):
        self.taken.append(snapshot(pl_module))


def fit_two_epochs(tmp_path, *args):
    cfg = tiny_config(tmp_path, "model=resnet", "model.pretrained=false", *SMALL, *args)
    module = build_module(cfg)
    snapshots = Snapshots(module)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        limit_train_batches=1,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[snapshots],
    )
    trainer.fit(module, datamodule=ColorizationDataModule(cfg.data))
    return snapshots.taken


def changed(before, after):
    return [k for k in before if not torch.equal(before[k], after[k])]


def test_encoder_is_frozen_for_the_first_epochs_then_trains(tmp_path):
    start, epoch0, epoch1 = fit_two_epochs(tmp_path, "model.freeze_encoder_epochs=1")
    assert changed(start["encoder"], epoch0["encoder"]) == []  # weights and batch-norm statistics alike
    assert changed(start["decoder"], epoch0["decoder"])
    assert changed(epoch0["encoder"], epoch1["encoder"])


def optimizer_groups(*args):
    module = build_module(load_config(["model=resnet", "model.pretrained=false", "model.scheduler=none", *args]))
    return {g.get("name"): g for g in module.configure_optimizers().param_groups}, module


def test_encoder_trains_at_a_lower_learning_rate():
    groups, module = optimizer_groups("model.encoder_lr_scale=0.25", "model.lr=0.004", "model.encoder=resnet18")
    assert groups["encoder"]["lr"] == pytest.approx(0.001) and groups["decoder"]["lr"] == pytest.approx(0.004)
    assert {id(p) for p in groups["encoder"]["params"]} == {id(p) for p in module.net.body.encoder.parameters()}
    assert len(groups["encoder"]["params"]) + len(groups["decoder"]["params"]) == len(list(module.net.parameters()))


def test_encoder_lr_scale_defaults_by_init():
    groups, _ = optimizer_groups("model.encoder=resnet18")  # random init: no reason to slow the encoder
    assert list(groups) == [None] and groups[None]["lr"] == pytest.approx(2e-3)
    options = resnet_options()
    for init, scale in [("hub:timm/resnet34.a1_in1k", 0.1), ("file:/w.pth", 0.1), ("random", 1.0), ("generator_ckpt:x", 1.0)]:
        options.init = init
        assert encoder_lr_scale(options) == scale, init


@pytest.mark.slow
def test_freezing_works_under_ddp(tmp_path):
    """A frozen encoder gets no gradients, which plain DDP rejects; the module asks for find_unused_parameters."""
    tiny_data = [a for a in TINY_TRAINING if not a.startswith("trainer.")]  # ddp_sim picks the devices
    args = [*tiny_data, "model=resnet", "model.pretrained=false", *SMALL, "model.freeze_encoder_epochs=1"]
    args += ["trainer=ddp_sim", "trainer.max_epochs=2", "trainer.limit_train_batches=2", "logger=none"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "colorize.train", *args, f"runs_dir={tmp_path}", "name=ddp"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "ddp" / "checkpoints" / "last.ckpt").is_file()


# ---------------------------------------------------------------- as the GAN's generator

GAN_RESNET = ["model=gan", "model.body=resnet", "model.ndf=8", "logger=none", *SMALL]


def test_gan_generator_freezes_its_encoder_too(tmp_path):
    cfg = tiny_config(tmp_path, *GAN_RESNET, "model.pretrained=false", "model.freeze_encoder_epochs=1")
    module = build_module(cfg)
    before = snapshot(module)
    trainer = L.Trainer(fast_dev_run=True, accelerator="cpu", logger=False, enable_progress_bar=False)
    trainer.fit(module, datamodule=ColorizationDataModule(cfg.data))
    after = snapshot(module)
    assert changed(before["encoder"], after["encoder"]) == []
    assert changed(before["decoder"], after["decoder"])


def test_gan_warm_starts_from_a_resnet_run_whatever_its_training_options(tmp_path, unreachable_hub):
    """Only the options that shape the network must match; pretrained weights are not fetched for a warm start."""
    args = ["model=resnet", *SMALL, "model.pretrained=false", "trainer.fast_dev_run=true", "logger=none"]
    resnet_run = train(tiny_config(tmp_path, *args))
    checkpoint = tmp_path / "resnet.ckpt"
    resnet_run.trainer.save_checkpoint(checkpoint)
    cfg = tiny_config(
        tmp_path, *GAN_RESNET, "model.pretrained=true", "model.freeze_encoder_epochs=2", f"model.generator_ckpt={checkpoint}"
    )
    gan, init = create_module(cfg)  # pretrained=true with an unreachable hub would raise if weights were fetched
    assert init == f"generator_ckpt:{checkpoint}"
    trained = resnet_run.module.net.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in gan.net.state_dict().items())

    other = tiny_config(tmp_path, *GAN_RESNET, "model.decoder_channels=[16,16,16,8,8]", f"model.generator_ckpt={checkpoint}")
    with pytest.raises(UserError, match=r"model.decoder_channels=\[32, 16, 16, 8, 8\]"):
        build_module(other)
