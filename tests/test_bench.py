"""The benchmark runs end to end (--quick, toy sizes) and writes its report; what it measures is not checked."""

import json
import subprocess
import sys

import pytest

from colorize.bench.report import data_summary
from colorize.bench.run import bf16_peak_tflops


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


@pytest.mark.slow
def test_quick_benchmark_writes_every_section(tmp_path):
    out = tmp_path / "bench" / "benchmarks.md"
    run = subprocess.run(
        [sys.executable, "-m", "colorize.bench", "--quick", "--out", str(out), "--work", str(tmp_path / "work")],
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
        "## 4. Peak memory",
    ]:
        assert heading in report
    assert "--quick" in report
    assert ("On a GPU: not measured" in report) != results["meta"]["device"]["cuda"]
    assert results["errors"] == [] and results["meta"]["mode"] == "quick"
    assert {(r["model"], r["space"]) for r in results["training"]["cpu"]} >= {
        (m, s) for m in ("cnn", "resnet", "gan") for s in ("lab", "luv")
    }
    assert all(r["images_per_s"] > 0 and r["peak_rss_mb"] > 0 for r in results["training"]["cpu"])
    assert set(results["training"]["flops"]) == {"cnn", "resnet", "gan"} and all(results["training"]["flops"].values())
    assert set(results["data"]["rounds"][0]) == {"pix2pix", "full", "reduced", "cached"}
    assert [r["model"] for r in results["inference"]["rows"]] == ["cnn", "resnet", "gan"]
