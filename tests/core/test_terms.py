"""Messages in their reader's terms: the command line's flags, a Python caller's keywords, an experiment's keys."""

from __future__ import annotations

import argparse
import subprocess
import sys
import warnings

import pytest

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.progress import LmhldWarning, NullProgress
from lmhld_qgis.core.terms import SWITCHES, VALUE_WORDS, audience, in_terms, speak

from ..helpers import ROOT


def test_the_switches_are_the_command_line_s():
    """A switch takes no value, so the word after it is the sentence's ("give --overwrite to replace it")."""
    from lmhld_qgis.cli import build_parser

    parser = build_parser()
    switches = {option[2:] for action in parser._actions if isinstance(action, argparse._SubParsersAction)
                for command in action.choices.values() for a in command._actions if a.nargs == 0
                for option in a.option_strings if option.startswith("--") and option != "--help"}
    assert switches == SWITCHES
    choices = {str(c) for action in parser._actions if isinstance(action, argparse._SubParsersAction)
               for command in action.choices.values() for a in command._actions if a.choices and a.option_strings
               for c in a.choices if not str(c).isdigit()}
    assert choices <= VALUE_WORDS  # a value word unknown here is read as the sentence's next word


@pytest.mark.parametrize("flags, python, file", [
    ("allow replacing it (--overwrite)", "allow replacing it (overwrite=True)",
     "allow replacing it (overwrite = true)"),
    ("(--tolerance 0.01; best: 3 points); a larger --tolerance (a fraction: --tolerance 0.02)",
     "(tolerance=0.01; best: 3 points); a larger tolerance (a fraction: tolerance=0.02)",
     "(tolerance = 0.01; best: 3 points); a larger tolerance (a fraction: tolerance = 0.02)"),
    ("the imagery's pixel size (--pixel-size; in QGIS: Pixel size, m)", "the imagery's pixel size (pixel_size_m)",
     "the imagery's pixel size (pixel_size)"),
    ("use --provider auto or cpu", 'use provider="auto" or cpu', 'use provider = "auto" or cpu'),
    ("e.g. --bands 1,2,3 (in QGIS: Bands in order)", "e.g. bands=[1, 2, 3]", "e.g. bands = [1, 2, 3]"),
    ("a lower --min-fraction or a smaller patch", "a lower min_fraction or a smaller patch",
     "a lower min_fraction or a smaller patch"),
    ("give --overwrite to replace it; --no-resample keeps its grid", "give overwrite=True to replace it; "
     "resample=False keeps its grid", "give overwrite = true to replace it; resample = false keeps its grid"),
    ("run `lmhld split a --out b --split 0.7,0.2,0.1` first", "run `lmhld split a --out b --split 0.7,0.2,0.1` first",
     "run `lmhld split a --out b --split 0.7,0.2,0.1` first"),
    # a probe's: a command said outside backticks, words after a flag that are the sentence's, a network option
    ("(lmhld export --raster s.tif --out DATASET), then", "(lmhld export --raster s.tif --out DATASET), then",
     "(lmhld export --raster s.tif --out DATASET), then"),
    ("this --out holds runs; --epochs above 40 extends it", "this out holds runs; epochs above 40 extends it",
     "this out holds runs; epochs above 40 extends it"),
    ("use --device auto or --device cpu", 'use device="auto" or device="cpu"', 'use device = "auto" or device = "cpu"'),
    ("(--relative-bands none)", "(relative_bands=[])", "(relative_bands = [])"),
    ("base_width (--width, or --model-option base_width=N) must be", 'base_width (model_options={"base_width": N}) '
     "must be", "base_width (base_width = N under model_options) must be"),
    ("--width 8, or --model-option encoder=resnet50", 'model_options={"base_width": 8}, or model_options={"encoder": '
     '"resnet50"}', 'base_width = 8 under model_options, or encoder = "resnet50" under model_options'),
])
def test_flags_are_said_as_keywords_and_as_keys(flags, python, file):
    assert in_terms(flags, "python") == python and in_terms(flags, "file") == file


def test_a_python_caller_reads_keywords_and_a_wrapping_message_keeps_the_flags():
    """A probe's Python script was told "--overwrite", "--tolerance 0.02" and "--pixel-size", flags it never
    had; the command line and QGIS (which turns flags into its parameters) still get them."""
    assert audience() == "flags"  # as conftest set it, as the command line and QGIS do
    error = LmhldError("dataset folder d is not empty; allow replacing it (--overwrite)")
    speak("python")
    try:
        assert str(error) == "dataset folder d is not empty; allow replacing it (overwrite=True)"
        assert error.message.endswith("(--overwrite)") and f"failed: {error}".endswith("(overwrite=True)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            NullProgress().warn("give --batch-size auto")
        [said] = caught
        assert str(said.message) == 'give batch_size="auto"' and said.category is LmhldWarning
        assert said.filename == __file__  # the caller's line, not the one inside lmhld_qgis that said it
    finally:
        speak("flags")
    assert str(error).endswith("(--overwrite)")


def test_the_inventory_analysis_names_its_keyword(tmp_path):
    """A probe's analyse_inventory without a pixel size named neither keyword."""
    from lmhld_qgis.core.inventory import analyse_inventory

    from ..helpers import square, write_polygons

    inventory = write_polygons(tmp_path / "inv.gpkg", [square(500100.0, 3999900.0, 30.0)])
    speak("python")
    try:
        with pytest.raises(LmhldError) as caught:
            analyse_inventory(inventory)
        said = str(caught.value)
    finally:
        speak("flags")
    assert said == "give the pixel size: a reference raster of the imagery (raster), or a pixel size in metres " \
                   "(pixel_size_m)"


def test_a_python_program_is_told_keywords(tmp_path):
    """A real Python program (no command line, no QGIS) gets the keyword it passes."""
    out = str(tmp_path / "out")
    script = ("from pathlib import Path\n"
              "from lmhld_qgis.core.atomic import atomic_dir\n"
              f"with atomic_dir({out!r}) as tmp:\n"
              "    (Path(tmp) / 'patches.txt').write_text('first')\n"
              "try:\n"
              f"    with atomic_dir({out!r}):\n"
              "        pass\n"
              "except Exception as exc:\n"
              "    print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("is not empty; choose another folder, or allow replacing it "
                                         "(overwrite=True)"), proc.stdout
    assert (tmp_path / "out" / "patches.txt").read_text() == "first"


def test_a_python_caller_s_own_progress_object_is_told_keywords(tmp_path):
    """Only the default progress spoke keywords: a program passing its own object (a notebook's bar, a logger) was
    told "--min-fraction", a flag it never had. The package's own progress objects keep theirs (an experiment's
    file keys)."""
    from lmhld_qgis.core.inventory import analyse_inventory
    from lmhld_qgis.core.progress import NullProgress, SubProgress, reader_progress

    from ..helpers import SaidLines, square, write_polygons

    inventory = write_polygons(tmp_path / "inv.gpkg", [square(500100.0, 3999900.0, 30.0)])
    said = SaidLines()
    speak("python")
    try:
        analyse_inventory(inventory, pixel_size_m=10.0, progress=said)
        share = SubProgress(said, 0.0, 1.0)
        assert reader_progress(share) is share and type(reader_progress(None)) is NullProgress
    finally:
        speak("flags")
    [note] = [line for line in said.lines if "smallest candidate" in line]
    assert note.endswith("or a lower min_fraction"), note
    flags = SaidLines()
    analyse_inventory(inventory, pixel_size_m=10.0, progress=flags)  # the command line's and QGIS's: flags
    assert any(line.endswith("or a lower --min-fraction") for line in flags.lines), flags.lines
