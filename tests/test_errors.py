"""Each command's own error class, raised where a user's input cannot be used, with a message that names the problem and
the fix. (Entry points catch them all as UserError; these tests are where each class is named.)"""

import pytest
import torch

from colorize.inference.demo import DemoError, best_checkpoints
from colorize.inference.export import ExportError, export
from colorize.inference.loading import DeviceError, resolve_device
from colorize.inference.planning import PredictError, plan_jobs
from colorize.reports.comparison import CompareError, compare
from colorize.reports.evaluation import EvaluationError, load_test_set


def test_predict_names_a_missing_input_and_an_output_that_would_overwrite_it(tmp_path):
    with pytest.raises(PredictError, match=r"missing\.jpg: no such photo, video or folder"):
        plan_jobs(tmp_path / "missing.jpg", tmp_path / "out")
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"")
    with pytest.raises(PredictError, match=r"is the input itself and would be overwritten\. Choose another name"):
        plan_jobs(photo, photo)
    with pytest.raises(PredictError, match=r"does not fit the input photo\.png: name an image file"):
        plan_jobs(photo, tmp_path / "colour.mp4")


def test_export_refuses_an_unknown_format_and_an_existing_output_before_loading_anything(tmp_path):
    checkpoint = tmp_path / "never-read.ckpt"
    with pytest.raises(ExportError, match=r"--format tflite: colorize exports onnx"):
        export(checkpoint, fmt="tflite")
    out = tmp_path / "model.onnx"
    out.write_bytes(b"mine")
    with pytest.raises(ExportError, match=r"model\.onnx exists\. Choose another --out, or pass --overwrite"):
        export(checkpoint, out=out)
    assert out.read_bytes() == b"mine"


def test_the_demo_names_a_folder_without_runs(tmp_path):
    with pytest.raises(DemoError, match=r"no run directories found \(a run has config\.yaml and checkpoints/\)"):
        best_checkpoints(tmp_path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here, so --device cuda is valid")
def test_a_device_that_is_not_here_or_not_a_device_is_named_with_the_choices():
    with pytest.raises(DeviceError, match=r"--device cuda: no CUDA GPU is available here\. Use --device cpu"):
        resolve_device("cuda")
    with pytest.raises(DeviceError, match=r"--device gpu0: not a device\. Use auto, cpu, cuda or cuda:N"):
        resolve_device("gpu0")


def test_evaluate_names_a_data_folder_without_photos(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluationError, match=r"--data .*empty: not a folder of photos"):
        load_test_set(tmp_path / "never-read.ckpt", str(tmp_path / "empty"))


def test_compare_names_a_folder_without_runs(tmp_path):
    with pytest.raises(CompareError, match=r"No run directories \(with config\.yaml and metrics\.csv\) below"):
        compare(tmp_path, tmp_path / "report")
    assert not (tmp_path / "report").exists()
