"""`lmhld split` / core.split_folder: a released patch folder divided into train, val and test by hard links."""

from __future__ import annotations

import csv
import os

import h5py
import numpy as np
import pytest

from lmhld_qgis.core.datasets import open_dataset
from lmhld_qgis.core.datasets.detect import has_splits
from lmhld_qgis.core.errors import CancelledError, LmhldError
from lmhld_qgis.core.progress import NullProgress
from lmhld_qgis.core.split_folder import split_folder

from ..helpers import write_cas_splits, write_raster
from ..test_cli import lmhld


def released_cas(root, n=30):
    """A CAS sub-dataset as released: img/, mask/ and label/ previews, landslides of varied sizes, no splits."""
    rng = np.random.default_rng(5)
    for sub in ("img", "mask", "label"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        mask = np.zeros((32, 32), np.uint8)
        side = int(rng.integers(2, 20))
        mask[:side, :side] = 1
        write_raster(root / "img" / f"p{i:02d}.tif", rng.integers(0, 255, (3, 32, 32)).astype(np.uint8), epsg=None)
        write_raster(root / "mask" / f"p{i:02d}.tif", mask, epsg=None)
        write_raster(root / "label" / f"p{i:02d}.tif", mask * 255, epsg=None)
    return root


def test_a_released_cas_folder_is_split_by_links_with_balanced_landslide_pixels(tmp_path):
    source = released_cas(tmp_path / "hokkaido")
    before = sorted(p.relative_to(source) for p in source.rglob("*"))
    result = split_folder(source, tmp_path / "split")
    out = tmp_path / "split"
    assert result.split.counts == {"train": 21, "val": 6, "test": 3} and result.split.spread <= 0.01
    assert result.linked and has_splits(out)
    assert sorted(p.relative_to(source) for p in source.rglob("*")) == before  # the source is not changed
    rows = list(csv.DictReader((out / "split.csv").open()))
    assert len(rows) == 30 and {r["split"] for r in rows} == {"train", "val", "test"}
    for row in rows:  # each patch's image, mask and preview in its split, the same files as the source's
        for sub in ("img", "mask", "label"):
            assert os.path.samefile(out / row["split"] / sub / row["patch"], source / sub / row["patch"])
    for split in ("train", "val", "test"):
        ds = open_dataset(out, split)
        assert len(ds) == result.split.counts[split] and ds.name == "split"
        share = sum(int(s.mask.sum()) for s in ds) / (len(ds) * 32 * 32)
        assert share == pytest.approx(result.split.proportions[split])
    assert "30 patches split into train 21, val 6, test 3" in result.describe()


def test_a_mask_without_its_image_is_said_to_be_left_out(tmp_path):
    """A probe's: a mask whose image was deleted was left out of the split without a word."""
    from ..helpers import SaidLines

    source = released_cas(tmp_path / "hokkaido", n=12)
    (source / "img" / "p03.tif").unlink()
    said = SaidLines()
    result = split_folder(source, tmp_path / "split", progress=said)
    assert sum(result.split.counts.values()) == 11
    assert f"{source}: 1 mask(s) have no image of their name and are left out (first: p03.tif)" in said.lines


def test_a_flat_landslide4sense_folder_is_split_into_its_release_layout(tmp_path):
    source = tmp_path / "l4s"
    for sub in ("img", "mask"):
        (source / sub).mkdir(parents=True)
    for i in range(10):
        with h5py.File(source / "img" / f"image_{i}.h5", "w") as f:
            f["img"] = np.full((16, 16, 14), float(i), np.float64)
        with h5py.File(source / "mask" / f"mask_{i}.h5", "w") as f:
            mask = np.zeros((16, 16), np.uint8)
            mask[: i + 2] = 1
            f["mask"] = mask
    beside = tmp_path / "beside"  # image_N.h5 and mask_N.h5 in one folder: read as unlabelled before
    beside.mkdir()
    for f in (*(source / "img").iterdir(), *(source / "mask").iterdir()):
        os.link(f, beside / f.name)
    assert open_dataset(beside, "train").unlabelled() == []
    result = split_folder(source, tmp_path / "out", tolerance=0.05)
    assert {d.name for d in (tmp_path / "out").iterdir()} >= {"TrainData", "ValidData", "TestData"}
    test = open_dataset(tmp_path / "out", "test")
    assert len(test) == result.split.counts["test"] == 1
    image_id = test.sample_id(0)  # the image and its own mask travel together
    assert test[0].image[0, 0, 0] == float(image_id.split("_")[1].split(".")[0])
    assert test[0].mask.sum() == (int(image_id.split("_")[1].split(".")[0]) + 2) * 16


def test_folders_that_cannot_be_split_are_refused_and_a_cancel_leaves_nothing(tmp_path):
    with pytest.raises(LmhldError, match=r"is divided into train, val and test already"):
        split_folder(write_cas_splits(tmp_path / "done"), tmp_path / "a")
    source = released_cas(tmp_path / "cas", n=6)
    (source / "mask" / "p03.tif").unlink()
    with pytest.raises(LmhldError, match=r"1 of its 6 patches have no mask \(first: p03.tif\)"):
        split_folder(source, tmp_path / "b")

    class Cancelled(NullProgress):
        def is_cancelled(self):
            return True

    with pytest.raises(LmhldError, match=r"is inside the source .*cas, which a split leaves as it is"):
        split_folder(source, source / "img" / "split")  # was written into the source's img/
    with pytest.raises(CancelledError):
        split_folder(released_cas(tmp_path / "cas2", n=6), tmp_path / "c", progress=Cancelled())
    assert not (tmp_path / "c").exists() and not list(tmp_path.glob(".c.*"))


def test_previews_go_with_their_own_patch_and_mixed_sizes_are_refused(tmp_path):
    """A probe's CAS folder with a.tif and a.b.tif: a's preview glob (a.*) took a.b's too (SameFileError, an
    unexpected error); names with [ ] lost their previews. Mixed patch sizes were split, then refused by training."""
    source = released_cas(tmp_path / "odd", n=8)
    for i, name in enumerate(("a", "a.b", "x[1]3")):
        for sub in ("img", "mask", "label"):
            (source / sub / f"p{i:02d}.tif").rename(source / sub / f"{name}.tif")
    result = split_folder(source, tmp_path / "split", tolerance=1.0)
    for row in csv.DictReader((tmp_path / "split" / "split.csv").open()):
        split = tmp_path / "split" / row["split"]
        assert os.path.samefile(split / "label" / row["patch"], source / "label" / row["patch"])
    assert sum(len(list((tmp_path / "split" / s / "label").iterdir())) for s in ("train", "val", "test")) == 8
    assert sum(result.split.counts.values()) == 8
    write_raster(source / "img" / "big.tif", np.zeros((3, 64, 64), np.uint8), epsg=None)
    write_raster(source / "mask" / "big.tif", np.zeros((64, 64), np.uint8), epsg=None)
    with pytest.raises(LmhldError, match=r"sample big\.tif has 3 band\(s\) of 64 x 64 px where 8 of its 9 samples"):
        split_folder(source, tmp_path / "mixed")
    with pytest.raises(LmhldError, match=r"two: only 2 patch\(es\) kept; .* needs at least 3; add patches to the "
                                         r"folder$"):  # was export's advice (its filter, its patch size)
        split_folder(released_cas(tmp_path / "two", n=2), tmp_path / "two_split")


def test_split_command(tmp_path):
    source = released_cas(tmp_path / "cas")
    proc = lmhld("split", str(source), "--out", str(tmp_path / "split"), "--split", "0.6,0.2,0.2")
    assert proc.returncode == 0, proc.stderr
    assert "30 patches split into train 18, val 6, test 6" in proc.stdout and "hard links" in proc.stdout
    again = lmhld("split", str(source), "--out", str(tmp_path / "split"))
    assert again.returncode == 2 and "--overwrite" in again.stderr
    bad = lmhld("split", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and bad.stderr.strip() == f"lmhld split: error: patch folder {tmp_path / 'nowhere'} " \
                                                        "does not exist; check the path"
