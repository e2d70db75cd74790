"""Checkpoints load with weights_only=True: round trip, and code-carrying or foreign files refused."""

from __future__ import annotations

import pickle
import zipfile

import pytest
import torch

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.modelcard import ModelCard
from lmhld_qgis.models import build_model
from lmhld_qgis.training.checkpoint import (
    checkpoint_payload,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    write_checkpoint,
)

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


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (the copies in flight from GPU memory)"))])
def test_a_checkpoint_holds_the_weights_of_the_moment_it_was_taken(tmp_path, device):
    """The trainer hands a snapshot to its writer thread and trains on: the file holds the weights and optimiser
    state as they were when the snapshot was taken, not as they are when the thread writes it."""
    model = build_model("unet", 4, base_width=4).to(device)
    card = ModelCard("unet", 4, model_options={"base_width": 4}, patch_size=64)
    before = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    moment = next(model.parameters()).detach() * 2
    payload = checkpoint_payload(model, card, {"optimizer": {"exp_avg": [moment]}})
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # queued behind the copies on the GPU, as the next optimiser step is
        moment.add_(1.0)
    write_checkpoint(tmp_path / "c.pt", payload.wait())
    saved = load_checkpoint(tmp_path / "c.pt")
    assert set(saved["state_dict"]) == set(before)
    assert all(torch.equal(saved["state_dict"][k], v) for k, v in before.items())
    name = next(k for k, _ in model.named_parameters())
    assert torch.equal(saved["training_state"]["optimizer"]["exp_avg"][0], before[name] * 2)
    assert saved["state_dict"][name].device.type == "cpu"


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
