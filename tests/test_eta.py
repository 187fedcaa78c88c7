"""The line per training epoch: its time and about how long the run has left."""

import re

import pytest

from colorize.training.eta import duration, time_left
from colorize.training.fit import train
from conftest import tiny_config


def test_durations_read_as_a_person_says_them():
    assert [duration(s) for s in (4.4, 59.6, 65, 3599, 7620)] == ["4 s", "1 min 00 s", "1 min 05 s", "59 min 59 s", "2 h 07 min"]


def test_time_left_is_the_mean_epoch_times_the_epochs_left_or_the_first_limit_reached():
    # 3 of 10 epochs done at 20, 22 and 24 s: 7 more at 22 s
    assert time_left([20, 22, 24], 3, 10, 28, 84, -1) == pytest.approx(154)
    # max_steps=140 ends it first: 56 steps left at 28 steps per epoch is 2 epochs
    assert time_left([20, 22, 24], 3, 10, 28, 84, 140) == pytest.approx(44)
    # trainer.max_time's timer says 30 s
    assert time_left([20, 22, 24], 3, 10, 28, 84, -1, timer_left=30.0) == 30.0
    assert time_left([20], 1, None, 28, 28, -1) is None  # no limit: no estimate
    assert time_left([], 0, 10, 0, 0, -1) is None
    assert time_left([20], 10, 10, 28, 280, -1) == 0


def test_training_prints_each_epoch_with_the_time_left(tmp_path, capsys):
    cfg = tiny_config(tmp_path, "trainer.max_epochs=3", "trainer.limit_train_batches=2", "logger=none")
    train(cfg)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert [line.partition(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert re.fullmatch(r"epoch 1/3: \d+ s; about \d+ (s|min \d\d s) left", lines[0])
    assert re.fullmatch(r"epoch 3/3: \d+ s", lines[-1])  # nothing left to estimate
