import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color, data
from torchmetrics.image.fid import FrechetInceptionDistance

from colorize import downloads
from colorize.downloads import install_metric_weights
from colorize.inference.temporal import chroma_flicker
from colorize.metrics import color_metrics, colourfulness, delta_e_ciede2000
from colorize.reports.fid_lpips import (
    EvaluationMetrics,
    FrechetDistance,
    GivenFeatures,
    MetricUnavailable,
    frechet_inception_distance,
    learned_perceptual_similarity,
)
from colorize.reports.scoring import Scores
from colorize.spaces import get_space
from colorize.weight_files import WeightsUnavailable

LPIPS_IMAGES = Path(__file__).parent / "data" / "lpips"

# Pairs from Sharma, Wu & Dalal (2005), "The CIEDE2000 colour-difference formula: implementation
# notes, supplementary test data, and mathematical observations", Table 1.
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),
]


def lab_image(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).view(3, 1, 1)


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA)
def test_ciede2000_matches_published_pairs(lab1, lab2, expected):
    assert delta_e_ciede2000(lab_image(lab1), lab_image(lab2)).item() == pytest.approx(expected, abs=1e-4)
    assert delta_e_ciede2000(lab_image(lab2), lab_image(lab1)).item() == pytest.approx(expected, abs=1e-4)


def test_ciede2000_matches_skimage_on_photos_and_random_colours():
    rng = np.random.default_rng(0)
    a = color.rgb2lab(data.astronaut()[::4, ::4])
    b = color.rgb2lab(data.coffee()[:128, :128])
    random1 = np.stack([rng.uniform(0, 100, 5000), rng.uniform(-100, 100, 5000), rng.uniform(-100, 100, 5000)], -1)
    random2 = random1 + rng.normal(0, 10, random1.shape)
    for x, y in [(a, b), (random1[None], random2[None])]:
        ours = delta_e_ciede2000(torch.from_numpy(x).permute(2, 0, 1), torch.from_numpy(y).permute(2, 0, 1)).numpy()
        np.testing.assert_allclose(ours, color.deltaE_ciede2000(x, y), atol=1e-6)


def test_metric_collection_on_identical_and_different_images():
    rgb = torch.from_numpy(data.astronaut()[:64, :64]).permute(2, 0, 1).float().div(255).unsqueeze(0)
    same = color_metrics()
    same.update(rgb, rgb)
    result = same.compute()
    assert result["val/delta_e"] < 1e-3 and result["val/ssim"] > 0.999
    grey = rgb.mean(dim=1, keepdim=True).expand_as(rgb)
    diff = color_metrics()
    diff.update(grey, rgb)
    result = diff.compute()
    expected_de = color.deltaE_ciede2000(
        color.rgb2lab(grey[0].permute(1, 2, 0).numpy()), color.rgb2lab(rgb[0].permute(1, 2, 0).numpy())
    ).mean()
    assert result["val/delta_e"].item() == pytest.approx(expected_de, rel=1e-3)
    mse = ((grey - rgb) ** 2).mean().item()
    assert result["val/psnr"].item() == pytest.approx(10 * np.log10(1 / mse), rel=1e-4)


def ddcolor_colourfulness(image: np.ndarray) -> float:
    """Written from DDColor's description, in numpy, for uint8 (H, W, 3) RGB."""
    r, g, b = (image[..., i].astype(np.float64) for i in range(3))
    rg, yb = np.abs(r - g), np.abs(0.5 * (r + g) - b)
    return np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)


def test_colourfulness_of_known_colours():
    def solid(rgb):
        return torch.tensor(rgb, dtype=torch.float64).view(1, 3, 1, 1).expand(1, 3, 8, 8) / 255

    assert colourfulness(solid((90, 90, 90))).item() == 0.0
    # Pure red: rg = 255, yb = 127.5 everywhere, so no spread and CF = 0.3 * sqrt(255² + 127.5²).
    assert colourfulness(solid((255, 0, 0))).item() == pytest.approx(0.3 * np.hypot(255, 127.5))
    # Half red, half blue: rg is 255 or 0, yb is 127.5 or 255.
    half = torch.cat([solid((255, 0, 0))[..., :4], solid((0, 0, 255))[..., 4:]], dim=-1)
    spread = np.sqrt(127.5**2 + 63.75**2)
    assert colourfulness(half).item() == pytest.approx(spread + 0.3 * np.hypot(127.5, 191.25))


def test_colourfulness_matches_numpy_on_photos_and_gap_is_difference_of_means():
    photos = [data.astronaut()[:96, :96], data.coffee()[:96, :96], data.chelsea()[:96, :96]]
    batch = torch.stack([torch.from_numpy(p).permute(2, 0, 1) for p in photos]).float() / 255
    expected = [ddcolor_colourfulness(p) for p in photos]
    np.testing.assert_allclose(colourfulness(batch).numpy(), expected, rtol=1e-9)

    grey = batch.mean(dim=1, keepdim=True).expand_as(batch)
    preds = torch.cat([batch[:1], grey[1:]])  # one right, two grey
    metrics = color_metrics()
    metrics.update(preds[:2], batch[:2])
    metrics.update(preds[2:], batch[2:])  # over two batches
    result = metrics.compute()
    cf_preds = [expected[0], *(ddcolor_colourfulness(to_uint8(g)) for g in grey[1:])]
    assert result["val/cf"].item() == pytest.approx(np.mean(cf_preds), rel=1e-5)
    assert result["val/delta_cf"].item() == pytest.approx(abs(np.mean(cf_preds) - np.mean(expected)), rel=1e-5)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def metric_weights():
    """`make weights` (idempotent: quick when done before); the tests that need its files skip when it cannot run."""
    try:
        install_metric_weights(say=lambda line: None)
    except WeightsUnavailable as e:
        pytest.skip(f"make weights failed, so LPIPS and FID cannot be checked here: {e}")


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """An empty torch home, and torchvision's download server replaced by a closed port."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(downloads, "TORCHVISION_DOWNLOADS", f"http://127.0.0.1:{port}")


def lpips_image(name: str) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(LPIPS_IMAGES / f"{name}.png").convert("RGB"))).permute(2, 0, 1) / 255


def test_lpips_gives_the_published_values_on_the_lpips_example_images(metric_weights):
    reference = lpips_image("ex_ref").unsqueeze(0)
    for name, published in [("ex_p0", 0.722), ("ex_p1", 0.138)]:
        metric = learned_perceptual_similarity()
        metric.update(lpips_image(name).unsqueeze(0), reference)
        assert metric.compute().item() == pytest.approx(published, abs=5e-4), name


def sample_crops(size: int = 128) -> torch.Tensor:
    """Two opposite corner crops of six sample photos, RGB in [0, 1]."""
    crops = []
    for photo in (data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry(), data.retina()):
        image = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
        crops += [image[:, :size, :size], image[:, -size:, -size:]]
    return torch.stack(crops)


@pytest.mark.slow
def test_fid_is_zero_for_a_set_against_itself_and_grows_with_noise(metric_weights):
    real = sample_crops()
    noise = torch.randn(real.shape, generator=torch.Generator().manual_seed(0))
    fid = frechet_inception_distance()
    fid.reset_real_features = False  # the real set's statistics are kept for the second fake set
    fid.update(real, real=True)
    values = []
    for scale in (0.0, 0.03):
        fid.update((real + scale * noise).clamp(0, 1), real=False)
        values.append(fid.compute().item())
        fid.reset()
    # Through an evaluation's metrics (the distance in the images' own dimension): torchmetrics' value, and more noise
    # gives more; FID comes with the number of images behind it.
    same_noise, more_noise = EvaluationMetrics(fid=True), EvaluationMetrics(fid=True)
    same_noise.update((real + 0.03 * noise).clamp(0, 1), real)
    more_noise.update((real + 0.1 * noise).clamp(0, 1), real)
    result = more_noise.compute()
    assert abs(values[0]) < 0.1
    assert same_noise.compute()["fid"] == pytest.approx(values[1], rel=1e-4)
    assert 10 < values[1] < result["fid"]
    assert result["fid_images"] == len(real) == 12


def test_evaluation_metrics_add_lpips(metric_weights):
    target = sample_crops(64)[::3]
    grey = target.mean(dim=1, keepdim=True).expand_as(target)
    metrics, same = EvaluationMetrics(lpips=True), EvaluationMetrics(lpips=True)
    assert metrics.unavailable == {} and metrics.fid is None
    metrics.update(grey[:2], target[:2])
    metrics.update(grey[2:], target[2:])
    same.update(target, target)
    assert metrics.compute()["lpips"] > 0.05 and same.compute()["lpips"] < 1e-6


def test_missing_weights_leave_lpips_and_fid_out_with_the_reason(no_weights):
    for build in (learned_perceptual_similarity, frechet_inception_distance):
        with pytest.raises(MetricUnavailable, match="make weights"):
            build()
    metrics = EvaluationMetrics(lpips=True, fid=True)
    assert set(metrics.unavailable) == {"lpips", "fid"}
    assert "alexnet-owt-7be5be79.pth" in metrics.unavailable["lpips"] and "is not reachable" in metrics.unavailable["lpips"]
    assert "make weights" in metrics.unavailable["fid"]
    rgb = torch.rand(2, 3, 16, 16)
    metrics.update(rgb, rgb)
    assert not {"lpips", "fid", "fid_images"} & set(metrics.compute()) and metrics.compute()["delta_e"] < 1e-3


@pytest.mark.parametrize(("dims", "real", "fake"), [(64, 5, 7), (64, 2, 2), (256, 30, 30), (32, 40, 20)])
def test_frechet_distance_in_the_images_dimension_equals_torchmetrics_fid(dims, real, fake):
    """Exact where the sets are smaller than the features (the last case: larger, torchmetrics' own way)."""
    generator = torch.Generator().manual_seed(dims + real)
    features = torch.randn(real + fake, dims, generator=generator)
    features[real:] = features[real:] * 1.5 + 0.3
    ours, theirs = FrechetDistance(dims), FrechetInceptionDistance(feature=GivenFeatures(dims))
    for metric in (ours, theirs):
        metric.update(features[:1], real=True)  # over several batches
        metric.update(features[1:real], real=True)
        metric.update(features[real:], real=False)
    assert ours.compute().item() == pytest.approx(theirs.compute().item(), rel=1e-6)
    same = FrechetDistance(dims)
    same.update(features[:real], real=True)
    same.update(features[:real], real=False)
    assert abs(same.compute().item()) < 1e-6


def test_fid_from_a_given_file_must_be_the_torchscript_network(tmp_path):
    with pytest.raises(MetricUnavailable, match="no such file"):
        EvaluationMetrics(fid_weights="/nonexistent/fid_inception.pt")
    not_weights = tmp_path / "pt_inception.pth"
    not_weights.write_bytes(b"not weights")
    with pytest.raises(MetricUnavailable, match="(?s)Cannot load FID's Inception network .*make weights"):
        EvaluationMetrics(fid_weights=str(not_weights))
    plain = EvaluationMetrics()
    rgb = torch.rand(2, 3, 16, 16)
    plain.update(rgb, rgb)
    assert "fid" not in plain.compute() and plain.compute()["delta_e"] < 1e-3


def test_metrics_are_exact_under_bf16_autocast():
    rgb = torch.from_numpy(data.astronaut()[:64, :64]).permute(2, 0, 1).float().div(255).unsqueeze(0)
    noisy = (rgb + 0.05 * torch.randn(rgb.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    plain, mixed = color_metrics(), color_metrics()
    plain.update(noisy, rgb)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed.update(noisy, rgb)
    expected = plain.compute()
    for name, value in mixed.compute().items():
        assert value.item() == pytest.approx(expected[name].item(), rel=1e-6), name


def test_chroma_flicker_counts_chroma_change_where_lightness_stays():
    lab = torch.zeros(3, 3, 4, 4, dtype=torch.float64)
    lab[:, 0] = 50.0
    lab[1, 1, :, :2] = 10.0  # frame 1: a shifted by 10 on the left half, L unchanged
    lab[2, 0, :, 2:] = 70.0  # frame 2: L jumps on the right half (those pixels are not still)
    rgb = get_space("lab").space_to_rgb(lab.float())
    assert chroma_flicker(rgb[:1].expand(4, -1, -1, -1)) == pytest.approx(0.0, abs=1e-3)
    # pair 0-1: half the 16 pixels change by 10; pair 1-2: only the left half is still, and it changes by 10 back.
    assert chroma_flicker(rgb) == pytest.approx((8 * 10 + 8 * 10) / (16 + 8), abs=0.05)


def test_rows_left_out_for_one_reason_share_one_note():
    scores = Scores(rows={}, skipped=[], unavailable={"fid": "no weights"}, dropped={"a": "exact", "b": "exact", "c": "other"})
    assert scores.notes() == ["FID left out: no weights", "a, b left out: exact", "c left out: other"]
