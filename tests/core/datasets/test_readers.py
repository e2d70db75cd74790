"""Readers: the project's format, the real Landslide4Sense and CAS files, generic folders, the mix view."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lmhld_qgis.core.datasets import MixDataset, open_dataset
from lmhld_qgis.core.datasets.detect import detect_format
from lmhld_qgis.core.datasets.folders import CASDataset, FolderDataset
from lmhld_qgis.core.datasets.landslide4sense import DIVISOR, Landslide4SenseDataset
from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.export import ExportOptions, export_patches
from lmhld_qgis.core.synthetic import make_scene

from ...helpers import write_cas_splits, write_raster


@pytest.fixture(scope="module")
def two_areas(tmp_path_factory):
    base = tmp_path_factory.mktemp("areas")
    out = []
    for seed, size in ((0, 64), (1, 64), (2, 128)):
        s = make_scene(base / f"s{seed}", width=768, height=768, n_landslides=100, seed=seed)
        out.append(export_patches([s.raster], s.inventory, base / f"ds{seed}",
                                  ExportOptions(patch_size=size, name=f"area{seed}", min_fraction=0.05)).out_dir)
    return out


def test_project_format(two_areas):
    ds = open_dataset(two_areas[0], "train")
    s = ds[0]
    assert s.image.dtype == np.float32 and s.image.shape == (4, 64, 64)
    assert s.mask.dtype == np.uint8 and s.mask.shape == (64, 64) and s.mask.max() == 1
    assert ds.band_names == ["blue", "green", "red", "nir"] and ds.patch_size == 64
    sub = open_dataset(two_areas[0], "train", bands=[3, 2])
    assert np.array_equal(sub[0].image, s.image[[3, 2]]) and sub.band_names == ["nir", "red"]
    assert len(open_dataset(two_areas[0], "val")) > 0
    assert ds.sample_id(0) == (two_areas[0] / "splits" / "train.txt").read_text().split()[0]  # named as its file


def test_a_damaged_dataset_card_is_named(two_areas, tmp_path):
    """A cut dataset.json said only "a JSON file cannot be parsed", without naming the file."""
    copy = shutil.copytree(two_areas[0], tmp_path / "ds")
    (copy / "dataset.json").write_text((copy / "dataset.json").read_text()[:40])
    with pytest.raises(LmhldError, match=r"ds/dataset.json is damaged \(.*\): export the dataset again"):
        open_dataset(copy, "train")


def test_mix_view_joins_without_copying_and_checks_sizes(two_areas):
    a, b = open_dataset(two_areas[0]), open_dataset(two_areas[1])
    mix = MixDataset([a, b])
    assert len(mix) == len(a) + len(b)
    assert np.array_equal(mix[len(a)].image, b[0].image)
    mean, std = mix.normalisation()
    assert len(mean) == 4 and all(s > 0 for s in std)
    with pytest.raises(LmhldError, match="one patch size"):
        MixDataset([a, open_dataset(two_areas[2])])


def test_real_landslide4sense_patches(shared_data):
    root = shared_data / "landslide4sense"
    assert detect_format(root) == "landslide4sense"
    ds = Landslide4SenseDataset(root, split="test")
    assert len(ds) == 2 and ds.band_names[-2:] == ["slope", "dem"]
    s = ds[0]
    assert s.image.shape == (14, 128, 128) and s.image.dtype == np.float32 and s.mask is None
    assert s.image.min() >= 0 and s.image.max() < 60
    import h5py

    with h5py.File(root / "image_31.h5") as f:
        hwc = np.asarray(f["img"])
    assert np.allclose(s.image, hwc.transpose(2, 0, 1).astype(np.float32))  # HWC -> CHW, band order kept
    raw = Landslide4SenseDataset(root, split="test", raw=True)[0]
    assert np.allclose(raw.image[1], hwc[:, :, 1] * DIVISOR[1], rtol=1e-6)  # B2 back in raw units
    assert Landslide4SenseDataset(root, split="test", bands=[12, 13])[1].image.shape == (2, 128, 128)


def test_real_cas_patches(shared_data, tmp_path):
    ds = FolderDataset(shared_data / "cas", None, name="cas")
    assert len(ds) == 2
    s = ds[0]
    assert s.image.shape == (3, 512, 512) and s.image.dtype == np.float32 and s.image.max() <= 255
    # a CAS sub-dataset layout: img/ + mask/ (1 = landslide)
    (tmp_path / "img").mkdir()
    (tmp_path / "mask").mkdir()
    write_raster(tmp_path / "img" / "a.tif", np.zeros((3, 32, 32), np.uint8), epsg=None)
    mask = np.zeros((32, 32), np.uint8)
    mask[:8] = 1
    write_raster(tmp_path / "mask" / "a.tif", mask, epsg=None)
    cas = open_dataset(tmp_path)
    assert isinstance(cas, CASDataset) and cas[0].mask.sum() == 8 * 32 and cas.band_names == ["red", "green", "blue"]


def test_a_cas_folder_divided_into_train_val_and_test_reads_each_split(tmp_path):
    """A CAS folder as released has no splits (every "split" is every patch); divided by the researcher into
    train/, val/ and test/ (img/ + mask/ each) it is read split by split, under the folder's own name."""
    from lmhld_qgis.core.datasets.detect import has_splits

    root = write_cas_splits(tmp_path / "hokkaido", per_split=(3, 2, 1))
    assert detect_format(root) == "cas" and has_splits(root)
    test = open_dataset(root, "test")
    assert isinstance(test, CASDataset) and len(test) == 1 and test.name == "hokkaido"
    assert test.sample_id(0) == "test000.tif" and test[0].mask.sum() == 10 * 10
    assert np.array_equal(test.mask(0), test[0].mask)  # the mask read alone, as a split reads it
    write_raster(root / "test" / "mask" / "test000.tif", np.ones((20, 20), np.uint8), epsg=None)
    with pytest.raises(LmhldError, match=r"mask test000\.tif is \(20, 20\), image is \(32, 32\)"):
        test.mask(0)
    assert [len(open_dataset(root, s)) for s in ("train", "val")] == [3, 2]
    shutil.rmtree(root / "val")
    with pytest.raises(LmhldError, match=r"hokkaido has no val/ \(the val split\); it holds train/, test/"):
        open_dataset(root, "val")
    flat = tmp_path / "flat"
    (flat / "img").mkdir(parents=True)
    (flat / "mask").mkdir()
    assert not has_splits(flat)


def test_a_cas_folder_of_other_than_three_bands_is_named_by_its_files(tmp_path):
    """A README probe copied an export's 4-band img/ + mask/ into a CAS layout: the reader named it red, green,
    blue, and training crashed at the first batch ("expected input to have 3 channels, but got 4")."""
    folder = tmp_path / "four"
    (folder / "img").mkdir(parents=True)
    (folder / "mask").mkdir()
    image = np.zeros((4, 32, 32), np.uint16)
    write_raster(folder / "img" / "p1.tif", image, epsg=None, descriptions=["blue", "green", "red", "nir"])
    write_raster(folder / "mask" / "p1.tif", np.zeros((32, 32), np.uint8), epsg=None)
    assert CASDataset(folder).band_names == ["blue", "green", "red", "nir"]
    write_raster(folder / "img" / "p1.tif", image, epsg=None)  # no names: numbered, never three for four
    assert CASDataset(folder).band_names == ["band1", "band2", "band3", "band4"]
    write_raster(folder / "img" / "p1.tif", image[:3], epsg=None)
    assert CASDataset(folder).band_names == ["red", "green", "blue"]  # the CAS release's own


def test_unknown_folder_is_explained(tmp_path):
    with pytest.raises(LmhldError, match="cannot tell the format"):
        open_dataset(tmp_path)


def test_a_file_given_for_its_dataset_folder_is_refused_naming_the_folder(tmp_path):
    """dataset.json (or a .h5 patch) given as --data: the folder that holds it is named, not a list of formats
    that reads as if dataset.json were missing."""
    card = tmp_path / "dataset.json"
    card.write_text("{}")
    with pytest.raises(LmhldError, match=rf"^{card} is a file; give the dataset folder that holds it \({tmp_path}\)$"):
        open_dataset(card)
    scene = tmp_path / "elsewhere" / "site_scene.tif"  # a scene given for a dataset: export it first
    scene.parent.mkdir()
    scene.write_bytes(b"")
    with pytest.raises(LmhldError, match=r"site_scene.tif is a raster, not a dataset: .*lmhld export --raster "
                                         r"site_scene.tif --inventory INVENTORY --out DATASET"):
        open_dataset(scene)


def test_landslide4sense_masks_and_splits_that_do_not_fit_are_named(shared_data, tmp_path):
    """Found by a probe: a mask under another key or of another size was an 'unexpected error' (a KeyError, a torch
    shape error after training began); a release without TestData was 'no image_N.h5 files', though they were
    there; an unknown split was accepted and recorded in the report."""
    import h5py

    from lmhld_qgis.core.datasets.detect import has_splits

    root = tmp_path / "l4s"
    (root / "TrainData" / "img").mkdir(parents=True)
    (root / "TrainData" / "mask").mkdir()
    shutil.copy(shared_data / "landslide4sense" / "image_31.h5", root / "TrainData" / "img")
    mask = root / "TrainData" / "mask" / "mask_31.h5"
    for key, shape, message in (("label", (128, 128), r"mask_31\.h5 has no 'mask' dataset \(it holds label\)"),
                                ("mask", (64, 64), r"mask mask_31\.h5 is \(64, 64\), its image image_31\.h5 is "
                                                   r"\(128, 128\): each mask must be the size of its image")):
        with h5py.File(mask, "w") as f:
            f[key] = np.zeros(shape, np.uint8)
        for read in (lambda ds: ds[0], lambda ds: ds.mask(0)):  # the mask alone (a split reads it so) too
            with pytest.raises(LmhldError, match=message):
                read(open_dataset(root, "train"))
    with h5py.File(mask, "w") as f:
        f["mask"] = np.ones((128, 128, 1), np.uint8)  # a trailing channel is read as the mask it is
    assert open_dataset(root, "train")[0].mask.shape == (128, 128)
    assert np.array_equal(open_dataset(root, "train").mask(0), open_dataset(root, "train")[0].mask)
    with pytest.raises(LmhldError, match=r"l4s has no TestData/ \(the test split\); it holds TrainData/ \(train\)"):
        open_dataset(root, "test")
    with pytest.raises(LmhldError, match="split must be one of train, val, test, got 'foo'"):
        open_dataset(root, "foo")
    assert has_splits(root) and not has_splits(shared_data / "landslide4sense")  # a flat folder of patches


def test_a_band_the_dataset_does_not_have_is_named(tmp_path, two_areas):
    """A probe's bands = [20] on a 14-band Landslide4Sense folder ended in an unexpected IndexError."""
    from ...helpers import write_l4s

    release = write_l4s(tmp_path / "l4s")
    with pytest.raises(LmhldError, match=r"l4s has 14 band\(s\) \(B1, .*, dem\); band\(s\) 21 \(bands = \[20\] in a "
                                         r"config file, which counts from 0\) do not exist"):
        open_dataset(release, "train", bands=[20])
    cas = write_cas_splits(tmp_path / "cas", per_split=(2, 0, 0))
    with pytest.raises(LmhldError, match=r"has 3 band\(s\) \(red, green, blue\); band\(s\) 4 "):
        open_dataset(cas, "train", bands=[0, 3])
    with pytest.raises(LmhldError, match=r"ds0 has 4 band\(s\) .*band\(s\) 6 "):
        open_dataset(two_areas[0], "train", bands=[5])


def test_the_odd_patch_is_found_over_every_split_not_by_a_tie_within_one():
    """A validation split of one 64 px and one 128 px patch beside 10 training patches of 128 px: checked alone, a
    1-to-1 tie named the 128 px patch (the second read) as the one to remove; over the splits, the 64 px one."""
    from lmhld_qgis.core.datasets.base import Header, PatchDataset, check_uniform_splits

    class Headers(PatchDataset):
        def __init__(self, sizes, first):
            self.sizes, self.first, self.band_names = sizes, first, ["b"] * 14

        def __len__(self):
            return len(self.sizes)

        def sample_id(self, index):
            return f"image_{self.first + index}.h5"

        def header(self, index):
            return Header((14, self.sizes[index], self.sizes[index]), "float64")

    train, val = Headers([128] * 10, 1), Headers([64, 128], 11)
    with pytest.raises(LmhldError, match=r"^l4s \(validation split\): sample image_11\.h5 has 14 band\(s\) of 64 x "
                                         r"64 px where 11 of the 12 samples of its splits have 14 band\(s\) of 128"):
        check_uniform_splits([(train, "l4s (training split)"), (val, "l4s (validation split)")])
    assert check_uniform_splits([(train, "l4s (training split)")]) == []
