"""The benchmark runs end to end (--quick, toy sizes) and writes its report; what it measures is not checked."""

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import measure, run
from benchmarks.photos import QUICK_SIZES, make_photos
from benchmarks.report import data_summary, gpu_lines, row_goal, startup_goals
from benchmarks.run import DEFAULT_STREAM, QUICK, RESIDENT, STREAM_ENCODINGS, Bench, bf16_peak_tflops, default_out
from benchmarks.startup import Launch, cold_start, imported_packages
from conftest import MODELS, SPACE_NAMES


def test_peak_table_matches_the_most_specific_name_first():
    assert bf16_peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert bf16_peak_tflops("NVIDIA H100 80GB HBM3") == 989.4
    assert bf16_peak_tflops("NVIDIA A10G") == 70.0 and bf16_peak_tflops("NVIDIA A10") == 125.0
    assert bf16_peak_tflops("Some Future GPU") is None


def test_data_ratios_are_taken_within_each_round_then_the_median():
    rounds = [
        {"pix2pix": {"images_per_s": {"none": 10.0}}, "cached": {"images_per_s": {"none": 100.0, "eager": 30.0}}},
        {"pix2pix": {"images_per_s": {"none": 20.0}}, "cached": {"images_per_s": {"none": 120.0, "eager": 40.0}}},
        {"pix2pix": {"images_per_s": {"none": 5.0}}, "cached": {"images_per_s": {"none": 60.0, "eager": 20.0}}},
    ]
    summary = data_summary({"rounds": rounds})
    assert summary["cached"]["ratio_to_pix2pix"] == {"none": 10.0, "eager": 3.0}  # medians of (10, 6, 12) and (3, 2, 4)
    assert summary["cached"]["images_per_s"] == {"none": 100.0, "eager": 30.0}


def test_imports_are_read_from_python_s_own_importtime_report():
    run_ = subprocess.run([sys.executable, "-X", "importtime", "-c", "import json"], capture_output=True, text=True, check=True)
    imported = imported_packages(run_.stderr)
    assert "json" in imported and "imported" not in imported and "torch" not in imported
    assert imported_packages("no report here\n") == []


def test_cold_start_times_fresh_processes_round_by_round_against_their_baseline(tmp_path):
    out = tmp_path / "written.txt"
    commands = [
        Launch("pass", ("-c", "pass")),
        Launch(
            "json",
            ("-c", f"import json, pathlib; pathlib.Path({str(out)!r}).write_text('x')"),
            baseline="pass",
            must_not_import=("json", "torch"),
            output=out,
        ),
        Launch("error", ("-c", "import sys; sys.exit('config error: no such thing')"), baseline="pass", exit_code=1),
    ]
    result = cold_start(commands, rounds=3)
    rows = result["commands"]
    assert [len(row["seconds"]) for row in rows.values()] == [3, 3, 3] and result["rounds"] == 3
    json_row, passed = rows["json"], rows["pass"]
    assert json_row["min_s"] <= json_row["median_s"] <= json_row["max_s"] and json_row["median_s"] > 0
    differences = sorted(a - b for a, b in zip(json_row["seconds"], passed["seconds"]))
    assert json_row["over_baseline_s"] == round(differences[1], 3)
    assert json_row["imported_against_goal"] == ["json"] and json_row["imports"] == []
    assert rows["error"]["message"] == "config error: no such thing" and passed["message"] is None
    assert "over_baseline_s" not in passed and passed["command"] == "python -c pass"


def test_a_launch_that_fails_or_writes_nothing_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="exit status 3, expected 0"):
        cold_start([Launch("fails", ("-c", "raise SystemExit(3)"))], rounds=1)
    with pytest.raises(RuntimeError, match="without writing"):
        cold_start([Launch("lazy", ("-c", "pass"), output=tmp_path / "colour.png")], rounds=1)


def test_the_cold_start_goals_read_the_predict_row_and_the_imports():
    def row(median, baseline=None, over=None, must_not=(), imported=(), goal=None):
        return dict(
            median_s=median,
            baseline=baseline,
            over_baseline_s=over,
            goal_over_baseline_s=goal,
            must_not_import=list(must_not),
            imported_against_goal=list(imported),
        )

    commands = {
        "import torch": row(4.0),
        "import torch, timm": row(5.5, "import torch", 1.5),  # measured against torch too, with no goal of its own
        "predict": row(6.5, "import torch", 2.5, ("lightning",), goal=3.0),
        "help": row(0.3, "pass", 0.28, ("torch",)),
    }
    (time_goal, import_goal) = startup_goals({"goal_predict_over_torch_s": 3.0, "commands": commands})
    assert time_goal[-1] == "**met**" and "+2.50 s" in time_goal[1] and import_goal[-1] == "**met**"
    assert time_goal[1].endswith("timm's import alone +1.50 s")
    commands["predict"] = row(8.0, "import torch", 3.5, ("lightning",), ("lightning",), goal=3.0)
    (time_goal, import_goal) = startup_goals({"goal_predict_over_torch_s": 3.0, "commands": commands})
    assert time_goal[-1] == "**not met**" and import_goal[-1] == "**not met**" and "predict imports lightning" in import_goal[1]
    assert [goal[-1] for goal in startup_goals(None)] == ["not measured", "not measured"]


def test_each_cold_start_row_shows_its_goal_and_whether_it_was_met():
    predict = dict(baseline="import torch", over_baseline_s=2.4, goal_over_baseline_s=3.0, must_not_import=["lightning"])
    assert row_goal(predict) == "≤ `import torch` + 3 s: **met**"
    assert row_goal(predict | {"over_baseline_s": 3.6}) == "≤ `import torch` + 3 s: **not met**"
    answer = dict(baseline="pass", goal_over_baseline_s=None, must_not_import=["torch", "timm"], imported_against_goal=[])
    assert row_goal(answer) == "imports none of torch, timm: **met**"
    assert row_goal(answer | {"imported_against_goal": ["timm"]}).endswith("**not met**")
    assert row_goal(dict(baseline=None, goal_over_baseline_s=None, must_not_import=[])) == ""


def test_a_report_goes_under_runs_never_into_docs():
    full = default_out(False)
    assert full.parts[0] == "runs" and re.fullmatch(r"bench-\d{8}-\d{6}", full.parent.name) and full.name == "benchmarks.md"
    assert default_out(True) == Path("runs/bench-quick/benchmarks.md")


def test_training_from_a_loader_is_timed_across_epochs(tmp_path):
    """A streamed data set gives one crop per image and epoch: a measurement longer than an epoch spans several."""
    make_photos(tmp_path, 6, QUICK_SIZES)  # 5 training photos: 2 batches of 2 per epoch
    args = dict(accelerator="cpu", batch_size=2, crop_size=32, warmup=1, steps=4)
    result = measure.training_throughput("cnn", "lab", **args, photos=tmp_path, data_overrides=("data.num_workers=0",))
    assert result["images_per_s"] > 0 and result["step_s_min"] <= result["step_s"] <= result["step_s_max"]


def test_matmul_peak_runs_where_there_is_no_gpu_too():
    result = measure.matmul_peak(size=64, repeats=2)
    assert result["device"] == "cpu" and result["tflops"] > 0


def test_running_out_of_gpu_memory_is_told_from_other_failures():
    assert measure.is_out_of_memory({"error": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate"})
    assert not measure.is_out_of_memory({"error": "RuntimeError: shapes do not match"})
    assert not measure.is_out_of_memory({"images_per_s": 3.0})


@pytest.mark.slow
def test_quick_benchmark_writes_every_section(tmp_path):
    out = tmp_path / "bench" / "benchmarks.md"
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out), "--work", str(tmp_path / "work")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = out.read_text()
    results = json.loads(out.with_suffix(".json").read_text())
    for heading in [
        "## Goals",
        "## 1. Data pipeline",
        "## 2. Training throughput",
        "## 3. Inference latency",
        "## 4. Cold start",
        "## 5. Peak memory",
    ]:
        assert heading in report
    assert "--quick" in report
    assert ("On a GPU: not measured" in report) != results["meta"]["device"]["cuda"]
    assert results["errors"] == [] and results["meta"]["mode"] == "quick"
    assert {(r["model"], r["space"]) for r in results["training"]["cpu"]} >= {(m, s) for m in MODELS for s in SPACE_NAMES}
    assert all(r["images_per_s"] > 0 and r["peak_rss_mb"] > 0 for r in results["training"]["cpu"])
    assert set(results["training"]["flops"]) == set(MODELS) and all(results["training"]["flops"].values())
    streams = [f"streaming {encoding}" for encoding in STREAM_ENCODINGS]
    assert set(results["data"]["rounds"][0]) == {"pix2pix", "full", "reduced", "cached", *streams}
    assert all(results["data"]["rounds"][0][name]["images_per_s"]["none"] > 0 for name in ("pix2pix", "cached", *streams))
    assert ".npy" not in report
    written = results["photos"]["prepare_written"] * results["photos"]["stream_repeats"]
    for stream in results["photos"]["streams"].values():
        assert sum(stream["written"].values()) == written and stream["kb_per_image"] > 0
    assert results["photos"]["streams"]["raw"]["kb_per_image"] > results["photos"]["streams"]["jpeg"]["kb_per_image"]
    assert "**Streaming data sets**" in report and "JPEG is the default" in report
    assert all(f"with data ({DEFAULT_STREAM})" in round_ for round_ in results["training"]["lever_rounds"])
    assert [r["model"] for r in results["inference"]["rows"]] == MODELS
    commands = results["startup"]["commands"]
    assert all(len(row["seconds"]) == QUICK.cold_rounds and row["median_s"] > 0 for row in commands.values())
    predict = commands["predict one photo"]
    assert "torch" in predict["imports"] and predict["imported_against_goal"] == [] and predict["over_baseline_s"] is not None
    assert all(
        row["imported_against_goal"] == [] and "torch" not in row["imports"]
        for row in commands.values()
        if row["baseline"] == "pass"
    )
    assert "Did you mean 'resnet'" in commands["train model=resnt (a config error)"]["message"]
    assert "is not a folder" in commands["train on a missing data folder"]["message"]
    assert "`import torch` + 3 s" in report and "## 4. Cold start" in report
    predict_line = next(line for line in report.splitlines() if line.startswith("| `python -m colorize.predict"))
    assert "≤ `import torch` + 3 s: **" in predict_line  # the goal beside the measurement


@pytest.mark.slow
def test_a_run_of_one_section_reports_the_others_as_not_measured(tmp_path):
    out = tmp_path / "startup.md"
    args = ["--quick", "--sections", "startup", "--out", str(out), "--work", str(tmp_path / "work")]
    run_ = subprocess.run([sys.executable, "-m", "benchmarks", *args], capture_output=True, text=True)
    assert run_.returncode == 0, run_.stderr[-3000:]
    report = out.read_text()
    results = json.loads(out.with_suffix(".json").read_text())
    assert results["photos"] is results["data"] is results["training"] is results["inference"] is None
    assert report.count("Not measured in this run") == 3 and "## 4. Cold start" in report
    assert "predict one photo" in results["startup"]["commands"]


@pytest.fixture
def one_torch_thread():
    """`make bench` forks each measurement from a process that never ran torch. A test process has run torch, and
    a child forked from a multi-threaded libgomp parent hangs in its first parallel region; with one thread it runs
    none."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_gpu_section_runs_on_the_cpu_with_a_simulated_memory_limit(tmp_path, monkeypatch, one_torch_thread):
    real = measure.training_throughput

    def on_the_cpu(model, space, *, accelerator, batch_size, **kwargs):
        assert accelerator == "gpu"
        if batch_size > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. (simulated)")
        return real(model, space, accelerator="cpu", batch_size=batch_size, **kwargs)

    monkeypatch.setattr(measure, "training_throughput", on_the_cpu)
    monkeypatch.setattr(run, "MODELS", ("cnn", "gan"))  # gan: two networks, manual optimisation
    plan = dataclasses.replace(
        QUICK, train_size=32, train_batch_size=2, max_batch=16, compile_modes=(), gpu_warmup=1, gpu_steps=1
    )
    bench = Bench(plan, tmp_path, quick=True, peak_tflops=None)
    bench.make_data()
    gpu = bench.gpu_training({"gpu": "Test GPU"}, {"cnn": 1e12, "gan": 1e12})  # large: an MFU that rounds above 0
    assert bench.errors == []  # running out of memory ends the search for the largest batch; it is no error
    assert gpu["peak_source"] == "measured" and gpu["peak_bf16_tflops"] == gpu["matmul"]["tflops"] > 0
    for model in ("cnn", "gan"):
        rows = {(r["space"], r["setting"]): r for r in gpu["rows"] if r["model"] == model}
        assert set(rows) == {
            *((space, RESIDENT) for space in SPACE_NAMES),
            ("lab", "cudnn.benchmark off"),
            ("lab", "batch 4, the largest that fits"),
            *(("lab", f"with data ({loader})") for loader in ("cached", "reduced", "full", DEFAULT_STREAM)),
        }
        assert all(r["images_per_s"] > 0 and r["mfu"] > 0 for r in rows.values())
        assert rows[("lab", "batch 4, the largest that fits")]["batch_size"] == 4
    lines = "\n".join(gpu_lines(gpu, {}))
    assert "measured in this run" in lines and "the largest that fits" in lines
