"""GDAL exceptions are on while the library runs and as the host had them afterwards (core.gdal_mode).

Each check runs in a fresh interpreter: the flag is process-wide, and this test session imported modules that
switch it on."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from ..helpers import ROOT


def run_fresh(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


# what both checks below start with: the flags as three digits, and a block another thread holds open
PRELUDE = """
import threading
from osgeo import gdal, ogr, osr
from lmhld_qgis.core.gdal_mode import gdal_exceptions, gdal_exceptions_paused
mode = lambda: "".join(str(m.GetUseExceptions()) for m in (gdal, ogr, osr))
def held_elsewhere():
    \"\"\"A block another thread holds open until the function returned is called.\"\"\"
    entered, leave = threading.Event(), threading.Event()
    def worker():
        with gdal_exceptions():
            entered.set()
            leave.wait()
    t = threading.Thread(target=worker)
    t.start()
    entered.wait()
    def release():
        leave.set()
        t.join()
    return release
"""


def run_with_prelude(code: str) -> str:
    return run_fresh(PRELUDE + textwrap.dedent(code))


def test_blocks_switch_exceptions_on_and_give_the_hosts_setting_back():
    out = run_with_prelude("""
        with gdal_exceptions():
            inside = mode()
            with gdal_exceptions():
                pass
            nested = mode()
            import lmhld_qgis.core.vectorize, lmhld_qgis.core.vector  # switch them on when imported
        after = mode()
        gdal.UseExceptions()  # a host that has GDAL's on and OGR's off
        with gdal_exceptions():
            pass
        mixed = mode()
        # overlapping blocks in two threads: the setting comes back when the last one ends
        with gdal_exceptions():
            release = held_elsewhere()
        overlapped = mode()
        release()
        print(inside, nested, after, mixed, overlapped, mode())
    """)
    assert out.split() == ["111", "111", "000", "100", "111", "100"]


def test_a_pause_gives_the_host_its_setting_while_a_child_runs_and_takes_it_back():
    """Training and experiments wait hours for a child process inside an algorithm's block: the wait lets this
    thread's blocks go (QGIS's own setting meanwhile), unless another thread's block is still open."""
    out = run_with_prelude("""
        with gdal_exceptions_paused():
            outside = mode()  # no block open: nothing to let go
        with gdal_exceptions():
            with gdal_exceptions():
                with gdal_exceptions_paused():
                    paused = mode()
                back = mode()
            release = held_elsewhere()
            with gdal_exceptions_paused():
                other_thread = mode()  # another thread's block holds it on
            release()
        print(outside, paused, back, other_thread, mode())
    """)
    assert out.split() == ["000", "000", "111", "111", "000"]
