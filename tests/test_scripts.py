import runpy
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_export_sample_photos_writes_pngs_and_keeps_existing_files(tmp_path):
    export = runpy.run_path(str(SCRIPTS / "export_sample_photos.py"))["export"]
    (tmp_path / "coffee.png").write_bytes(b"mine")
    written = export(tmp_path, ["chelsea", "coffee"])
    assert written == [tmp_path / "chelsea.png"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "chelsea.png")), data.chelsea())
    assert (tmp_path / "coffee.png").read_bytes() == b"mine"
