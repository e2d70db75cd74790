"""`lmhld train --processes N`: N training processes on this machine (one per GPU) under PyTorch's own launcher,
the engine `torchrun` runs (torch.distributed.run: DDP, a c10d rendezvous on localhost), so a user need not
write the torchrun line. What this adds is the command's promise: the workers each say their failure in one line
(cli.failures), and the launcher's own report of them (a Python traceback and a box of exit codes that torchrun
prints) becomes at most one line, with the exit code of the process that failed."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from ..core.errors import CANCELLED

OPTION = "--processes"


def launches_workers(processes: int | None) -> bool:
    """Whether this `lmhld train` is the launcher of `processes` workers (not a worker itself: torchrun or this
    launcher set WORLD_SIZE for those)."""
    return (processes or 1) > 1 and "WORLD_SIZE" not in os.environ


def worker_argv(argv: Sequence[str]) -> list[str]:
    """The command line a worker runs: this one without --processes (a worker must not launch again)."""
    out: list[str] = []
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token == OPTION:
            skip = True
        elif not token.startswith(OPTION + "="):
            out.append(token)
    return out


LAUNCHER_PID = "LMHLD_LAUNCHER_PID"  # set for the workers: the process whose end must end them


def end_with_launcher() -> None:
    """In a worker: be sent SIGTERM (stop after the batch, save last.pt) when the launcher ends. A launcher killed
    outright (kill -9, the out-of-memory killer) left its workers training on as orphans, which held the run
    folder against the --resume that followed. Linux only (prctl); elsewhere nothing changes."""
    import ctypes
    import signal

    if not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        return
    launcher = os.environ.get(LAUNCHER_PID, "")
    if launcher.isdigit() and os.getppid() != int(launcher):  # it ended before the request took hold
        os.kill(os.getpid(), signal.SIGTERM)


def launch(processes: int, argv: Sequence[str], run_dir: str) -> int:
    """Run `python -m lmhld_qgis ARGV` in `processes` processes under torch.distributed.run; the exit code of the
    run (the failing worker's, 130 when stopped)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    from ..core.atomic import scratch_dir
    from ..training.hardware import cores_per_process

    # torchrun sets one thread per worker with a warning when it is not told; on CPUs they share the cores instead
    os.environ.setdefault("OMP_NUM_THREADS", str(max(cores_per_process() // processes, 1)))
    os.environ[LAUNCHER_PID] = str(os.getpid())
    # the launcher's log lines (a worker's exit code, the signals it forwards) repeat what the workers say; this
    # process logs nothing else (each torch.distributed logger has a level of its own: the switch is global)
    logging.disable(logging.CRITICAL)
    try:
        # torchrun's log folder (the workers' error files, and where they agree on who speaks) would be a new
        # torchelastic_* folder in the temporary directory that nothing removes: one per training run
        with scratch_dir("torchrun") as logs:
            run(parse_args(["--standalone", f"--nproc-per-node={processes}", f"--log-dir={logs}",
                            "-m", "lmhld_qgis", *worker_argv(argv)]))
    except ChildFailedError as exc:
        return _said(exc, run_dir)
    except SignalException:  # Ctrl-C or SIGTERM: every worker got it too and said so (once per machine)
        return CANCELLED
    finally:
        logging.disable(logging.NOTSET)
    return 0


def _said(exc: object, run_dir: str) -> int:
    """The exit code of the worker that failed first by its own hand (it has said why); a worker killed by a signal
    (the out-of-memory killer, a kill -9) could say nothing, so that is said here."""
    failures = sorted(getattr(exc, "failures", {}).items())
    killed = [(rank, failure) for rank, failure in failures if failure.exitcode < 0]
    if not killed:  # the first to fail said why; the others, their peer gone, said it ended
        return next((int(failure.exitcode) for _, failure in failures if failure.exitcode > 0), 1)
    rank, failure = killed[0]  # the cause: the others' "another process ... ended" points at it
    print(f"lmhld train: error: training process {rank} was killed by {failure.signal_name()} (out of memory? "
          f"`dmesg` tells); {run_dir} keeps the last.pt saved before (if any): run again with --resume to continue",
          file=sys.stderr)
    return 1
