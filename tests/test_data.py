import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from colorize.data import ColorizationDataModule, CropDataset, DataError, SampleImages, hash_split
from conftest import random_photo, tiny_config


def datamodule(tmp_path, *args):
    dm = ColorizationDataModule(tiny_config(tmp_path, *args).data)
    dm.setup("fit")
    return dm


def test_sample_batches_are_uint8_rgb_crops(tmp_path):
    dm = datamodule(tmp_path)
    batch = next(iter(dm.train_dataloader())).rgb
    assert batch.dtype == torch.uint8 and batch.shape == (4, 3, 32, 32)
    val = next(iter(dm.val_dataloader())).rgb
    assert val.dtype == torch.uint8 and val.shape[1:] == (3, 32, 32)


def test_sample_split_holds_out_chelsea(tmp_path):
    dm = datamodule(tmp_path)
    assert dm.val_set.source.names == ["chelsea"]
    assert "chelsea" not in dm.train_set.source.names and len(dm.train_set.source) >= 5


def test_folder_source_loads_and_splits_deterministically(tmp_path, photo_folder):
    args = ["data=folder", f"data.root={photo_folder}", "data.val_fraction=0.25"]
    first, second = datamodule(tmp_path, *args), datamodule(tmp_path, *args)
    assert first.train_set.source.paths == second.train_set.source.paths
    assert first.val_set.source.paths == second.val_set.source.paths
    assert set(first.train_set.source.paths).isdisjoint(first.val_set.source.paths)
    assert len(first.train_set.source) + len(first.val_set.source) == 12
    batch = next(iter(first.train_dataloader())).rgb
    assert batch.dtype == torch.uint8 and batch.shape == (4, 3, 32, 32)


def test_hash_split_is_stable_when_files_are_added():
    keys = [f"img{i}.jpg" for i in range(200)]
    more = keys + [f"new{i}.jpg" for i in range(50)]
    _, val = hash_split(keys, 0.2)
    _, val_more = hash_split(more, 0.2)
    assert {keys[i] for i in val} == {more[i] for i in val_more} & set(keys)
    assert 20 < len(val) < 60


def test_separate_val_root(tmp_path, photo_folder):
    val_root = tmp_path / "val"
    shutil.move(str(photo_folder / "a"), val_root)
    dm = datamodule(tmp_path, "data=folder", f"data.root={photo_folder}", f"data.val_root={val_root}")
    assert all("/val/" in p.as_posix() for p in dm.val_set.source.paths)
    assert len(dm.train_set.source) == 6 and len(dm.val_set.source) == 6


def test_validation_crops_are_fixed(tmp_path):
    dm = datamodule(tmp_path)
    crops = [dm.val_set[i][0] for i in (0, 0, 1)]
    assert torch.equal(crops[0], crops[1]) and not torch.equal(crops[0], crops[2])


def test_small_images_are_resized_up_to_the_crop():
    class One:
        def __len__(self):
            return 1

        def load(self, index):
            return torch.from_numpy(random_photo(10, 20)).permute(2, 0, 1)

    crop, unreadable = CropDataset(One(), crop_size=32, train=True)[0]
    assert unreadable == []
    assert crop.shape == (3, 32, 32) and crop.dtype == torch.uint8


def odd_image(kind: str, rgb: np.ndarray) -> Image.Image:
    if kind == "gray":
        return Image.fromarray(rgb).convert("L")
    if kind == "palette":
        return Image.fromarray(rgb).convert("P")
    if kind == "rgba":
        return Image.fromarray(rgb).convert("RGBA")
    if kind == "16bit":
        return Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    if kind == "cmyk":
        return Image.fromarray(rgb).convert("CMYK")
    return Image.fromarray(rgb[:7, :9])  # tiny: smaller than the crop


@pytest.mark.parametrize("kind", ["gray", "palette", "rgba", "16bit", "cmyk", "tiny"])
def test_odd_images_in_a_folder_load_as_rgb(tmp_path, kind):
    root = tmp_path / "odd"
    root.mkdir()
    for i in range(6):
        odd_image(kind, random_photo(40, 40, seed=i)).save(root / f"{i}.{'jpg' if kind == 'cmyk' else 'png'}")
    dm = datamodule(tmp_path, "data=folder", f"data.root={root}", "data.val_fraction=0.3")
    batch = next(iter(dm.train_dataloader())).rgb
    assert batch.dtype == torch.uint8 and batch.shape == (4, 3, 32, 32)


def test_folder_without_root_says_which_key_to_set(tmp_path):
    with pytest.raises(DataError, match="data.root=PATH"):
        datamodule(tmp_path, "data=folder")


def test_empty_or_missing_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        datamodule(tmp_path, "data=folder", f"data.root={tmp_path / 'empty'}")
    with pytest.raises(DataError, match="is not a folder"):
        datamodule(tmp_path, "data=folder", f"data.root={tmp_path / 'nowhere'}")


def test_too_few_images_for_a_batch_is_a_clear_error(tmp_path, photo_folder):
    with pytest.raises(DataError, match="fewer than one batch"):
        datamodule(tmp_path, "data=folder", f"data.root={photo_folder}", "data.batch_size=64", "data.train_crops_per_image=1")


def test_missing_torchvision_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="data.download=true"):
        datamodule(tmp_path, "data=cifar10", f"data.root={tmp_path / 'nothing'}")


def test_unknown_sample_image_lists_valid_names():
    with pytest.raises(DataError, match="astronaut"):
        SampleImages(["not_a_photo"])
