"""Streaming data sets (LitData): make prepare writes them, data=streaming trains from them, on one process or many."""

import csv
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar
from litdata import StreamingDataset

import colorize.data.litdata_stream
from colorize.config import load_config
from colorize.data.datamodule import ColorizationDataModule
from colorize.data.litdata_stream import MANIFEST, StreamError, decode_name, read_manifest
from colorize.data.prepare import prepare
from colorize.data.resized import read_resized
from colorize.prepare import main as prepare_main
from colorize.reports.comparison import validation_crops
from colorize.reports.evaluation import evaluate
from colorize.train import config_for
from colorize.training.fit import train
from conftest import SWEPT, TINY, TRAIN_PHOTOS, VAL_PHOTOS, prepare_args, tiny_config
from test_faults import RandomDraws, SignalAt, add_callback, train_losses, val_metrics, val_rows

BATCH = 4
# One crop per image and epoch; 16 training images: 4 batches of 4, or 2 per process under DDP (8 validation
# images: a batch per process).
STREAMING = ["data.train_crops_per_image=1", "data.val_crops_per_image=1", "data.num_workers=0"]


def stream_config(tmp_path, stream, *args):
    return tiny_config(tmp_path, "data=streaming", f"data.root={stream}", *STREAMING, *args)


def names(split_dir) -> list[str]:
    dataset = StreamingDataset(str(split_dir))
    return [decode_name(dataset[i]["name"]) for i in range(len(dataset))]


def stored_images(split_dir) -> dict[str, torch.Tensor]:
    """Each item's image as stored (a raw tensor, or JPEG bytes), by its name."""
    dataset = StreamingDataset(str(split_dir))
    return {decode_name(dataset[i]["name"]): dataset[i]["image"] for i in range(len(dataset))}


# ---------------------------------------------------------------- writing


def test_prepare_writes_every_readable_image_once_and_names_the_unreadable(written):
    photos, val, stream, report = written
    assert report.written == {"train": TRAIN_PHOTOS, "val": VAL_PHOTOS} and not report.up_to_date
    assert len(report.unreadable) == 1 and str(photos / "broken.jpg") in report.unreadable[0]
    readable = sorted(str(p) for p in photos.rglob("img*.jpg"))
    assert sorted(names(stream / "train")) == readable
    assert sorted(names(stream / "val")) == sorted(str(p) for p in val.glob("*.jpg"))
    manifest = read_manifest(str(stream))
    assert manifest["encoding"] == "jpeg" and manifest["quality"] == 90 and manifest["prepare_size"] == 40
    assert manifest["items"] == report.written and manifest["unreadable"] == report.unreadable
    assert not (stream / colorize.data.litdata_stream.IN_PROGRESS).exists()


def test_a_second_prepare_with_the_same_input_writes_nothing(written, capsys):
    photos, val, stream, _ = written
    before = {p: p.stat().st_mtime_ns for p in stream.rglob("*")}
    assert prepare_main(prepare_args(photos, val, stream)) == 0
    assert "up to date (same images and settings); nothing written" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in stream.rglob("*")} == before


def test_items_are_the_resized_images_exactly_raw_or_closely_as_jpeg(written, tmp_path):
    photos, val, stream, _ = written
    prepare(load_config(prepare_args(photos, val, tmp_path / "raw", "data.stream_encoding=raw")).data, progress=False)
    jpeg, by_name = StreamingDataset(str(stream / "val")), stored_images(tmp_path / "raw" / "val")
    for i in range(len(jpeg)):
        item = jpeg[i]
        expected = read_resized(Path(decode_name(item["name"])), 40)
        assert torch.equal(by_name[decode_name(item["name"])], expected)
        decoded = colorize.data.litdata_stream.decode_item_image(item["image"])
        assert decoded.shape == expected.shape and decoded.dtype == torch.uint8
        assert (decoded.int() - expected.int()).abs().float().mean() < 6  # JPEG quality 90, at 40 px
    assert (tmp_path / "raw" / "train").stat().st_size > 0


def test_other_input_settings_or_a_foreign_folder_are_refused_and_left_as_they_are(written, tmp_path):
    photos, val, stream, _ = written
    manifest = (stream / MANIFEST).read_text()
    with pytest.raises(StreamError, match="made from other images or settings"):
        prepare(load_config(prepare_args(photos, val, stream, "data.stream_quality=80")).data, progress=False)
    assert (stream / MANIFEST).read_text() == manifest
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(StreamError, match="not empty and holds no colorize streaming data set"):
        prepare(load_config(prepare_args(photos, val, foreign)).data, progress=False)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_an_interrupted_prepare_is_never_trained_on_and_the_next_one_starts_over(written, tmp_path, monkeypatch):
    photos, val, _, _ = written
    stream = tmp_path / "stream"
    optimize = colorize.data.litdata_stream.optimize

    def killed_during_val(*args, output_dir, **kwargs):
        if output_dir.endswith("/val"):
            (Path(output_dir) / "chunk-0-0.bin").parent.mkdir(parents=True)
            (Path(output_dir) / "chunk-0-0.bin").write_bytes(b"half a chunk")
            raise KeyboardInterrupt
        return optimize(*args, output_dir=output_dir, **kwargs)

    monkeypatch.setattr(colorize.data.litdata_stream, "optimize", killed_during_val)
    with pytest.raises(KeyboardInterrupt):
        prepare(load_config(prepare_args(photos, val, stream)).data, progress=False)
    assert (stream / "train" / "index.json").is_file() and not (stream / MANIFEST).exists()
    with pytest.raises(StreamError, match="not a complete streaming data set .a make prepare that wrote it did not finish"):
        ColorizationDataModule(stream_config(tmp_path, stream).data).setup("fit")

    monkeypatch.undo()
    report = prepare(load_config(prepare_args(photos, val, stream)).data, progress=False)
    assert report.restarted and report.written == {"train": TRAIN_PHOTOS, "val": VAL_PHOTOS}
    assert sorted(names(stream / "val")) == sorted(str(p) for p in val.glob("*.jpg"))
    assert not (stream / colorize.data.litdata_stream.IN_PROGRESS).exists()


def test_sample_photos_can_be_streamed_too(tmp_path):
    report = prepare(tiny_config(tmp_path, "data.prepare_size=64", f"data.stream_to={tmp_path / 's'}").data, progress=False)
    assert report.written == {"train": 7, "val": 1} and sorted(names(tmp_path / "s" / "val")) == ["chelsea"]


def fake_cifar10(root: Path, per_batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Random images in CIFAR-10's own files (five training batches and a test batch); returns (train, test) HWC."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images = np.random.default_rng(0).integers(0, 256, (6 * per_batch, 32, 32, 3), dtype=np.uint8)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        batch = images[i * per_batch : (i + 1) * per_batch]
        rows = batch.transpose(0, 3, 1, 2).reshape(per_batch, -1)  # CIFAR's layout: channel planes, row-major
        (folder / name).write_bytes(pickle.dumps({"data": rows, "labels": [0] * per_batch}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": ["thing"]}))
    return images[: 5 * per_batch], images[5 * per_batch :]


def test_a_torchvision_data_set_is_streamed_too(tmp_path, monkeypatch):
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)  # not the real files
    train, test = fake_cifar10(tmp_path / "cifar", per_batch=2)
    args = ["data=cifar10", f"data.root={tmp_path / 'cifar'}", "data.stream_encoding=raw", f"data.stream_to={tmp_path / 's'}"]
    report = prepare(tiny_config(tmp_path, *args).data, progress=False)
    assert report.written == {"train": len(train), "val": len(test)}
    for split, images in (("train", train), ("val", test)):
        stored = stored_images(tmp_path / "s" / split)
        assert stored.keys() == {f"CIFAR10[{i}]" for i in range(len(images))}
        for i, image in enumerate(images):
            assert torch.equal(stored[f"CIFAR10[{i}]"], torch.from_numpy(image).permute(2, 0, 1))
    assert prepare(tiny_config(tmp_path, *args).data, progress=False).up_to_date


# ---------------------------------------------------------------- reading


def test_training_crops_are_random_per_epoch_and_seed_and_validation_crops_fixed(written, tmp_path):
    stream = written[2]

    def epochs(seed, n=2):
        datamodule = ColorizationDataModule(stream_config(tmp_path, stream).data, seed=seed)
        datamodule.setup("fit")
        loader = datamodule.train_dataloader()
        return [torch.cat([batch.rgb for batch in loader]) for _ in range(n)], datamodule

    (first, second), datamodule = epochs(seed=0)
    assert first.shape == (TRAIN_PHOTOS, 3, 32, 32) and first.dtype == torch.uint8
    assert not torch.equal(first, second)  # another shuffle, other crops and flips
    assert all(torch.equal(a, b) for a, b in zip(epochs(seed=0)[0], (first, second)))
    assert not torch.equal(epochs(seed=1, n=1)[0][0], first)
    val = [torch.cat([b.rgb for b in datamodule.val_dataloader()]) for _ in range(2)]
    assert val[0].shape == (VAL_PHOTOS, 3, 32, 32) and torch.equal(val[0], val[1])
    # compare's image sheet scores the same validation crops
    assert torch.equal(validation_crops(stream_config(tmp_path, stream)), val[0])


def test_on_several_nodes_every_epoch_shares_every_item_out_once(written, monkeypatch):
    """LitData told of 2 nodes ($NNODES, which scripts/torchrun.sh's users set; on GPUs it counts them) would, from the
    second epoch on, give a chunk that both nodes read in the first to both, whole: here the one chunk, to each."""
    seen: list[int] = []
    load = colorize.data.litdata_stream.StreamingCrops.__getitem__
    monkeypatch.setattr(
        colorize.data.litdata_stream.StreamingCrops, "__getitem__", lambda s, i: seen.append(i.index) or load(s, i)
    )
    monkeypatch.setenv("NNODES", "2")
    monkeypatch.setenv("WORLD_SIZE", "2")
    for epoch in (1, 2, 3):
        shares = []
        for rank in (0, 1):
            monkeypatch.setenv("GLOBAL_RANK", str(rank))
            dataset = colorize.data.litdata_stream.StreamingCrops(
                str(written[2] / "train"), 32, True, seed=0, fixed=False, shuffle=True
            )
            dataset.set_epoch(epoch)
            seen.clear()
            list(dataset)
            shares.append(sorted(seen))
        assert sorted(shares[0] + shares[1]) == list(range(TRAIN_PHOTOS)), f"epoch {epoch}: {shares}"


def test_a_run_trains_from_the_stream_and_evaluate_scores_it(written, tmp_path):
    photos, val, stream, _ = written
    result = train(stream_config(tmp_path, stream, "logger=csv", "trainer.max_epochs=1"))
    assert result.trainer.global_step == TRAIN_PHOTOS // BATCH
    metrics = val_metrics(result)
    assert metrics["val/delta_e"] > 0 and all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    report, _ = evaluate(result.checkpoint.best_model_path, data=str(val), device="cpu", eval_size=64, fid=False)
    assert report["test_set"]["images"] == VAL_PHOTOS and report["rows"]["cnn-lab"]["delta_e"] > 0


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "needs data.root"),
        (["data.root=ROOT", "data.train_crops_per_image=2"], "one crop per image and epoch"),
        (["data.root=ROOT", "data.crop_size=48"], "smaller than data.crop_size=48"),
        (["data.root=ROOT", "data.batch_size=32"], "fewer than one batch"),
        (["data.root=NOWHERE"], "not a complete streaming data set .it is not one"),
    ],
)
def test_settings_that_cannot_work_are_clear_errors(written, tmp_path, args, message):
    args = [a.replace("ROOT", str(written[2])).replace("NOWHERE", str(tmp_path)) for a in args]
    cfg = tiny_config(tmp_path, "data=streaming", *STREAMING, *args)
    with pytest.raises(StreamError, match=message):
        ColorizationDataModule(cfg.data).setup("fit")


@pytest.fixture
def offline_cloud(monkeypatch):
    """S3 credentials and an endpoint on this machine, so that nothing is sent anywhere else."""
    for var, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(var, value)


def test_a_cloud_url_that_cannot_be_reached_fails_fast_and_clearly(tmp_path, monkeypatch, offline_cloud):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    cfg = tiny_config(tmp_path, "data=streaming", "data.root=s3://colorize-test/photos", *STREAMING)
    started = time.monotonic()
    with pytest.raises(StreamError, match="Cannot reach s3://colorize-test/photos while reading its manifest"):
        ColorizationDataModule(cfg.data).setup("fit")
    assert time.monotonic() - started < colorize.data.litdata_stream.CLOUD_TIMEOUT_S


def test_a_cloud_url_that_never_answers_is_given_up_after_the_time_limit(tmp_path, monkeypatch, offline_cloud):
    with socket.socket() as server:  # accepts connections (the kernel's backlog) but never answers
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
        monkeypatch.setattr(colorize.data.litdata_stream, "CLOUD_TIMEOUT_S", 2.0)
        cfg = tiny_config(tmp_path, "data=streaming", "data.root=s3://colorize-test/photos", *STREAMING)
        started = time.monotonic()
        with pytest.raises(StreamError, match="did not answer within 2 s while reading its manifest"):
            ColorizationDataModule(cfg.data).setup("fit")
        assert time.monotonic() - started < 10


# ---------------------------------------------------------------- training: models, resume, several processes


@pytest.mark.slow
@pytest.mark.parametrize("model", [["model=resnet", "model.pretrained=false", "space=luv"], ["model=gan", "model.ndf=8"]])
def test_every_model_trains_from_the_stream(written, tmp_path, model):
    result = train(stream_config(tmp_path, written[2], *model, "logger=none", "trainer.max_epochs=1"))
    steps_per_batch = 2 if "model=gan" in model else 1
    assert result.trainer.global_step == steps_per_batch * TRAIN_PHOTOS // BATCH
    assert torch.isfinite(torch.tensor(val_metrics(result)["val/delta_e"]))


RUN = ["trainer.max_epochs=2", "trainer.log_every_n_steps=1", "trainer.num_sanity_val_steps=0", "logger=csv"]


@pytest.mark.slow
def test_sigterm_mid_epoch_then_resume_matches_an_uninterrupted_run(written, tmp_path, monkeypatch):
    """The real thing: our modules read trainer.estimated_stepping_batches in configure_optimizers (lightning#20550)."""
    stream = written[2]
    whole_draws = RandomDraws()
    add_callback(monkeypatch, whole_draws)
    whole = train(stream_config(tmp_path, stream, *RUN, "name=whole"))

    monkeypatch.undo()
    first_draws, resumed_draws = RandomDraws(), RandomDraws()
    add_callback(monkeypatch, first_draws)
    add_callback(monkeypatch, SignalAt(batch_idx=1, signum=signal.SIGTERM))  # after 2 of the epoch's 4 batches
    stopped = train(stream_config(tmp_path, stream, *RUN, "name=stopped"))
    assert stopped.interrupt.signal == signal.SIGTERM and stopped.interrupt.saved
    last = stopped.run.dir / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 2

    monkeypatch.undo()
    add_callback(monkeypatch, resumed_draws)
    resumed = train(config_for([f"resume={last}"]))
    assert resumed.trainer.global_step == whole.trainer.global_step == 8

    assert len(train_losses(whole.run.dir)) == 8
    assert train_losses(stopped.run.dir) == train_losses(whole.run.dir)  # the same batches at every step
    for (name, a), b in zip(whole.module.state_dict().items(), resumed.module.state_dict().values()):
        assert torch.equal(a, b), name
    assert val_metrics(resumed) == val_metrics(whole)
    assert val_rows(stopped.run.dir) == val_rows(whole.run.dir)
    assert {**first_draws.draws, **resumed_draws.draws} == whole_draws.draws


def seen_per_epoch(run_dir: Path, rank: int) -> dict[int, list[int]]:
    epochs: dict[int, list[int]] = {}
    for epoch, item in json.loads((run_dir / f"seen-rank{rank}.json").read_text()):
        epochs.setdefault(epoch, []).append(item)
    return epochs


def assert_disjoint_shares_covering_every_item(run_dir: Path) -> None:
    ranks = [seen_per_epoch(run_dir, rank) for rank in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys() and len(ranks[0]) == 2  # two epochs
    for epoch in ranks[0]:
        share0, share1 = ranks[0][epoch], ranks[1][epoch]
        assert len(share0) == len(share1) == TRAIN_PHOTOS // 2
        assert not set(share0) & set(share1)
        assert sorted(share0 + share1) == list(range(TRAIN_PHOTOS))  # every item once
    assert ranks[0][1] != ranks[0][2]  # reshuffled


def worker_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_ddp_sim_processes_see_disjoint_shares_that_together_cover_each_epoch(written, tmp_path):
    args = [*TINY, *STREAMING, "data=streaming", f"data.root={written[2]}", "trainer=ddp_sim", "trainer.devices=2"]
    args += [*RUN, f"runs_dir={tmp_path / 'runs'}", "name=ddp", "trainer.limit_val_batches=1"]
    done = subprocess.run(
        [sys.executable, "-m", "stream_worker", *args],
        cwd=Path(__file__).parent,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = tmp_path / "runs" / "ddp"
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2 * TRAIN_PHOTOS // 2 // BATCH
    assert_disjoint_shares_covering_every_item(run_dir)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_share_the_data_one_run_directory_and_one_wandb_run(written, tmp_path):
    """Two "nodes" on this machine, one process each, as scripts/slurm.sbatch launches them on a cluster."""
    runs = tmp_path / "runs"
    args = [*TINY, *STREAMING, "data=streaming", f"data.root={written[2]}", *RUN, "logger=wandb", "logger.mode=offline"]
    args += ["trainer.accelerator=cpu", "trainer.strategy=ddp", "trainer.num_nodes=2", "trainer.devices=1"]
    args += [f"runs_dir={runs}", "name=two-nodes", "trainer.limit_val_batches=1"]
    port = str(free_port())
    nodes = [
        subprocess.Popen(
            [sys.executable, "-m", "stream_worker", *args],
            cwd=Path(__file__).parent,
            env={**worker_env(), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "NODE_RANK": str(rank), "WORLD_SIZE": "2"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(o[-3000:] for o in outputs)

    assert [p.name for p in runs.iterdir()] == ["two-nodes"]
    run_dir = runs / "two-nodes"
    assert_disjoint_shares_covering_every_item(run_dir)
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2 * TRAIN_PHOTOS // 2 // BATCH


@pytest.mark.slow
def test_a_sweep_runs_every_space_on_the_stream_and_compare_reports_on_it(written, tmp_path):
    from colorize.compare import main as compare
    from colorize.sweep import main as sweep

    argv = ["--models", "cnn", "--spaces", "lab", "luv", "--seeds", "0", "--name", "s", "--gpus", "none", "--"]
    argv += [*SWEPT, *STREAMING, "data=streaming", f"data.root={written[2]}", f"runs_dir={tmp_path}", "logger=csv"]
    assert sweep([*argv, "trainer.max_epochs=1"]) == 0
    for space in ("lab", "luv"):
        assert (tmp_path / "s" / f"cnn-{space}-seed0" / "checkpoints" / "last.ckpt").is_file()
    assert compare([str(tmp_path / "s"), "--out", str(tmp_path / "report"), "--device", "cpu", "--no-fid"]) == 0
    with (tmp_path / "report" / "table.csv").open() as f:
        cells = {(row["model"], row["space"]) for row in csv.DictReader(f)}
    assert {("cnn", "lab"), ("cnn", "luv")} <= cells
    assert any((tmp_path / "report").glob("*.png"))  # the image sheet, of the stream's validation crops
