"""Training configuration: a TOML (or YAML) file and/or command-line flags; flags win."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..core.errors import LmhldError

MODES = ("single", "mix", "part")


def parse_model_options(items: list[str] | None) -> dict[str, Any]:
    """`KEY=VALUE` strings to model options; a value is read as JSON when it can be (`decoder_channels=128`,
    `decoder_atrous_rates=[6,12,18]`, `deep_supervision=true`), else kept as text (`encoder=resnet50`)."""
    import json

    options: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise LmhldError(f"model option {item!r} is not KEY=VALUE (e.g. encoder=resnet50)")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value.strip()
    return options


@dataclass
class TrainConfig:
    model: str = "unet"
    model_options: dict[str, Any] = field(default_factory=dict)
    data: list[str] = field(default_factory=list)  # dataset folders (format detected); order = part-mode order
    mode: str = "single"
    epochs: int = 50  # per stage in part mode
    batch_size: int = 16  # global batch (split across ranks under torchrun)
    optimizer: str = "sgd"  # "sgd" (LMHLD: lr 1e-2, ExponentialLR 0.99) or "adam" (Landslide4Sense: lr 1e-3)
    lr: float | None = None  # default by optimizer
    momentum: float = 0.9
    weight_decay: float = 0.0
    gamma: float = 0.99
    loss: str = "bce_dice"  # or "bce", "ce" (two-class cross-entropy)
    augment: bool = True  # flips and 90-degree rotations
    seed: int = 0
    device: str = "auto"  # auto: CUDA when present
    amp: str = "auto"  # auto: bf16 on CUDA, off on CPU; "bf16"; "off"
    channels_last: bool = False
    workers: int = 0
    threshold: float = 0.5
    reinit_input: str = "always"  # part mode: "always" (the paper) or "bands" (only when the band count changes)
    freeze: str = "progressive"  # part mode: stage k freezes the first k-1 encoder levels; or "none"
    checkpoint_every: int = 0  # also save last.pt every N batches (0: at each epoch end only)
    bands: list[int] | None = None  # 0-based band selection applied to every dataset

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (1e-2 if self.optimizer == "sgd" else 1e-3)

    @property
    def num_classes(self) -> int:
        return 2 if self.loss == "ce" else 1

    def validate(self) -> None:
        from ..models.registry import model_class

        model_class(self.model)
        if self.mode not in MODES:
            raise LmhldError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not self.data:
            raise LmhldError("give at least one dataset folder (--data)")
        missing = [d for d in self.data if not Path(d).exists()]
        if missing:
            raise LmhldError(f"dataset folder(s) not found: {', '.join(missing)}")
        if self.mode == "single" and len(self.data) != 1:
            raise LmhldError(f"single mode trains on one dataset; {len(self.data)} given (use mix or part)")
        if self.optimizer not in ("sgd", "adam"):
            raise LmhldError(f"optimizer must be sgd or adam, got {self.optimizer!r}")
        if self.loss not in ("bce_dice", "bce", "ce"):
            raise LmhldError(f"loss must be bce_dice, bce or ce, got {self.loss!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise LmhldError("epochs and batch size must be >= 1")
        if self.amp not in ("auto", "bf16", "off"):
            raise LmhldError(f"amp must be auto, bf16 or off, got {self.amp!r}")
        if self.reinit_input not in ("always", "bands") or self.freeze not in ("progressive", "none"):
            raise LmhldError("reinit_input must be always|bands and freeze progressive|none")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_config(path: str | Path | None, overrides: dict[str, Any]) -> TrainConfig:
    """Read a TOML/YAML file (if given), then apply the non-None overrides (command-line flags)."""
    values: dict[str, Any] = {}
    if path:
        path = Path(path)
        if not path.is_file():
            raise LmhldError(f"config file {path} not found")
        text = path.read_text()
        if path.suffix.lower() == ".toml":
            import tomllib

            try:
                values = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise LmhldError(f"config {path}: {exc}") from exc
        elif path.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as exc:
                raise LmhldError("YAML configs need PyYAML (python3-yaml); or use TOML") from exc
            values = yaml.safe_load(text) or {}
        else:
            raise LmhldError(f"config {path}: use a .toml or .yaml file")
        values = values.get("train", values)
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise LmhldError(f"unknown training option(s) {unknown}; valid: {sorted(known)}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)
