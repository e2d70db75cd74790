"""core.progress.Progress as a terminal progress bar."""

from __future__ import annotations

import sys


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
        value = round(1000 * min(max(fraction, 0.0), 1.0))
        if value > self._last:
            self.bar.update(value - self._last)
            self._last = value

    def info(self, message: str) -> None:
        if not self.quiet:
            self.bar.write(message, file=sys.stderr)

    def warn(self, message: str) -> None:
        self.bar.write(f"warning: {message}", file=sys.stderr)

    def is_cancelled(self) -> bool:
        return False  # Ctrl-C raises KeyboardInterrupt instead

    def close(self) -> None:
        self.bar.close()
