"""The `lmhld` command: one sub-command per stage, each a thin wrapper over the core.

Whatever happens, the command ends with one line on stderr, never a traceback: `lmhld COMMAND: PROBLEM`; for a
failure that is not the input's fault the full traceback goes to a log file the line names (`--debug` prints it
instead). Exit codes: 0 done, 2 bad input (or a damaged input file), 1 an unexpected failure (or the machine's: disk
full), 130 cancelled (Ctrl-C, SIGTERM, SIGHUP: every temporary file is removed first).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from ..core.errors import CANCELLED, LmhldError, explain
from ..core.terms import speak
from . import (
    analyse,
    create_inventory,
    demo,
    detect,
    evaluate,
    experiment,
    export,
    export_onnx,
    preview,
    rank,
    split,
    stack,
    train,
    validate,
)
from .failures import (
    cancelled_message,
    failed,
    outputs_in_place,
    report_failure,
    say_once,
    signals_as_exceptions,
    stdout_may_close,
    stop_reached,
)
from .paths import PathRoles, declare_paths

COMMANDS = (demo, create_inventory, validate, stack, analyse, preview, export, split, train, evaluate, experiment,
            export_onnx, detect, rank)

# Path roles of the sub-commands whose modules do not declare their own: training runs and experiments are folders
# that a later run continues, so they are locked while in use and never replaced.
_RESUMABLE: dict[str, tuple[str, ...]] = {"train": ("data", "config", "init_from"), "experiment": ("config",)}


class OneLineParser(argparse.ArgumentParser):
    """A wrong or missing option ends in one line, like every other refusal, with the way to the options: argparse's
    usage block (thirty lines for train) came first and buried it."""

    given: Sequence[str] = ()  # the command line's words, for the hint below

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}{self._positional_hint()} (`{self.prog} --help` lists the "
                     "options)\n")

    def _positional_hint(self) -> str:
        """`lmhld analyse --inventory X`: the argument this command takes without a flag, said so (argparse only
        said '--raster is required' or 'unrecognized arguments')."""
        flags = {flag for action in self._actions for flag in action.option_strings}
        for action in self._actions:
            if action.option_strings or action.dest in ("command", argparse.SUPPRESS):
                continue
            flag = "--" + action.dest.replace("_", "-")
            if flag not in flags and any(word == flag or word.startswith(flag + "=") for word in self.given):
                name = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
                return f"; {flag} is not an option: give {name} without a flag, first ({self.prog} {name} ...)"
        return ""


def build_parser() -> argparse.ArgumentParser:
    import lmhld_qgis

    parser = OneLineParser(prog="lmhld", description="Landslide detection from high-resolution imagery.")
    parser.add_argument("--version", action="version", version=f"lmhld_qgis {lmhld_qgis.__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of a failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    for name, command in sub.choices.items():
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the full traceback of a failure")
        if name in _RESUMABLE and command.get_default("paths") is None:
            declare_paths(command, inputs=_RESUMABLE[name], folders=("out",), resumable=True)
    return parser


def main(argv: Sequence[str] | None = None, final: bool = False) -> int:
    """Run the command line `argv`; `final`: the process ends with it (the console script)."""
    # GDAL's block cache defaults to 5% of RAM and is the largest user of memory when streaming big rasters;
    # a bounded cache keeps the command's memory flat whatever the scene size (set GDAL_CACHEMAX to change it).
    os.environ.setdefault("GDAL_CACHEMAX", "256")
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # else onnxruntime leaves a session file in the temp folder
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(cache, "lmhld", "torchinductor"))  # not in /tmp
    # rasterio's warning about a raster without georeferencing comes before lmhld's own error that says what to do
    warnings.filterwarnings("ignore", message=r"Dataset has no geotransform")
    argv = list(sys.argv[1:] if argv is None else argv)
    speak("flags")  # messages name the options as this command line does (a Python caller gets keywords)
    debug = "--debug" in argv or bool(os.environ.get("LMHLD_DEBUG"))
    try:
        parser = build_parser()
    except Exception as exc:  # a broken installation (a missing library): still one line and a log
        return report_failure("lmhld", exc, argv, debug)
    OneLineParser.given = argv
    args, unknown = parser.parse_known_args(_negative_values_attached(parser, argv))  # bad arguments: exit 2
    if unknown:  # said by the sub-command, whose --help lists what it takes
        _subparsers(parser).get(args.command, parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    return run(args, argv, final)


_NEGATIVE_VALUE = re.compile(r"-\.?\d")


def _negative_values_attached(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """`--extent -75.1,-40.2,...` as `--extent=-75.1,...`: argparse takes a value that starts with a minus and is
    not a plain number for an option and stops with 'expected one argument' (west and south coordinates do)."""
    takes_value = {flag for command in (parser, *_subparsers(parser).values()) for action in command._actions
                   if action.nargs is None and action.option_strings for flag in action.option_strings}
    out: list[str] = []
    for token in argv:
        if out and out[-1] in takes_value and _NEGATIVE_VALUE.match(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {name: command for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for name, command in action.choices.items()}


def run(args: argparse.Namespace, argv: Sequence[str] = (), final: bool = False) -> int:
    """Run a parsed command: paths checked and locked first, every failure turned into one line; `final`: the
    process ends with it (see failures.signals_as_exceptions)."""
    command = f"lmhld {args.command}"
    debug = bool(getattr(args, "debug", False)) or bool(os.environ.get("LMHLD_DEBUG"))
    roles: PathRoles | None = getattr(args, "paths", None)
    finished: int | None = None  # the command's code once its body has run: its outputs are in place
    with signals_as_exceptions(final), stdout_may_close():
        try:
            if roles is None:
                return int(args.run(args) or 0)
            roles.check(args)
            if getattr(args, "unlocked", lambda _: False)(args):  # a launcher: its workers claim the paths
                args.argv = list(argv)
                return int(args.run(args) or 0)
            with roles.claimed(args):
                finished = int(args.run(args) or 0)  # a stop before this rolls every output back
            return finished
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM / SIGHUP (core.errors.Terminated)
            stop_reached()
            if finished is not None:  # it landed while the finished outputs' backups were removed: they are complete
                outputs_in_place()
                say_once(f"{command}: a stop signal came once the outputs were in place; they are complete")
                return finished
            failed()
            say_once(f"{command}: {cancelled_message(args, exc)}")
            return CANCELLED
        except Exception as exc:
            from ..core.errors import CancelledError

            failed()
            stop = stop_reached()  # a stop signal whose exception a library turned into a failure of its own
            if stop is not None or isinstance(exc, CancelledError):
                say_once(f"{command}: {cancelled_message(args, stop or exc)}")
                return CANCELLED
            if isinstance(exc, LmhldError):
                say_once(f"{command}: error: {exc}")
                return explain(exc).exit_code
            return report_failure(command, exc, argv, debug)
