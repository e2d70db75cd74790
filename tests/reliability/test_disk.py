"""A full disk under each output: the run fails with the words "disk is full" (or the file-size limit standing in
for it), exit 1, and leaves nothing on that disk; the user's files elsewhere are untouched."""

from __future__ import annotations

import pytest

from .conftest import small_disk

AREA = "Full disk"


def _fill(folder, leave_bytes: int) -> None:
    """Fill a small file system but for `leave_bytes` (an existing user file there)."""
    import shutil

    with open(folder / "user file.bin", "wb") as f:
        while shutil.disk_usage(folder).free > leave_bytes:
            f.write(b"\0" * 1024)
            f.flush()


CASES = {
    "export --out": (["export", "--raster", "scene.tif", "--inventory", "inventory.gpkg", "--patch-size", "32",
                      "--min-fraction", "0.05", "--tolerance", "0.3", "--out", "{disk}/ds"], 48),
    "detect --out and --prob": (["detect", "--model", "model.onnx", "--raster", "scene.tif", "--out",
                                 "{disk}/d.gpkg", "--prob", "{disk}/p.tif"], 64),
    "evaluate --error-map and --json": (["evaluate", "--model", "model.onnx", "--raster", "scene.tif",
                                         "--inventory", "inventory.gpkg", "--error-map", "{disk}/e.tif",
                                         "--json", "{disk}/e.json"], 8),
    "analyse --json and --html": (["analyse", "inventory.gpkg", "--pixel-size", "3", "--json", "{disk}/a.json",
                                   "--html", "{disk}/a.html"], 8),
    "export-onnx --out": (["export-onnx", "model.pt", "--out", "{disk}/m.onnx"], 64),
    # rasterio reported nothing: a cut GeoTIFF was moved into place and the run exited 0
    # the demo's generated scene was not checked: "a raster file is truncated, damaged ..." and exit 2
    "demo --out": (["demo", "--out", "{disk}/demo", "--epochs", "1", "--width", "4"], 64),
    # GDAL's failed close came first, as "warning: an error was ignored while releasing delete_DataSource"
    "create-inventory": (["create-inventory", "{disk}/inventory.gpkg", "--crs", "EPSG:32618"], 96),
    "stack --out": (["stack", "--raster", "big.tif", "--raster", "scene.tif", "--out", "{disk}/s.tif"], 64),
}


@pytest.mark.parametrize("case", CASES)
def test_full_disk_under_the_output(work, case):
    work.add("scene.tif", "inventory.gpkg", "model.onnx", "model.pt", *(["big.tif"] if "big.tif" in CASES[case][0]
                                                                       else []))
    before = work.snapshot()
    args, kib = CASES[case]
    with small_disk(work.dir / "disk", kib=256) as disk:
        if disk.preexec is None:
            _fill(disk.path, kib * 1024)
        argv = [a.replace("{disk}", "disk") for a in args]
        proc = work.run(*argv, area=AREA, case=f"{case} on a full disk ({disk.how})", preexec=disk.preexec)
        assert proc.returncode == 1, proc.stderr
        assert "the disk is full" in proc.stderr or "file-size limit" in proc.stderr, proc.stderr
        assert "was ignored" not in proc.stderr, proc.stderr  # one line: the failure, not its consequences
        assert sorted(p.name for p in disk.path.iterdir()) == (["user file.bin"] if disk.preexec is None else [])
    assert {k: v for k, v in work.snapshot().items() if not k.startswith("disk")} == before


def test_training_on_a_full_disk_fails_clearly(work):
    work.add("dataset")
    with small_disk(work.dir / "disk", kib=256) as disk:
        if disk.preexec is None:
            _fill(disk.path, 160 * 1024)
        args = ["train", "--model", "unet", "--width", "4", "--data", "dataset", "--epochs", "1", "--batch-size", "4",
                "--device", "cpu", "--workers", "0", "--out", "disk/run"]
        proc = work.run(*args, area=AREA, case=f"train --out on a full disk ({disk.how})", preexec=disk.preexec)
        assert proc.returncode == 1, proc.stderr
        assert "the disk is full" in proc.stderr or "file-size limit" in proc.stderr, proc.stderr
        assert not list(disk.path.glob("run/*.pt")) or (disk.path / "run" / "last.pt").stat().st_size > 0


def test_training_at_the_file_size_limit_says_so(work):
    """A quota or a file-size limit (EFBIG) while torch writes a checkpoint: torch words it "enforce fail at
    inline_container.cc ... unexpected pos", which ended as "unexpected error: RuntimeError"."""
    import resource

    work.add("dataset")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (30 * 1024, 30 * 1024))

    args = ["train", "--model", "unet", "--width", "4", "--data", "dataset", "--epochs", "1", "--batch-size", "4",
            "--device", "cpu", "--workers", "0", "--out", "run"]
    proc = work.run(*args, area=AREA, case="train --out at a 30 KiB file-size limit", preexec=limit)
    assert proc.returncode == 1, proc.stderr
    assert "file-size limit" in proc.stderr and "unexpected error" not in proc.stderr, proc.stderr
    assert not (work.dir / "run" / "best.pt").exists()
