"""One small progress/cancel interface, implemented by Processing feedback, the CLI bar and the training child."""

from __future__ import annotations

from typing import Protocol, TextIO

from .errors import CancelledError


class Progress(Protocol):
    def set_fraction(self, fraction: float) -> None:
        """Report overall progress in [0, 1]."""

    def info(self, message: str) -> None:
        """Report a line of text."""

    def warn(self, message: str) -> None:
        """Report something the user should look at."""

    def is_cancelled(self) -> bool:
        """True once the user asked to stop."""


class NullProgress:
    """Progress that shows nothing and is never cancelled (the Python API default)."""

    def set_fraction(self, fraction: float) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        import warnings

        from .terms import for_reader

        warnings.warn(for_reader(message), LmhldWarning, stacklevel=_caller_level())

    def is_cancelled(self) -> bool:
        return False


class ConsoleProgress:
    """Progress printed as lines on stderr, for a notebook or a script: what the command line says (every epoch of
    a training with its loss and F1, every warning), and the progress by tenths. Never cancelled: Ctrl-C or the
    notebook's stop button interrupts instead (a stopped training keeps last.pt; resume=True continues it)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream, self._tenth = stream, -1

    def _say(self, text: str) -> None:
        import sys

        from .terms import for_reader

        print(for_reader(text), file=self.stream or sys.stderr, flush=True)

    def set_fraction(self, fraction: float) -> None:
        tenth = int(10 * min(max(fraction, 0.0), 1.0))
        if tenth > self._tenth:
            self._tenth = tenth
            if tenth:
                self._say(f"{10 * tenth}%")

    def info(self, message: str) -> None:
        self._say(message)

    def warn(self, message: str) -> None:
        self._say(f"warning: {message}")

    def is_cancelled(self) -> bool:
        return False


def check_cancelled(progress: Progress) -> None:
    """Raise CancelledError if the user asked to stop."""
    if progress.is_cancelled():
        raise CancelledError("cancelled by the user")


class SubProgress:
    """Maps [0, 1] of a sub-task onto [start, end] of a parent's progress."""

    def __init__(self, parent: Progress, start: float, end: float) -> None:
        self.parent, self.start, self.end = parent, start, end

    def set_fraction(self, fraction: float) -> None:
        self.parent.set_fraction(self.start + (self.end - self.start) * min(max(fraction, 0.0), 1.0))

    def info(self, message: str) -> None:
        self.parent.info(message)

    def warn(self, message: str) -> None:
        self.parent.warn(message)

    def is_cancelled(self) -> bool:
        return self.parent.is_cancelled()


class WarningsOnly:
    """A parent's warnings and its cancel, none of its lines or fractions: for a step whose own progress would be
    noise in the caller's (an experiment scoring a run over its area), but whose warnings must reach the user the
    caller's way (a JSON event, a line in QGIS), not as a Python warning. `about` prefixes them."""

    def __init__(self, parent: Progress, about: str = "") -> None:
        self.parent, self.about = parent, about

    def set_fraction(self, fraction: float) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        self.parent.warn(f"{self.about}: {message}" if self.about else message)

    def is_cancelled(self) -> bool:
        return self.parent.is_cancelled()


class InReaderTerms:
    """A caller's own progress object, handed the messages in the terms of this process's reader: a Python
    program's keywords (`overwrite=True`) where the core says flags (`--overwrite`), as NullProgress's warnings."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner

    def set_fraction(self, fraction: float) -> None:
        self.inner.set_fraction(fraction)

    def info(self, message: str) -> None:
        from .terms import for_reader

        self.inner.info(for_reader(message))

    def warn(self, message: str) -> None:
        from .terms import for_reader

        self.inner.warn(for_reader(message))

    def is_cancelled(self) -> bool:
        return self.inner.is_cancelled()


def reader_progress(progress: Progress | None) -> Progress:
    """The progress a public function reports to: NullProgress when none is given; a caller's own object, in a
    Python program, wrapped so that its messages name keywords (the command line's and QGIS's speak flags, and the
    package's own objects already speak their reader's terms)."""
    from .terms import audience

    if progress is None:
        return NullProgress()
    ours = type(progress).__module__.split(".")[0] == __name__.split(".")[0]  # NullProgress, an experiment's share
    if audience() == "flags" or ours:
        return progress
    return InReaderTerms(progress)


class LmhldWarning(UserWarning):
    """What the Python API says through warnings (filter it by this class)."""


def _caller_level() -> int:
    """The `stacklevel` that points a warning at the caller's own line (their `export_patches(...)`), not at the
    line inside lmhld_qgis that said it."""
    import os
    import sys
    from types import FrameType

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame: FrameType | None = sys._getframe(1)  # NullProgress.warn's, level 1 for warnings.warn
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame, level = frame.f_back, level + 1
    return level
