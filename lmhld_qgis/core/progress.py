"""One small progress/cancel interface, implemented by Processing feedback, the CLI bar and the training child."""

from __future__ import annotations

from typing import Protocol

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

        warnings.warn(message, stacklevel=2)

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
