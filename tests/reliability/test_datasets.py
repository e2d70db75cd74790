"""Landslide4Sense and CAS folders with a bad patch: refused before training (or evaluation) starts, naming the file.

Before, a patch of another size failed at the first batch ("stack expects each tensor to be equal size"), a 4-band
image among 3-band ones on band statistics ("operands could not be broadcast"), a CAS image without its mask after
the run folder was written, a NaN pixel with 28 numbers and advice for lmhld's own datasets; a uint16 patch among
float ones trained without a word."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import rasterio

from .conftest import Work

AREA = "Landslide4Sense and CAS folders"
TRAIN = ["train", "--model", "unet", "--width", "4", "--epochs", "1", "--batch-size", "2", "--device", "cpu",
         "--workers", "0", "--seed", "0"]


def l4s(root, sizes=(128, 128, 128, 128), dtypes=None, nan_in=None):
    """A Landslide4Sense TrainData folder: image_N.h5 (key img, HWC, 14 bands) and mask_N.h5 (key mask)."""
    rng = np.random.default_rng(0)
    for d in ("img", "mask"):
        (root / "TrainData" / d).mkdir(parents=True, exist_ok=True)
    for n, size in enumerate(sizes, start=1):
        image = rng.uniform(0, 2, (size, size, 14))
        if nan_in == n:
            image[3, 4, 5] = np.nan
        kind = (dtypes or {}).get(n, "float64")
        image = (image * 1000).astype(kind) if kind == "uint16" else image.astype(kind)
        with h5py.File(root / "TrainData" / "img" / f"image_{n}.h5", "w") as f:
            f["img"] = image
        with h5py.File(root / "TrainData" / "mask" / f"mask_{n}.h5", "w") as f:
            f["mask"] = (rng.uniform(size=(size, size)) > 0.7).astype(np.uint8)
    return root


def cas(root, n=6, bands=None, no_mask=()):
    """A CAS sub-dataset: img/ and mask/ of 64 px uint8 TIFFs (no georeferencing)."""
    rng = np.random.default_rng(1)
    for d in ("img", "mask"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        count = (bands or {}).get(i, 3)
        with rasterio.open(root / "img" / f"hk{i:04d}.tif", "w", driver="GTiff", width=64, height=64,
                           count=count, dtype="uint8") as dst:
            dst.write(rng.integers(0, 255, (count, 64, 64), dtype=np.uint8))
        if i not in no_mask:
            with rasterio.open(root / "mask" / f"hk{i:04d}.tif", "w", driver="GTiff", width=64, height=64,
                               count=1, dtype="uint8") as dst:
                dst.write((rng.uniform(size=(1, 64, 64)) > 0.7).astype(np.uint8))
    return root


def refused(work: Work, case: str, args: list[str], *words: str) -> str:
    proc = work.run(*args, area=AREA, case=case)
    assert proc.returncode == 2, proc.stderr
    for w in words:
        assert w in proc.stderr, proc.stderr
    assert not work.path("run").exists()  # refused before the run folder is made
    return proc.stderr


def test_a_patch_of_another_size_is_named(work):
    l4s(work.path("l4s"), sizes=(128, 128, 64, 128))
    refused(work, "Landslide4Sense folder with one 64 px patch among 128 px ones", [*TRAIN, "--data", "l4s",
            "--out", "run"], "image_3.h5 has 14 band(s) of 64 x 64 px where 3 of the 4 samples of its splits have 14 "
            "band(s) of 128 x 128 px")


def test_an_image_with_another_band_count_is_named(work, small_onnx_model):
    cas(work.path("cas"), bands={2: 4})
    refused(work, "CAS folder with one 4-band image among 3-band ones", [*TRAIN, "--data", "cas", "--out", "run"],
            "hk0002.tif has 4 band(s) of 64 x 64 px where")


def test_images_without_their_masks(work):
    cas(work.path("cas"), no_mask=(3,))
    refused(work, "CAS folder with an image without its mask (train)", [*TRAIN, "--data", "cas", "--out", "run"],
            "have no mask (first: hk0003.tif); training needs labels")


def test_evaluate_names_what_its_split_lacks(work, small_onnx_model):
    import shutil

    shutil.copy(small_onnx_model, work.path("model.onnx"))
    cas(work.path("nomask"), no_mask=(3,))
    cas(work.path("rgba"), bands={2: 4})
    args = ["evaluate", "--model", "model.onnx", "--json", "e.json", "--data"]
    for case, folder, words in (("CAS folder with an image without its mask (evaluate)", "nomask",
                                 "1 of its 6 'test' samples have no mask (first: hk0003.tif)"),
                                ("CAS folder with one 4-band image among 3-band ones (evaluate)", "rgba",
                                 "hk0002.tif has 4 band(s) where 5 of its 6 samples have 3 band(s)")):
        proc = work.run(*args, folder, area=AREA, case=case)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr
        assert not work.path("e.json").exists()


def test_a_nan_pixel_is_named_by_its_file(work):
    l4s(work.path("l4s"), nan_in=2)
    refused(work, "Landslide4Sense patch with a NaN pixel", [*TRAIN, "--data", "l4s", "--out", "run"],
            "sample image_2.h5 holds 1 NaN or infinite pixel value(s)", "fill them")


@pytest.mark.slow
def test_a_patch_stored_as_another_type_is_warned_about(work):
    l4s(work.path("l4s"), dtypes={2: "uint16"})
    proc = work.run(*TRAIN, "--data", "l4s", "--out", "run", area=AREA,
                    case="Landslide4Sense folder with one uint16 patch among float64 ones")
    assert proc.returncode == 0, proc.stderr
    assert "1 sample(s) are stored as uint16 where the other 2 are float64 (first: image_2.h5)" in proc.stderr
    assert "a fifth, the same on every run) are held out for validation" in proc.stderr  # and said so


def test_damaged_patch_files_are_named(work):
    """A Landslide4Sense patch cut short ended as 'unexpected error: OSError: Unable to open file (truncated
    file ...)', exit 1."""
    l4s(work.path("l4s"))
    cut = work.path("l4s") / "TrainData" / "img" / "image_2.h5"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    refused(work, "Landslide4Sense patch cut short", [*TRAIN, "--data", "l4s", "--out", "run"],
            "image_2.h5 cannot be read as an HDF5 file", "damaged or cut short")
    cas(work.path("cas"))
    tif = work.path("cas") / "img" / "hk0002.tif"
    tif.write_bytes(tif.read_bytes()[: tif.stat().st_size // 2])
    proc = work.run(*TRAIN, "--data", "cas", "--out", "run", area=AREA, case="CAS image cut short")
    assert proc.returncode == 2 and "hk0002.tif" in proc.stderr, proc.stderr
    assert not work.path("run").exists()
