"""What a command can tell from its arguments and the file system alone, it tells before importing torch (seconds):
a data folder that is not there."""

import subprocess
import sys

import pytest

HEAVY = ("torch", "lightning", "timm")


def run_main(command: str, *argv: str) -> subprocess.CompletedProcess:
    code = (
        "import sys\n"
        f"import {command} as command\n"
        "status = command.main(sys.argv[1:])\n"
        f"print('heavy', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "sys.exit(status)\n"
    )
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", ["colorize.train", "colorize.prepare"])
def test_a_missing_data_folder_is_told_before_torch_is_imported(command, tmp_path):
    run = run_main(command, "data=folder", f"data.root={tmp_path / 'missing'}")
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.strip() == f"error: data.root='{tmp_path / 'missing'}' is not a folder. Point it at a directory of photos."
    assert run.stdout.splitlines()[-1] == "heavy []"


def test_a_missing_validation_folder_is_told_before_torch_is_imported(tmp_path):
    (tmp_path / "photos").mkdir()
    run = run_main("colorize.train", "data=folder", f"data.root={tmp_path / 'photos'}", f"data.val_root={tmp_path / 'val'}")
    assert run.returncode == 2 and "data.val_root=" in run.stderr and "is not a folder" in run.stderr, run.stderr[-2000:]
    assert run.stdout.splitlines()[-1] == "heavy []"
