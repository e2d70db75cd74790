"""Ranking windows by model uncertainty: the uncertain places come first, nodata is skipped, overlapping windows
are not both chosen, and the raster is streamed (chunked reads give the same result in bounded memory)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from osgeo import ogr

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.rank import RankOptions, binary_entropy, rank_tiles

from ..helpers import write_raster


@pytest.fixture
def prob(tmp_path):
    p = np.full((1, 512, 640), 0.02, np.float32)  # confident background
    p[0, 256:384, 128:256] = 0.5  # the model is unsure here
    p[0, 128:256, 384:512] = 0.4  # and a little less here
    p[0, 0:128, 0:128] = 0.95  # a confident detection
    p[0, 384:, 512:] = -1  # nodata
    return write_raster(tmp_path / "prob.tif", p, nodata=-1)


def test_entropy_is_one_bit_at_one_half():
    assert binary_entropy(np.array([0.5, 0.0, 1.0])) == pytest.approx([1.0, 0.0, 0.0], abs=1e-9)


def test_most_uncertain_windows_first_written_as_a_layer(prob, tmp_path):
    result = rank_tiles(prob, tmp_path / "tiles.gpkg", RankOptions(window=128, top=3, threshold=0.5, margin=0.15))
    assert [(t.row, t.col) for t in result.tiles] == [(256, 128), (128, 384), (0, 0)]
    assert result.tiles[0].near_share == 1.0 and result.tiles[0].entropy == pytest.approx(1.0)
    assert result.tiles[1].entropy == pytest.approx(float(binary_entropy(np.array(0.4))), rel=1e-5)
    assert result.n_windows == 4 * 5 - 1  # the nodata window is not scored
    ds = ogr.Open(str(result.path))
    lyr = ds.GetLayerByName("tiles")
    feats = sorted(lyr, key=lambda f: f["rank"])
    assert [f["rank"] for f in feats] == [1, 2, 3]
    xmin, xmax, _, ymax = feats[0].GetGeometryRef().GetEnvelope()
    assert (xmin, ymax, xmax - xmin) == (500_000 + 128 * 3, 4_000_000 - 256 * 3, 128 * 3)
    assert ds.GetLayerByName("layer_styles").GetFeatureCount() == 1


def test_threshold_moves_the_near_share(prob, tmp_path):
    near = rank_tiles(prob, tmp_path / "t.gpkg", RankOptions(window=128, top=1, threshold=0.4, margin=0.05,
                                                             score="near"))
    assert (near.tiles[0].row, near.tiles[0].col) == (128, 384)


def test_the_threshold_a_detection_recorded_is_the_default(prob, tmp_path):
    """A probe's: rank measured "near the threshold" around 0.5 beside polygons cut at 0.85, which detection records
    in its probability raster (the review dock read it; rank did not)."""
    import shutil

    from lmhld_qgis.core.rasterwriter import tag_threshold

    from ..helpers import SaidLines

    tagged = shutil.copy(prob, tmp_path / "tagged.tif")
    tag_threshold(tagged, 0.4)
    said = SaidLines()
    near = rank_tiles(tagged, tmp_path / "t.gpkg", RankOptions(window=128, top=1, margin=0.05, score="near"),
                      progress=said)
    assert (near.tiles[0].row, near.tiles[0].col) == (128, 384)  # as with threshold=0.4 given
    assert "threshold 0.4: the one this probability raster's polygons were cut at" in said.lines
    said = SaidLines()
    rank_tiles(prob, tmp_path / "u.gpkg", RankOptions(window=128, top=1), progress=said)
    assert "threshold 0.5: the raster records none (give the model's: threshold=)" in said.lines or \
        "threshold 0.5: the raster records none (give the model's: --threshold)" in said.lines, said.lines


def test_overlapping_windows_are_not_both_chosen(prob, tmp_path):
    result = rank_tiles(prob, tmp_path / "t.gpkg", RankOptions(window=128, stride=32, top=3))
    tiles = result.tiles
    assert (tiles[0].row, tiles[0].col) == (256, 128)
    for i, a in enumerate(tiles):
        for b in tiles[i + 1:]:
            assert abs(a.row - b.row) >= 128 or abs(a.col - b.col) >= 128


def test_chunked_reads_give_the_same_ranking_in_bounded_memory(tmp_path):
    rng = np.random.default_rng(0)
    big = rng.beta(0.3, 0.3, (1, 3000, 3000)).astype(np.float32)  # 36 MB of probabilities
    path = write_raster(tmp_path / "big.tif", big)
    whole = rank_tiles(path, tmp_path / "a.gpkg", RankOptions(window=100, top=10, chunk_width=3000))
    tracemalloc.start()
    chunked = rank_tiles(path, tmp_path / "b.gpkg", RankOptions(window=100, top=10, chunk_width=500))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [(t.row, t.col) for t in chunked.tiles] == [(t.row, t.col) for t in whole.tiles]
    assert [t.score for t in chunked.tiles] == pytest.approx([t.score for t in whole.tiles])
    assert peak < 8e6, f"peak {peak / 1e6:.1f} MB for a 36 MB raster"


def test_bad_options_and_small_raster(prob, tmp_path):
    with pytest.raises(LmhldError, match="smaller than one window"):
        rank_tiles(prob, tmp_path / "t.gpkg", RankOptions(window=1024))
    with pytest.raises(LmhldError, match="margin"):
        rank_tiles(prob, tmp_path / "t.gpkg", RankOptions(margin=0))
    with pytest.raises(LmhldError, match="GeoPackage"):
        rank_tiles(prob, tmp_path / "t.shp", RankOptions(window=128))
    assert not list(tmp_path.glob("t.*"))


def test_an_image_is_not_ranked_as_probabilities(tmp_path):
    from ..helpers import SaidLines

    image = write_raster(tmp_path / "scene.tif", np.full((3, 256, 256), 812, np.uint16))
    said = SaidLines()
    with pytest.raises(LmhldError, match=r"scene.tif is not a probability raster: band 1 holds values from 812"):
        rank_tiles(image, tmp_path / "t.gpkg", RankOptions(window=128), progress=said)
    assert not (tmp_path / "t.gpkg").exists()
    assert not [line for line in said.lines if "threshold" in line]  # was: "the raster records none", then refused


def test_a_raster_without_a_window_to_score_is_refused_not_an_empty_layer(tmp_path):
    """An all-nodata probability raster gave "0 windows scored", an empty layer and exit 0, without a word."""
    empty = write_raster(tmp_path / "allnan.tif", np.full((1, 256, 256), np.nan, np.float32))
    with pytest.raises(LmhldError, match=r"no window of 128 px of allnan\.tif holds 50% valid pixels or more"):
        rank_tiles(empty, tmp_path / "t.gpkg", RankOptions(window=128))
    assert not (tmp_path / "t.gpkg").exists()
