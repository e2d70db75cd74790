"""The one writer everyone uses: outputs are locked, written aside and moved into place, or not written at all.

- `atomic_file` / `atomic_dir` write beside the target under a hidden `.NAME.PID-XXXX.part...` name and move it into
  place only when the writer finished without error; on any error (or Ctrl-C, or SIGTERM turned into an exception by
  the command line) the part is removed.
- While written, a target is locked by `.NAME.lock` beside it (created with O_EXCL, holding the writer's pid, and
  held with an OS lock that dies with the process): a second writer is refused with the owner's pid; the lock of a
  killed writer is taken over, and the parts it left are swept away then.
- A folder is replaced (`overwrite`) only when lmhld wrote it: `atomic_dir` leaves a manifest of what it wrote,
  and a folder holding anything else is refused rather than deleted.
- Files and folders are created with the user's umask (not the 0600/0700 of `tempfile`).
- `scratch_dir` is a temporary folder whose leftovers (a killed run's) are swept by the next run.
- `gdal_checked` makes GDAL/OGR errors raised while datasets are flushed and closed fail the call (Python can only
  print "Exception ignored in delete_Dataset" for them otherwise), so a full disk fails the run.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from .errors import LmhldError, raise_if_stop_asked

MANIFEST = ".lmhld-manifest.json"  # what atomic_dir wrote into a folder: the only things overwrite may delete
BUILDING = ".lmhld-building"  # in a folder fresh_dir is building in place, until its manifest is written
CACHE_DIR = ".lmhld-cache"  # training's packed copy of a dataset's patches, kept in the dataset's folder
SQLITE_SIDECARS = ("-journal", "-wal", "-shm")  # SQLite (GeoPackage) files that belong to a database file
_PART = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]+\.part")
_HOST = socket.gethostname()  # a journal's process is looked for on the machine that wrote it
_COMMIT = re.compile(r"^\.lmhld-commit\.(?P<pid>\d+)-[0-9a-f]+\.json$")  # an all_or_nothing block's journal

PathLike = str | os.PathLike[str]
F = TypeVar("F", bound=Callable[..., Any])


# ---------------------------------------------------------------------------------------------------------------
# Locks


class _Held:
    """A lock this process holds (counted, so that nested writers of one target share it)."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path, self.count = fd, path, 1


_held: dict[Path, _Held] = {}
_held_guard = threading.RLock()


def lock_path(dest: PathLike) -> Path:
    """The lock file of a target: `.NAME.lock` beside it."""
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.lock")


def _os_lock(fd: int) -> bool:
    """Take the OS lock on an open lock file without waiting; False when another live process holds it."""
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
            return True
        except OSError:
            return False
    except OSError:
        return False


def _owner(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f"pid {int(path.read_text().split()[0])}"
    return "another process"


def _acquire(dest: Path) -> None:
    lock = lock_path(dest)
    for _ in range(20):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o666)
        except FileExistsError:
            try:
                fd = os.open(lock, os.O_RDWR)  # an existing lock: held by a live writer, or left by a dead one
            except FileNotFoundError:
                continue  # released meanwhile
        except OSError as exc:
            raise _unwritable(dest, exc) from exc
        if not _os_lock(fd):
            os.close(fd)
            raise LmhldError(f"{dest} is being written by another lmhld process ({_owner(lock)}); wait until it "
                             "ends, or stop it, then retry (or choose another output)")
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the file was released (unlinked) between our open and our lock: start again
            os.close(fd)
            continue
        with contextlib.suppress(OSError):  # the pid is for people; the OS lock is what counts (a full disk)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        _held[dest] = _Held(fd, lock)
        sweep_parts(dest)  # we own the target now: whatever parts are beside it were left by killed writers
        return
    raise LmhldError(f"could not lock {dest}: its lock file {lock} keeps changing; retry")


def _release(dest: Path) -> None:
    held = _held[dest]
    held.count -= 1
    if held.count:
        return
    del _held[dest]
    with contextlib.suppress(OSError):
        os.unlink(held.path)  # unlink first, then let the OS lock go with the descriptor
    os.close(held.fd)


@contextlib.contextmanager
def output_lock(dest: PathLike) -> Iterator[None]:
    """Hold the lock of `dest` (nested use in one process is counted); refuse when another process holds it."""
    key = Path(os.path.abspath(dest))
    with _held_guard:
        if key in _held:
            _held[key].count += 1
        else:
            _acquire(key)
    try:
        yield
    finally:
        with _held_guard:
            _release(key)


def _unwritable(dest: Path, exc: OSError) -> OSError:
    """The OSError to show when nothing can be created beside `dest`, naming the folder."""
    return type(exc)(exc.errno, f"cannot write {dest}: {os.strerror(exc.errno or errno.EIO)} in folder "
                                f"{dest.parent}", str(dest.parent))


# ---------------------------------------------------------------------------------------------------------------
# Parts and sweeping


def part_path(dest: PathLike, tag: str = "") -> Path:
    """A fresh hidden name beside `dest` for writing it (`.NAME.PID-XXXX.part[TAG][SUFFIX]`, suffix kept for GDAL)."""
    dest = Path(dest)
    return dest.with_name(_aside_name(dest, os.getpid(), secrets.token_hex(4), tag))


def _aside_name(dest: Path, pid: int, token: str, tag: str) -> str:
    return f".{dest.name}.{pid}-{token}.part{tag}{dest.suffix}"


def longest_aside_name(dest: PathLike) -> str:
    """The longest name `dest` is written or set aside under (part_path's, the largest pid Linux gives, the
    `.old` of a replaced output): the file system must take it as well as the name itself."""
    return _aside_name(Path(dest), 4194304, "0" * 8, ".old")


def sweep_parts(dest: PathLike) -> list[Path]:
    """Remove the parts other writers of `dest` left beside it (call only while holding its lock: no live writer
    made them). A killed writer may have set the previous `dest` aside (`.old`) and left no new one, or only a
    folder it was building in place: then that previous `dest` is put back rather than swept."""
    dest = Path(dest)
    removed = recover_commits(dest.parent)
    if _unfinished_build(dest):
        _remove(dest)
        removed.append(dest)
    with contextlib.suppress(OSError):
        for entry in sorted(os.scandir(dest.parent), key=lambda e: e.name):
            match = _PART.match(entry.name)
            if match and match["name"] == dest.name and int(match["pid"]) != os.getpid():
                if ".part.old" in entry.name and not (dest.exists() or dest.is_symlink()):
                    os.replace(entry.path, dest)  # the previous output, whose replacement never arrived
                    continue
                _remove(Path(entry.path))
                removed.append(Path(entry.path))
    return removed


def _unfinished_build(dest: Path) -> bool:
    """A folder fresh_dir was building in place when its process was killed (its marker, no manifest)."""
    return dest.is_dir() and not dest.is_symlink() and (dest / BUILDING).is_file() and not (dest / MANIFEST).exists()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        for p in (path, *(Path(f"{path}{s}") for s in SQLITE_SIDECARS)):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                p.unlink()


def _umask() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # not thread-safe, hence only where /proc is missing
    os.umask(mask)
    return mask


def make_dirs(path: PathLike) -> Path:
    """Create a folder and its parents with the user's umask; say plainly when that is impossible."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise LmhldError(f"cannot create folder {path}: a file of that name (or of a parent) exists") from exc
    except NotADirectoryError as exc:
        raise LmhldError(f"cannot create folder {path}: a parent of it is a file") from exc
    return path


# ---------------------------------------------------------------------------------------------------------------
# Writers


@contextlib.contextmanager
def atomic_file(dest: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success it replaces `dest`, on any error it is removed.

    The temporary name keeps the destination's suffix so that drivers chosen by extension (GTiff, GPKG) work. The
    target is locked meanwhile; the file is synced to disk before it replaces `dest`, so a full disk fails here and
    not later. Replacing an existing `dest` is the caller's decision (the command line asks for --overwrite first).
    """
    dest = Path(dest)
    if dest.is_dir():
        raise LmhldError(f"cannot write file {dest}: it is a folder; give a file name")
    make_dirs(dest.parent)
    with output_lock(dest):
        tmp = part_path(dest)
        try:
            yield tmp
            if not tmp.exists():
                raise OSError(errno.EIO, f"the writer of {dest} produced no file", str(dest))
            _sync(tmp)
            for sidecar in SQLITE_SIDECARS:  # a stale journal beside a new database would be replayed into it
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{dest}{sidecar}").unlink()
            _move_into_place(tmp, dest)
        except Exception as exc:
            _raise_as_write_error(exc, dest, tmp)
            raise
        finally:
            _remove(tmp)


FULL_DISK_BYTES = 1 << 20  # less free space than this when a write failed: the disk was full


def _raise_as_write_error(exc: Exception, dest: Path, tmp: Path) -> None:
    """Raise the plain OSError a writer's failure stands for: a full disk or the process's file-size limit
    (checked, whatever the library said: GDAL, rasterio, torch and SQLite each word it differently), or a GDAL write
    error; else return. `tmp`: the part (file or folder) being written."""
    renamed = None
    if isinstance(exc, OSError) and exc.errno is not None and tmp.name in str(exc):  # name what the user asked for
        text = exc.strerror if exc.strerror and not exc.filename else str(exc)
        renamed = OSError(exc.errno, text.replace(str(tmp), str(dest)).replace(tmp.name, dest.name))
        if exc.errno != errno.EIO:
            raise renamed from exc
    if isinstance(exc, LmhldError) or (isinstance(exc, OSError) and exc.errno not in (None, errno.EIO)):
        return  # already in plain words (a generic I/O error may still be a full disk: libtiff loses the errno)
    cause = short_write_errno(tmp, dest.parent)
    if cause == errno.EFBIG:
        raise OSError(errno.EFBIG, f"writing {dest} failed (File too large: a file reached the process's file-size "
                                   f"limit; {type(exc).__name__}: {_shorten(str(exc))})") from exc
    if cause == errno.ENOSPC:
        raise OSError(errno.ENOSPC, f"writing {dest} failed ({type(exc).__name__}: {_shorten(str(exc))})") from exc
    if _is_write_error([str(exc)]):
        raise gdal_write_error(exc, [], dest) from exc
    if renamed is not None:
        raise renamed from exc


def short_write_errno(part: Path, folder: Path) -> int | None:
    """Why writing `part` into `folder` stopped short where the library did not say so: EFBIG at the process's
    file-size limit, ENOSPC on a full disk; None when neither holds."""
    if _at_file_size_limit(part):
        return errno.EFBIG
    free = FULL_DISK_BYTES
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(folder).free
    return errno.ENOSPC if free < FULL_DISK_BYTES else None


def _at_file_size_limit(part: Path) -> bool:
    """Whether a file of `part` (a file, or a folder's files) reached the process's file-size limit (ulimit -f): the
    write then fails with EFBIG, which torch and SQLite report in words of their own."""
    import resource

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit == resource.RLIM_INFINITY:
        return False
    files = [part] if part.is_file() else [p for p in part.rglob("*") if p.is_file()] if part.is_dir() else []
    with contextlib.suppress(OSError):
        return any(p.stat().st_size >= limit for p in files)
    return False


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):  # file systems that cannot sync
            raise
    finally:
        os.close(fd)


def write_text_atomic(dest: PathLike, text: str) -> Path:
    """Write a text file atomically and return its path."""
    return write_texts_atomic({dest: text})[0]


def write_texts_atomic(texts: dict[PathLike, str]) -> list[Path]:
    """Write text files that belong together (a report's JSON and HTML): every part is written first, then all are
    moved into place one after the other, so a process killed meanwhile leaves them all, or none, not one
    beside the other's previous version."""
    with contextlib.ExitStack() as stack:
        for dest, text in texts.items():
            stack.enter_context(atomic_file(dest)).write_text(text, encoding="utf-8")
    return [Path(dest) for dest in texts]


def written_by_lmhld(folder: PathLike) -> tuple[bool, list[str]]:
    """(True, []) when every file and folder in `folder`, at any depth, is one lmhld wrote there (its manifest
    lists it; GDAL's .aux.xml beside one of them counts as its) or the folder is empty; else (False, the paths lmhld
    did not write, relative to `folder`). A manifest written before it listed every file names the top-level
    entries only: their content cannot be told, and counts as lmhld's."""
    folder = Path(folder)
    entries = sorted(set(os.listdir(folder)) - {MANIFEST, BUILDING, CACHE_DIR})  # the cache: written by training
    if not entries:
        return True, []
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        owned = set(manifest["files"] if "files" in manifest else manifest["entries"])
    except (OSError, ValueError, KeyError, TypeError):
        return False, entries
    if "files" not in manifest:  # an older manifest: the top level only
        foreign = [e for e in entries if e not in owned]
        return not foreign, foreign
    # a user's notes in mask/ or a split of their own in splits/ were deleted by --overwrite with the rest
    foreign = [p for p in _tree(folder) if p not in owned and not (p.endswith(".aux.xml") and p[:-8] in owned)]
    return not foreign, foreign


def _tree(folder: Path) -> list[str]:
    """Every file and folder under `folder` ("mask/", "mask/p1.tif"), but its manifest, marker and cache."""
    out: list[str] = []
    for root, dirs, files in os.walk(folder):
        rel = os.path.relpath(root, folder)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        if not prefix:
            dirs[:] = [d for d in dirs if d != CACHE_DIR]
            files = [f for f in files if f not in (MANIFEST, BUILDING)]
        out += [f"{prefix}{d}/" for d in dirs] + [prefix + f for f in files]
    return sorted(out)


def check_replaceable_dir(dest: PathLike, overwrite: bool, what: str = "output folder") -> None:
    """Refuse a non-empty folder unless `overwrite`, and even then unless lmhld wrote all of it. A folder a killed
    run was building in place passes: taking its lock sweeps it (and puts back the folder it replaced, which is
    then checked)."""
    dest = Path(dest)
    if not dest.exists() or _unfinished_build(dest):
        return
    if not dest.is_dir():
        raise LmhldError(f"{what} {dest} is a file; give a folder")
    if not any(dest.iterdir()):
        return
    ours, foreign = written_by_lmhld(dest)
    if not ours:  # said first: allowing to replace it would not help
        listed = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise LmhldError(f"{what} {dest} holds files lmhld did not write ({listed}), which it never replaces: "
                         "choose another folder, or move those files away")
    if not overwrite:
        raise LmhldError(f"{what} {dest} is not empty; choose another folder, or allow replacing it (--overwrite)")


def _write_manifest(folder: Path) -> None:
    """What lmhld wrote into `folder`: its top-level entries, and every file and folder at any depth."""
    entries = sorted(set(os.listdir(folder)) - {MANIFEST, BUILDING})
    from .. import __version__

    (folder / MANIFEST).write_text(json.dumps({"written_by": f"lmhld_qgis {__version__}", "entries": entries,
                                               "files": _tree(folder)}, indent=1) + "\n", encoding="utf-8")


@contextlib.contextmanager
def atomic_dir(dest: PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh folder beside `dest`; on success it becomes `dest`, on error it is deleted.

    Refuses a non-empty `dest` unless `overwrite`, and replaces it then only when lmhld wrote everything in it
    (so that a finished dataset or run is never clobbered by mistake, and a user's own files never deleted).
    """
    dest = Path(dest)
    make_dirs(dest.parent)
    with output_lock(dest):
        check_replaceable_dir(dest, overwrite)
        tmp = part_path(dest)
        tmp.mkdir()  # the user's umask applies (tempfile.mkdtemp would make it 0700)
        try:
            yield tmp
            _write_manifest(tmp)
            _move_into_place(tmp, dest)
        except Exception as exc:
            _raise_as_write_error(exc, dest, tmp)
            raise
        finally:
            _remove(tmp)


def _move_into_place(tmp: Path, dest: Path) -> None:
    """Replace `dest` by `tmp` (a file atomically; a folder by two renames); inside `all_or_nothing`, the replaced
    `dest` is kept aside until the block ends, so that a failure can put it back. A stop asked for (Ctrl-C,
    SIGTERM) cancels it here, whatever swallowed its exception."""
    raise_if_stop_asked()
    transactions = _transactions_of_this_thread()
    transaction = transactions[-1] if transactions else None
    if transaction is None and (tmp.is_file() or not dest.exists()):
        os.replace(tmp, dest)
        return
    old = part_path(dest, ".old") if dest.exists() or dest.is_symlink() else None
    if transaction is not None:
        transactions[0].journal.add(dest, old)  # before the moves: a kill between them is undone next time
    if old is not None:
        os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except BaseException:
        if old is not None:
            os.replace(old, dest)
        raise
    if transaction is None:
        finish_despite_interrupts([lambda: _remove(old)])  # type: ignore[arg-type]
    else:
        transaction.append((dest, old))


def finish_despite_interrupts(steps: Sequence[Callable[[], None]]) -> None:
    """Run every step (each safe to run again) to its end even when Ctrl-C arrives meanwhile, then raise the
    interrupt: a removal cut short left a half-deleted `.part.old` folder for the rest of a Python session, and a
    rollback cut short would leave an output missing. (The command line holds signals itself; Python's own
    handler raises wherever the code stands.)"""
    stop: BaseException | None = None
    for step in steps:
        while True:
            try:
                step()
                break
            except KeyboardInterrupt as exc:
                stop = exc
    if stop is not None:
        raise stop


_transaction_state = threading.local()  # per thread: QGIS runs algorithms side by side in worker threads


class _Journal:
    """The write-ahead record of an all_or_nothing block's moves, kept in every folder one of its outputs is in
    (`.lmhld-commit.PID-XXXX.json`) until the block ends. A process killed outright between two moves left a mixed
    set (new polygons and probability raster beside the summary of the run before, its own set aside and swept as a
    dead writer's part): the next lmhld process to write in one of those folders puts the whole set back
    (recover_commits), or finishes a block that had succeeded."""

    def __init__(self) -> None:
        self.name = f".lmhld-commit.{os.getpid()}-{secrets.token_hex(4)}.json"
        self.moves: list[tuple[str, str | None]] = []
        self.folders: list[Path] = []

    def add(self, dest: Path, old: Path | None) -> None:
        folder = dest.parent.absolute()
        if any(_PART.match(p.name) for p in (folder, *folder.parents)):
            return  # inside a folder being written aside: it is moved into place (or removed) whole
        self.moves.append((str(dest.absolute()), None if old is None else str(old.absolute())))
        if folder not in self.folders:
            self.folders.append(folder)
        self._write(committed=False)

    def commit(self) -> None:
        """The block succeeded: from here, a process killed meanwhile is finished, not undone."""
        if self.moves:
            self._write(committed=True)

    def close(self) -> None:
        for folder in self.folders:
            with contextlib.suppress(OSError):
                os.unlink(folder / self.name)

    def _write(self, committed: bool) -> None:
        text = json.dumps({"host": _HOST, "committed": committed, "moves": self.moves,
                           "folders": [str(f) for f in self.folders]})
        for folder in list(self.folders):
            tmp = folder / f"{self.name}.tmp"
            try:
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, folder / self.name)
            except FileNotFoundError:
                if folder.exists():
                    raise
                self.folders.remove(folder)  # a temporary folder, removed since with what was moved into it
            except BaseException:  # a full disk: the move it announces fails with it, and nothing is left
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise


def recover_commits(folder: Path) -> list[Path]:
    """Settle the all_or_nothing blocks of killed processes that had moved outputs in `folder` (their journals):
    one that had succeeded loses the outputs it had set aside; one that had not gets every output it had moved
    put back as it was before (call while holding the lock of an output in `folder`). The outputs undone."""
    undone: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = _COMMIT.match(entry.name)
            if not match or int(match["pid"]) == os.getpid() or _pid_alive(int(match["pid"])):
                continue
            try:
                journal = json.loads(Path(entry.path).read_text(encoding="utf-8"))
                moves = [(Path(dest), Path(old) if old else None) for dest, old in journal["moves"]]
                folders = [Path(f) for f in journal["folders"]]
            except (OSError, ValueError, KeyError, TypeError):
                continue  # being written when its process was killed: nothing was moved after it
            if journal.get("host") != _HOST:
                continue  # another machine's, on a shared file system: its pid means nothing here
            for dest, old in reversed(moves):
                if journal.get("committed"):
                    if old is not None:
                        _remove(old)
                else:
                    _put_back(dest, old)
                    undone.append(dest)
            for other in folders:
                with contextlib.suppress(OSError):
                    os.unlink(other / entry.name)
    return undone


class _Moves(list[tuple[Path, Path | None]]):
    """An all_or_nothing block's outputs moved into place, with the outermost block's journal."""

    def __init__(self, journal: _Journal) -> None:
        super().__init__()
        self.journal = journal


def _transactions_of_this_thread() -> list[_Moves]:
    """The open all_or_nothing blocks of this thread, innermost last (each: the outputs moved into place)."""
    stack: list[_Moves] | None = getattr(_transaction_state, "stack", None)
    if stack is None:
        stack = _transaction_state.stack = []
    return stack


@contextlib.contextmanager
def all_or_nothing() -> Iterator[None]:
    """Outputs moved into place inside this block stay only if the whole block succeeds: on any failure (or Ctrl-C)
    each one is removed again and what it replaced is put back. A command with several outputs (polygons, a
    probability raster, its style, a summary) thus leaves all of them or none."""
    transactions = _transactions_of_this_thread()
    journal = transactions[0].journal if transactions else _Journal()
    done = _Moves(journal)
    transactions.append(done)
    try:
        yield
    except BaseException:
        outermost = len(transactions) == 1
        finish_despite_interrupts([functools.partial(_put_back, dest, old) for dest, old in reversed(done)]
                                  + ([journal.close] if outermost else []))
        raise
    finally:
        transactions.pop()  # this block's (by position: empty blocks are equal lists, and remove() took the outer)
    if transactions:
        transactions[-1].extend(done)  # nested: the outer block decides
    else:
        try:
            journal.commit()  # a full disk here: the block did not end, and its outputs go back
        except BaseException:
            finish_despite_interrupts([functools.partial(_put_back, dest, old) for dest, old in reversed(done)]
                                      + [journal.close])
            raise
        finish_despite_interrupts([functools.partial(_remove, old) for _, old in done if old is not None]
                                  + [journal.close])


def _put_back(dest: Path, old: Path | None) -> None:
    """Undo one output of an all_or_nothing block: remove it, and move what it replaced back (run again after an
    interrupt, it finds the work done)."""
    with contextlib.suppress(OSError):
        if old is None:
            _remove(dest)
        elif old.exists() or old.is_symlink():
            _remove(dest)
            os.replace(old, dest)


def transactional(func: F) -> F:
    """`func` run inside all_or_nothing: a Python API call with several outputs (detect's polygons and
    probability raster, a stacked raster and its style) leaves all of them or none, as its command does."""
    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        with all_or_nothing():
            return func(*args, **kwargs)

    return cast(F, run)


@contextlib.contextmanager
def fresh_dir(dest: PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder in place (for outputs that record their own paths, e.g. the demo); on error it is removed
    and a folder it replaced is put back. The rules of `atomic_dir` apply to an existing `dest`."""
    dest = Path(dest)
    make_dirs(dest.parent)
    with output_lock(dest):
        check_replaceable_dir(dest, overwrite)
        old = None
        if dest.exists():
            old = part_path(dest, ".old")
            os.replace(dest, old)
        try:
            dest.mkdir()
            (dest / BUILDING).write_text(f"{os.getpid()}\n", encoding="utf-8")  # a kill leaves it: swept next time
            yield dest
            _write_manifest(dest)
            (dest / BUILDING).unlink()
        except BaseException as exc:
            plain = None
            if isinstance(exc, Exception):  # told while what filled the disk is still there
                try:
                    _raise_as_write_error(exc, dest, dest)
                except OSError as err:
                    plain = err
            _remove(dest)
            if old is not None:
                os.replace(old, dest)
            if plain is not None:
                raise plain from exc
            raise
        if old is not None:
            _remove(old)


# ---------------------------------------------------------------------------------------------------------------
# Temporary folders


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap check: never sweep
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def scratch_dir(what: str) -> Iterator[Path]:
    """A temporary folder `lmhld-WHAT-PID-XXXX` (removed on exit); folders of dead processes are swept first."""
    base = Path(tempfile.gettempdir())
    pattern = re.compile(r"^lmhld-[\w.]+-(\d+)-[0-9a-f]+$")
    with contextlib.suppress(OSError):
        for entry in os.scandir(base):
            match = pattern.match(entry.name)
            if match and entry.is_dir(follow_symlinks=False) and not _pid_alive(int(match[1])):
                shutil.rmtree(entry.path, ignore_errors=True)
    path = base / f"lmhld-{what}-{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir(mode=0o700)  # private: it may hold a copy of the user's data
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# Checked GDAL / OGR writes

_watch = threading.local()
_previous_hook = sys.unraisablehook


def _hook(unraisable: Any) -> None:
    errors = getattr(_watch, "errors", None)
    name = getattr(unraisable.object, "__name__", "")
    if errors is not None and name.startswith("delete_") and isinstance(unraisable.exc_value, Exception):
        errors.append(unraisable.exc_value)  # a GDAL/OGR dataset failed to flush or close
        return
    _previous_hook(unraisable)


def _install_hook() -> None:
    if sys.unraisablehook is not _hook:
        global _previous_hook
        _previous_hook = sys.unraisablehook
        sys.unraisablehook = _hook


_WRITE_ERRORS = (("No space left", errno.ENOSPC), ("disk is full", errno.ENOSPC), ("Disk quota", errno.EDQUOT),
                 ("Read-only file system", errno.EROFS), ("Permission denied", errno.EACCES),
                 ("File too large", errno.EFBIG))
_WRITE_WORDS = ("IO error writing", "WriteEncoded", "IWriteBlock", "Write error", "TIFFRewriteDirectory",
                "TIFFWriteDirectory", "_tiffWriteProc", "_tiffSeekProc", "sqlite3_exec", "disk I/O error")
_READ_WORDS = ("IReadBlock", "TIFFRead", "TIFFFetch", "not recognized as a supported")  # a damaged input instead


def _shorten(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[:80]} ... {text[-(limit - 85):]}"


def gdal_write_error(exc: BaseException, messages: list[str] = [], what: object = None) -> OSError:  # noqa: B006
    """A GDAL/OGR write error as the OSError it stands for (disk full, read-only, ...), naming `what`; `messages`
    are the errors GDAL reported meanwhile (the first one that names a cause is shown)."""
    texts = [m for m in messages if m] + [str(exc)]
    head = f"writing {what} failed" if what else "writing failed"
    for words, code in _WRITE_ERRORS:
        for text in texts:
            if words in text:
                return OSError(code, f"{head} ({_shorten(text)})")
    return OSError(errno.EIO, f"{head}: {_shorten(texts[0])}")


def _is_write_error(texts: list[str]) -> bool:
    if any(words in text for text in texts for words, _ in _WRITE_ERRORS):
        return True
    reading = any(words in text for text in texts for words in _READ_WORDS)
    return not reading and any(words in text for text in texts for words in _WRITE_WORDS)


@contextlib.contextmanager
def gdal_errors(what: object = None) -> Iterator[None]:
    """Raise, as an OSError naming `what`, the write errors GDAL or OGR report in this block, including those of
    datasets released (closed) in it, which Python could otherwise only print ("Exception ignored in
    delete_Dataset"); GDAL exceptions are switched on. Other GDAL errors (reading) propagate unchanged."""
    from osgeo import gdal, ogr

    gdal.UseExceptions()
    ogr.UseExceptions()
    _install_hook()
    outer = getattr(_watch, "errors", None)
    errors: list[BaseException] = []
    _watch.errors = errors
    messages: list[str] = []

    def collect(err_class: int, err_no: int, message: str) -> None:
        if err_class >= gdal.CE_Failure:
            messages.append(message)

    gdal.PushErrorHandler(collect)  # per thread in GDAL
    try:
        yield
    except RuntimeError as exc:  # GDAL's exceptions: a write error becomes the OSError it stands for
        if _is_write_error([*messages, str(exc)]):
            raise gdal_write_error(exc, messages, what) from exc
        raise
    finally:
        gdal.PopErrorHandler()
        _watch.errors = outer
    if errors or _is_write_error(messages):
        first = errors[0] if errors else RuntimeError(messages[0])
        raise gdal_write_error(first, messages, what) from first


def gdal_checked(func: F) -> F:
    """Decorator: the function's GDAL/OGR errors, on write and on close, fail it (see `gdal_errors`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with gdal_errors():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class GdalStop:
    """A GDAL progress callback that lets Ctrl-C, SIGTERM or a progress's cancel stop a long GDAL call (Python runs
    signal handlers only between bytecodes, so a call without a callback would finish first).

    `gdal.Polygonize(..., callback=stop)` inside `hold_signals()` then fails with "User terminated"; the block's end
    raises a signal's stop, `stop.reraise()` a cancel."""

    def __init__(self, progress: Any = None, span: tuple[float, float] | None = None) -> None:
        self.progress = progress
        self.span = span  # the share of the progress GDAL's own fraction fills (None: it moves nothing)
        self.reason: BaseException | None = None

    def __call__(self, complete: float, message: Any, data: Any) -> int:
        from .errors import held_signal

        try:
            if held_signal() is not None:  # Ctrl-C or SIGTERM arrived meanwhile: raised once GDAL has stopped
                return 0
            if self.progress is not None and self.progress.is_cancelled():
                from .errors import CancelledError

                raise CancelledError("cancelled by the user")
            if self.progress is not None and self.span is not None:
                self.progress.set_fraction(self.span[0] + (self.span[1] - self.span[0]) * float(complete))
            return 1
        except BaseException as exc:  # a signal handler's exception lands here: GDAL cannot carry it
            self.reason = exc
            return 0

    def reraise(self, failure: BaseException | None = None) -> None:
        """Raise the stop that ended the GDAL call (`failure`: its error): the one the callback caught, or a
        KeyboardInterrupt where Python's own Ctrl-C handler (no command around the call) raised before the
        callback's first line and GDAL made "User terminated" of it, which no `except KeyboardInterrupt` caught."""
        if self.reason is not None:
            raise self.reason
        if failure is not None and "User terminated" in str(failure):
            raise KeyboardInterrupt from None
