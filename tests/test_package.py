"""colorize runs from a source checkout that is not installed (``PYTHONPATH=src``), as well as installed."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib.metadata import distribution
from pathlib import Path
from urllib.parse import urlparse

import pytest
import tomllib

import colorize

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def run_uninstalled(tmp_path, *args, with_dependencies=False):
    """``python -S args`` with only src/ (and, if asked, the installed packages other than colorize) on the path:
    -S skips site-packages, so no colorize distribution is visible, as in a checkout that was never installed."""
    path = [str(ROOT / "src")]
    if with_dependencies:
        others = tmp_path / "site-packages-without-colorize"
        if not others.exists():
            others.mkdir()
            for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
                if not entry.name.lower().startswith(("colorize", "_editable_impl_colorize")):
                    (others / entry.name).symlink_to(entry)
        path.append(str(others))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": os.pathsep.join(path)}
    return subprocess.run([sys.executable, "-S", *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)


def test_installed_version_is_the_projects():
    origin = json.loads(distribution("colorize").read_text("direct_url.json") or "{}").get("url", "")
    if origin.startswith("file://") and Path(urlparse(origin).path).resolve() != ROOT:
        pytest.skip(f"the colorize installed here is another checkout's ({origin}); make env installs this one")
    assert colorize.__version__ == PYPROJECT_VERSION


def test_a_source_checkout_that_is_not_installed_reads_its_version_from_pyproject(tmp_path):
    run = run_uninstalled(
        tmp_path, "-c", "import importlib.metadata as m, colorize; print(colorize.__version__); m.version('colorize')"
    )
    assert run.stdout.strip() == PYPROJECT_VERSION
    assert "PackageNotFoundError" in run.stderr  # so the metadata really was not there


@pytest.mark.slow
def test_training_entry_point_starts_from_a_source_checkout_that_is_not_installed(tmp_path):
    run = run_uninstalled(tmp_path, "-m", "colorize.train", "--help", with_dependencies=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "model" in run.stdout
    run = run_uninstalled(
        tmp_path, "-c", "import colorize.checkpoints as c; print(c.marker()['version'])", with_dependencies=True
    )
    assert run.stdout.strip() == PYPROJECT_VERSION, run.stderr[-3000:]


def uv() -> str:
    found = shutil.which("uv") or ROOT / ".tools" / "bin" / "uv"
    if not Path(found).is_file():
        pytest.skip("uv is not installed (make env installs it into .tools/)")
    return str(found)


@pytest.mark.slow
def test_an_installed_wheel_finds_its_presets_and_composes_every_config(tmp_path):
    """A non-editable install has no checkout beside it: configs/ must ship inside the package."""
    build = subprocess.run([uv(), "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next(tmp_path.glob("colorize-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [uv(), "pip", "install", "--quiet", "--python", str(python), str(wheel), "omegaconf"], capture_output=True, text=True
    )
    assert install.returncode == 0, install.stderr[-3000:]
    code = (
        "from colorize.config import available_choices, config_dir, load_config\n"
        "print(config_dir())\n"
        "assert 'cifar10' in available_choices('data') and 'ddp' in available_choices('trainer')\n"
        "cfg = load_config(['data=cifar10', 'trainer=ddp_sim', 'model=gan'])\n"
        "assert (cfg.data.dataset, cfg.trainer.devices) == ('CIFAR10', 2)\n"
    )
    run = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "site-packages" in run.stdout and str(ROOT) not in run.stdout
