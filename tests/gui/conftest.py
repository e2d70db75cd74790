"""Tests of the QGIS GUI (the review dock), run by tests/ui/test_gui_session.py in their own pytest session with
QGIS's GUI enabled under Xvfb; the headless session of the rest of the suite does not collect them."""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("LMHLD_GUI_SESSION") == "1" else ["test_*.py"]
