"""How the command line ends when something goes wrong: signals as exceptions, one line, a log file.

- SIGTERM and SIGHUP raise `core.errors.Terminated` (a KeyboardInterrupt, like Ctrl-C) in the main thread, so that
  every `finally` and context manager removes its temporary files; a second signal during that cleanup is ignored.
- A failure prints one line; its traceback goes to a log file under $XDG_STATE_HOME/lmhld/logs (by default
  ~/.local/state/lmhld/logs, else the temporary folder), whose path the line gives.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import Terminated, explain, note_stop, raise_or_hold, stop_asked

KEEP_LOGS = 50
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _stop(signum: int, frame: Any) -> None:
    for s in (*_STOP_SIGNALS, signal.SIGINT):  # the cleanup that follows must not be interrupted in turn
        signal.signal(s, signal.SIG_IGN)
    stop = KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signal.Signals(signum).name)
    note_stop(stop)  # until it reaches the command's end (stop_reached): see raise_lost_stop
    raise_or_hold(stop)


def raise_lost_stop() -> None:
    """Raise again a stop whose exception a library swallowed: one raised while a C extension is being imported
    (`from osgeo import osr` on first use) is lost, and the command, its signals ignored since, would run to its
    end. Progress reports call this: code that reports progress is not unwinding a stop."""
    from ..core.errors import held_signal

    stop = stop_asked()
    if stop is not None and held_signal() is None:
        note_stop(None)
        raise stop


def stop_reached() -> BaseException | None:
    """The command ended after a stop signal (its exception, or a failure it caused: a C extension being imported
    turns it into "ImportError: initialization failed"): that stop, now settled; else None."""
    stop = stop_asked()
    note_stop(None)
    return stop


@contextlib.contextmanager
def signals_as_exceptions(final: bool = False) -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP raise in the main thread while the block runs (where their handlers are the
    defaults: a front end that installed its own, e.g. JsonProgress's cooperative SIGTERM, keeps it). `final`: the
    process ends with the block (the console script), so the signals are ignored after it rather than handed back
    to their defaults: one landing while Python shut down, its outputs in place, ended a finished command with exit
    130 or 143 and no word."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (*_STOP_SIGNALS, signal.SIGINT)}
    for s, handler in previous.items():
        if handler in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(s, _stop)
    _state["failed"], _state["pending"] = False, []
    note_stop(None)
    sys.unraisablehook = _log_unraisable  # kept to the end: files a failure released close after this block
    try:
        yield
    finally:
        note_stop(None)  # settled with the command: a stop left pending would cancel a later commit of this process
        for s, handler in previous.items():
            if handler is not None:
                signal.signal(s, signal.SIG_IGN if final else handler)
        pending, _state["pending"] = _state["pending"], None
        for line in pending if not _state["failed"] else []:
            print(line, file=sys.stderr)


def outputs_in_place() -> None:
    """The command's outputs are complete: a stop signal from here on would only cut its summary short and call a
    finished run cancelled (exit 130), so the rest of the command ignores it (`signals_as_exceptions` restores the
    handlers when the command ends)."""
    if threading.current_thread() is threading.main_thread():
        for s in (*_STOP_SIGNALS, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)


class _StdoutWithoutReader:
    """stdout for a run whose reader may go away (`lmhld detect ... | head -3`): once a write finds the pipe
    closed, the rest of the output is dropped and the run goes on, so that its outputs are committed; the file
    descriptor then points at /dev/null, so that Python's own flush at exit has nothing to complain about."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.gone = stream, False

    def write(self, text: str) -> int:
        self._guard(lambda: self.stream.write(text))
        return len(text)

    def flush(self) -> None:
        self._guard(self.stream.flush)

    def _guard(self, action: Any) -> None:
        if self.gone:
            return
        try:
            action()
        except BrokenPipeError:
            self.gone = True
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.stream.fileno())
                os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def stdout_may_close() -> Iterator[None]:
    """While the block runs, a closed stdout costs the output, never the work (see _StdoutWithoutReader)."""
    original = sys.stdout
    sys.stdout = _StdoutWithoutReader(original)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stdout = original


_state: dict[str, Any] = {"failed": False, "pending": None}


def failed() -> None:
    """Note that the command has failed: errors of the files its failure releases are only consequences."""
    _state["failed"] = True


def _log_unraisable(unraisable: Any) -> None:
    """An error Python can only ignore (in a destructor): one warning line, the traceback in the log (nothing
    once the command has failed: a file released by the failure then often fails to close too). While the
    command runs, the line waits for its end: a failure unwinding releases its files before it is reported."""
    exc = unraisable.exc_value
    if _state["failed"]:
        return
    log = write_log("lmhld", exc, sys.argv[1:]) if exc is not None else None
    line = (f"lmhld: warning: an error was ignored while releasing {unraisable.object!r}: {exc}"
            + (f" (log: {log})" if log else ""))
    if _state["pending"] is not None:
        _state["pending"].append(line)
    else:
        print(line, file=sys.stderr)


def cancelled_message(args: argparse.Namespace, exc: BaseException) -> str:
    """What a stopped command leaves behind, truthfully."""
    how = f"stopped ({exc.args[0]})" if isinstance(exc, Terminated) and exc.args else "cancelled"
    out = Path(getattr(args, "out", None) or ".")
    if args.command == "train":
        if (out / "last.pt").is_file():
            return (f"{how}; the run folder {out} keeps its last checkpoint (last.pt): continue with "
                    f"`lmhld train --resume --out {out}` and the same options")
        return f"{how} before the first checkpoint was saved; {out} holds no checkpoint to resume"
    if args.command == "experiment":
        return (f"{how}; finished runs (and the current run's last.pt) are kept in {out}: run the same command "
                "again to continue")
    return f"{how}; no partial output was left"


def log_dirs() -> list[Path]:
    """Where logs go, in order of preference."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    return [Path(state) / "lmhld" / "logs", Path(tempfile.gettempdir()) / f"lmhld-logs-{uid}"]


def write_log(command: str, exc: BaseException, argv: Sequence[str]) -> Path | None:
    """Write the traceback of `exc` (with the command line and versions) to a new log file; None if nowhere."""
    import lmhld_qgis

    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = (f"{command} failed at {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
            f"command line: {' '.join([os.path.basename(sys.argv[0] or 'lmhld'), *argv])}\n"
            f"lmhld_qgis {lmhld_qgis.__version__}, Python {sys.version.split()[0]}, pid {os.getpid()}\n\n"
            + "".join(traceback.format_exception(exc)))
    for folder in log_dirs():
        path = folder / f"{stamp}-{command.split()[-1]}-{os.getpid()}.log"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError:
            continue
        _prune(folder)
        return path
    return None


def _prune(folder: Path) -> None:
    with contextlib.suppress(OSError):
        logs = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime)
        for old in logs[:-KEEP_LOGS]:
            old.unlink()


def report_failure(command: str, exc: BaseException, argv: Sequence[str], debug: bool) -> int:
    """One line on stderr for a failure (the traceback too with --debug) and its exit code."""
    explained = explain(exc)
    log = write_log(command, exc, argv)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    where = f"; full log: {log}" if log else ""
    hint = "" if debug or explained.expected else " (run with --debug to see the traceback here)"
    say_once(f"{command}: error: {explained.message}", f"{where}{hint}")
    return explained.exit_code


def say_once(line: str, detail: str = "") -> None:
    """Print `line + detail` on stderr, once per machine under torchrun: every process of a multi-process run meets
    the same bad input (or the same Ctrl-C) and would print the same line, one per GPU. The first process to say
    a line says it; the others stay quiet unless theirs differs (`detail`, such as a log path, is not compared).
    A line only one process has (its own failure) is always printed."""
    if int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1) > 1 and not _first_to_say(line):
        return
    print(f"{line}{detail}", file=sys.stderr)


def _first_to_say(line: str) -> bool:
    """Whether no other process of this torchrun launch on this machine has said `line` (a shared file, locked,
    in the attempt's torchrun log folder; else in the temporary directory, named after the launcher: torchrun's
    agent is every local process's parent)."""
    try:
        import fcntl
    except ImportError:  # not on Windows: every process speaks
        return True
    import hashlib

    error_file = os.environ.get("TORCHELASTIC_ERROR_FILE", "")
    if error_file:  # LOG_DIR/RUN/attempt_N/RANK/error.json: the attempt's folder, which goes with torchrun's logs
        said = Path(error_file).parent.parent / "lmhld-said"
    else:
        launch = ":".join((str(os.getppid()), os.environ.get("TORCHELASTIC_RUN_ID", ""),
                           os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")))
        uid = os.getuid() if hasattr(os, "getuid") else 0
        said = Path(tempfile.gettempdir()) / f"lmhld-said-{uid}-{hashlib.sha1(launch.encode()).hexdigest()[:16]}"
    digest = hashlib.sha1(line.encode()).hexdigest()
    try:
        with open(said, "a+", encoding="ascii") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            if digest in f.read().split():
                return False
            f.write(digest + "\n")
    except OSError:  # nowhere to compare notes: speaking twice beats staying silent
        return True
    return True
