"""The mechanism under the commands, in this process: locks, parts, all-or-nothing outputs, checked GDAL writes,
plain words for failures, the log file."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import signal
import subprocess
import sys

import pytest

from lmhld_qgis.core import atomic
from lmhld_qgis.core.errors import LmhldError, Terminated, explain
from lmhld_qgis.core.outputs import check_outputs

from ..helpers import square, write_polygons


def test_a_lock_is_shared_within_a_process_and_refused_to_another(tmp_path):
    dest = tmp_path / "out.gpkg"
    with atomic.output_lock(dest), atomic.output_lock(dest):  # nested writers of one target share it
        assert atomic.lock_path(dest).read_text().strip() == str(os.getpid())
        code = ("import sys; from lmhld_qgis.core.atomic import output_lock\n"
                f"with output_lock({str(dest)!r}): pass")
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert other.returncode == 1 and f"being written by another lmhld process (pid {os.getpid()})" in other.stderr
    assert not atomic.lock_path(dest).exists()


def test_a_dead_writers_lock_is_taken_over_and_its_parts_swept(tmp_path):
    dest = tmp_path / "p.tif"
    atomic.lock_path(dest).write_text("999999\n")  # no process holds it any more
    part = tmp_path / ".p.tif.999999-0badcafe.part.tif"
    part.write_bytes(b"half")
    (tmp_path / ".p.tif.999999-0badcafe.part.tif-journal").write_bytes(b"j")
    neighbour = tmp_path / ".p.tif.x.999999-0badcafe.part.tif"  # another target's part: not ours to sweep
    neighbour.write_bytes(b"x")
    with atomic.atomic_file(dest) as tmp:
        tmp.write_bytes(b"whole")
    assert dest.read_bytes() == b"whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == [neighbour.name, "p.tif"]


def test_a_failed_writer_leaves_nothing_and_a_folder_is_no_file(tmp_path):
    dest = tmp_path / "a.json"
    dest.write_text("old")
    with pytest.raises(ZeroDivisionError), atomic.atomic_file(dest) as tmp:
        tmp.write_text("new")
        1 / 0  # noqa: B018
    assert dest.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    (tmp_path / "d").mkdir()
    with pytest.raises(LmhldError, match="is a folder"), atomic.atomic_file(tmp_path / "d"):
        pass
    with pytest.raises(OSError, match="produced no file"), atomic.atomic_file(tmp_path / "b.json"):
        pass


def test_all_or_nothing_puts_everything_back(tmp_path):
    kept = tmp_path / "kept.txt"
    kept.write_text("the user's")
    with pytest.raises(Terminated), atomic.all_or_nothing():
        atomic.write_text_atomic(tmp_path / "new.txt", "new")
        atomic.write_text_atomic(kept, "replaced")
        assert kept.read_text() == "replaced"
        raise Terminated("SIGTERM")
    assert kept.read_text() == "the user's" and sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]
    with atomic.all_or_nothing():
        atomic.write_text_atomic(kept, "replaced")
    assert kept.read_text() == "replaced" and sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]


@pytest.mark.parametrize("killed", ["between two moves", "after the block succeeded"])
def test_a_set_of_outputs_a_killed_process_left_half_moved_is_put_back_whole(tmp_path, killed):
    """A SIGKILL in the 20-80 ms while detect moved its outputs into place left new polygons and probability raster
    beside the summary of the run before; the next writer swept the set-aside originals as a dead writer's parts,
    and the mixed set stayed. The block's journal lets the next lmhld process in the folder undo it (or finish it,
    when the block had succeeded)."""
    for name in ("d.gpkg", "p.tif", "d.json"):
        (tmp_path / name).write_text(f"old {name}")
    code = ("import os, sys; from pathlib import Path; from lmhld_qgis.core import atomic\n"
            f"out = Path({str(tmp_path)!r})\n"
            "with atomic.all_or_nothing():\n"
            "    for name in ('d.gpkg', 'p.tif', 'd.json'):\n"
            f"        if name == 'd.json' and {killed == 'between two moves'}: os._exit(9)\n"
            "        atomic.write_text_atomic(out / name, 'new ' + name)\n"
            "    atomic.finish_despite_interrupts = lambda steps: os._exit(9)  # killed before the originals go\n")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    left = sorted(p.name for p in tmp_path.iterdir())
    assert any(n.startswith(".lmhld-commit.") for n in left) and any(n.endswith(".part.old.gpkg") for n in left)
    with atomic.atomic_file(tmp_path / "other.txt") as tmp:  # any later writer in the folder settles it
        tmp.write_text("x")
    kept = "old" if killed == "between two moves" else "new"
    assert {n: (tmp_path / n).read_text() for n in ("d.gpkg", "p.tif", "d.json")} == {
        n: f"{kept} {n}" for n in ("d.gpkg", "p.tif", "d.json")}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.gpkg", "d.json", "other.txt", "p.tif"]
    # another machine's journal on a shared file system: its process may be alive there, so it is left alone
    foreign = tmp_path / ".lmhld-commit.999999-0badcafe.json"
    foreign.write_text(json.dumps({"host": "another-node", "committed": False, "moves": [[str(tmp_path / "d.gpkg"),
                                   None]], "folders": [str(tmp_path)]}))
    with atomic.atomic_file(tmp_path / "other.txt") as tmp:
        tmp.write_text("y")
    assert foreign.exists() and (tmp_path / "d.gpkg").read_text() == f"{kept} d.gpkg"


def test_nested_blocks_and_blocks_of_other_threads_keep_apart(tmp_path):
    """A command's block around a Python API call's own (both empty when the call began: equal lists) lost track of
    which was which ("list.remove(x): x not in list", every `lmhld validate` failed); and QGIS runs algorithms side
    by side in threads, whose blocks must not mix."""
    import threading

    kept = tmp_path / "kept.txt"
    kept.write_text("the user's")
    with atomic.all_or_nothing():
        with atomic.all_or_nothing():
            pass  # the API call's block: its outputs written later by the command (validate's report)
        atomic.write_text_atomic(tmp_path / "inner.txt", "inner")
        failed: list[BaseException] = []

        def other_thread() -> None:  # its failure puts back its own output only
            try:
                with atomic.all_or_nothing():
                    atomic.write_text_atomic(kept, "replaced")
                    raise OSError("disk full")
            except OSError as exc:
                failed.append(exc)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert failed and kept.read_text() == "the user's" and (tmp_path / "inner.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inner.txt", "kept.txt"]


def test_texts_that_belong_together_are_moved_into_place_together(tmp_path):
    """analyse moved its JSON into place, then wrote its HTML: a process killed between them left the new JSON
    beside the previous HTML. Every part is now written before either moves."""
    (tmp_path / "a.html").mkdir()  # the HTML cannot be written
    with pytest.raises(LmhldError, match="it is a folder"):
        atomic.write_texts_atomic({tmp_path / "a.json": "{}", tmp_path / "a.html": "<html>"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html"]  # no JSON without its HTML, no part
    atomic.write_texts_atomic({tmp_path / "b.json": "{}", tmp_path / "b.html": "<html>"})
    assert (tmp_path / "b.json").read_text() == "{}" and (tmp_path / "b.html").read_text() == "<html>"


def test_a_stop_a_library_swallowed_or_turned_into_its_own_failure_still_stops(capsys):
    """Ctrl-C landing while a C extension is imported (osgeo on first use): its KeyboardInterrupt was lost, every
    later signal ignored, and the command ran to its end with exit 0; or onnxruntime's import turned it into
    'unexpected error: ImportError: initialization failed'."""
    from lmhld_qgis import cli
    from lmhld_qgis.cli.failures import signals_as_exceptions
    from lmhld_qgis.cli.progress import BarProgress

    with signals_as_exceptions():
        with contextlib.suppress(KeyboardInterrupt):  # what the import did
            signal.raise_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            BarProgress("test", enabled=False).set_fraction(0.5)  # the next progress report raises it again

    def imports(args: argparse.Namespace) -> int:
        try:
            signal.raise_signal(signal.SIGTERM)
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc
        return 0

    args = argparse.Namespace(command="detect", run=imports, out=None)
    assert cli.run(args) == 130
    assert capsys.readouterr().err.strip() == "lmhld detect: stopped (SIGTERM); no partial output was left"


def test_a_swallowed_stop_cancels_the_commit_that_would_replace_an_output(tmp_path, capsys):
    """`create-inventory --overwrite`, stopped while it imported GDAL (which swallowed the KeyboardInterrupt), never
    reported progress, so nothing raised the stop again: it replaced an inventory of nine polygons by an empty one
    and exited 0. The commit itself now refuses, and the command says it was cancelled."""
    from lmhld_qgis import cli
    from lmhld_qgis.core.inventory_schema import create_inventory

    kept = write_polygons(tmp_path / "inv.gpkg", [square(0, 0, 10)] * 9)
    before = kept.read_bytes()

    def swallowed(args: argparse.Namespace) -> int:
        with contextlib.suppress(KeyboardInterrupt):  # what the import did
            signal.raise_signal(signal.SIGINT)
        create_inventory(kept, crs="EPSG:32759", overwrite=True)
        return 0

    args = argparse.Namespace(command="create-inventory", run=swallowed, out=None)
    assert cli.run(args) == 130
    assert capsys.readouterr().err.strip() == "lmhld create-inventory: cancelled; no partial output was left"
    assert kept.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["inv.gpkg"]
    args = argparse.Namespace(command="create-inventory", run=lambda a: int(bool(create_inventory(
        kept, crs="EPSG:32759", overwrite=True))) - 1, out=None)
    assert cli.run(args) == 0 and kept.read_bytes() != before  # the next run, unstopped, commits


@pytest.mark.parametrize("transaction", [False, True])
def test_an_interrupt_while_the_replaced_folder_is_removed_finishes_the_removal(tmp_path, monkeypatch, transaction):
    """From Python, a Ctrl-C while an overwritten dataset's old copy was being deleted left a half-deleted
    `.part.old` folder beside the new one for the rest of the session."""
    import shutil

    dest = tmp_path / "ds"
    with atomic.atomic_dir(dest) as tmp:
        (tmp / "dataset.json").write_text('{"first": 1}')
    rmtree, calls = shutil.rmtree, []

    def interrupted(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt
        rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", interrupted)
    block = atomic.all_or_nothing() if transaction else contextlib.nullcontext()
    with pytest.raises(KeyboardInterrupt), block, atomic.atomic_dir(dest, overwrite=True) as tmp:
        (tmp / "dataset.json").write_text('{"second": 1}')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # the interrupt came after the commit
    assert json.loads((dest / "dataset.json").read_text()) == {"second": 1}


def test_an_interrupt_while_a_block_is_rolled_back_still_puts_everything_back(tmp_path, monkeypatch):
    kept = tmp_path / "kept.txt"
    kept.write_text("the user's")
    replace, calls = os.replace, []

    def interrupted(src, dst):
        calls.append(src)
        if len(calls) == 1:
            raise KeyboardInterrupt  # a second Ctrl-C while the first one's rollback runs
        replace(src, dst)

    with pytest.raises(KeyboardInterrupt), atomic.all_or_nothing():  # Terminated is one
        atomic.write_text_atomic(kept, "replaced")
        monkeypatch.setattr(atomic.os, "replace", interrupted)
        raise Terminated("SIGTERM")
    assert calls and ".part.old" in calls[0].name  # the rollback's move back was interrupted
    assert kept.read_text() == "the user's" and sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]


def test_folders_are_replaced_only_when_lmhld_wrote_them(tmp_path):
    dest = tmp_path / "ds"
    with atomic.atomic_dir(dest) as tmp:
        (tmp / "dataset.json").write_text("{}")
    assert json.loads((dest / atomic.MANIFEST).read_text())["entries"] == ["dataset.json"]
    with pytest.raises(LmhldError, match="not empty"), atomic.atomic_dir(dest):
        pass
    (dest / atomic.CACHE_DIR).mkdir()  # training's pack of the patches (--cache pack): lmhld's, not the user's
    (dest / atomic.CACHE_DIR / "k.images.npy").write_bytes(b"pack")
    with atomic.atomic_dir(dest, overwrite=True) as tmp:  # was "holds files lmhld did not write (.lmhld-cache)"
        (tmp / "dataset.json").write_text('{"second": 1}')
    assert sorted(p.name for p in dest.iterdir()) == [atomic.MANIFEST, "dataset.json"]  # the stale pack gone
    (dest / "mine.txt").write_text("mine")
    with pytest.raises(LmhldError, match=r"did not write \(mine.txt\)"), atomic.atomic_dir(dest, overwrite=True):
        pass
    assert (dest / "mine.txt").exists() and json.loads((dest / "dataset.json").read_text()) == {"second": 1}


def test_check_outputs_in_the_python_api(tmp_path):
    src = tmp_path / "scene.tif"
    src.write_bytes(b"x")
    out = tmp_path / "out.gpkg"
    out.write_bytes(b"old")
    check_outputs(inputs={"raster": src}, files={"out_gpkg": out})  # the API replaces files, like open(..., "w")
    with pytest.raises(LmhldError, match="exists; pass --overwrite"):
        check_outputs(inputs={"raster": src}, files={"out_gpkg": out}, overwrite=False)
    with pytest.raises(LmhldError, match="is the input raster"):
        check_outputs(inputs={"raster": src}, files={"prob_tif": tmp_path / "." / "scene.tif"})
    with pytest.raises(LmhldError, match="lies inside the output folder"):
        check_outputs(inputs={"raster": src}, folders={"out_dir": tmp_path})
    # a probe's `detect --raster scene.tif --prob scene.tiff --overwrite` replaced scene.qml, the scene's own style
    (tmp_path / "scene.qml").write_text("<qgis/>")
    with pytest.raises(LmhldError, match=r"probability raster \(its style\) .*scene.qml is the style QGIS draws the "
                                         r"input raster .*scene.tif with"):
        check_outputs(inputs={"raster": src}, files={"probability raster": tmp_path / "scene.tiff"},
                      styled=("probability raster",), overwrite=True)
    check_outputs(inputs={"raster": src}, files={"probability raster": tmp_path / "prob.tif"},
                  styled=("probability raster",))
    import numpy as np

    from ..helpers import write_raster

    long_name = tmp_path / ("M" * 230 + ".gpkg")  # legal, but not with the aside name's 32 bytes more
    with pytest.raises(LmhldError, match=r"its name is 235 bytes, and lmhld writes it aside first under one 32 bytes "
                                         r"longer, past this file system's 255 bytes a name; shorten it to 223"):
        check_outputs(inputs={"raster": src}, files={"polygons": long_name})
    check_outputs(inputs={"raster": src}, files={"polygons": tmp_path / ("M" * 218 + ".gpkg")})
    scene = write_raster(tmp_path / "real.tif", np.zeros((1, 4, 4), np.float32))  # no style yet: one would come
    with pytest.raises(LmhldError, match=r"real\.qml is the style QGIS draws the input raster"):
        check_outputs(inputs={"raster": scene}, files={"probability raster": tmp_path / "real.tiff"},
                      styled=("probability raster",))


def test_scratch_folders_of_dead_processes_are_swept(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead = tmp_path / "lmhld-detect-999999-0badcafe"
    dead.mkdir()
    with atomic.scratch_dir("evaluate") as scratch:
        assert scratch.is_dir() and not dead.exists()
    assert list(tmp_path.iterdir()) == []


def test_gdal_write_errors_become_plain_oserrors():
    with pytest.raises(OSError) as failed, atomic.gdal_errors("p.tif"):
        raise RuntimeError("_tiffWriteProc:No space left on device")
    assert failed.value.errno == errno.ENOSPC and "writing p.tif failed" in str(failed.value)
    with pytest.raises(RuntimeError, match="IReadBlock"), atomic.gdal_errors():  # reading: a damaged input
        raise RuntimeError("Read or write failed. IReadBlock failed at X offset 0")


def test_a_gdal_close_error_fails_the_call(tmp_path):
    """GDAL reports a failed flush on close only to Python's "Exception ignored in delete_Dataset": it must fail."""
    import resource

    import numpy as np
    from osgeo import gdal

    @atomic.gdal_checked
    def write(path) -> None:
        ds = gdal.GetDriverByName("GTiff").Create(str(path), 256, 256, 4, gdal.GDT_Float32, ["COMPRESS=DEFLATE"])
        for band in range(1, 5):
            ds.GetRasterBand(band).WriteArray(np.random.default_rng(band).random((256, 256), np.float32))
        ds = None  # the close is the point: the data is flushed here

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))  # a file-size limit stands in for a full disk
    try:
        with pytest.raises(OSError) as failed:
            write(tmp_path / "x.tif")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert failed.value.errno in (errno.EFBIG, errno.EIO), failed.value


@pytest.mark.parametrize(("exc", "code", "words"), [
    (OSError(errno.ENOSPC, "No space left on device", "/d/p.tif"), 1, "the disk is full (/d/p.tif)"),
    (OSError(errno.EROFS, "Read-only file system", "/ro/x"), 2, "read-only file system"),
    (PermissionError(errno.EACCES, "Permission denied", "/x"), 2, "permission denied"),
    (MemoryError(), 1, "out of memory"),
    (RuntimeError("x.tif: TIFFReadEncodedTile() failed"), 2, "a raster file is truncated, damaged"),
    (RuntimeError("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model failed"), 2, "ONNX model file"),
    (RuntimeError("PytorchStreamReader failed reading zip archive"), 2, "checkpoint is truncated"),
    (json.JSONDecodeError("Expecting value", "x", 0), 2, "JSON file cannot be parsed"),
    (ZeroDivisionError("division by zero"), 1, "unexpected error: ZeroDivisionError: division by zero"),
])
def test_failures_in_plain_words(exc, code, words):
    explained = explain(exc)
    assert explained.exit_code == code and words in explained.message


def test_an_unexpected_failure_is_one_line_and_a_log(tmp_path, monkeypatch, capsys):
    from lmhld_qgis.cli import run

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    def boom(args):
        return {}["missing"]

    args = argparse.Namespace(command="detect", run=boom)
    assert run(args, ["detect"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lmhld detect: error: unexpected error: KeyError: 'missing'")
    log = next((tmp_path / "lmhld" / "logs").glob("*-detect-*.log"))
    assert str(log) in err[0] and "Traceback" in log.read_text() and "boom" in log.read_text()
    assert run(argparse.Namespace(command="detect", run=boom, debug=True), ["detect", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_sigterm_is_a_cancellation_in_the_command_line(capsys):
    from lmhld_qgis.cli import run

    def stopped(args):
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 0) if hasattr(signal, "sigtimedwait") else None
        raise AssertionError("SIGTERM did not stop the command")

    assert run(argparse.Namespace(command="detect", run=stopped)) == 130
    assert "lmhld detect: stopped (SIGTERM); no partial output was left" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_signal_after_the_outputs_are_in_place_does_not_call_the_run_cancelled(capsys):
    """Ctrl-C landing while a finished training prints its summary: the run is complete, so it exits 0."""
    from lmhld_qgis.cli import run
    from lmhld_qgis.cli.failures import outputs_in_place

    def finished(args):
        outputs_in_place()
        for s in (signal.SIGINT, signal.SIGTERM):
            os.kill(os.getpid(), s)
        print("summary")
        return 0

    assert run(argparse.Namespace(command="train", run=finished)) == 0
    assert capsys.readouterr().out == "summary\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handlers come back afterwards
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_signal_while_a_finished_command_clears_its_backups_is_not_a_cancel(tmp_path, monkeypatch, capsys):
    """The window after the last commit: a stop landing while the replaced outputs' backups were removed, the new
    outputs complete and in place, was reported as a cancel (exit 130) with nothing rolled back."""
    from lmhld_qgis.cli import run
    from lmhld_qgis.cli.paths import PathRoles

    out = tmp_path / "summary.json"
    out.write_text("old")
    removed = []
    remove = atomic._remove

    def interrupted_once(path):
        remove(path)
        if not removed and ".part.old" in path.name:  # the replaced output's backup, removed at the commit
            removed.append(path)
            raise KeyboardInterrupt  # as a signal landing during the backup's removal

    monkeypatch.setattr(atomic, "_remove", interrupted_once)

    def writes(args):
        atomic.write_text_atomic(out, "new")
        return 0

    args = argparse.Namespace(command="detect", run=writes, out=str(out), overwrite=True,
                              paths=PathRoles(files=("out",), names={"out": "--out"}))
    assert run(args) == 0
    assert removed and out.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
    assert capsys.readouterr().err.strip() == ("lmhld detect: a stop signal came once the outputs were in place; "
                                               "they are complete")


def test_a_peer_process_gone_is_not_called_a_damaged_raster():
    """A rank killed under torchrun: the survivor's gloo 'Read error' matched the damaged-raster words."""
    gone = RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:38243: "
                        "Connection reset by peer")
    assert explain(gone).message.startswith("another process of this multi-process run ended")
    assert "raster" not in explain(gone).message


def test_experiment_refuses_torchrun(tmp_path):
    """Under torchrun every rank exported and trained the same runs: one met its sibling's lock, the other was
    told it had been 'cancelled by the user'."""
    (tmp_path / "x.toml").write_text("[experiment]\n")
    proc = subprocess.run([sys.executable, "-m", "lmhld_qgis", "experiment", str(tmp_path / "x.toml"), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, WORLD_SIZE="2", RANK="1"))
    assert proc.returncode == 2 and "start it without torchrun" in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_signal_after_the_console_command_ends_is_ignored_not_fatal():
    """Signals went back to their defaults when the command ended: one landing while Python shut down, every output
    in place, ended a finished command with exit 130 (Ctrl-C) or 143 (SIGTERM) and no word. The console script's
    run (final) leaves them ignored; a command run inside a longer process (tests, QGIS) hands them back."""
    from lmhld_qgis.cli.failures import signals_as_exceptions

    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {s: signal.getsignal(s) for s in stops}
    try:
        with signals_as_exceptions():
            pass
        assert {s: signal.getsignal(s) for s in stops} == before
        with signals_as_exceptions(final=True):
            pass
        assert all(signal.getsignal(s) == signal.SIG_IGN for s in stops)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def test_a_ctrl_c_during_a_native_import_waits_for_its_end(tmp_path, monkeypatch):
    """Ctrl-C while detection imported onnx (C++ bindings) raised inside its initialisation and aborted the process
    ("terminate called after throwing an instance of 'nanobind::python_error'", exit 134) instead of cancelling.
    import_native holds the stop until the import is done, then raises it."""
    from lmhld_qgis.cli.failures import signals_as_exceptions
    from lmhld_qgis.core.errors import import_native

    (tmp_path / "slow_native.py").write_text("import signal\nsignal.raise_signal(signal.SIGINT)\nDONE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with signals_as_exceptions(), pytest.raises(KeyboardInterrupt):
        import_native("slow_native")
    assert sys.modules["slow_native"].DONE  # the import ran to its end before the stop was raised
    from lmhld_qgis.core.errors import stop_asked

    assert stop_asked() is None  # settled with the block: it cancelled the next test's commit in one process
    monkeypatch.delitem(sys.modules, "slow_native")


def test_a_block_whose_journal_cannot_be_committed_puts_its_outputs_back(tmp_path, monkeypatch):
    """The disk filling up as the block's end is recorded: the outputs were left new beside their set-aside
    originals, with a journal that said "not finished", which the next writer would have undone."""
    kept = tmp_path / "kept.txt"
    kept.write_text("the user's")

    def full(self):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic._Journal, "commit", full)
    with pytest.raises(OSError, match="No space left"), atomic.all_or_nothing():
        atomic.write_text_atomic(kept, "replaced")
        atomic.write_text_atomic(tmp_path / "new.txt", "new")
    assert kept.read_text() == "the user's" and sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]
