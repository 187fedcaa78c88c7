"""The house's floors: no import cycles, inference without Lightning, commands that answer before importing torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import colorize

PACKAGE = Path(colorize.__file__).parent
HEAVY = ("torch", "lightning", "timm")


def module_files() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = module_files()


def type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imported(name: str, path: Path) -> set[str]:
    """Every module that ``name`` imports, at any depth of its code (a function's own imports too), by full name;
    what ``if TYPE_CHECKING:`` imports for annotations alone is left out."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if type_checking_only(node):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    found.discard(name)
    return found


GRAPH = {name: imported(name, path) for name, path in MODULES.items()}


def test_the_package_has_no_import_cycle():
    """Tarjan's strongly connected components over colorize's own modules: each must be a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in (m for m in GRAPH[node] if m in GRAPH):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in GRAPH:
        if name not in index:
            connect(name)
    assert cycles == []


def reachable(start: str) -> set[str]:
    """Every module, colorize's or not, that ``start`` imports directly or through colorize's modules."""
    seen, todo = set(), [start]
    while todo:
        for other in GRAPH.get(todo.pop(), ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("colorize.inference")))
def test_inference_never_imports_lightning(name):
    assert not any(m == "lightning" or m.startswith("lightning.") for m in reachable(name)), reachable(name)


# The standard library's and the common HTTP clients' modules: what it takes to reach a server.
NETWORK_CLIENTS = ("urllib", "http", "socket", "ssl", "requests", "urllib3", "httpx")


def downloaders(name: str) -> set[str]:
    """What ``name`` reaches (through colorize's modules, at any depth) that talks to a server: a network client, or
    colorize.downloads."""
    return {m for m in reachable(name) if m.split(".")[0] in NETWORK_CLIENTS or m == "colorize.downloads"}


def test_the_downloads_rule_can_fail():
    assert {"urllib.request", "colorize.downloads"} <= downloaders("colorize.weights")


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("colorize.networks")))
def test_networks_import_nothing_that_downloads(name):
    """Building a network reads files only. Outside colorize this cannot see: timm and torch can download, and
    networks/ never asks them to (create_encoder gives timm a local file or no weights)."""
    assert downloaders(name) == set()


def test_nothing_imports_a_command():
    commands = {m for m, path in MODULES.items() if path.parent == PACKAGE and "def main(" in path.read_text()}
    assert {"colorize.train", "colorize.predict", "colorize.evaluate", "colorize.compare", "colorize.onnx_predict"} <= commands
    importers = {name: GRAPH[name] & commands for name in GRAPH if GRAPH[name] & commands}
    assert importers == {}


def test_portable_imports_nothing_of_colorize_and_onnx_predict_only_portable():
    """The two files make export copies beside a model run without colorize: onnx_predict imports portable alone (from
    its package, or beside it)."""
    assert not {m for m in GRAPH["colorize.portable"] if m.startswith("colorize")}
    ours = {m for m in GRAPH["colorize.onnx_predict"] if m.startswith("colorize") or m == "portable"}
    assert ours == {"colorize", "colorize.portable", "portable"}


def test_a_trained_colorizer_loads_and_colorizes_without_lightning(trained_runs, tmp_path):
    checkpoint = trained_runs / "cnn-lab-seed0" / "checkpoints" / "last.ckpt"
    code = (
        "import sys, torch\n"
        "from colorize.inference.loading import load_colorizer\n"
        "from colorize.inference.colorizing import colorize_rgb, network_predictor\n"
        f"colorizer = load_colorizer({str(checkpoint)!r})\n"
        "rgb = colorize_rgb(colorizer.space, torch.rand(1, 3, 40, 50), network_predictor(colorizer), 32)\n"
        "assert rgb.shape == (1, 3, 40, 50)\n"
        "print(sorted(m for m in ('lightning', 'pytorch_lightning') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"


COMMANDS = sorted(m for m, path in MODULES.items() if path.parent == PACKAGE and "def main(" in path.read_text())
# A config error for each command: an unknown choice where it takes a config, else arguments it cannot use.
CONFIG_ERROR = {
    "colorize.train": ["model=resnt"],
    "colorize.prepare": ["data=foldr"],
    "colorize.sweep": ["--models", "resnt"],
    "colorize.study": ["--models", "resnt"],
    "colorize.photos": ["--quality", "0"],
    "colorize.demo": ["--max-megapixels", "many"],
    "colorize.weights": ["--everything"],
}


def test_predict_reports_a_bad_path_or_hints_file_before_importing_torch(tmp_path):
    Image.new("RGB", (40, 30)).save(tmp_path / "photo.png")
    (tmp_path / "hints.json").write_text('{"hints": [{"x": 1, "y": 2, "colour": "#ff8800"}]}')
    code = (
        "import sys\n"
        "from colorize.predict import main\n"
        "status = main(sys.argv[1:])\n"
        f"print('exit', status, sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    for args, words in (
        (["photo.png", "out.png", "--hints", "hints.json"], "hint 1: unknown key 'colour'"),
        (["missing.png", "out.png"], "missing.png: no such photo"),
    ):
        paths = [str(tmp_path / arg) if arg.endswith((".png", ".json", ".ckpt")) else arg for arg in ["model.ckpt", *args]]
        run = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True)
        assert run.stdout.strip() == "exit 2 []", run.stdout + run.stderr
        assert run.stderr.startswith("error: ") and words in run.stderr, run.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help_and_a_config_error_before_importing_torch(command):
    code = (
        "import sys\n"
        f"import {command} as command\n"
        "for argv in (['--help'], sys.argv[1:]):\n"
        "    try:\n"
        "        status = command.main(argv)\n"
        "    except SystemExit as e:\n"
        "        status = e.code\n"
        "    print('exit', status)\n"
        f"print('heavy', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    argv = [sys.executable, "-c", code, *CONFIG_ERROR.get(command, [])]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert run.stdout.splitlines()[-1] == "heavy []", run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stdout.splitlines()[-3:-1] == ["exit 0", "exit 2"], run.stdout[-2000:] + run.stderr[-2000:]
    assert "Traceback" not in run.stderr
