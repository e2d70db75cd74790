"""The training pipeline's pieces, without training: configuration checks, schedule, losses, on-device
augmentation, the patch cache, the epoch order, calibration and the background writer."""

from __future__ import annotations

import itertools
import os
import shutil
import time

import numpy as np
import pytest
import torch

from lmhld_qgis.core.datasets import MixDataset, open_dataset
from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.training.augment import BatchAugment, Strength
from lmhld_qgis.training.cache import cache_split, decode_to_memory, exact_dtype
from lmhld_qgis.training.calibrate import MIN_LANDSLIDE_PIXELS, calibrate, histogram
from lmhld_qgis.training.config import TrainConfig, load_config
from lmhld_qgis.training.data import PrefetchSource, TensorSource, Transfer, epoch_order, make_source
from lmhld_qgis.training.losses import LossSpec, segmentation_loss
from lmhld_qgis.training.schedule import Cycle, Schedule, plan_cycles
from lmhld_qgis.training.writer import BackgroundWriter

CPU = torch.device("cpu")


# -- configuration ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ('epochs = "50"', r"epochs must be an integer, got '50' \(text\)"),
    ('lr = "0.01"', r"lr must be a number or none, got '0.01' \(text\)"),
    ("augment = 3", r'augment must be one of "strong", "flips", "none"'),
    ('batch_size = 8.5', r'batch_size must be an integer or one of "auto", got 8.5'),
    ('workers = "many"', r"workers must be an integer or one of \"auto\""),
    ('optimizer = "sgdx"', r"optimizer must be one of \"sgd\", \"adam\", \"adamw\", got 'sgdx'$"),  # not "(text)"
])
def test_toml_values_of_the_wrong_type_are_refused_with_the_key_named(tmp_path, text, message):
    (tmp_path / "c.toml").write_text(f"[train]\n{text}\n")
    with pytest.raises(LmhldError, match=message) as info:
        load_config(tmp_path / "c.toml", {})
    assert str(tmp_path / "c.toml") in str(info.value)


@pytest.mark.parametrize("options, message", [
    ({"lr": -1.0}, r"lr must be a number > 0, got -1.0"),
    ({"epochs": 0}, r"epochs must be an integer >= 1, got 0"),
    ({"batch_size": 0}, r"batch_size must be auto or an integer >= 1, got 0"),
    ({"workers": -2}, r"workers must be an integer >= 0 or 'auto', got -2"),
    ({"model_options": {"base_width": 0}},  # both places it can be set: QGIS named the Base width field only
     r"base_width \(--width, or --model-option base_width=N\) must be an integer >= 1, got 0"),
    ({"threshold": 1.5}, r"threshold must be a number in \[0, 1\] or 'auto', got 1.5"),
    ({"schedule": "linear"}, r'schedule must be one of "cosine", "exponential", "constant"'),
])
def test_validate_checks_ranges_before_any_work(tmp_path, options, message):
    cfg = TrainConfig(data=[str(tmp_path)], **options)
    with pytest.raises(LmhldError, match=message):
        cfg.validate()


@pytest.mark.parametrize("flag, value, allowed", [
    ("--lr", "-1", "(0, inf)"), ("--epochs", "0", ">= 1"), ("--batch-size", "0", ">= 1"), ("--width", "0", ">= 1"),
    ("--workers", "-1", ">= 0"), ("--threshold", "2", "[0, 1]"),
])
def test_command_line_refuses_out_of_range_numbers_before_work(tmp_path, capsys, flag, value, allowed):
    from lmhld_qgis.cli import main

    with pytest.raises(SystemExit) as info:
        main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), flag, value])
    err = capsys.readouterr().err
    assert info.value.code == 2 and flag in err and allowed in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_the_papers_recipe_by_name_and_old_boolean_augment():
    paper = TrainConfig.from_values({"recipe": "paper", "augment": True})
    assert (paper.optimizer, paper.learning_rate, paper.schedule, paper.gamma, paper.epochs, paper.augment,
            paper.early_stopping, paper.threshold, paper.batch_size) == \
        ("sgd", 1e-2, "exponential", 0.99, 50, "flips", 0, 0.5, 16)
    assert TrainConfig.from_values({"augment": False}).augment == "none"


def test_paths_are_taken_as_paths_from_python(tmp_path):
    """export_patches(...).out_dir is a Path, and TrainConfig(data=[it]) was refused ("must be a list of texts")."""
    from pathlib import Path

    for cfg in (TrainConfig(data=[tmp_path], init_from=tmp_path / "best.pt"),
                TrainConfig.from_values({"data": [tmp_path], "init_from": tmp_path / "best.pt"}),
                TrainConfig.from_values({"data": tmp_path, "init_from": str(tmp_path / "best.pt")})):
        assert cfg.data == [str(tmp_path)] and cfg.init_from == str(tmp_path / "best.pt")
    assert TrainConfig(data=[Path("a")]).to_dict()["data"] == ["a"]


# -- schedule -----------------------------------------------------------------------------------------------------
def test_cosine_warms_up_then_anneals_and_exponential_is_the_papers():
    cos = Schedule("cosine", 1e-3, warmup_epochs=1.0, min_lr_ratio=0.01)
    cycles = plan_cycles([], 0, 10)
    rates = [cos.rate(cycles, e, e, b, 10) for e in range(10) for b in range(10)]
    assert rates[0] == pytest.approx(1e-4, rel=0.2) and rates[0] < rates[5] < rates[9]  # warm-up
    assert max(rates) == pytest.approx(1e-3, rel=0.05) and rates[-1] < 2e-5  # down to the floor
    assert all(a >= b for a, b in itertools.pairwise(rates[10:]))  # monotone after the warm-up
    exp = Schedule("exponential", 1e-2, gamma=0.99)
    assert [exp.rate(cycles, e, e + 5, 3, 10) for e in range(3)] == [1e-2 * 0.99 ** (e + 5) for e in range(3)]


def test_extending_a_run_adds_a_warm_restart_at_half_the_peak():
    first = plan_cycles([], 0, 50)
    assert first == [Cycle(0, 50, 1.0)] and plan_cycles(first, 30, 50) == first  # resumed mid-run: unchanged
    extended = plan_cycles(first, 50, 80)
    assert extended == [Cycle(0, 50, 1.0), Cycle(50, 80, 0.5)]
    cos = Schedule("cosine", 1.0, warmup_epochs=0.0, min_lr_ratio=0.0)
    assert cos.rate(extended, 49, 49, 9, 10) < 0.01 and cos.rate(extended, 50, 50, 0, 10) == pytest.approx(0.5)
    assert plan_cycles(first, 30, 80) == [Cycle(0, 30, 1.0), Cycle(30, 80, 0.5)]  # stopped early, given more


# -- losses -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["bce_dice", "bce", "focal", "tversky", "focal_tversky"])
def test_losses_reward_the_right_answer(kind):
    target = (torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.8).float()
    right = segmentation_loss((target * 2 - 1) * 6, target, kind)
    wrong = segmentation_loss((1 - target * 2) * 6, target, kind)
    unsure = segmentation_loss(torch.zeros_like(target), target, kind)
    assert float(right) < float(unsure) < float(wrong)


def test_tversky_weighs_missed_landslides_more_than_false_alarms():
    target = torch.zeros(1, 1, 8, 8)
    target[..., :4, :] = 1
    missed = torch.full_like(target, -6.0)  # nothing found
    alarm = torch.full_like(target, 6.0)  # everything found, half of it false
    spec = LossSpec("tversky", tversky_alpha=0.3, tversky_beta=0.7)
    assert float(segmentation_loss(missed, target, spec)) > float(segmentation_loss(alarm, target, spec))


# -- augmentation -------------------------------------------------------------------------------------------------
def _batch(n=6, size=32):
    g = torch.Generator().manual_seed(1)
    coarse = (torch.rand(n, size // 8, size // 8, generator=g) > 0.6).to(torch.uint8)
    mask = coarse.repeat_interleave(8, dim=1).repeat_interleave(8, dim=2)  # blobs of 8 px, like landslides
    mask[:, : size // 3, : size // 4] = 1  # asymmetric, so every flip/rotation shows
    return mask[:, None].repeat(1, 3, 1, 1).to(torch.uint16) * 1000, mask


def test_normalisation_only_is_exact():
    x, y = _batch()
    aug = BatchAugment([100.0, 200.0, 300.0], [2.0, 4.0, 5.0], "none", 0, CPU)
    out, mask = aug(x, y, (0, 0, 0))
    expected = (x.float() - torch.tensor([100.0, 200.0, 300.0]).view(1, 3, 1, 1)) / torch.tensor(
        [2.0, 4.0, 5.0]).view(1, 3, 1, 1)
    assert torch.equal(out, expected) and torch.equal(mask[:, 0], y.float())


def test_geometric_augmentation_moves_image_and_mask_together():
    x, y = _batch()
    geometric_only = Strength(gain=0.0, contrast=0.0, brightness=0.0, blur_p=0.0, noise_p=0.0, scale_p=1.0)
    for policy in ("flips", "strong"):
        aug = BatchAugment([0.0] * 3, [1000.0] * 3, policy, 7, CPU, geometric_only)
        out, mask = aug(x, y, (3, 1, 0))
        agree = ((out[:, 0] > 0.5) == (mask[:, 0] > 0.5)).float().mean()
        assert agree > (0.999 if policy == "flips" else 0.97), (policy, agree)
        assert not torch.equal(mask[:, 0], y.float())  # something moved


def test_augmentation_depends_only_on_its_key():
    x, y = _batch()
    aug = BatchAugment([0.0] * 3, [1000.0] * 3, "strong", 5, CPU)
    a, b, c = aug(x, y, (2, 4, 0)), aug(x, y, (2, 4, 0)), aug(x, y, (2, 5, 0))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    plain = BatchAugment([0.0] * 3, [1000.0] * 3, "flips", 5, CPU)(x, y, (2, 4, 0))[0]
    assert not torch.allclose(a[0], plain)  # photometric changes on top of the flips


# -- the cache ----------------------------------------------------------------------------------------------------
@pytest.fixture
def dataset_copy(areas, tmp_path):
    return shutil.copytree(areas["a32"], tmp_path / "a32")


def test_patches_are_decoded_once_into_their_exact_type(dataset_copy):
    ds = open_dataset(dataset_copy, "train")
    arrays = decode_to_memory(ds, threads=2)
    assert arrays.images.dtype == np.uint16 and arrays.images.shape == (len(ds), 4, 32, 32)
    for i in (0, len(ds) - 1):
        assert np.array_equal(arrays.images[i].astype(np.float32), ds[i].image)
        assert np.array_equal(arrays.masks[i], ds[i].mask)
    assert exact_dtype(np.array([0.5], np.float32)) == np.float32
    assert exact_dtype(np.array([-3.0, 200.0], np.float32)) == np.int16


def test_a_pack_is_written_once_and_again_when_a_patch_changes(dataset_copy):
    ds = open_dataset(dataset_copy, "train")
    messages: list[str] = []
    first = cache_split(ds, "pack", 0, 2, info=messages.append)
    assert first is not None and isinstance(first.images, np.memmap) and len(messages) == 1
    assert np.array_equal(first.images[3].astype(np.float32), ds[3].image)
    again = cache_split(ds, "pack", 0, 2, info=messages.append)
    assert again is not None and len(messages) == 1  # reused
    patch = dataset_copy / "img" / f"{ds.ids[0]}.tif"
    os.utime(patch, ns=(time.time_ns(), time.time_ns() + 10**9))
    cache_split(ds, "pack", 0, 2, info=messages.append)
    assert len(messages) == 2 and "writing a memory-mapped pack" in messages[1]
    assert cache_split(ds, "auto", 1 << 30, 2).where == "memory"  # it fits: memory, no pack
    assert cache_split(ds, "off", 1 << 30, 2) is None


def test_a_dataset_folder_that_takes_no_pack_is_read_at_every_epoch(dataset_copy):
    (dataset_copy / ".lmhld-cache").write_text("in the way")  # as a read-only folder or a full disk would be
    messages: list[str] = []
    assert cache_split(open_dataset(dataset_copy, "train"), "pack", 0, 2, info=messages.append) is None
    assert "read at every epoch" in messages[-1]


def test_sources_give_the_same_batches(areas, tmp_path):
    mixed = MixDataset([open_dataset(areas["a32"], "train"), open_dataset(areas["b32"], "train")])
    transfer = Transfer(CPU, pin_memory=False, workers=0, persistent_workers=False)
    order = epoch_order(len(mixed), 0, 3)
    memory = make_source(mixed, cache_split(mixed, "memory", 0, 2), transfer)
    packs = make_source(mixed, cache_split(mixed, "pack", 0, 2), transfer)
    loader = make_source(mixed, None, transfer)
    assert isinstance(memory, TensorSource) and isinstance(packs, PrefetchSource)
    for (a, am), (b, bm), (c, cm) in zip(memory.batches(order, 8), packs.batches(order, 8), loader.batches(order, 8),
                                         strict=True):
        assert torch.equal(a.float(), b.float()) and torch.equal(a.float(), c) and torch.equal(am, bm)
        assert torch.equal(am, cm)
    # the log says where each source's batches come from (no worker count where no worker reads)
    assert memory.describe() == "decoded once, held in memory"
    assert packs.describe().startswith("decoded once, held in memory-mapped packs (") and ".lmhld-cache" in \
        packs.describe()
    assert loader.describe() == "read from the patch files at every epoch by the training process"
    workers = Transfer(CPU, pin_memory=True, workers=3, persistent_workers=True)
    assert make_source(mixed, None, workers).describe() == ("read from the patch files at every epoch by 3 "
                                                            "persistent worker processes")


def test_epoch_order_is_fixed_by_seed_and_epoch_and_shards_cover_all():
    assert epoch_order(10, 3, 4) == epoch_order(10, 3, 4) != epoch_order(10, 3, 5)
    shards = [epoch_order(11, 0, 2, rank, 3) for rank in range(3)]
    assert len({len(s) for s in shards}) == 1 and set().union(*shards) == set(range(11))


# -- calibration --------------------------------------------------------------------------------------------------
def test_the_f1_best_threshold_is_found_on_validation_counts():
    g = torch.Generator().manual_seed(0)
    truth = torch.rand(100_000, generator=g) < 0.2
    prob = torch.where(truth, 0.3 + 0.7 * torch.rand(100_000, generator=g), 0.35 * torch.rand(100_000, generator=g))
    result = calibrate(histogram(prob, truth).flatten().tolist(), 0.5)
    assert result.source == "validation" and 0.3 <= result.threshold <= 0.4 and result.f1 > 0.95
    assert result.note == f"calibrated on the validation split, where it gives the best F1: {result.f1:.4f}"
    few = torch.zeros(MIN_LANDSLIDE_PIXELS - 1, dtype=torch.bool)
    few_counts = histogram(torch.rand(MIN_LANDSLIDE_PIXELS - 1), ~few).flatten().tolist()
    assert calibrate(few_counts, 0.5).source == "default" and calibrate(few_counts, 0.5).note == (
        f"only {MIN_LANDSLIDE_PIXELS - 1} landslide pixels in the validation split, fewer than the "
        f"{MIN_LANDSLIDE_PIXELS} needed to calibrate, so the configured threshold is kept")
    assert calibrate(None, 0.42).threshold == 0.42 and "no validation split" in calibrate(None, 0.42).note
    # a model that learnt nothing (the same probabilities on both classes): its "best" cut would be the lowest one,
    # whose F1 is that of calling everything landslide; the configured threshold stays, and the note says why
    blind = torch.rand(100_000, generator=g)
    untrained = calibrate(histogram(blind, truth).flatten().tolist(), 0.5)
    assert (untrained.threshold, untrained.source) == (0.5, "default")
    assert "no better on the validation split than calling every pixel landslide" in untrained.note


# -- the writer ---------------------------------------------------------------------------------------------------
def test_background_writes_replace_waiting_ones_and_failures_surface():
    writer = BackgroundWriter()
    done: list[int] = []
    writer.submit("slow", lambda: time.sleep(0.2))
    for i in range(5):
        writer.submit("same", lambda i=i: done.append(i))
    writer.flush()
    assert done[-1] == 4 and len(done) < 5  # waiting jobs of one key were replaced by the newest

    def fail() -> None:
        raise OSError(28, "No space left on device")

    writer.submit("last.pt", fail)
    with pytest.raises(OSError, match="No space left on device") as raised:
        writer.flush()
    assert raised.value.errno == 28  # the cause travels as it is: the command line says "the disk is full"
    writer.close()
