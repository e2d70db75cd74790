"""lmhld_qgis.deps: what an interpreter can import, the child's environment, and pip installs into a folder the
plugin owns. The real pip run installs a small pinned package (iniconfig, from this machine's local registry when
it has one) instead of torch, which would take minutes and gigabytes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lmhld_qgis import deps

from .helpers import ROOT

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's: has GDAL and QGIS, neither torch nor onnxruntime
SMALL_PIN = "iniconfig==2.3.0"
LOCAL_INDEX = Path("/opt/pypi/simple")


def local_registry() -> list[str]:
    return ["--index-url", LOCAL_INDEX.as_uri()] if (LOCAL_INDEX / "iniconfig").is_dir() else []


def bare_env() -> dict[str, str]:
    """A QGIS-like environment with none of the project's packages on the path."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", deps.PYTHON_ENV, deps.DEPS_ENV)}


def test_pins_come_from_the_file_requirements_txt_includes():
    assert "-r lmhld_qgis/requirements.txt" in (ROOT / "requirements.txt").read_text().splitlines()
    pins = deps.read_pins()
    assert pins["torch"].startswith("torch==") and pins["numpy"] == "numpy>=1.24,<2"
    onnxruntime = deps.pin_for(next(p for p in deps.PACKAGES if p.module == "onnxruntime"), pins)
    if sys.platform == "darwin":
        assert onnxruntime.startswith("onnxruntime==")
    else:  # the GPU build, which also runs on the CPU
        assert onnxruntime.startswith("onnxruntime-gpu==") and "onnxruntime" not in pins


def test_child_environment_puts_the_plugin_first(tmp_path):
    env = deps.child_env(tmp_path / "pkgs", {"PYTHONPATH": f"/somewhere{os.pathsep}/else", "HOME": "/h"})
    paths = env["PYTHONPATH"].split(os.pathsep)
    assert paths == [str(ROOT), "/somewhere", "/else"]
    assert env[deps.DEPS_ENV] == str(tmp_path / "pkgs") and env["HOME"] == "/h"


def test_interpreter_is_lmhld_python_when_set():
    assert deps.python_for_child({deps.PYTHON_ENV: "/opt/py/bin/python3"}) == "/opt/py/bin/python3"
    assert Path(deps.python_for_child({})).exists()


def test_probe_of_a_python_without_the_packages_says_what_is_missing():
    report = deps.probe(SYSTEM_PYTHON, env=bare_env())
    assert report.error is None and report.python_version.startswith("3.")
    torch = report.status("torch")
    assert not torch.available and "No module named 'torch'" in torch.error
    assert not report.can_detect and not report.can_train
    assert report.cuda_summary() == "unknown (torch is not installed)"
    assert report.detection_gpu_summary() == "unknown (onnxruntime is not installed)"
    message = deps.missing_message(["torch", "onnx"], SYSTEM_PYTHON, "Training", child=True)
    assert "Training needs the Python packages torch, onnx" in message
    assert f'{SYSTEM_PYTHON} -m pip install "{deps.read_pins()["torch"]}"' in message
    assert "Python dependencies" in message and deps.PYTHON_ENV in message
    # detection runs in QGIS's own Python, which Debian manages: a plain pip install is refused there
    # ("externally-managed-environment"), pip --target into the plugin's folder is not; LMHLD_PYTHON cannot help
    inside = deps.missing_message(["onnxruntime"], SYSTEM_PYTHON, "Detect landslides", target=Path("/p/python"))
    assert f'{SYSTEM_PYTHON} -m pip install --target "/p/python" "onnxruntime' in inside
    assert deps.PYTHON_ENV not in inside and "restart QGIS" in inside


def test_probe_of_the_project_python_reports_versions_locations_and_cuda():
    report = deps.probe(sys.executable, env=bare_env())
    torch = report.status("torch")
    assert torch.available and torch.version.startswith("2.") and Path(torch.location).is_dir()
    assert report.can_detect and report.can_train
    assert report.cuda_summary().startswith("yes:" if report.torch_cuda else "no:")
    assert "CPUExecutionProvider" in report.onnxruntime_providers
    cuda_build = "CUDAExecutionProvider" in report.onnxruntime_providers
    assert report.detection_gpu_summary().startswith("yes:" if cuda_build and report.torch_cuda else "no:")
    if cuda_build and not report.torch_cuda:  # a CUDA build on a machine without a GPU (was "yes")
        assert "no usable GPU or driver was found; detection runs on the CPU" in report.detection_gpu_summary()


def test_a_missing_interpreter_is_an_error_not_a_crash(tmp_path):
    report = deps.probe(str(tmp_path / "no-python"))
    assert report.error and "cannot run" in report.error and not report.can_detect
    assert deps.missing_modules(str(tmp_path / "no-python"), ("torch",), bare_env()) is None


def test_missing_modules_is_fast_and_sees_the_plugin_folder(tmp_path):
    folder = tmp_path / "pkgs"
    (folder / "fakepkg_lmhld").mkdir(parents=True)
    (folder / "fakepkg_lmhld" / "__init__.py").write_text("")
    env = deps.child_env(folder, bare_env())
    assert deps.missing_modules(SYSTEM_PYTHON, ("fakepkg_lmhld", "torch"), env) == ["torch"]


def test_install_into_a_scratch_folder_then_import(tmp_path):
    target = tmp_path / "profile" / "lmhld_qgis" / "python3.11"
    plan = deps.InstallPlan([SMALL_PIN], target, SYSTEM_PYTHON, extra_pip_args=local_registry())
    lines: list[str] = []
    assert deps.install(plan, on_line=lines.append, env=bare_env()) == target
    assert any(line.startswith("Successfully installed iniconfig") for line in lines)
    assert (target / "iniconfig").is_dir() and not plan.staging.exists()
    assert deps.installed_requirements(target) == [SMALL_PIN]
    assert "Successfully installed" in deps.install_log(target).read_text()  # the log is kept
    code = ("from lmhld_qgis.deps import activate_from_env; activate_from_env(); import iniconfig; "
            "print(iniconfig.__file__)")
    child = subprocess.run([SYSTEM_PYTHON, "-c", code], capture_output=True, text=True,
                           env=deps.child_env(target, bare_env()), cwd=str(tmp_path))  # as a training child would
    assert child.returncode == 0, child.stderr
    assert Path(child.stdout.strip()).is_relative_to(target)
    plan_next = deps.plan_install(["onnxruntime"], target, SYSTEM_PYTHON)
    assert SMALL_PIN in plan_next.requirements  # a later install keeps what the folder holds


def test_failed_and_cancelled_installs_leave_the_folder_as_it_was(tmp_path):
    target = tmp_path / "pkgs"
    target.mkdir()
    (target / "kept.txt").write_text("previous install")
    bad = deps.InstallPlan(["lmhld-no-such-package-anywhere==0.0.1"], target, SYSTEM_PYTHON,
                           extra_pip_args=local_registry())
    with pytest.raises(deps.InstallError, match="pip failed"):
        deps.install(bad, env=bare_env())
    assert (target / "kept.txt").exists() and not bad.staging.exists()
    stop = threading.Event()
    stop.set()
    with pytest.raises(deps.InstallCancelledError, match="nothing changed"):
        deps.install(deps.InstallPlan([SMALL_PIN], target, SYSTEM_PYTHON), is_cancelled=stop.is_set,
                     env=bare_env())
    assert (target / "kept.txt").exists() and not bad.staging.exists()
    assert "=== cancelled" in deps.install_log(target).read_text()


def test_an_interpreter_without_pip_is_named(tmp_path):
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(deps.InstallError, match=r"has no pip\. On Debian/Ubuntu: sudo apt install python3-pip"):
        deps.install(deps.InstallPlan([SMALL_PIN], tmp_path / "pkgs", str(fake)), env=bare_env())


def test_activate_appends_the_folder_after_the_system(tmp_path):
    before = list(sys.path)
    try:
        assert deps.activate(tmp_path) is True and sys.path[-1] == str(tmp_path)
        assert deps.activate(tmp_path) is False and deps.activate(tmp_path / "missing") is False
    finally:
        sys.path[:] = before
