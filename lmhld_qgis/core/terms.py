"""Options said in the terms of whoever reads the message.

The core speaks of options as the command line names them (`--tolerance 0.02`, `--overwrite`), with an aside for
QGIS (`in QGIS: Tolerance`); the command line prints that as it is and Processing names its own parameters
instead (processing/common.py). A Python caller, who passed keywords, reads them as keywords (`tolerance=0.02`,
`overwrite=True`), and an experiment file's author as keys (`tolerance = 0.02`). Which of the first two a process
speaks is set once: the command line and QGIS set "flags"; the default, for a Python program, is "python".
"""

from __future__ import annotations

import re
from typing import Literal

Audience = Literal["flags", "python"]
_audience: list[Audience] = ["python"]  # process-wide: Processing runs algorithms in worker threads

# a keyword's name where it is not the flag's (the Python API's own argument names)
PYTHON_NAMES = {"pixel-size": "pixel_size_m", "min-area": "min_area_m2", "fill-holes": "fill_holes_m2",
                "large-landslide-area": "large_landslide_area_m2"}

# the command line's switches (no value): kept in step with its parser by tests/core/test_terms.py
SWITCHES = frozenset({"any-size-input", "cap-at-candidates", "channels-last", "compile", "debug", "every-landslide",
                      "explode", "no-augment", "no-channels-last", "no-every-landslide", "no-persistent-workers",
                      "no-pin-memory", "no-resample", "overwrite", "persistent-workers", "pin-memory",
                      "progress-json", "resample", "resume", "static"})

# the words an option takes as its value (the command line's choices, kept in step by tests/core/test_terms.py):
# any other word after a flag is the sentence's ("this --out holds", "--epochs above 40")
VALUE_WORDS = frozenset({
    "adam", "adamw", "attunet", "auto", "balanced", "bce", "bce_dice", "bf16", "block", "ce", "combined", "constant",
    "cosine", "cpu", "cuda", "d4", "deeplabv3plus", "default", "denseunet", "entropy", "exponential", "fcn8s",
    "flips", "focal", "focal_tversky", "fpn", "generalise", "ground", "level", "linknet", "logits", "memory", "mix",
    "near", "none", "off", "pack", "paper", "part", "plane", "probability", "pspnet", "q1", "q2", "q3", "raw",
    "resunet", "sgd", "single", "standardized", "strong", "test", "train", "transunet", "tversky", "unet",
    "unet3p", "unetpp", "val"})
# a value said otherwise in Python and in a file than on the command line
SAID_AS = {("relative-bands", "none"): "[]"}

# the core's aside for QGIS after an option, " (in QGIS: LABEL)" or "; in QGIS: LABEL" (Processing's pattern too)
QGIS_ASIDE = r" \(in QGIS: [^()]*(?:\([^()]*\)[^()]*)?\)|; in QGIS: [^;()]*(?:\([^()]*\))?"
_QGIS_ASIDE = re.compile(QGIS_ASIDE)
# a command quoted in backticks, or said as one (lmhld export --raster ... up to the clause's end), keeps its flags
_FLAG = re.compile(r"`[^`]*`|\blmhld [a-z][a-z-]*(?: [^;()`]*)?"
                   r"|--(?P<flag>[a-z][a-z0-9-]*)"
                   r"(?: (?P<value>-?\d+(?:\.\d+)?(?:,-?\d+(?:\.\d+)?)+|\w+=[\w.]*\w|[\w.]*\w))?")
_NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")


def speak(audience: Audience) -> None:
    """Set whom this process's messages are for: the command line and QGIS say "flags"."""
    _audience[0] = audience


def audience() -> Audience:
    return _audience[0]


def in_terms(message: str, style: Literal["python", "file"]) -> str:
    """`message`'s command-line options as Python keywords ("python": `--tolerance 0.02` -> `tolerance=0.02`,
    `--overwrite` -> `overwrite=True`) or experiment-file keys ("file": `tolerance = 0.02`, `overwrite = true`); a word
    value becomes a string, a list of numbers a list. Commands quoted in backticks, to be run in a terminal, keep
    their flags; the QGIS asides go."""
    if "--" not in message:
        return message
    message = _QGIS_ASIDE.sub("", message)
    equals = "=" if style == "python" else " = "

    def said(match: re.Match[str]) -> str:
        flag, value = match["flag"], match["value"]
        if flag is None:  # a quoted command
            return match.group(0)
        tail = ""
        if flag in ("width", "model-option"):  # a network option: model_options in Python and in a file
            return _network_option(value if flag == "model-option" else f"base_width={value or 'N'}", style)
        if value is not None and not _NUMBER.fullmatch(value) and "," not in value and value not in VALUE_WORDS:
            value, tail = None, f" {value}"
        if flag in SWITCHES:  # a word after it is the sentence's ("--overwrite to replace it")
            on = not flag.startswith("no-")
            name = flag.removeprefix("no-").replace("-", "_")
            text = f"{name}={on}" if style == "python" else f"{name} = {str(on).lower()}"
            return text + (f" {value}" if value is not None else "") + tail
        name = (PYTHON_NAMES.get(flag) if style == "python" else None) or flag.replace("-", "_")
        if value is None:  # the option itself ("a larger --tolerance")
            return name + tail
        if (flag, value) in SAID_AS:
            return f"{name}{equals}{SAID_AS[flag, value]}"
        if "," in value or name == "bands":
            return f"{name}{equals}[{', '.join(value.split(','))}]"
        return f"{name}{equals}{value}" if _NUMBER.fullmatch(value) else f'{name}{equals}"{value}"'

    # the command line's two ways to one network option are one way here: "--width, or --model-option base_width=N"
    return re.sub(r"([^(),;]+), or \1", r"\1", _FLAG.sub(said, message))


def _network_option(value: str | None, style: Literal["python", "file"]) -> str:
    """`--model-option K=V` (or `--width V`) as model_options={"K": V} in Python, K = V under model_options in a
    file."""
    key, _, val = (value or "KEY=VALUE").partition("=")
    val = val if _NUMBER.fullmatch(val) or val in ("true", "false") or val.isupper() else f'"{val}"'
    if style == "python":
        val = {"true": "True", "false": "False"}.get(val, val)
        return f'model_options={{"{key}": {val}}}'
    return f"{key} = {val} under model_options"


def for_reader(message: str) -> str:
    """`message` as this process's reader should see it (see the module docstring)."""
    return message if _audience[0] == "flags" else in_terms(message, "python")
