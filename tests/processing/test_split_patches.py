"""lmhld:splitpatches through processing.run: a released patch folder split beside itself, bad input named."""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import QgsProcessingException

from ..core.test_split_folder import released_cas


def test_a_released_folder_is_split_beside_itself(qgis_processing, lmhld_provider, tmp_path):
    import processing

    source = released_cas(tmp_path / "hokkaido")
    result = processing.run("lmhld:splitpatches", {"FOLDER": str(source), "TRAIN_SHARE": 0.7, "VAL_SHARE": 0.2,
                                                   "TEST_SHARE": 0.1, "OUTPUT_FOLDER": "TEMPORARY_OUTPUT"})  # as left
    assert Path(result["OUTPUT_FOLDER"]) == tmp_path / "hokkaido_split"
    assert [result[k] for k in ("N_TRAIN", "N_VAL", "N_TEST")] == [21, 6, 3]
    assert (tmp_path / "hokkaido_split" / "test" / "img").is_dir()
    with pytest.raises(QgsProcessingException, match=r"split must be three non-negative ratios summing to 1"):
        processing.run("lmhld:splitpatches", {"FOLDER": str(source), "TEST_SHARE": 0.3,
                                              "OUTPUT_FOLDER": str(tmp_path / "other")})
    with pytest.raises(QgsProcessingException, match=r"is divided into train, val and test already"):
        processing.run("lmhld:splitpatches", {"FOLDER": result["OUTPUT_FOLDER"],
                                              "OUTPUT_FOLDER": str(tmp_path / "again")})
