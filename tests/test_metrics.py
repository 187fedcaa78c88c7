import numpy as np
import pytest
import torch
from skimage import color, data

from colorize.metrics import color_metrics, delta_e_ciede2000

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
