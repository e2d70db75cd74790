"""Training: learning on generated data, exact resume, part-mode freezing, clear configuration errors."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from lmhld_qgis.core.errors import CancelledError, LmhldError
from lmhld_qgis.models import MODEL_NAMES
from lmhld_qgis.models.registry import SMALL_OPTIONS
from lmhld_qgis.training.checkpoint import load_checkpoint
from lmhld_qgis.training.config import TrainConfig, load_config
from lmhld_qgis.training.trainer import train


def config(data, **kw) -> TrainConfig:
    base = {"model": "unet", "model_options": {"base_width": 8}, "data": [str(d) for d in data], "epochs": 2,
            "batch_size": 8, "optimizer": "adam", "lr": 3e-3, "seed": 0}
    base.update(kw)
    return TrainConfig(**base)


def read_metrics(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_loss_falls_and_f1_rises_for_every_network(name, areas, tmp_path):
    cfg = config([areas["a32"]], model=name, model_options=SMALL_OPTIONS[name], epochs=4)
    result = train(cfg, tmp_path / "run")
    rows = read_metrics(tmp_path / "run")
    losses = [float(r["train_loss"]) for r in rows]
    f1s = [float(r["val_f1"]) for r in rows]
    assert losses[-1] < losses[0], losses
    assert max(f1s[1:]) > f1s[0] or f1s[0] > 0.9, f1s
    assert result.best_f1 > 0.6, f1s
    from lmhld_qgis.core.modelcard import read_onnx_card

    assert read_onnx_card(result.onnx).dynamic_size is True  # traced although 32 px is one size multiple
    for f in ("metrics.csv", "curves.png", "best.pt", "last.pt", "model.onnx", "report.html", "config.json"):
        assert (tmp_path / "run" / f).exists(), f


def test_run_folder_outputs_and_model_card(areas, tmp_path):
    result = train(config([areas["a32"]], epochs=1), tmp_path / "run")
    from lmhld_qgis.core.modelcard import read_onnx_card

    card = read_onnx_card(result.onnx)
    assert card.architecture == "unet" and card.bands == ["blue", "green", "red", "nir"] and card.patch_size == 32
    assert card.resolution_m == pytest.approx(3.0) and len(card.mean) == 4 and card.training_dataset == "a32"
    assert card.input_divisor == []  # an export holds the imagery's own values
    assert set(read_metrics(tmp_path / "run")[0]) >= {"train_loss", "val_precision", "val_recall", "val_f1", "val_iou"}


class StopAfter:
    """Progress that asks to stop after `n` batches (what Ctrl-C / SIGTERM / QGIS cancel do)."""

    def __init__(self, n):
        self.n, self.batches = n, 0

    def set_fraction(self, f):
        self.batches += 1

    def info(self, m): pass
    def warn(self, m): pass

    def is_cancelled(self):
        return self.batches >= self.n


def test_resume_mid_epoch_gives_identical_weights(areas, tmp_path):
    cfg = config([areas["a32"]], epochs=2, optimizer="sgd", lr=0.05)
    train(cfg, tmp_path / "straight")
    with pytest.raises(CancelledError, match="call train again with resume=True"):
        train(cfg, tmp_path / "stopped", progress=StopAfter(3))
    state = load_checkpoint(tmp_path / "stopped" / "last.pt")["training_state"]
    assert (state["epoch"], state["batch"]) == (0, 3)
    train(cfg, tmp_path / "stopped", resume=True)
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["state_dict"]
    b = load_checkpoint(tmp_path / "stopped" / "last.pt")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert read_metrics(tmp_path / "straight") == [
        {**r, "seconds": s["seconds"]} for r, s in zip(read_metrics(tmp_path / "stopped"),
                                                       read_metrics(tmp_path / "straight"), strict=True)]


def test_part_mode_freezes_shallow_levels_and_reinitialises_input(areas, tmp_path):
    import math

    from lmhld_qgis.core.datasets import open_dataset

    cfg = config([areas["a32"], areas["c64"]], mode="part", epochs=1, model_options={"base_width": 8})
    first_stage_batches = math.ceil(len(open_dataset(areas["a32"], "train")) / cfg.batch_size)
    with pytest.raises(CancelledError, match="stage 2, epoch 1, batch 0"):  # stopped as stage 2 begins
        train(cfg, tmp_path / "run", progress=StopAfter(first_stage_batches))
    s0 = load_checkpoint(tmp_path / "run" / "best.pt")["state_dict"]  # stage 1's only epoch
    result = train(cfg, tmp_path / "run", resume=True)
    s1 = load_checkpoint(tmp_path / "run" / "last.pt")["state_dict"]
    frozen = [k for k in s0 if k.startswith("encoder.0.") and not k.startswith("encoder.0.0.0.")
              and "running" not in k and "num_batches" not in k]
    assert frozen and all(torch.equal(s0[k], s1[k]) for k in frozen)  # level 0 frozen in stage 2
    assert not torch.equal(s0["encoder.0.0.0.weight"], s1["encoder.0.0.0.weight"])  # input conv re-initialised
    assert not torch.equal(s0["encoder.1.1.0.0.weight"], s1["encoder.1.1.0.0.weight"])  # deeper layers fine-tune
    assert [r["trained_on"] for r in result.forgetting] == ["a32", "c64"]
    assert set(result.forgetting[1]) >= {"a32", "c64"}
    assert (tmp_path / "run" / "forgetting.csv").read_text().count("\n") == 3


def test_part_mode_says_why_an_earlier_dataset_has_no_forgetting_figure(areas, tmp_path):
    """A stage of other bands re-initialises the input layer, so the earlier dataset cannot be scored: forgetting.csv
    held a bare nan and the log 'nan', without a reason."""
    import math

    from ..helpers import SaidLines

    log = SaidLines()
    result = train(config([areas["a32"], areas["rgb32"]], mode="part", epochs=1, model_options={"base_width": 4},
                          batch_size="auto"), tmp_path / "run", progress=log)
    assert math.isnan(result.forgetting[1]["a32"]) and result.forgetting[1]["rgb32"] >= 0
    said = [line for line in log.lines if line.startswith("after stage 2/2")]
    assert said and "a32 n/a: its 4 bands do not fit this stage's 3-band input layer, rgb32 0." in said[0], said
    # metrics.csv counts stages as the log does, from 1 (it said 0 and 1 beside the log's "stage 1/2", "2/2")
    assert [(r["stage"], r["dataset"]) for r in read_metrics(tmp_path / "run")] == [("1", "a32"), ("2", "rgb32")]
    assert [r["stage"] for r in result.history] == [1, 2]  # and so does the Python result (it counted from 0)
    assert any(line.startswith("stage 2/2 (rgb32) epoch") for line in log.lines), log.lines
    # one automatic batch for both stages, from the smaller: said so (it read as the first stage's patches)
    from lmhld_qgis.core.datasets import open_dataset

    smallest = min(("a32", "rgb32"), key=lambda n: len(open_dataset(areas[n], "train")))
    n = len(open_dataset(areas[smallest], "train"))
    assert any(line.startswith(f"batch size {result.batch_size} (auto, rather than 16): {n} training patches in "
                               f"{smallest}, the smallest of the 2 stages, make ") for line in log.lines), log.lines


def test_a_batch_larger_than_the_training_split_is_warned_of(areas, tmp_path):
    """A batch of 1000 on a few dozen patches trained one step an epoch without a word."""
    from lmhld_qgis.core.datasets import open_dataset

    n_train = len(open_dataset(areas["a32"], "train"))
    with pytest.warns(UserWarning, match=rf"batch size 1000 is larger than the {n_train} training patches: each "
                                         rf"epoch is one step of {n_train}; give --batch-size auto"):
        train(config([areas["a32"]], epochs=1, batch_size=1000, model_options={"base_width": 4}), tmp_path / "run")


def test_part_mode_stages_of_folders_with_one_name_are_told_apart(areas, tmp_path):
    """Two datasets of one name (dataset.json's, else the folder's) would share forgetting.csv's column, and the
    later stage's validation F1 would be reported for both."""
    import shutil

    from lmhld_qgis.training.stages import plan_stages

    for parent in ("site1", "site2"):
        shutil.copytree(areas["a32"], tmp_path / parent / "ds")
    stages = plan_stages(config([tmp_path / "site1" / "ds", tmp_path / "site2" / "ds"], mode="part"))
    assert [s.name for s in stages] == ["a32", "a32_2"]


def test_released_folders_are_named_by_their_folder(tmp_path):
    """A split CAS folder's reader named it after its train/ subfolder and every Landslide4Sense folder
    "landslide4sense": part mode's stages were "train" and "train_2" in the log, forgetting.csv and the card."""
    from lmhld_qgis.training.stages import plan_stages

    from ..helpers import write_cas_splits, write_l4s

    for name in ("casa", "casb"):
        write_cas_splits(tmp_path / name, per_split=(4, 2, 2))
    stages = plan_stages(config([tmp_path / "casa", tmp_path / "casb"], mode="part"))
    assert [s.name for s in stages] == ["casa", "casb"]
    for release in ("iburi", "kodagu"):  # Landslide4Sense releases: img/ + mask/ of 14-band patches
        write_l4s(tmp_path / release)
    stages = plan_stages(config([tmp_path / "iburi", tmp_path / "kodagu"], mode="part"))
    assert [s.name for s in stages] == ["iburi", "kodagu"]  # not "landslide4sense", "landslide4sense_2"
    assert len(stages[0].train) == 3  # a folder without splits: its deterministic 80 % trains
    # no inventory: the smallest landslide worth reporting is learnt from the training masks (models trained on a
    # release carried none, so their detections and object figures kept every 1-pixel speck)
    from lmhld_qgis.core.inventory import min_landslide_area_m2

    train = stages[0].train
    sizes = np.array([float(train.mask(i).sum()) for i in range(len(train))])  # one region per patch, 10 m pixels
    learnt = stages[0].min_landslide_area_m2
    assert learnt == pytest.approx(min_landslide_area_m2(sizes * 100.0, 100.0)[0]) and learnt > 200
    assert plan_stages(config([tmp_path / "casa"]))[0].min_landslide_area_m2 is None  # no pixel size: no area


def test_released_folders_without_labelled_validation_hold_out_a_fifth_and_say_so(tmp_path):
    """The public Landslide4Sense release's ValidData has images and no masks: it was refused outright, a release
    with TrainData alone trained with no validation at all, and a flat folder held out a fifth without a word."""
    import shutil

    from lmhld_qgis.training.stages import plan_stages

    from ..helpers import write_l4s

    release = tmp_path / "release"
    write_l4s(release / "TrainData", count=10)
    only_train = shutil.copytree(release, tmp_path / "only_train")
    write_l4s(release / "ValidData", count=3)
    shutil.rmtree(release / "ValidData" / "mask")
    flat = write_l4s(tmp_path / "flat", count=10)
    for folder, why in ((release, "has no labelled validation split"), (only_train, "has no labelled validation"),
                        (flat, "has no train/val split")):
        [stage] = plan_stages(config([folder]))
        assert (len(stage.train), len(stage.val)) == (8, 2)
        assert any(n == f"dataset {folder} {why}" + n.split(why, 1)[1] and "2 of its 10 patches" in n
                   for n in stage.notes), stage.notes
    write_l4s(release / "ValidData", count=3)  # labelled again: its own validation split, nothing held out
    [stage] = plan_stages(config([release]))
    assert (len(stage.train), len(stage.val)) == (10, 3) and not any("held out" in n for n in stage.notes)


def test_a_dataset_too_small_to_hold_out_validation_is_said_before_training(tmp_path):
    """A probe's folder of 2 patches trained with no validation: the epoch lines' "no validation split" was the only
    word, and the run's best F1 came out as nan."""
    from lmhld_qgis.training.stages import plan_stages

    from ..helpers import write_cas_splits

    write_cas_splits(tmp_path / "two", per_split=(2, 0, 0))
    [stage] = plan_stages(config([tmp_path / "two" / "train"]))
    assert stage.val is None and any(
        note.startswith(f"dataset {tmp_path / 'two' / 'train'} trains without validation: its 2 patches are too few "
                        "to hold a fifth out; best.pt follows the training loss") for note in stage.notes), stage.notes


def test_a_model_of_a_landslide4sense_release_records_its_units(tmp_path):
    """A Landslide4Sense release holds each band divided by a published mean: the model card records the divisor
    of the bands it takes, so detection on a Sentinel-2 scene as delivered divides alike and Deepness's keys fold
    it in; scored on the release, its values are taken as they are. Mixed with a dataset of the imagery's own
    values, it is refused: one network would learn two scalings of one band."""
    from lmhld_qgis.core.datasets.landslide4sense import DIVISOR, Landslide4SenseDataset
    from lmhld_qgis.core.evaluate import evaluate_dataset, units_divisor
    from lmhld_qgis.core.modelcard import read_onnx_card

    from ..helpers import write_l4s

    release = write_l4s(tmp_path / "iburi", count=6)
    result = train(config([release], epochs=1, bands=[1, 2, 3], batch_size=4), tmp_path / "run")
    card = read_onnx_card(result.onnx)
    assert card.bands == ["B2", "B3", "B4"] and card.input_divisor == pytest.approx(list(DIVISOR[1:4]))
    assert card.min_area_m2 > 0  # learnt from the release's masks: detection and evaluation drop specks below it
    deepness = card.deepness_metadata()
    assert deepness["standardization_std"] == pytest.approx([d / 255 for d in DIVISOR[1:4]])
    scored = evaluate_dataset(result.onnx, release, "train")
    assert scored["patches"] == 6 and scored["f1"] >= 0  # the release's own units: no division
    # read in the imagery's units (raw=True), the release would be divided for the model
    assert units_divisor(card, Landslide4SenseDataset(release, "train", raw=True), [1, 2, 3]) == pytest.approx(
        list(DIVISOR[1:4]))
    assert units_divisor(card, Landslide4SenseDataset(release, "train"), [1, 2, 3]) is None
    from lmhld_qgis.core.datasets.mix import MixDataset

    with pytest.raises(LmhldError, match=r"mix mode needs datasets in the same units; iburi: the imagery's values "
                                         r"divided per band, iburi: the imagery's values \(a Landslide4Sense"):
        MixDataset([Landslide4SenseDataset(release, "train"), Landslide4SenseDataset(release, "train", raw=True)])


def test_mix_mode_reads_every_dataset_in_the_first_ones_band_order(areas, tmp_path):
    """A dataset exported from a scene stacked in another order (nir, red, green, blue) is read by name in the first
    one's order, so no band is fed to the network as another; bands of other names are refused, not mixed."""
    import numpy as np

    from lmhld_qgis.core.datasets import open_dataset
    from lmhld_qgis.training.stages import plan_stages

    from ..helpers import reorder_dataset

    shuffled = reorder_dataset(areas["b32"], tmp_path / "b32_nir_first", [3, 2, 1, 0])
    [stage] = plan_stages(config([areas["a32"], shuffled], mode="mix"))
    original = open_dataset(areas["b32"], "train")
    first = len(open_dataset(areas["a32"], "train"))
    assert stage.train.band_names == original.band_names == ["blue", "green", "red", "nir"]
    assert np.array_equal(stage.train[first].image, original[0].image)
    assert stage.train.normalisation()[0] != open_dataset(areas["a32"], "train").normalisation()[0]
    other = reorder_dataset(areas["b32"], tmp_path / "b32_dsm", [0, 1, 2, 3], names=["blue", "green", "red", "dsm"])
    with pytest.raises(LmhldError, match=r"band mismatch: dataset .*a32 expects 4 bands .* without nir.*--mode part"):
        plan_stages(config([areas["a32"], other], mode="mix"))


def test_mix_mode_of_datasets_at_other_pixel_sizes_warns(areas, tmp_path):
    import json

    from lmhld_qgis.training.stages import plan_stages, resolution_note

    from ..helpers import reorder_dataset

    finer = reorder_dataset(areas["b32"], tmp_path / "b32_fine", [0, 1, 2, 3])
    card = json.loads((finer / "dataset.json").read_text())
    (finer / "dataset.json").write_text(json.dumps({**card, "resolution_m": 0.5}))
    [stage] = plan_stages(config([areas["a32"], finer], mode="mix"))
    first = json.loads((areas["a32"] / "dataset.json").read_text())["resolution_m"]
    note = resolution_note(stage)
    assert note is not None and f"a32 {first:g} m" in note and "b32 0.5 m" in note and "--pixel-size" in note
    assert resolution_note(plan_stages(config([areas["a32"], areas["b32"]], mode="mix"))[0]) is None


def test_mix_mode_joins_areas(areas, tmp_path):
    result = train(config([areas["a32"], areas["b32"]], mode="mix", epochs=1), tmp_path / "run")
    assert read_metrics(tmp_path / "run")[0]["dataset"] == "a32+b32" and result.best_f1 > 0


@pytest.mark.parametrize("case, message", [
    ("model", "unknown model 'segnet'; valid names"),
    ("bands", "same band count"),
    ("sizes", "one patch size"),
    ("missing", "not found"),
    ("single2", "single mode trains on one dataset"),
    ("names", r"names must be one non-empty name per dataset \(2\)"),
    ("twice", r"dataset folder .*a32 is given twice .*give each folder once"),  # was trained on twice, silently
])
def test_bad_configuration_fails_before_training(areas, tmp_path, case, message):
    cfg = {"model": config([areas["a32"]], model="segnet"),
           "bands": config([areas["a32"], areas["rgb32"]], mode="mix"),
           "sizes": config([areas["a32"], areas["c64"]], mode="mix"),
           "missing": config([tmp_path / "nope"]),
           "single2": config([areas["a32"], areas["b32"]]),
           "names": config([areas["a32"], areas["b32"]], mode="mix", names=["north"]),
           "twice": config([areas["a32"], areas["a32"]], mode="mix")}[case]
    with pytest.raises(LmhldError, match=message):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_dataset_with_nan_statistics_fails_before_training(areas, tmp_path):
    """A dataset exported before NaN pixels counted as nodata has null statistics: a clear error, not a TypeError."""
    import json
    import shutil

    data = tmp_path / "nan_area"
    shutil.copytree(areas["a32"], data)
    card = json.loads((data / "dataset.json").read_text())
    card["mean"][0] = None
    (data / "dataset.json").write_text(json.dumps(card))
    with pytest.raises(LmhldError, match=r"band statistics are not numbers .* NaN or infinite pixels; export the "
                                         r"dataset again"):
        train(config([data]), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_patch_size_the_network_cannot_take_fails_before_training(tmp_path):
    from tests.conftest import _area

    area = _area(tmp_path, "p48", 5, 48, side=256, n=40)
    with pytest.raises(LmhldError, match=r"linknet takes sizes that divide by 32, but p48 has 48 px patches; "
                                         r"export patches of 32 or 64 px"):
        train(config([area], model="linknet", model_options={"encoder": "resnet18"}), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    from ..helpers import write_cas_splits

    release = write_cas_splits(tmp_path / "cas", size=40)  # a release is not exported again: it is cropped
    with pytest.raises(LmhldError, match=r"unet takes sizes that divide by 16, but cas has 40 px patches; crop its "
                                         r"images and masks alike to 32 px \(gdal_translate -srcwin 0 0 32 32"):
        train(config([release]), tmp_path / "run")


def test_baseline_trains_from_local_weights_and_its_card_omits_the_file(areas, tmp_path):
    import torchvision

    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "resnet18.pth")
    options = {"encoder": "resnet18", "encoder_weights": str(tmp_path / "resnet18.pth"), "decoder_channels": 32}
    result = train(config([areas["a32"]], model="deeplabv3plus", model_options=options, epochs=1), tmp_path / "run")
    card = load_checkpoint(tmp_path / "run" / "best.pt")["card"]
    assert card["model_options"] == {"encoder": "resnet18", "decoder_channels": 32} and card["size_multiple"] == 16
    assert result.onnx is not None and result.onnx.exists()


def test_config_file_and_flags(tmp_path, areas):
    (tmp_path / "c.toml").write_text(f'[train]\nmodel = "attunet"\nepochs = 7\ndata = ["{areas["a32"]}"]\n'
                                     '[train.model_options]\nbase_width = 4\n')
    cfg = load_config(tmp_path / "c.toml", {"epochs": 3, "model": None})
    assert (cfg.model, cfg.epochs, cfg.model_options, cfg.learning_rate) == ("attunet", 3, {"base_width": 4}, 1e-3)
    assert (cfg.optimizer, cfg.schedule, cfg.augment, cfg.recipe) == ("adamw", "cosine", "strong", "default")
    paper = load_config(tmp_path / "c.toml", {"recipe": "paper", "epochs": None})
    assert (paper.optimizer, paper.learning_rate, paper.schedule, paper.gamma, paper.augment, paper.epochs,
            paper.early_stopping) == ("sgd", 1e-2, "exponential", 0.99, "flips", 7, 0)  # the file's 7 epochs win
    (tmp_path / "bad.toml").write_text("[train]\nepochz = 3\n")
    with pytest.raises(LmhldError, match=r"unknown training option\(s\) \['epochz'\] in config .*bad\.toml \(did you "
                                         r"mean epochs\?\)"):
        load_config(tmp_path / "bad.toml", {})
    (tmp_path / "bad.toml").write_text("[trian]\nepochs = 3\n")  # was: "unknown training option(s) ['trian']"
    with pytest.raises(LmhldError, match=r"bad\.toml has no \[train\] table, only \[trian\]: its options go in a "
                                         r"\[train\] table"):
        load_config(tmp_path / "bad.toml", {})
    (tmp_path / "flat.toml").write_text("epochs = 3\n[model_options]\nbase_width = 4\n")  # no table: read whole
    assert load_config(tmp_path / "flat.toml", {}).model_options == {"base_width": 4}
    for name, text in (("bad.toml", "epochs = \n"), ("bad.json", '{"epochs": }'), ("bad.yaml", "epochs: [\n")):
        (tmp_path / name).write_text(text)  # a JSON one was "a JSON file cannot be parsed", naming no file
        with pytest.raises(LmhldError, match=rf"config .*{name} cannot be parsed: .*; fix it$"):
            load_config(tmp_path / name, {})


def test_model_options_from_key_value_text():
    from lmhld_qgis.training.config import parse_model_options

    assert parse_model_options(["encoder=resnet50", "decoder_channels=128", "decoder_atrous_rates=[6, 12, 18]",
                                "deep_supervision=true", "encoder_weights=/data/r50.pth"]) == {
        "encoder": "resnet50", "decoder_channels": 128, "decoder_atrous_rates": [6, 12, 18],
        "deep_supervision": True, "encoder_weights": "/data/r50.pth"}
    with pytest.raises(LmhldError, match="is not KEY=VALUE"):
        parse_model_options(["resnet50"])


@pytest.mark.slow
def test_bf16_autocast_path_trains_on_cpu(areas, tmp_path):
    """The CUDA recipe (bf16 autocast, no GradScaler) is the same code on a CPU: it learns, and exports float32."""
    import numpy as np

    from lmhld_qgis.core.backends import OnnxBackend
    from lmhld_qgis.training.checkpoint import model_from_checkpoint

    result = train(config([areas["a32"]], amp="bf16", epochs=3, model="deeplabv3plus",
                          model_options=SMALL_OPTIONS["deeplabv3plus"]), tmp_path / "run")
    losses = [float(r["train_loss"]) for r in read_metrics(tmp_path / "run")]
    assert losses[-1] < losses[0] and result.best_f1 > 0.3, (losses, result.best_f1)
    assert "scaler" not in load_checkpoint(tmp_path / "run" / "last.pt")["training_state"]  # bf16: no GradScaler
    model, card = model_from_checkpoint(tmp_path / "run" / "best.pt")
    assert card.architecture == "deeplabv3plus" and all(p.dtype == torch.float32 for p in model.parameters())
    x = np.random.default_rng(0).normal(size=(1, 4, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = torch.sigmoid(model.eval()(torch.from_numpy(x))).numpy()
    backend = OnnxBackend(result.onnx, "cpu")  # standardized in, whatever convention the file follows
    assert np.abs(backend.predict(x) - expected[:, 0]).max() < 1e-4


def test_automatic_batch_size_keeps_a_small_split_stepping():
    from lmhld_qgis.training.config import auto_batch_size

    assert auto_batch_size(72) == 4  # issue 12's regime: 18 steps an epoch instead of 5 at 16
    assert auto_batch_size(200) == 10 and auto_batch_size(632) == 16 and auto_batch_size(11) == 4
    assert auto_batch_size(200, world=4) == 8 and auto_batch_size(72, world=8) == 8  # a multiple of the ranks
    assert auto_batch_size(72, world=3) == 6 and auto_batch_size(72, world=32) == 32  # never under the floor (was 3)


def test_automatic_batch_size_is_resolved_said_and_reported(areas, tmp_path):
    from lmhld_qgis.core.datasets import open_dataset
    from lmhld_qgis.training.config import auto_batch_size

    said = []

    class Said(StopAfter):
        def info(self, m):
            said.append(m)

    n_train = len(open_dataset(areas["a32"], "train"))
    result = train(config([areas["a32"]], epochs=1, batch_size="auto"), tmp_path / "run", progress=Said(10**9))
    assert result.batch_size == auto_batch_size(n_train) < 16
    steps, at_16 = -(-n_train // result.batch_size), -(-n_train // 16)
    assert (f"batch size {result.batch_size} (auto, rather than 16): {n_train} training patches make {steps} steps "
            f"an epoch, where batches of 16 would make {at_16}") in said, said
    assert f"{result.batch_size} (auto)" in (tmp_path / "run" / "report.html").read_text()
    assert '"batch_size": "auto"' in (tmp_path / "run" / "config.json").read_text()  # resumes the same way


def test_a_run_folder_inside_its_dataset_is_refused(areas, tmp_path):
    """A probe's run written into its own patch folder (its img/) was accepted: the dataset then held the run."""
    inside = areas["a32"] / "img" / "run"
    with pytest.raises(LmhldError, match=r"the run folder .*a32/img/run lies inside the dataset .*a32, which "
                                         r"training only reads: choose a folder beside it"):
        train(config([areas["a32"]], epochs=1), inside)
    assert not inside.exists()
