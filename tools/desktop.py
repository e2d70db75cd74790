"""Run a script inside the real QGIS desktop, with the plugin installed from its zip into a fresh profile.

This is what a user does (Install from ZIP, then start QGIS with the README's PYTHONPATH), made repeatable: the
desktop test and `make screenshots` use it. QGIS runs under Xvfb; the script runs once QGIS has started
(`qgis --code`), with tools/desktop_session.py importable for its helpers, and quits QGIS when done.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QGIS = Path("/usr/bin/qgis")
SCREEN = "1280x800x24"  # a common laptop screen: dialogs must fit it


@dataclass
class DesktopProfile:
    """A fresh QGIS profiles folder with the packaged plugin installed and enabled."""

    root: Path

    @property
    def profile(self) -> Path:
        return self.root / "profiles" / "default"

    @property
    def plugins(self) -> Path:
        return self.profile / "python" / "plugins"

    def install(self, plugin_zip: Path) -> Path:
        """Unzip the plugin where QGIS's "Install from ZIP" puts it, and enable it."""
        shutil.rmtree(self.root, ignore_errors=True)
        self.plugins.mkdir(parents=True)
        with zipfile.ZipFile(plugin_zip) as zf:
            zf.extractall(self.plugins)
        ini = self.profile / "QGIS" / "QGIS3.ini"
        ini.parent.mkdir(parents=True, exist_ok=True)
        # enabled, and the first-start chores (tips, news, welcome) out of the way
        ini.write_text("[PythonPlugins]\nlmhld_qgis=true\n\n[qgis]\nshowTips322=false\ncheckVersion=false\n"
                       "allowVersionCheck=false\n\n[core]\nNewsFeed\\httpsfeedqgisorg\\disabled=true\n")
        return self.plugins / "lmhld_qgis"


def build_plugin_zip(out: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tools"))
    from package import build_zip

    return build_zip(out)


def venv_site_packages() -> Path:
    """The README's setup: QGIS sees the project's Python packages through PYTHONPATH (nothing else of it)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return Path(sys.prefix) / "lib" / version / "site-packages"


def desktop_env(extra: dict[str, str] | None = None, site_packages: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "QT_QPA_PLATFORM", "DISPLAY",
                                                            "QGIS_PLUGINPATH", "QGIS_CUSTOM_CONFIG_PATH")}
    env["PYTHONPATH"] = str(site_packages or venv_site_packages())
    env["LMHLD_DESKTOP_TOOLS"] = str(ROOT / "tools")
    env.update(extra or {})
    return env


def run_desktop(profile: DesktopProfile, script: Path, *, env: dict[str, str], timeout: float = 300,
                screen: str = SCREEN) -> subprocess.CompletedProcess:
    """Start QGIS under Xvfb on `profile`, run `script` in it, wait for QGIS to quit."""
    args = ["xvfb-run", "-a", "-s", f"-screen 0 {screen}", str(QGIS), "--profiles-path", str(profile.root),
            "--nologo", "--noversioncheck", "--code", str(script)]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=str(profile.root))
