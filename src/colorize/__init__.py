from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def _source_checkout_version() -> str:
    """The version in pyproject.toml, for a source checkout run without installing it (``PYTHONPATH=src``)."""
    try:
        import tomllib  # Python 3.11+

        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    except (ImportError, OSError, KeyError, ValueError):
        return "0+unknown"


try:
    __version__ = version("colorize")
except PackageNotFoundError:
    __version__ = _source_checkout_version()
