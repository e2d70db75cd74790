"""Band selection: by 1-based index, or by name from the raster's band descriptions."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .errors import LmhldError

PAPER_BANDS = ("blue", "green", "red", "nir")  # LMHLD uses these four, in this order
# band names that say "elevation": training makes such bands relative (training/relative.py), stack names by them.
# A canopy height model (chm) is left out on purpose: it is vegetation height, not a surface a DSM model may read.
ELEVATION_NAMES = frozenset({"dsm", "dem", "dtm", "ndsm", "elevation", "height", "altitude", "elev", "z"})
# names compared with case and separators (space, _, -, .) ignored -> the name they stand for
_ALIASES = {"b": "blue", "g": "green", "r": "red", "n": "nir", "near infrared": "nir", "nearinfrared": "nir",
            "nir1": "nir",
            "surface model": "dsm", "digital surface model": "dsm", "terrain model": "dtm",
            "digital terrain model": "dtm", "elevation model": "dem", "digital elevation model": "dem",
            "normalised dsm": "ndsm", "normalized dsm": "ndsm", "n dsm": "ndsm",
            "normalised digital surface model": "ndsm", "normalized digital surface model": "ndsm",
            "heights": "height", "elevations": "elevation", "heightmap": "height", "height map": "height",
            # German: Digitales Oberflaechenmodell / Gelaendemodell, normalisiertes DOM
            "dom": "dsm", "dgm": "dtm", "ndom": "ndsm"}
_SEPARATORS = re.compile(r"[\s_.\-]+")
# an elevation acronym glued to a resolution (dsm2cm, dsm05m, DGM1) or, for those no word ends with, to a prefix
# (sitedsm, flight2ndsm); never a longer word merely holding one (random, domain, tandem, demo, kingdom)
_GLUED = re.compile(r"(?P<prefix>[a-z0-9]*?)(?P<name>ndsm|dsm|dtm|ndom|dom|dgm|dem)(?:\d+(?:mm|cm|dm|m)?)?")
_PREFIXABLE = frozenset({"ndsm", "dsm", "dtm"})
# words that make an elevation word in a file name mean something else (a DEM of difference is a change, whose
# level is its meaning: made relative, it would lose it)
_NOT_A_SURFACE = frozenset({"change", "diff", "difference", "dod", "delta"})


def band_key(name: str | None) -> str:
    """A band name as compared: lower case, common aliases unified whatever their separators (b -> blue,
    near-infrared -> nir, surface_model -> dsm, Heights -> height); other names only lower-cased."""
    name = (name or "").strip().lower()
    return _ALIASES.get(_SEPARATORS.sub(" ", name).strip(), name)


def elevation_in(text: str) -> str | None:
    """The elevation name that a file name holds among its words (`site3_DSM_1m` -> dsm, `surface_model` -> dsm,
    `uav-heights` -> height, `DOM20cm` -> dsm, `sitedsm` -> dsm), or None; none when a word says it is a change
    (`dem_difference`)."""
    words = [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]
    if _NOT_A_SURFACE.intersection(words):
        return None
    for n in range(min(len(words), 4), 0, -1):  # the longest phrase first: "normalised dsm" before "dsm"
        for i in range(len(words) - n + 1):
            if (key := band_key(" ".join(words[i:i + n]))) in ELEVATION_NAMES:
                return key
    for word in words:
        if (glued := _GLUED.fullmatch(word)) and (not glued["prefix"] or glued["name"] in _PREFIXABLE):
            return band_key(glued["name"])
    return None


def unique_names(names: Sequence[str]) -> list[str]:
    """Names made unique by a suffix on the repeats (dsm, dsm_2): a stack's bands, a run's stages."""
    unique: list[str] = []
    for name in names:
        candidate, k = name, 2
        while candidate in unique:
            candidate, k = f"{name}_{k}", k + 1
        unique.append(candidate)
    return unique


def check_band_numbers(bands: object) -> None:
    """Bands given from Python are a list of 1-based numbers: band 0 reached GDAL ("Illegal band #"), and names or
    a text failed on a comparison of str and int."""
    if bands is None:
        return
    if isinstance(bands, str) or not isinstance(bands, Sequence) or not all(
            isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in bands):
        raise LmhldError(f"bands must be a list of the raster's band numbers, counted from 1 (e.g. [1, 2, 3]), got "
                         f"{bands!r}")


def parse_band_list(text: str | Sequence[int] | None) -> list[int] | None:
    """'1,2,3,4' -> [1, 2, 3, 4] (1-based), None stays None."""
    if text is None or text == "":
        return None
    try:
        values = [int(v) for v in text.split(",")] if isinstance(text, str) else [int(v) for v in text]
    except ValueError as exc:
        raise LmhldError(f"bands must be comma-separated 1-based band numbers, got {text!r}") from exc
    if not values or any(v < 1 for v in values):
        raise LmhldError(f"band numbers start at 1, got {values}")
    return values


def select_bands(descriptions: Sequence[str | None], count: int, bands: Sequence[int] | None,
                 source: str, alpha: Sequence[int] = ()) -> tuple[list[int], list[str]]:
    """1-based indices and names of the bands to use.

    Default: the bands described as blue, green, red, nir (the paper's four) when the raster names them, else the
    first four bands that are not alpha bands (all of them when there are fewer): an RGBA orthophoto stacked with
    a DSM gives red, green, blue and the DSM. A default that leaves out an elevation band is refused (the error
    says which --bands keep it). `alpha` (1-based) is a mask, never data.
    """
    if bands:
        bad = [b for b in bands if b > count]
        if bad:
            raise LmhldError(f"{source} has {count} band(s); band(s) {', '.join(map(str, bad))} do not exist. Choose "
                             f"bands 1..{count}")
        twice = sorted({b for b in bands if list(bands).count(b) > 1})
        if twice:  # the same values under two names: dataset.json would describe a stack that is not there
            raise LmhldError(f"band(s) {twice} of {source} are given more than once ({','.join(map(str, bands))}); "
                             "give each band once")
        masks = [b for b in bands if b in alpha]
        if masks:
            raise LmhldError(f"band(s) {masks} of {source} are alpha bands (transparency: which pixels exist), not "
                             "data; leave them out of the bands (they still mask the others)")
        names = [band_key(descriptions[b - 1]) or f"band{b}" for b in bands]
        return list(bands), names
    by_name = {band_key(d): i + 1 for i, d in enumerate(descriptions) if d}
    if all(name in by_name for name in PAPER_BANDS):
        chosen, how = [by_name[n] for n in PAPER_BANDS], "blue, green, red, nir by name"
    else:
        chosen, how = [b for b in range(1, count + 1) if b not in alpha][:4], "the first four"
    if not chosen:
        raise LmhldError(f"{source} holds only alpha bands (transparency), no data to learn from")
    _refuse_leaving_out_elevation(descriptions, count, alpha, chosen, how, source)
    names = [band_key(descriptions[b - 1]) or f"band{b}" for b in chosen]  # unnamed bands are not guessed
    return chosen, names


def _refuse_leaving_out_elevation(descriptions: Sequence[str | None], count: int, alpha: Sequence[int],
                                  chosen: list[int], how: str, source: str) -> None:
    """A default choice of bands never leaves out an elevation band unsaid (an untagged 4th band of an orthophoto
    would push the DSM out of "the first four"): the error lists the bands and the --bands that keeps it."""
    left_out = [b for b in range(1, count + 1) if b not in chosen and b not in alpha
                and band_key(descriptions[b - 1]) in ELEVATION_NAMES]
    if not left_out:
        return
    keep = chosen + left_out if how != "the first four" else chosen[:max(1, 4 - len(left_out))] + left_out
    listed = ", ".join(f"{b} {band_key(d) or 'unnamed'}" + (" (alpha)" if b in alpha else "")
                       for b, d in enumerate(descriptions, start=1))
    dropped = ", ".join(f"band {b} ({band_key(descriptions[b - 1])})" for b in left_out)
    raise LmhldError(f"{source} has {count} bands ({listed}); the default choice ({how}: "
                     f"{', '.join(map(str, chosen))}) leaves out its elevation {dropped}. Choose the bands: e.g. "
                     f"--bands {','.join(map(str, keep))} (in QGIS: Bands in order), or --bands "
                     f"{','.join(map(str, chosen))} to leave the elevation out")


def match_model_bands(model_bands: Sequence[str], available: Sequence[str | None], source: str,
                      fix: str, alpha: Sequence[int] = (), wanted_by: str = "the model",
                      colours: Sequence[str | None] = ()) -> tuple[list[int], bool]:
    """0-based indices of `available` feeding a model's inputs, matched by name, else by position when the counts agree
    and the raster's names say nothing of the model's bands (none of them found by name: unnamed bands, or names of
    another convention), or when those found by name are at their own places and the others unnamed there (the
    bool says so, for a warning); else a band-mismatch error naming both sides and `fix`.
    When some of the model's bands are found by name, the missing ones are missing: a scene of blue, green, red, nir
    is not fed to a blue, green, red, elevation model with nir as the elevation. An unnamed band N answers to
    "bandN", the name export gives it, so a model trained on bands 1, 2, 3, 5 of an unnamed raster finds them in
    another; an elevation band answers to any elevation name when the raster has one (a model of red, green, blue,
    dsm reads a scene of red, green, blue, dem). `alpha` (0-based) are mask bands: never fed to the model, not
    even by position (an RGBA orthophoto's alpha is not a DSM). `wanted_by` names who wants `model_bands` in the
    error (export matches a raster to the first one). `colours` (RasterInfo.colours) name the bands that have no
    description by their colour interpretation (an RGB GeoTIFF's red, green, blue); such a band still answers to
    "bandN", the name a model trained before colours were read knows it by."""
    data = [i for i in range(len(available)) if i not in set(alpha)]
    have = {f"band{i + 1}": i for i in data if not available[i]}
    colours = list(colours) or [None] * len(available)
    available = [d or c for d, c in zip(available, colours, strict=True)]
    have.update({band_key(n): i for i in data if (n := available[i])})
    want = [band_key(b) for b in model_bands]
    for w in dict.fromkeys(want):  # two bands of one name: the last one was taken without a word
        twins = [i for i in data if available[i] and band_key(available[i]) == w]
        if len(twins) > 1:
            numbers = ", ".join(str(i + 1) for i in twins)
            raise LmhldError(f"{source} has {len(twins)} bands named {w} (bands {numbers}) and {wanted_by} wants one: "
                             "which is meant is ambiguous; name the bands apart, or choose them by number (--bands)")
    elevation = {i for n, i in have.items() if n in ELEVATION_NAMES}
    if len(elevation) == 1:
        for w in want:
            if w in ELEVATION_NAMES:
                have.setdefault(w, next(iter(elevation)))
    if all(w in have for w in want):
        return [have[w] for w in want], False
    if len(data) == len(model_bands) and not any(w in have for w in want):
        return data, True
    if len(data) == len(model_bands) and all(
            have[w] == data[j] if w in have else not available[data[j]] for j, w in enumerate(want)):
        # the bands found by name at their own places and the others unnamed there (a VRT that kept blue, green,
        # red by colour and lost nir's description): the unnamed ones by position, as the README promises
        return [have.get(w, data[j]) for j, w in enumerate(want)], True
    names = ", ".join((band_key(n) or f"band{i + 1}") + (" (alpha)" if i in alpha else "")
                      for i, n in enumerate(available))
    missing = [m for m in model_bands if band_key(m) not in have]
    if len(data) < len(model_bands):  # no band numbers can make up for bands that are not there
        fix = "use imagery that has these bands, or a model trained on this imagery's bands"
        if any(band_key(m) in ELEVATION_NAMES for m in missing):
            fix += ("; an orthophoto and its DSM delivered apart become one raster with `lmhld stack --raster "
                    "ORTHO --raster DSM --out SCENE.tif`")
    raise LmhldError(f"band mismatch: {wanted_by} expects {len(model_bands)} bands ({', '.join(model_bands)}) but "
                     f"{source} has {len(available)} ({names}), without {', '.join(missing)}; {fix}")
