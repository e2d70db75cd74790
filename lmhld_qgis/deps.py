"""The plugin's Python packages without a terminal: which are importable and from where, whether CUDA is usable,
and installing the pinned versions into a folder the plugin owns.

QGIS-free (stdlib only), so the command line, the tests and the plugin's dialog share it. Probes run in a child
Python: QGIS itself never imports torch to answer "is torch there?". The pins are read from the plugin's own
requirements.txt, the file the project's top-level requirements.txt includes, so there is one list.

The folder the plugin owns is appended to sys.path (never put first): packages the system or a virtual
environment already provides, numpy and GDAL's bindings above all, keep precedence; the folder only fills gaps.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import site
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from . import PLUGIN_NAME

REQUIREMENTS_FILE = Path(__file__).resolve().with_name("requirements.txt")
DEPS_ENV = "LMHLD_DEPS_DIR"  # the child process appends this folder to its path (see activate_from_env)
PYTHON_ENV = "LMHLD_PYTHON"  # the interpreter for training and experiments, when set
MANIFEST = "lmhld-requirements.txt"  # what the plugin installed into its folder (kept across installs)


@dataclass(frozen=True)
class Package:
    """A package the plugin uses: its pip name, its import name and what needs it."""

    dist: str
    module: str
    needed_for: str
    training: bool  # training (and experiments) needs it; detection needs only onnxruntime


PACKAGES = (
    Package("onnxruntime", "onnxruntime", "detection (ONNX models)", training=False),
    Package("torch", "torch", "training, experiments, .pt models", training=True),
    Package("onnx", "onnx", "training (writes model.onnx)", training=True),
    Package("onnxscript", "onnxscript", "training (ONNX export)", training=True),
    Package("segmentation-models-pytorch", "segmentation_models_pytorch", "baseline networks", training=True),
    Package("timm", "timm", "baseline encoders", training=True),
    Package("torchvision", "torchvision", "baseline encoders", training=True),
)
DETECTION = ("onnxruntime",)
TRAINING = tuple(p.module for p in PACKAGES if p.training)


def _marker_applies(marker: str) -> bool:
    """Evaluate the simple environment markers requirements.txt uses (sys_platform ==/!= '...')."""
    match = re.fullmatch(r"\s*sys_platform\s*(==|!=)\s*['\"]([^'\"]+)['\"]\s*", marker)
    if not match:
        return True
    return (sys.platform == match.group(2)) == (match.group(1) == "==")


def read_pins(path: Path = REQUIREMENTS_FILE) -> dict[str, str]:
    """{normalised pip name: requirement} for this platform, from the plugin's requirements.txt."""
    pins: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement, _, marker = line.partition(";")
        if marker and not _marker_applies(marker):
            continue
        name = re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0]
        pins[normalise(name)] = requirement.strip()
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pin_for(package: Package, pins: Mapping[str, str] | None = None) -> str:
    """The pinned requirement for a package (onnxruntime may be pinned as its GPU build, onnxruntime-gpu)."""
    pins = read_pins() if pins is None else pins
    for name in (package.dist, f"{package.dist}-gpu"):
        if normalise(name) in pins:
            return pins[normalise(name)]
    return package.dist


# --- where things are ---------------------------------------------------------------------------------------------

def plugin_parent() -> Path:
    """The folder that holds the lmhld_qgis package: QGIS's plugin folder, a checkout, or site-packages."""
    return Path(__file__).resolve().parent.parent


def deps_dir(settings_dir: str | Path) -> Path:
    """The folder the plugin installs packages into: inside the QGIS profile, one per Python version (wheels are
    built for one)."""
    return Path(settings_dir) / "lmhld_qgis" / f"python{sys.version_info.major}.{sys.version_info.minor}"


def install_log(target: Path) -> Path:
    return target.parent / "install.log"


def activate(folder: str | Path | None) -> bool:
    """Append the plugin's package folder to sys.path (processing its .pth files); True when it was added."""
    if not folder or not Path(folder).is_dir() or str(folder) in sys.path:
        return False
    site.addsitedir(str(folder))
    return True


def activate_from_env() -> bool:
    """In a child process: append the folder the plugin passed in LMHLD_DEPS_DIR."""
    return activate(os.environ.get(DEPS_ENV))


def base_python() -> str:
    """The Python of the running installation. Inside QGIS, sys.executable is the QGIS binary (or whatever `python3`
    is first on PATH); the interpreter that sees QGIS's packages lives in sys.base_exec_prefix. A venv's own python
    is kept (it is a real Python of the same installation)."""
    exe = Path(sys.executable) if sys.executable else None
    base = Path(sys.base_exec_prefix).resolve()
    if exe and exe.name.lower().startswith("python") and exe.resolve().is_relative_to(base):
        return str(exe)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (base / "bin" / f"python{version}", base / "bin" / "python3", base / "python.exe",
                      base / "python3.exe", base / "bin" / "python"):
        if candidate.exists():
            return str(candidate)
    return str(exe or base / "bin" / f"python{version}")


def python_for_child(env: Mapping[str, str] | None = None) -> str:
    """LMHLD_PYTHON when set, else the Python of the running installation."""
    env = os.environ if env is None else env
    return env.get(PYTHON_ENV) or base_python()


def child_env(deps: Path | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child `python -m lmhld_qgis`: the plugin's parent folder first on PYTHONPATH (so the
    child imports this very plugin, wherever QGIS installed it), the caller's PYTHONPATH after it, and the plugin's
    package folder in LMHLD_DEPS_DIR (appended to the child's path by lmhld_qgis.__main__)."""
    env = dict(os.environ if base is None else base)
    paths = [str(plugin_parent())] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if deps is not None:
        env[DEPS_ENV] = str(deps)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --- what is importable -------------------------------------------------------------------------------------------

_PROBE = r"""
import importlib, importlib.metadata as md, importlib.util, json, os, sys
deps = os.environ.get("LMHLD_DEPS_DIR")
if deps and os.path.isdir(deps):
    import site
    site.addsitedir(deps)
out = {"python": sys.executable, "version": sys.version.split()[0], "packages": {}, "cuda": {}}
for dist, module in json.loads(sys.argv[1]):
    try:  # torch and onnxruntime are imported (they say what GPU they see); the others only found, which is fast
        if module in ("torch", "onnxruntime"):
            path = importlib.import_module(module).__file__
        else:
            spec = importlib.util.find_spec(module)
            if spec is None:
                raise ModuleNotFoundError(f"No module named {module!r}")
            path = spec.origin
    except Exception as exc:
        out["packages"][module] = {"error": f"{type(exc).__name__}: {exc}"}
        continue
    version = ""
    for name in (dist, dist + "-gpu"):
        try:
            version = md.version(name)
            break
        except Exception:
            pass
    out["packages"][module] = {"version": version or "?", "location": os.path.dirname(os.path.dirname(path))}
if "torch" in sys.modules:
    import torch
    cuda = torch.cuda.is_available()
    out["cuda"]["torch"] = {"available": cuda, "build": torch.version.cuda,
                            "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
                            if cuda else []}
if "onnxruntime" in sys.modules:
    import onnxruntime
    out["cuda"]["onnxruntime"] = {"providers": onnxruntime.get_available_providers()}
print("LMHLD-PROBE " + json.dumps(out))
"""


@dataclass(frozen=True)
class PackageStatus:
    package: Package
    version: str | None = None
    location: str | None = None
    error: str | None = None

    @property
    def available(self) -> bool:
        return self.version is not None


@dataclass
class DependencyReport:
    """What one interpreter (with the plugin's folder appended) can import, and what CUDA it sees."""

    python: str
    python_version: str = ""
    packages: list[PackageStatus] = field(default_factory=list)
    torch_cuda: bool = False
    cuda_devices: list[str] = field(default_factory=list)
    torch_cuda_build: str | None = None
    onnxruntime_providers: list[str] = field(default_factory=list)
    error: str | None = None  # the interpreter itself could not be run

    def status(self, module: str) -> PackageStatus:
        return next(s for s in self.packages if s.package.module == module)

    def missing(self, modules: tuple[str, ...]) -> list[PackageStatus]:
        return [s for s in self.packages if s.package.module in modules and not s.available]

    @property
    def can_detect(self) -> bool:
        return self.error is None and not self.missing(DETECTION)

    @property
    def can_train(self) -> bool:
        return self.error is None and not self.missing(TRAINING)

    def cuda_summary(self) -> str:
        """One line on GPUs, as a user reads it."""
        if not self.status("torch").available:
            return "unknown (torch is not installed)"
        if self.torch_cuda:
            return f"yes: {', '.join(self.cuda_devices)} (CUDA {self.torch_cuda_build})"
        build = f"a CUDA {self.torch_cuda_build} build of torch" if self.torch_cuda_build else "a CPU-only torch"
        return f"no: {build}, no usable GPU or driver found; training runs on the CPU"

    def detection_gpu_summary(self) -> str:
        """One line on whether detection can use a GPU, as a user reads it (onnxruntime's CUDA build)."""
        if not self.status("onnxruntime").available:
            return "unknown (onnxruntime is not installed)"
        if "CUDAExecutionProvider" not in self.onnxruntime_providers:
            return "no: the CPU build of onnxruntime; detection runs on the CPU"
        if self.torch_cuda:
            return f"yes: {', '.join(self.cuda_devices)}, with the CUDA build of onnxruntime"
        if self.status("torch").available:  # torch looked for a GPU and found none: onnxruntime will not either
            return ("no: the CUDA build of onnxruntime is installed, but no usable GPU or driver was found; detection "
                    "runs on the CPU")
        return ("maybe: the CUDA build of onnxruntime is installed (detection runs on the CPU when no GPU or CUDA "
                "library is found)")


def probe(python: str | None = None, deps: Path | None = None, env: Mapping[str, str] | None = None,
          packages: tuple[Package, ...] = PACKAGES, timeout: float = 120.0) -> DependencyReport:
    """Import each package in a child `python` (the plugin's folder appended) and report versions, locations and
    CUDA. Costs a few seconds when torch is there (its import)."""
    python = python or python_for_child(env)
    run_env = child_env(deps, env)
    report = DependencyReport(python)
    args = json.dumps([[p.dist, p.module] for p in packages])
    try:
        proc = subprocess.run([python, "-c", _PROBE, args], capture_output=True, text=True, env=run_env,
                              timeout=timeout, cwd=str(plugin_parent()))
    except (OSError, subprocess.TimeoutExpired) as exc:
        report.error = f"cannot run {python}: {exc}"
        report.packages = [PackageStatus(p, error="not checked") for p in packages]
        return report
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("LMHLD-PROBE ")), None)
    if line is None:
        report.error = f"{python} failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}"
        report.packages = [PackageStatus(p, error="not checked") for p in packages]
        return report
    data = json.loads(line[len("LMHLD-PROBE "):])
    report.python, report.python_version = data["python"], data["version"]
    for p in packages:
        found = data["packages"].get(p.module, {})
        report.packages.append(PackageStatus(p, found.get("version"), found.get("location"), found.get("error")))
    torch_cuda = data["cuda"].get("torch", {})
    report.torch_cuda, report.cuda_devices = bool(torch_cuda.get("available")), torch_cuda.get("devices", [])
    report.torch_cuda_build = torch_cuda.get("build")
    report.onnxruntime_providers = data["cuda"].get("onnxruntime", {}).get("providers", [])
    return report


def missing_modules(python: str, modules: tuple[str, ...], env: Mapping[str, str]) -> list[str] | None:
    """The modules `python` does not find (found, not imported: fast, enough to choose an interpreter); None when
    `python` cannot be run at all."""
    code = ("import importlib.util, os, site, sys\nd = os.environ.get('LMHLD_DEPS_DIR')\n"
            "d and os.path.isdir(d) and site.addsitedir(d)\n"
            f"print(' '.join(m for m in {list(modules)!r} if importlib.util.find_spec(m) is None))")
    try:
        proc = subprocess.run([python, "-c", code], env=dict(env), capture_output=True, text=True, timeout=60,
                              cwd=str(plugin_parent()))
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.split() if proc.returncode == 0 else None


def missing_message(modules: tuple[str, ...] | list[str], python: str, what: str, *,
                    target: Path | None = None, child: bool = False) -> str:
    """What to do when `python` lacks packages that `what` needs: the plugin's dialog, else pip in a terminal.

    `target`: the folder the plugin installs into (QGIS's own Python, which a Linux distribution manages: a plain
    `pip install` is refused there as an externally managed environment, pip's --target is not); `child`: `what`
    runs in a child process, which LMHLD_PYTHON can point at a Python that has them (detection runs inside QGIS's
    own Python, where it cannot)."""
    wanted = [p for p in PACKAGES if p.module in modules]
    pins = read_pins()
    names = ", ".join(p.dist for p in wanted)
    pip_args = " ".join(f'"{pin_for(p, pins)}"' for p in wanted)
    them = "them" if len(wanted) > 1 else "it"
    where = f'--target "{target}" ' if target is not None else ""
    said = (f"{what} needs the Python package{'s' if len(wanted) > 1 else ''} {names}, which {python} cannot "
            f"import. Install {them} from the menu Plugins > {PLUGIN_NAME} > Python dependencies…, or in a "
            f"terminal: {python} -m pip install {where}{pip_args}")
    if target is not None:
        said += " (then restart QGIS)"
    if child:
        said += f"; or set {PYTHON_ENV} to a Python that has {them}"
    return said + "."


# --- installing ---------------------------------------------------------------------------------------------------

@dataclass
class InstallPlan:
    """pip installs `requirements` with `python` into a fresh folder beside `target`, which replaces `target` only
    when pip succeeds: a failed or cancelled install leaves the folder as it was."""

    requirements: list[str]
    target: Path
    python: str = field(default_factory=python_for_child)
    extra_pip_args: list[str] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return install_log(self.target)

    @property
    def staging(self) -> Path:
        return self.target.with_name(self.target.name + ".installing")

    def command(self) -> list[str]:
        return [self.python, "-m", "pip", "install", "--target", str(self.staging), "--no-input",
                "--disable-pip-version-check", "--progress-bar", "off", *self.extra_pip_args, *self.requirements]


def installed_requirements(target: Path) -> list[str]:
    """The requirements the plugin installed into `target` before (so a new install keeps them)."""
    manifest = target / MANIFEST
    return manifest.read_text(encoding="utf-8").split() if manifest.exists() else []


def plan_install(modules: tuple[str, ...] | list[str], target: Path, python: str | None = None) -> InstallPlan:
    """The pins of `modules` plus what the folder already holds (it is replaced as a whole)."""
    pins = read_pins()
    wanted = [pin_for(p, pins) for p in PACKAGES if p.module in modules]
    numpy = [pins["numpy"]] if "numpy" in pins else []  # keeps pip from pulling numpy 2 for a dependency
    requirements = list(dict.fromkeys(numpy + installed_requirements(target) + wanted))
    return InstallPlan(requirements, Path(target), python or python_for_child())


class InstallCancelledError(Exception):
    pass


class InstallError(Exception):
    pass


_STEP = re.compile(r"^(Collecting|Downloading|Installing collected packages|Successfully installed|ERROR)")


def install(plan: InstallPlan, on_line: Callable[[str], None] = lambda line: None,
            is_cancelled: Callable[[], bool] = lambda: False, env: Mapping[str, str] | None = None) -> Path:
    """Run pip for `plan`, appending its whole output to the kept log; `on_line` gets each line (for a progress
    dialog), `is_cancelled` is polled between lines and stops pip. Returns the installed folder.

    Raises InstallCancelledError or InstallError (with the log's path); the previous folder is then untouched."""
    if not _has_pip(plan.python, env):
        raise InstallError(f"{plan.python} has no pip. On Debian/Ubuntu: sudo apt install python3-pip; elsewhere "
                            f"set {PYTHON_ENV} to a Python with pip.")
    plan.target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(plan.staging, ignore_errors=True)
    run_env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1", PIP_NO_INPUT="1")
    run_env.pop("PYTHONPATH", None)  # pip resolves against a clean path: it installs into the folder anyway
    with plan.log.open("a", encoding="utf-8") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(plan.command())}\n")
        code = _run_pip(plan, log, run_env, on_line, is_cancelled)
        if code is None:
            shutil.rmtree(plan.staging, ignore_errors=True)
            log.write("=== cancelled; the previous folder is kept\n")
            raise InstallCancelledError(f"installation cancelled; nothing changed (log: {plan.log})")
        if code != 0:
            shutil.rmtree(plan.staging, ignore_errors=True)
            log.write(f"=== pip failed (exit {code})\n")
            raise InstallError(f"pip failed (exit {code}); see the log {plan.log}")
        (plan.staging / MANIFEST).write_text("\n".join(plan.requirements) + "\n", encoding="utf-8")
        _replace(plan.staging, plan.target)
        log.write(f"=== installed into {plan.target}\n")
    return plan.target


def _has_pip(python: str, env: Mapping[str, str] | None) -> bool:
    try:
        return subprocess.run([python, "-m", "pip", "--version"], capture_output=True, timeout=60,
                              env=None if env is None else dict(env)).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _run_pip(plan: InstallPlan, log: TextIO, env: dict[str, str], on_line: Callable[[str], None],
             is_cancelled: Callable[[], bool]) -> int | None:
    """pip's exit code, or None when cancelled (pip is then terminated, killed if it lingers). Cancel is polled
    every 0.2 s, also while pip is silent (a large download)."""
    proc = subprocess.Popen(plan.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=str(plan.target.parent))
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    while True:
        if is_cancelled():
            _stop(proc)
            return None
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            break
        log.write(line)
        log.flush()
        if _STEP.match(line.strip()):
            on_line(line.strip())
    code = proc.wait()
    return None if is_cancelled() else code


def _pump(stream: Iterable[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _replace(new: Path, target: Path) -> None:
    """Move `new` into place of `target`; the old folder is removed only once the new one is there."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
