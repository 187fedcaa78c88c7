"""The browser demo: what it computes for each upload, and the page itself in a real (headless) chromium."""

import io
import json
import shutil
import socket
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from colorize.demo import main
from colorize.inference.demo import Shown, best_checkpoints, build_app, colorize_photos, load_colorizers, takes_hints
from colorize.inference.loading import load_colorizer
from conftest import copying_colorizer, hint_checkpoint

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def colorizers(trained_runs):
    """A Lab and a LUV model, side by side."""
    paths = [trained_runs / f"cnn-{space}-seed0" / "checkpoints" / "last.ckpt" for space in ("lab", "luv")]
    return load_colorizers(paths, torch.device("cpu"))


@pytest.fixture
def photos(tmp_path):
    """A colour photo and a grey one of odd sizes, and a file that is not an image."""
    colour, grey, bad = tmp_path / "astronaut.png", tmp_path / "camera.jpg", tmp_path / "broken.png"
    Image.fromarray(skdata.astronaut()[:201, :263]).save(colour)
    Image.fromarray(skdata.camera()[:97, :151]).save(grey)
    bad.write_bytes(b"this is not a PNG")
    return colour, grey, bad


def channel_spread(path) -> float:
    """Mean over pixels of max(R, G, B) - min(R, G, B): 0 for grey."""
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return float((image.max(-1) - image.min(-1)).mean())


def test_each_photo_gets_every_model_at_full_size_with_metrics_for_colour_photos(colorizers, photos, tmp_path):
    colour, grey, bad = photos
    results = colorize_photos(colorizers, [colour, bad, grey], 0, tmp_path / "out", max_pixels=10**8)

    assert results.messages == ["broken.png: cannot read as an image (cannot identify image file 'broken.png')."]
    captions = [caption for _, caption in results.gallery]
    assert captions == [
        "astronaut.png: grey input (L)",
        "cnn · lab · cnn-lab-seed0",
        "cnn · luv · cnn-luv-seed0",
        "astronaut.png: original (colour)",
        "camera.jpg: grey input (L)",
        "cnn · lab · cnn-lab-seed0",
        "cnn · luv · cnn-luv-seed0",
        "camera.jpg: original (grey: no metrics)",
    ]
    sizes = [Image.open(path).size for path, _ in results.gallery]
    assert sizes == [(263, 201)] * 4 + [(151, 97)] * 4
    spreads = [channel_spread(path) for path, _ in results.gallery]
    assert spreads[0] < 1 and spreads[4] < 1  # the grey inputs
    assert min(spreads[1:3] + spreads[5:7]) > 2  # every colorization is coloured, the grey photo's too
    assert results.downloads == [results.gallery[i][0] for i in (1, 2, 5, 6)]
    # Metrics against the colour photo only, one row per model, ΔE2000 as colorize.metrics computes it.
    assert [row[:2] for row in results.metrics] == [["astronaut.png", c.label] for c in colorizers]
    for row in results.metrics:
        delta_e, cf, cf_photo = row[2:]
        assert 0 < delta_e < 50 and cf > 0 and cf_photo > 30


BLUE = "#1e64ff"


def test_hints_recolour_the_models_that_take_them_and_the_others_ignore_them(colorizers, photos, tmp_path):
    colour, grey, _ = photos
    shown = [colorizers[0], Shown("copy · lab · hints", copying_colorizer("lab"), 32)]
    hints = [{"x": 100, "y": 60, "color": BLUE}]
    plain = colorize_photos(shown, [colour, grey], 0, tmp_path / "plain", max_pixels=10**8)
    hinted = colorize_photos(shown, [colour, grey], 0, tmp_path / "hinted", max_pixels=10**8, hints=hints)
    captions = [caption for _, caption in hinted.gallery]
    assert captions[1:3] == ["cnn · lab · cnn-lab-seed0 (ignores hints: not trained with them)", "copy · lab · hints"]
    assert captions[5:7] == ["cnn · lab · cnn-lab-seed0", "copy · lab · hints"]  # hints go on the first photo only
    read = lambda results, i: np.asarray(Image.open(results.downloads[i])).astype(int)  # noqa: E731
    assert np.array_equal(read(plain, 0), read(hinted, 0))  # the model without hints: as before
    before, after = read(plain, 1)[60, 100], read(hinted, 1)[60, 100]
    assert before.max() - before.min() <= 2 and after[2] > after[0] + 40  # grey, then blue where the hint is
    assert np.array_equal(read(plain, 3), read(hinted, 3))  # the second photo has no hints
    bad = colorize_photos(shown, [colour], 0, tmp_path / "bad", max_pixels=10**8, hints=[{"x": 1, "y": 1, "color": "blue"}])
    assert bad.messages == [] and bad.hint_messages == [
        "hints, hint 1 (x=1, y=1): color 'blue' is not \"#rrggbb\" (six hex digits) or [r, g, b]."
    ]


def test_working_size_and_the_pixel_limit(colorizers, photos, tmp_path):
    colour, _, _ = photos
    coarse = colorize_photos(colorizers[:1], [colour], 8, tmp_path / "coarse", max_pixels=10**8)
    default = colorize_photos(colorizers[:1], [colour], 0, tmp_path / "default", max_pixels=10**8)
    a, b = (np.asarray(Image.open(r.downloads[0])).astype(int) for r in (coarse, default))
    assert a.shape == b.shape and np.abs(a - b).max() > 3  # chroma predicted at 8 px is not the run's 32 px
    refused = colorize_photos(colorizers, [colour], 0, tmp_path / "big", max_pixels=1000)
    assert refused.gallery == [] and "more than the limit of 1000" in refused.messages[0]


def test_a_sweep_gives_each_run_s_best_checkpoint(trained_runs):
    found = best_checkpoints(trained_runs)
    assert sorted(p.parent.parent.name for p in found) == ["cnn-lab-seed0", "cnn-lab-seed1", "cnn-luv-seed0", "cnn-luv-seed1"]
    assert all(p.name.startswith("best-") for p in found)


def test_no_checkpoints_is_a_clear_error(tmp_path, capsys):
    assert main([]) == 2
    assert "give CKPT=" in capsys.readouterr().err
    assert main(["--runs", str(tmp_path)]) == 2
    assert "no run directories" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.ckpt")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# In the page: each result image's natural size and mean channel spread (0 for grey), read through a canvas.
READ_IMAGES = """
return Array.from(document.querySelectorAll('#results img')).map(img => {
  if (!img.complete || img.naturalWidth === 0) return [false, 0, 0, 0];
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data; let s = 0;
  for (let i = 0; i < d.length; i += 4) s += Math.max(d[i], d[i+1], d[i+2]) - Math.min(d[i], d[i+1], d[i+2]);
  return [true, img.naturalWidth, img.naturalHeight, s / (d.length / 4)];
});
"""
# In the page: the most colourful pixel, as [R, G, B], of result image arguments[0] within arguments[1] pixels of
# (arguments[2], arguments[3]) in its own pixels.
READ_NEAR = """
const [index, reach, x, y] = arguments;
const img = document.querySelectorAll('#results img')[index];
if (!img || !img.complete || img.naturalWidth === 0) return null;
const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
const d = ctx.getImageData(x - reach, y - reach, 2 * reach + 1, 2 * reach + 1).data; let best = [0, 0, 0], most = -1;
for (let i = 0; i < d.length; i += 4) {
  const spread = Math.max(d[i], d[i+1], d[i+2]) - Math.min(d[i], d[i+1], d[i+2]);
  if (spread > most) { most = spread; best = [d[i], d[i+1], d[i+2]]; }
}
return best;
"""


@pytest.mark.slow
@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="NO BROWSER: Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)",
)
def test_the_page_in_a_real_browser(colorizers, photos, tmp_path):
    pytest.importorskip("gradio", reason="needs the demo extra: uv sync --extra demo (make test installs it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    colour, _, bad = photos
    (tmp_path / "out").mkdir()
    shown = [*colorizers, Shown("copy · lab · hints", copying_colorizer("lab"), 32)]  # must take the hint's colour
    app = build_app(shown, tmp_path / "out", max_pixels=10**8)
    port = free_port()
    app.queue().launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, allowed_paths=[str(tmp_path / "out")]
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # no driver download: Debian's
    wait = WebDriverWait(driver, 120, poll_frequency=0.5)

    def upload(path: Path) -> None:
        driver.find_element(By.CSS_SELECTOR, "#photos input[type=file]").send_keys(str(path))
        wait.until(lambda d: path.stem in d.find_element(By.ID, "photos").text)  # the page breaks the name before ".png"

    def status() -> str:
        return driver.find_element(By.ID, "status").text

    try:
        driver.get(f"http://127.0.0.1:{port}/")
        wait.until(lambda d: d.find_elements(By.ID, "colorize"))

        # A file that is not an image: a clear message on the page, and the server goes on.
        upload(bad)
        driver.find_element(By.ID, "colorize").click()
        wait.until(lambda d: "Could not use" in status())
        assert "broken.png: cannot read as an image" in status()

        # The same page, another upload: grey input, the Lab and the LUV model, the original, each at the photo's size.
        upload(colour)
        driver.find_element(By.ID, "colorize").click()
        wait.until(lambda d: "Colorized 1 photo(s)" in status())
        wait.until(lambda d: len(d.execute_script(READ_IMAGES)) == 5 and all(i[0] for i in d.execute_script(READ_IMAGES)))
        images = driver.execute_script(READ_IMAGES)
        assert [tuple(i[1:3]) for i in images] == [(263, 201)] * 5
        spreads = [i[3] for i in images]
        assert spreads[0] < 1 and spreads[1] > 2 and spreads[2] > 2 and spreads[3] < 1 and spreads[4] > 20
        page = driver.find_element(By.TAG_NAME, "body").text
        assert "cnn · lab · cnn-lab-seed0" in page and "cnn · luv · cnn-luv-seed0" in page
        assert "cnn · lab · cnn-lab-seed0: takes no hints" in page and "copy · lab · hints: takes clicked hints" in page
        assert "ΔE2000" in driver.find_element(By.ID, "metrics").text
        # The download links give each colorization at full resolution.
        links = {a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "#downloads a[href]")}
        names = ["astronaut-0-cnn-lab.png", "astronaut-1-cnn-luv.png", "astronaut-2-cnn-lab.png"]
        assert sorted(link.rsplit("/", 1)[-1] for link in links) == names
        for link in links:
            with urllib.request.urlopen(link) as response:
                assert Image.open(io.BytesIO(response.read())).size == (263, 201)

        # A hint: pick a colour, click the first photo; the model that takes hints turns that colour near the click.
        driver.find_element(By.CSS_SELECTOR, "#hint-colour button").click()
        field = driver.find_element(By.CSS_SELECTOR, "#hint-colour input[type=text]")
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(BLUE, Keys.ENTER)
        driver.find_element(By.TAG_NAME, "h1").click()  # closes the picker
        target = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#hint-photo img"))[0]
        x, y = 150, 80  # in the photo's pixels
        box = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", target)
        dx, dy = (x + 0.5) * box[0] / 263 - box[0] / 2, (y + 0.5) * box[1] / 201 - box[1] / 2
        before = driver.execute_script(READ_NEAR, 3, 12, x, y)
        assert max(before) - min(before) <= 2  # grey without hints
        ActionChains(driver).move_to_element_with_offset(target, int(dx), int(dy)).click().perform()
        wait.until(lambda d: "1 hint(s) on astronaut.png" in status())
        wait.until(lambda d: (p := d.execute_script(READ_NEAR, 3, 12, x, y)) is not None and p[2] > p[0] + 40)
        assert "(ignores hints: not trained with them)" in driver.find_element(By.ID, "results").text
        driver.save_screenshot(str(tmp_path / "demo.png"))

        # Clear hints: grey again.
        driver.find_element(By.ID, "clear-hints").click()
        wait.until(lambda d: "hint(s)" not in status())
        wait.until(lambda d: (p := d.execute_script(READ_NEAR, 3, 12, x, y)) is not None and max(p) - min(p) <= 2)
    finally:
        driver.quit()
        app.close()


def test_the_hint_panel_says_what_hints_did_for_each_model_on_its_run_s_test_photos(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("seed: 0\n")
    checkpoint = hint_checkpoint(run / "checkpoints", "local")
    shown = Shown("cnn · lab · run", load_colorizer(checkpoint), 32, checkpoint)
    unmeasured = f"takes clicked hints; what a hint does for it is not measured yet (python -m colorize.evaluate {checkpoint})"
    assert takes_hints(shown) == unmeasured
    report = {
        "checkpoint": str(checkpoint),
        "test_set": {"images": 54},
        "protocol": {"eval_size": 256},
        "hint_curve": {"counts": [0, 1, 2, 5, 10], "psnr": [22.04, 22.9, 23.4, 24.4, 25.26]},
    }
    (run / "evaluation" / "e").mkdir(parents=True)
    (run / "evaluation" / "e" / "metrics.json").write_text(json.dumps(report))
    said = takes_hints(shown)
    assert said == (
        "takes clicked hints; on 54 test photo(s) at 256 px, evaluate measured PSNR 22.0 dB with 0 hints, "
        "22.9 dB with 1 hint, 25.3 dB with 10 hints"
    )
    plain = Shown("cnn · lab", load_colorizer(hint_checkpoint(tmp_path, "none")), 32, checkpoint)
    assert takes_hints(plain) == "takes no hints"
