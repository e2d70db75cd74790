"""core.progress.Progress as a terminal progress bar, or as JSON lines for the QGIS child processes."""

from __future__ import annotations

import json
import os
import signal
import sys

from .failures import raise_lost_stop


class BarProgress:
    """A tqdm bar on stderr (silent when stderr is not a terminal unless forced)."""

    def __init__(self, description: str, enabled: bool | None = None, quiet: bool = False) -> None:
        self.quiet = quiet  # e.g. ranks other than 0 under torchrun
        from tqdm import tqdm

        self.bar = tqdm(total=1000, desc=description, unit="‰", leave=False,
                        disable=not sys.stderr.isatty() if enabled is None else not enabled,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")
        self._last = 0

    def set_fraction(self, fraction: float) -> None:
        raise_lost_stop()
        value = round(1000 * min(max(fraction, 0.0), 1.0))
        if value > self._last:
            self.bar.update(value - self._last)
            self._last = value

    def info(self, message: str) -> None:
        if not self.quiet:
            self.bar.write(message, file=sys.stderr)

    def warn(self, message: str) -> None:
        if not self.quiet:
            self.bar.write(f"warning: {message}", file=sys.stderr)

    def is_cancelled(self) -> bool:
        raise_lost_stop()
        return False  # Ctrl-C raises KeyboardInterrupt instead

    def close(self) -> None:
        self.bar.close()


class JsonProgress:
    """Progress as JSON lines on stdout; SIGTERM asks to stop at the next batch (last.pt is kept), and so does the
    end of the process that reads the lines (QGIS or qgis_process killed, closed or crashed): without a reader the
    run would go on alone, unseen, to its last epoch.

    `fractions`: also print {"event": "progress"} when the overall fraction moves by 0.1 % (the experiment, whose
    training runs do not send their own batch events); training sends batch events that carry the fraction.
    """

    def __init__(self, fractions: bool = False, quiet: bool = False) -> None:
        self.cancelled, self.quiet = False, quiet  # quiet: a torchrun rank other than 0 (one reader, one stream)
        self.fractions, self._last = fractions, -1
        self.parent = os.getppid()
        signal.signal(signal.SIGTERM, self._stop)

    def _stop(self, *_) -> None:
        self.cancelled = True

    def _print(self, **event) -> None:
        if not self.quiet:
            print(json.dumps(event, default=str), flush=True)

    def set_fraction(self, fraction: float) -> None:
        permille = round(1000 * min(max(fraction, 0.0), 1.0))
        if self.fractions and permille > self._last:
            self._last = permille
            self._print(event="progress", fraction=permille / 1000)

    def info(self, message: str) -> None:
        self._print(event="info", message=message)

    def warn(self, message: str) -> None:
        self._print(event="warning", message=message)

    def event(self, data: dict) -> None:
        self._print(**data)

    def is_cancelled(self) -> bool:
        return self.cancelled or self.reader_gone()

    def reader_gone(self) -> bool:
        """The parent died (this process was handed to another) or closed the pipe (cli.failures keeps a run
        going when stdout closes, and says so by `gone`)."""
        return os.getppid() != self.parent or bool(getattr(sys.stdout, "gone", False))

    def close(self) -> None:
        pass  # every line is flushed as it is printed
