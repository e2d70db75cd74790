"""core.progress: the shares of a caller's progress that a sub-step reports to."""

from __future__ import annotations

from lmhld_qgis.core.progress import WarningsOnly


class Recorder:
    def __init__(self) -> None:
        self.said: list[tuple[str, object]] = []
        self.cancelled = False

    def set_fraction(self, fraction: float) -> None:
        self.said.append(("fraction", fraction))

    def info(self, message: str) -> None:
        self.said.append(("info", message))

    def warn(self, message: str) -> None:
        self.said.append(("warn", message))

    def is_cancelled(self) -> bool:
        return self.cancelled


def test_warnings_only_hands_on_warnings_named_and_the_cancel_not_lines_or_fractions():
    """An experiment's scoring of a run said its warnings as Python warnings ("lmhld:8: LmhldWarning: ..."),
    outside --progress-json and QGIS's log; its own lines and fractions would be noise in the experiment's."""
    parent = Recorder()
    share = WarningsOnly(parent, "run exp1/k69_32_unet")
    share.set_fraction(0.5)
    share.info("tile 3/9")
    share.warn("these detections are doubtful")
    assert parent.said == [("warn", "run exp1/k69_32_unet: these detections are doubtful")]
    assert not share.is_cancelled()
    parent.cancelled = True
    assert share.is_cancelled()


def test_console_progress_prints_lines_warnings_and_tenths():
    """Training from Python printed nothing for minutes; ConsoleProgress says what the command line says."""
    import io

    from lmhld_qgis.core.progress import ConsoleProgress

    out = io.StringIO()
    progress = ConsoleProgress(out)
    for fraction in (0.0, 0.05, 0.12, 0.19, 0.5, 1.0):
        progress.set_fraction(fraction)
    progress.info("stage 1/1 (area) epoch 1/2")
    progress.warn("few patches")
    assert out.getvalue().splitlines() == ["10%", "50%", "100%", "stage 1/1 (area) epoch 1/2",
                                           "warning: few patches"]
    assert progress.is_cancelled() is False
