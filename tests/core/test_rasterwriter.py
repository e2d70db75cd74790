"""The probability writer's thread (core.rasterwriter.ProbabilityWriter) ends whatever the producer meets."""

from __future__ import annotations

import threading
import time

import numpy as np

from lmhld_qgis.core.rasterwriter import Grid, ProbabilityWriter, Stripe
from lmhld_qgis.core.vector import srs_from_epsg


def _writer(tmp_path) -> ProbabilityWriter:
    grid = Grid(64, 64, (500000.0, 1.0, 0.0, 4000000.0, 0.0, -1.0), srs_from_epsg(32618).ExportToWkt())
    return ProbabilityWriter(tmp_path / "p.tif", tmp_path / "m.tif", grid, 0.5, [0])


def test_a_lost_wake_up_does_not_hang_close(tmp_path):
    """A Ctrl-C in the producer's put(), between the queue taking the waiting writer off its list and waking it,
    left the writer asleep for good and close() joining it: `lmhld detect` hung, deaf to Ctrl-C and SIGTERM (3 runs
    in 30 of a real probe). The same lost wake-up, made by hand: close() still ends."""
    writer = _writer(tmp_path)
    cond = writer.queue.not_empty
    deadline = time.monotonic() + 10
    while not cond._waiters and time.monotonic() < deadline:  # the writer waits for its first stripe
        time.sleep(0.01)
    with cond:
        assert cond._waiters
        cond._waiters.popleft()  # what the interrupted notify() did: taken off the list, never released
    writer.queue.queue.append(Stripe(0, 0, np.full((64, 64), 0.9, np.float32), np.ones((64, 64), bool)))
    closing = threading.Thread(target=writer.close, kwargs={"complete": False}, daemon=True)
    closing.start()
    closing.join(10)
    assert not closing.is_alive() and not writer.thread.is_alive()


def test_a_ctrl_c_while_close_waits_still_closes_the_files(tmp_path, monkeypatch):
    """From Python, a Ctrl-C while close() waited for the writer left both rasters open (deleted, their space held)
    until the session ended: 60 interrupted detections took a process from 9 to 12 open files."""
    import os

    writer = _writer(tmp_path)
    wait = writer.finished.wait
    calls = []

    def interrupted(timeout=None):
        calls.append(timeout)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return wait(timeout)

    monkeypatch.setattr(writer.finished, "wait", interrupted)
    try:
        writer.close(complete=False)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the interrupt was swallowed")
    assert not writer.thread.is_alive() and writer.prob is None and writer.mask is None
    fds = os.listdir("/proc/self/fd")
    assert not [f for f in fds if os.path.realpath(f"/proc/self/fd/{f}").startswith(str(tmp_path))]


def test_a_ctrl_c_while_close_waits_closes_the_files_only_after_the_write_in_flight(tmp_path, monkeypatch):
    """A probe's Ctrl-C near the end of detection's context pass crashed `lmhld detect` (a segmentation fault, 3
    runs in 30, a 36 MB part left): in Python 3.11 an interrupt landing in Thread.join() marks a thread that still
    runs as stopped, so close() closed the rasters under the writer's flush. A real signal, during a slow write."""
    import signal

    from lmhld_qgis.core import rasterwriter

    add = rasterwriter._ColumnRange.add
    written = threading.Event()

    def slow_add(self, stripe):
        time.sleep(0.6)
        add(self, stripe)
        written.set()

    monkeypatch.setattr(rasterwriter._ColumnRange, "add", slow_add)
    writer = _writer(tmp_path)
    writer.put(Stripe(0, 0, np.full((64, 64), 0.9, np.float32), np.ones((64, 64), bool)))

    def ctrl_c(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, ctrl_c)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        writer.close()
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the interrupt was swallowed")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert written.is_set() and writer.finished.is_set()  # the files were closed after the write, not under it
    assert writer.prob is None and writer.mask is None
