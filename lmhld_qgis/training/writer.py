"""Writes off the training thread: checkpoints, metrics and curves are handed to one background thread, so an
epoch does not wait for a few hundred MB to reach the disk. A job for a path replaces the same path's job still
waiting; a failed write fails the run at the next hand-over (never silently)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class BackgroundWriter:
    def __init__(self) -> None:
        self._pending: dict[str, Callable[[], None]] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._error: tuple[str, BaseException] | None = None
        self._closed = False
        self._ended = False  # the thread has taken its last job (waited for on the condition, not by join())
        self._thread: threading.Thread | None = None

    def submit(self, key: str, job: Callable[[], None]) -> None:
        """Run `job` on the writer thread (replacing a waiting job of the same key)."""
        self._raise_error()
        with self._cond:
            self._pending.pop(key, None)
            self._pending[key] = job
            if self._thread is None:
                # not a daemon: a finishing process waits for the write in flight instead of cutting it
                self._thread = threading.Thread(target=self._run, name="lmhld-writer")
                self._ended = False
                self._thread.start()
            self._cond.notify_all()

    def flush(self) -> None:
        """Wait until everything handed over is written; raise the first write error."""
        with self._cond:
            while self._pending or self._busy:
                self._cond.wait()
        self._raise_error()

    def close(self) -> None:
        """Finish the writes handed over, then stop the thread (errors are raised by flush, not here)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            # not Thread.join(): in Python 3.11 a Ctrl-C landing in it marks the thread stopped while it still
            # writes (bpo-45274's fix), and the interpreter's exit then no longer waits for the write in flight
            while self._thread is not None and not self._ended:
                self._cond.wait()
        self._thread = None

    def _raise_error(self) -> None:
        if self._error is not None:
            (_, error), self._error = self._error, None
            raise error  # an OSError names its file and its cause (full disk, read-only): the CLI says it in words

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    self._ended = True
                    self._cond.notify_all()
                    return
                key = next(iter(self._pending))
                job = self._pending.pop(key)
                self._busy = True
            try:
                job()
            except BaseException as exc:  # surfaced to the training thread
                self._error = self._error or (key, exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
