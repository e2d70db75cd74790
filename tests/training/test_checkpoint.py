"""Checkpoints load with weights_only=True: round trip, and code-carrying or foreign files refused."""

from __future__ import annotations

import pickle
import zipfile

import pytest
import torch

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.modelcard import ModelCard
from lmhld_qgis.models import build_model
from lmhld_qgis.training.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint

from ..helpers import RunsCode


def test_round_trip(tmp_path):
    model = build_model("attunet", 4, base_width=4)
    card = ModelCard("attunet", 4, model_options={"base_width": 4}, patch_size=64)
    save_checkpoint(tmp_path / "c.pt", model, card, {"epoch": 3, "rng": torch.get_rng_state()})
    loaded, back = model_from_checkpoint(tmp_path / "c.pt")
    assert back == card
    x = torch.randn(1, 4, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))
    assert load_checkpoint(tmp_path / "c.pt")["training_state"]["epoch"] == 3


def test_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    torch.save({"format": "lmhld-checkpoint", "payload": RunsCode()}, evil)
    with pytest.raises(LmhldError, match="not a safe lmhld checkpoint: it holds Python objects") as refused:
        load_checkpoint(evil)
    assert not (tmp_path / "PWNED").exists()
    assert "weights_only" not in str(refused.value)  # torch's advice to load it anyway is not passed on
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(RunsCode()))
    with pytest.raises(LmhldError, match="not a safe lmhld checkpoint"):
        load_checkpoint(raw)
    assert not (tmp_path / "PWNED").exists()


def test_foreign_and_tampered_files_are_refused(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(LmhldError, match="not an lmhld checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    model = build_model("unet", 4, base_width=4)
    save_checkpoint(tmp_path / "ok.pt", model, ModelCard("unet", 4, model_options={"base_width": 4}))
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(LmhldError, match="not a safe lmhld checkpoint: it is not a complete torch file"):
        load_checkpoint(tmp_path / "cut.pt")
    assert zipfile.is_zipfile(tmp_path / "ok.pt")


def test_core_load_backend_opens_a_checkpoint_through_training(tmp_path):
    """core.backends names training's TorchBackend (no import from core); a .pt still opens and predicts."""
    from lmhld_qgis.core.backends import load_backend
    from lmhld_qgis.training.backend import TorchBackend

    model = build_model("unet", 3, base_width=4)
    save_checkpoint(tmp_path / "c.pth", model, ModelCard("unet", 3, model_options={"base_width": 4}), {})
    backend = load_backend(tmp_path / "c.pth", "cpu")
    assert isinstance(backend, TorchBackend) and backend.provider == "torch-cpu"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = torch.sigmoid(model.eval()(x))[:, 0].numpy()
    assert abs(backend.predict(x.numpy()) - expected).max() < 1e-5
