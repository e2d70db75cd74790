"""Training configuration: a recipe by name, then a TOML (or YAML) file, then command-line flags; later wins.

Every value is checked for its type and range before any work starts, and a bad one is answered with its name
and what is allowed. The resolved configuration (recipe filled in) is what a run records in config.json.

Recipes:
- "default": AdamW 1e-3 with weight decay, one warm-up epoch then cosine decay, BCE + Dice, strong augmentation
  (flips/rotations, scale, per-band gain, contrast and brightness, blur, noise), early stopping after 10 epochs
  without a better validation F1, a threshold calibrated on the validation split, and an automatic batch size
  (16, fewer when the training split is small: see `auto_batch_size`).
- "paper": the LMHLD paper's recipe: SGD 1e-2 (momentum 0.9), ExponentialLR 0.99 per epoch, flips/rotations
  only, 50 epochs, no early stopping, threshold 0.5, batch 16.
"""

from __future__ import annotations

import math
import os
import types
import typing
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from ..core.errors import KINDS, LmhldError

Mode = Literal["single", "mix", "part"]
Optimizer = Literal["sgd", "adam", "adamw"]
Schedule = Literal["cosine", "exponential", "constant"]
Loss = Literal["bce_dice", "bce", "ce", "focal", "tversky", "focal_tversky"]
Augment = Literal["strong", "flips", "none"]
Amp = Literal["auto", "bf16", "off"]
Cache = Literal["auto", "memory", "pack", "off"]
Recipe = Literal["default", "paper"]
Auto = Literal["auto"]

MODES: tuple[str, ...] = get_args(Mode)
BATCH_SIZE = 16  # the automatic batch size's ceiling, and the batch every version used before it
MIN_AUTO_BATCH = 4
STEPS_PER_EPOCH = 20  # what the automatic batch size keeps an epoch above, where the patches allow it
RECIPES: dict[str, dict[str, Any]] = {
    "default": {},  # the dataclass defaults below
    "paper": {"optimizer": "sgd", "lr": 1e-2, "momentum": 0.9, "weight_decay": 0.0, "schedule": "exponential",
              "gamma": 0.99, "warmup_epochs": 0.0, "augment": "flips", "loss": "bce_dice", "epochs": 50,
              "early_stopping": 0, "threshold": 0.5, "batch_size": BATCH_SIZE},
}
# Options that define what a run is: resuming with another value would continue a different run.
# The recipe's name and the threshold too: config.json said "paper" over a run trained with AdamW, and a threshold
# the model did not carry (the card's comes from the run's calibration).
MEANING = ("model", "model_options", "mode", "data", "bands", "relative_bands", "relative_surface", "batch_size",
           "recipe", "optimizer", "lr", "momentum", "weight_decay", "schedule", "warmup_epochs", "gamma",
           "min_lr_ratio", "loss", "focal_gamma", "tversky_alpha", "tversky_beta", "augment", "seed", "reinit_input",
           "freeze", "init_from", "threshold")


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
    mode: Mode = "single"
    recipe: Recipe = "default"  # fills the options below that are not given (see the module docstring)
    epochs: int = 50  # per stage in part mode
    batch_size: int | Auto = "auto"  # global batch (split across ranks under torchrun); auto: auto_batch_size
    optimizer: Optimizer = "adamw"
    lr: float | None = None  # default by optimizer: sgd 1e-2, adam/adamw 1e-3
    momentum: float = 0.9  # sgd
    weight_decay: float = 1e-4
    schedule: Schedule = "cosine"
    warmup_epochs: float = 1.0  # linear warm-up from the first batch (cosine and constant schedules)
    gamma: float = 0.99  # exponential schedule: lr x gamma per epoch
    min_lr_ratio: float = 0.01  # cosine: the floor, as a share of the peak learning rate
    loss: Loss = "bce_dice"
    focal_gamma: float = 2.0
    tversky_alpha: float = 0.3  # weight of false positives
    tversky_beta: float = 0.7  # weight of false negatives (landslides missed)
    augment: Augment = "strong"
    early_stopping: int = 10  # stop a stage after N epochs without a better validation F1; 0: never
    seed: int = 0
    device: str = "auto"  # auto: CUDA when present
    amp: Amp = "auto"  # auto: bf16 on CUDA, off on CPU
    channels_last: bool | Auto = "auto"  # auto: on with CUDA
    workers: int | Auto = "auto"  # DataLoader processes for uncached data; auto: from the cores with CUDA, else 0
    pin_memory: bool | Auto = "auto"  # auto: on with CUDA
    persistent_workers: bool | Auto = "auto"  # auto: on when there are workers
    cache: Cache = "auto"  # decode each patch once: in memory when it fits cache_memory_mb, else a memory-mapped pack
    cache_memory_mb: int = 0  # 0: a quarter of the available memory
    compile: bool = False  # torch.compile the network for training
    threshold: float | Auto = "auto"  # auto: the F1-best threshold on the validation split (0.5 without one)
    reinit_input: Literal["always", "bands"] = "always"  # part mode: "always" (the paper) or on a band change
    freeze: Literal["progressive", "none"] = "progressive"  # part mode: stage k freezes the first k encoder levels
    checkpoint_every: int = 0  # also save last.pt every N batches; 0: off
    checkpoint_seconds: float = 300.0  # last.pt this long after the last save and with the first best.pt; 0: each epoch
    bands: list[int] | None = None  # 0-based band selection applied to every dataset
    relative_bands: list[int] | Auto = "auto"  # 0-based inputs whose level each patch loses (elevation); auto: by
    # name or by spread (training/relative.py); []: none
    relative_surface: Literal["auto", "ground", "plane", "level"] = "auto"  # what they lose: the patch's ground
    # plane (through the pixels that are not canopy), its best-fit plane, or its level; auto: ground for pixels of
    # 2 m or finer, plane otherwise (training/relative.py)
    init_from: str | None = None  # fine-tuning: start from a trained network (a checkpoint, or a run folder's
    # best.pt) instead of random weights (training/finetune.py)
    names: list[str] | None = None  # one per dataset: what the log, forgetting.csv and the model card call it (an
    # experiment's area names); None: each dataset's own name

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else default_lr(self.optimizer)

    @property
    def num_classes(self) -> int:
        return 2 if self.loss == "ce" else 1

    def __post_init__(self) -> None:
        from ..core.plain import plain_fields

        plain_fields(self)  # numpy numbers from a sweep (np.int64 epochs were refused as "not an integer, got 1")
        paths = _upgrade({"data": self.data, "init_from": self.init_from})  # TrainConfig(data=[Path(...)])
        self.data, self.init_from = paths["data"], paths["init_from"]

    @classmethod
    def from_values(cls, values: dict[str, Any], source: str = "training option") -> TrainConfig:
        """A configuration from plain values (a TOML table, flags): the recipe fills what is not given; unknown
        keys and values of the wrong type are refused with the key named."""
        values = check_values(values, source)
        recipe = values.get("recipe", "default")
        return cls(**{**RECIPES[recipe], **values})

    def validate(self) -> None:
        """Types, ranges and choices of every option, and the datasets' existence; before any work."""
        self.validate_options()
        if not self.data:
            raise LmhldError("give at least one dataset folder (--data)")
        missing = [d for d in self.data if not Path(d).exists()]
        if missing:
            raise LmhldError(f"dataset folder(s) not found: {', '.join(missing)}")
        if self.mode == "single" and len(self.data) != 1:
            raise LmhldError(f"single mode trains on one dataset; {len(self.data)} given (use mix or part)")
        from ..core.preflight import require_distinct

        require_distinct(self.data, "dataset folder")  # mix would weigh it double, part train it twice
        if self.init_from is not None:
            from .finetune import checkpoint_path

            checkpoint_path(self.init_from)

    def validate_options(self) -> None:
        """Types, ranges and choices of every option, the network and the options it takes (not the datasets: an
        experiment checks each run's options before it exports the first dataset)."""
        check_types(self.to_dict(), "training option")
        _check_ranges(self)
        from ..models.registry import check_model_options

        check_model_options(self.model, self.model_options)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_lr(optimizer: str) -> float:
    """The learning rate of a run that gives none (lr = None): the optimizer's."""
    return 1e-2 if optimizer == "sgd" else 1e-3


def auto_batch_size(n_train: int, world: int = 1) -> int:
    """The batch that gives an epoch at least STEPS_PER_EPOCH optimizer steps, between MIN_AUTO_BATCH and
    BATCH_SIZE, as a multiple of the `world` processes. Why: a few large patches (a dozen landslides of thousands
    of pixels at 0.5 m: 72 patches of 256 px) at 16 a batch are 5 steps an epoch, and after 5 of 12 CPU epochs
    the network still called nearly everything landslide (val F1 0.20); at 4 a batch the same compute makes four
    times the steps (val F1 0.685 after 12). Hundreds of patches keep 16."""
    size = min(BATCH_SIZE, max(MIN_AUTO_BATCH, n_train // STEPS_PER_EPOCH))
    down = size - size % world
    if down < MIN_AUTO_BATCH:  # 3 processes made batches of 3, below the floor: up to the next multiple, 6
        down = -(-MIN_AUTO_BATCH // world) * world
    return down


# -- ranges ------------------------------------------------------------------------------------------------------
def _require(ok: bool, name: str, allowed: str, value: object) -> None:
    if not ok:
        raise LmhldError(f"{name} must be {allowed}, got {value!r}")


def _check_ranges(cfg: TrainConfig) -> None:
    _require(cfg.epochs >= 1, "epochs", "an integer >= 1", cfg.epochs)
    _require(cfg.batch_size == "auto" or cfg.batch_size >= 1, "batch_size", "auto or an integer >= 1",
             cfg.batch_size)
    _require(cfg.lr is None or (math.isfinite(cfg.lr) and cfg.lr > 0), "lr", "a number > 0", cfg.lr)
    _require(0 <= cfg.momentum < 1, "momentum", "a number in [0, 1)", cfg.momentum)
    _require(cfg.weight_decay >= 0, "weight_decay", "a number >= 0", cfg.weight_decay)
    _require(0 < cfg.gamma <= 1, "gamma", "a number in (0, 1]", cfg.gamma)
    _require(cfg.warmup_epochs >= 0, "warmup_epochs", "a number >= 0", cfg.warmup_epochs)
    _require(0 <= cfg.min_lr_ratio <= 1, "min_lr_ratio", "a number in [0, 1]", cfg.min_lr_ratio)
    _require(cfg.focal_gamma >= 0, "focal_gamma", "a number >= 0", cfg.focal_gamma)
    _require(cfg.tversky_alpha >= 0 and cfg.tversky_beta >= 0 and cfg.tversky_alpha + cfg.tversky_beta > 0,
             "tversky_alpha and tversky_beta", "numbers >= 0 with a positive sum",
             (cfg.tversky_alpha, cfg.tversky_beta))
    _require(cfg.early_stopping >= 0, "early_stopping", "an integer >= 0 (0: off)", cfg.early_stopping)
    _require(cfg.seed >= 0, "seed", "an integer >= 0", cfg.seed)
    _require(cfg.workers == "auto" or cfg.workers >= 0, "workers", "an integer >= 0 or 'auto'", cfg.workers)
    _require(cfg.cache_memory_mb >= 0, "cache_memory_mb", "an integer >= 0 (0: automatic)", cfg.cache_memory_mb)
    _require(cfg.threshold == "auto" or 0 <= cfg.threshold <= 1, "threshold", "a number in [0, 1] or 'auto'",
             cfg.threshold)
    _require(cfg.checkpoint_every >= 0, "checkpoint_every", "an integer >= 0 (0: off)", cfg.checkpoint_every)
    _require(cfg.checkpoint_seconds >= 0, "checkpoint_seconds", "a number >= 0", cfg.checkpoint_seconds)
    _require(cfg.bands is None or all(b >= 0 for b in cfg.bands), "bands", "0-based band indices (>= 0)", cfg.bands)
    _require(cfg.names is None or (len(cfg.names) == len(cfg.data) and all(n.strip() for n in cfg.names)), "names",
             f"one non-empty name per dataset ({len(cfg.data)})", cfg.names)
    _require(cfg.relative_bands == "auto" or all(b >= 0 for b in cfg.relative_bands), "relative_bands",
             "'auto' or 0-based band indices (>= 0)", cfg.relative_bands)
    width = cfg.model_options.get("base_width")
    _require(width is None or (isinstance(width, int) and not isinstance(width, bool) and width >= 1),
             "base_width (--width, or --model-option base_width=N)", "an integer >= 1", width)


# -- types -------------------------------------------------------------------------------------------------------
def _hints() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _matches(value: object, kind: Any) -> bool:
    origin = get_origin(kind)
    if kind is Any:
        return True
    if kind is type(None):
        return value is None
    if origin is Literal:
        return any(value == choice and type(value) is type(choice) for choice in get_args(kind))
    if origin in (Union, types.UnionType):
        return any(_matches(value, k) for k in get_args(kind))
    if origin is list:
        (item,) = get_args(kind)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def describe_type(kind: Any) -> str:
    """'an integer', 'one of "cosine", "exponential"', ... for messages."""
    origin = get_origin(kind)
    if origin is Literal:
        return "one of " + ", ".join(f'"{c}"' if isinstance(c, str) else str(c) for c in get_args(kind))
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(k) for k in get_args(kind))
    if origin is list:
        return f"a list of {describe_type(get_args(kind)[0]).removeprefix('an ').removeprefix('a ')}s"
    names = {int: "an integer", float: "a number", bool: "true or false", str: "text", type(None): "none",
             dict: "a table"}
    return names.get(origin or kind, str(kind))


def _what(value: object, wanted: Any = None) -> str:
    """The value given, and its kind where the kind is what is wrong (not for a word that is not among the
    choices: "got 'sgdx' (text)" said nothing the quotes did not)."""
    words = [a for k in (get_args(wanted) if get_origin(wanted) in (Union, types.UnionType) else (wanted,))
             if get_origin(k) is Literal for a in get_args(k)]
    if isinstance(value, str) and words and all(isinstance(w, str) for w in words):
        return repr(value)
    return f"{value!r} ({KINDS.get(type(value), type(value).__name__)})"


def check_types(values: dict[str, Any], source: str, hints: dict[str, Any] | None = None) -> None:
    """Refuse a value of the wrong type (e.g. a TOML string for a number) with the key named; `hints`: the types
    by key (default: TrainConfig's)."""
    hints = _hints() if hints is None else hints
    for key, value in values.items():
        if key in hints and not _matches(value, hints[key]):
            raise LmhldError(f"{source} {key} must be {describe_type(hints[key])}, got {_what(value, hints[key])}")


def check_values(values: dict[str, Any], source: str, set_elsewhere: Sequence[str] = ()) -> dict[str, Any]:
    """Known keys with values of the right types (older spellings upgraded); the checked copy. `set_elsewhere`:
    keys the caller sets itself, left out of the valid ones listed (an experiment's model, mode, data, names)."""
    known = {f.name for f in fields(TrainConfig)} - set(set_elsewhere)
    unknown = sorted(set(values) - known - set(set_elsewhere))
    if unknown:
        import difflib

        close = {k: m[0] for k in unknown if (m := difflib.get_close_matches(k, known, n=1))}
        hint = f" (did you mean {', '.join(close.values())}?)" if close else ""
        where = f" in {source.rstrip(':')}" if source != "training option" else ""
        raise LmhldError(f"unknown training option(s) {unknown}{where}{hint}; valid: {sorted(known)}")
    values = _upgrade(dict(values))
    check_types(values, source)
    return values


def _upgrade(values: dict[str, Any]) -> dict[str, Any]:
    """Older configurations: `augment = true/false` meant flips/rotations or none. Paths given as Path objects
    (from Python: export_patches(...).out_dir) are texts, as in a TOML file."""
    if isinstance(values.get("augment"), bool):
        values["augment"] = "flips" if values["augment"] else "none"
    if isinstance(values.get("data"), list | tuple):
        values["data"] = [os.fspath(d) if isinstance(d, os.PathLike) else d for d in values["data"]]
    elif isinstance(values.get("data"), os.PathLike | str):
        values["data"] = [os.fspath(values["data"])]  # one dataset
    if isinstance(values.get("init_from"), os.PathLike):
        values["init_from"] = os.fspath(values["init_from"])
    return values


# -- files -------------------------------------------------------------------------------------------------------
def parse_options_file(path: str | Path, what: str = "config") -> dict[str, Any]:
    """The whole of a TOML, YAML or JSON file of options (a config, an experiment), as a table; a missing file, an
    unknown suffix or a syntax error is an LmhldError that names the file."""
    path = Path(path)
    if not path.is_file():
        raise LmhldError(f"{what} file {path} not found")
    text = path.read_text(encoding="utf-8")
    values: Any
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise LmhldError(f"{what} {path}: use a .toml or .yaml file")
    try:
        if suffix == ".toml":
            import tomllib

            values = tomllib.loads(text)
        elif suffix == ".json":
            import json

            values = json.loads(text)
        else:
            try:
                import yaml
            except ImportError as exc:
                raise LmhldError(f"YAML {what} files need PyYAML (python3-yaml); or use TOML") from exc
            values = yaml.safe_load(text) or {}
    except LmhldError:
        raise
    except Exception as exc:  # TOMLDecodeError, JSONDecodeError, yaml.YAMLError: a syntax error in the file
        raise LmhldError(f"{what} {path} cannot be parsed: {' '.join(str(exc).split())}; fix it") from exc
    if not isinstance(values, dict):
        raise LmhldError(f"{what} {path}: expected a table of options")
    return values


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The [train] table (or the whole file) of a TOML or YAML file."""
    values = parse_options_file(path)
    table = values.get("train", values)
    if not isinstance(table, dict):
        raise LmhldError(f"config {path}: [train] must be a table of options")
    others = [k for k, v in values.items() if isinstance(v, dict) and k != "train" and k != "model_options"]
    if table is values and others:  # a misspelt [train] read as one unknown option
        raise LmhldError(f"config {path} has no [train] table, only [{'], ['.join(others)}]: its options go in a "
                         "[train] table (or at the top of the file, without one)")
    return dict(table)


def load_config(path: str | Path | None, overrides: dict[str, Any]) -> TrainConfig:
    """Read a TOML/YAML file (if given), then apply the non-None overrides (command-line flags)."""
    source = f"config {path}:" if path else "training option"
    values = check_values(read_config_file(path), source) if path else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_values(values, source)


def stored_config(run_dir: str | Path) -> dict[str, Any] | None:
    """The configuration a run folder recorded (config.json), or None."""
    import json

    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return values if isinstance(values, dict) else None


def resume_config(run_dir: str | Path, path: str | Path | None, overrides: dict[str, Any]) -> TrainConfig:
    """What `--resume` continues: the run's own config.json, then the file and flags given now (only those that
    do not change the run's meaning are accepted later, by the trainer)."""
    stored = stored_config(run_dir)
    if stored is None:
        if path is None and not overrides.get("data"):
            raise LmhldError(f"{run_dir} holds no run to resume (no config.json there): check the folder, or leave "
                             "out --resume and give --data to start a run")
        return load_config(path, overrides)
    recorded = migrate(stored)
    values = dict(recorded)
    values.update(read_config_file(path) if path else {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    gone = [d for d in values.get("data") or [] if not Path(d).exists()]
    if gone and values.get("data") == recorded.get("data"):
        raise LmhldError(f"the stopped run's dataset {', '.join(map(str, gone))} is no longer there: if it moved, "
                         "resume with --data giving its new place (the same patches resume wherever they lie)")
    return TrainConfig.from_values(values)


def migrate(stored: dict[str, Any]) -> dict[str, Any]:
    """A configuration recorded by an older version: options it lacks take the values that version used (the
    paper's schedule and flips/rotations), so that it resumes as it was trained."""
    known = {f.name for f in fields(TrainConfig)}
    values = _upgrade({k: v for k, v in stored.items() if k in known})
    values.setdefault("relative_bands", [])  # every band was absolute before relative levels existed
    values.setdefault("relative_surface", "level")  # and lost only its level before planes
    if "recipe" not in stored:  # written before recipes existed
        legacy = {"schedule": "exponential", "warmup_epochs": 0.0, "early_stopping": 0, "weight_decay": 0.0,
                  "threshold": 0.5, "channels_last": False, "workers": 0}
        values = {**legacy, **values, "recipe": "paper" if values.get("optimizer", "sgd") == "sgd" else "default"}
        values.setdefault("optimizer", "sgd")
    return values
