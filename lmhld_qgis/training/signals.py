"""Stopping a training on Ctrl-C or SIGTERM without losing it: the first signal asks the run to stop after the
current batch (the trainer then saves last.pt there and says so); a second Ctrl-C interrupts at once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from ..core.progress import Progress


class StopOnSignal:
    """A Progress that also reports a stop asked by a signal."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner
        self.stop_asked = False

    def set_fraction(self, fraction: float) -> None:
        self.inner.set_fraction(fraction)

    def info(self, message: str) -> None:
        self.inner.info(message)

    def warn(self, message: str) -> None:
        self.inner.warn(message)

    def event(self, data: dict[str, Any]) -> None:
        handler = getattr(self.inner, "event", None)
        if handler is not None:
            handler(data)

    def is_cancelled(self) -> bool:
        return self.stop_asked or self.inner.is_cancelled()

    def close(self) -> None:
        closer = getattr(self.inner, "close", None)
        if closer is not None:
            closer()


@contextlib.contextmanager
def stop_on_signals(progress: Progress) -> Iterator[StopOnSignal]:
    """Within the block, SIGINT and SIGTERM ask `progress` to cancel (a second SIGINT raises KeyboardInterrupt);
    the previous handlers come back afterwards. Outside the main thread signals cannot be caught: no change."""
    wrapped = StopOnSignal(progress)
    if threading.current_thread() is not threading.main_thread():
        yield wrapped
        return

    def ask_to_stop(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and wrapped.stop_asked:
            raise KeyboardInterrupt
        wrapped.stop_asked = True  # the trainer says so at the next batch (printing here could re-enter a write)

    previous = {s: signal.signal(s, ask_to_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield wrapped
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
