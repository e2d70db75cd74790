"""What each sub-command reads and writes, declared beside its arguments, checked and locked before any work.

A sub-command declares its path options by their argparse dest (`declare_paths(p, inputs=("raster",),
files=("out",))`); `lmhld` then refuses, before the command runs, an output equal to an input, an existing output
without `--overwrite`, an unwritable folder, a missing input (core.outputs.check_outputs), and holds the outputs'
locks until the command ends (core.outputs.claim_outputs).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..core.atomic import all_or_nothing
from ..core.outputs import check_outputs, claim_outputs, paths_of


@dataclass(frozen=True)
class PathRoles:
    inputs: tuple[str, ...] = ()  # dests of options that name files or folders the command reads
    files: tuple[str, ...] = ()  # dests of file outputs
    folders: tuple[str, ...] = ()  # dests of folder outputs (created or replaced as a whole)
    styled: tuple[str, ...] = ()  # file outputs that get a QGIS style (.qml) beside them
    resumable: bool = False  # folders continued by a later run (train, experiment): locked, never replaced
    names: dict[str, str] = field(default_factory=dict)  # dest -> the option as the user types it

    def _values(self, args: argparse.Namespace, dests: tuple[str, ...]) -> dict[str, object]:
        return {self.names.get(d, d): getattr(args, d, None) for d in dests}

    def check(self, args: argparse.Namespace) -> None:
        """Refuse bad paths before any work (see core.outputs)."""
        names = self.names
        check_outputs(inputs=self._values(args, self.inputs), files=self._values(args, self.files),
                      folders=self._values(args, self.folders), styled={names.get(d, d) for d in self.styled},
                      overwrite=bool(getattr(args, "overwrite", False)), inputs_must_exist=True,
                      resumable=self.resumable)

    def outputs(self, args: argparse.Namespace) -> list[Path]:
        paths = [p for d in self.files + self.folders for p in paths_of(getattr(args, d, None))]
        return paths + [p.with_suffix(".qml") for d in self.styled for p in paths_of(getattr(args, d, None))]

    @contextlib.contextmanager
    def claimed(self, args: argparse.Namespace) -> Iterator[None]:
        """Hold the outputs' locks while the command runs (rank 0 only under torchrun: one writer per run); a
        command with file outputs, or folders it replaces whole, leaves all of them or none (core.atomic.
        all_or_nothing: a stop landing after a replaced dataset was moved into place put the old one back, where it
        was said to be cancelled with the new one installed)."""
        if int(os.environ.get("RANK", "0") or 0) != 0:
            yield
            return
        whole = self.files or (self.folders and not self.resumable)
        with claim_outputs(self.outputs(args)), all_or_nothing() if whole else contextlib.nullcontext():
            yield


def declare_paths(parser: argparse.ArgumentParser, *, inputs: tuple[str, ...] = (), files: tuple[str, ...] = (),
                  folders: tuple[str, ...] = (), styled: tuple[str, ...] = (), resumable: bool = False,
                  said: dict[str, str] | None = None) -> None:
    """Record a sub-command's path options (call after adding its arguments). Messages name an option as it is
    typed and a positional argument by its dest, or as `said` names it where the dest is no word."""
    names = {a.dest: (max(a.option_strings, key=len) if a.option_strings else a.dest) for a in parser._actions}
    names.update(said or {})
    parser.set_defaults(paths=PathRoles(inputs, files, folders, styled, resumable, names))


def add_overwrite(parser: argparse.ArgumentParser, what: str = "existing output files") -> None:
    parser.add_argument("--overwrite", action="store_true", help=f"replace {what} (refused otherwise)")
