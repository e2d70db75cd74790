"""Copy a few exported patches under new names into a dataset of n training and m validation patches.

The GPU host cannot export (no GDAL) and a device call carries 64 MiB, so the throughput table trains on a few
carried patches repeated: the same work per patch as distinct ones. Usage: replicate.py SRC DST N_TRAIN N_VAL
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def replicate(src: Path, dst: Path, counts: dict[str, int]) -> dict[str, int]:
    shutil.copytree(src, dst)
    meta = json.loads((dst / "dataset.json").read_text())
    for split in ("train", "val", "test"):
        ids = (src / "splits" / f"{split}.txt").read_text().split()
        n = counts.get(split, len(ids))
        names = [f"{ids[i % len(ids)]}_copy{i}" for i in range(n)] if split in counts else ids
        for i, name in enumerate(names if split in counts else []):
            for sub in ("img", "mask"):
                shutil.copyfile(src / sub / f"{ids[i % len(ids)]}.tif", dst / sub / f"{name}.tif")
        (dst / "splits" / f"{split}.txt").write_text("\n".join(names) + "\n")
        meta["counts"][split] = n
    (dst / "dataset.json").write_text(json.dumps(meta, indent=2))
    return meta["counts"]


if __name__ == "__main__":
    print(replicate(Path(sys.argv[1]), Path(sys.argv[2]), {"train": int(sys.argv[3]), "val": int(sys.argv[4])}))
