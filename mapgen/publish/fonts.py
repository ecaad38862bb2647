"""Fonts of the PDF sheets: a family with Chinese glyphs, pango for WeasyPrint, a cut-down font per build."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import shutil
import string
import subprocess
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mapgen.config import OSM_ATTRIBUTION, Settings
from mapgen.errors import FontError, MissingExtraError, SystemPackageError
from mapgen.look import HOURS_WORDS
from mapgen.publish.sheetdata import Build, sheet_words

if TYPE_CHECKING:
    from fontTools.ttLib import TTFont

# Font families with Chinese glyphs, in order of preference (Debian fonts-noto-cjk first).
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Serif CJK SC",
    "AR PL UMing CN",
    "Droid Sans Fallback",
)


# Characters a sheet prints that come from neither its data, its words nor its templates' text: the
# list bullet the renderer draws, "…" of cut names, "—" of a missing time, "–" of hours in words. A
# character missing from the sheet font falls back to the whole CJK font, which costs 100 KB and more.
_CODE_CHARACTERS = "•…—–"


@functools.cache
def cjk_font_family() -> str:
    """Return an installed font family with Chinese glyphs (asks fontconfig, as the PDF renderer does).

    Returns
    -------
    str
        The first of :data:`CJK_FAMILIES` installed, else any family fontconfig lists for ``lang=zh``.

    Raises
    ------
    FontError
        When no such font is installed: the sheets would print boxes instead of Chinese text.
    """
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        raise FontError("fc-list (fontconfig) not found: install Debian packages fontconfig and fonts-noto-cjk")
    listed = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    families = {name.strip() for line in listed.splitlines() for name in line.split(",") if name.strip()}
    for family in CJK_FAMILIES:
        if family in families:
            return family
    if families:
        return sorted(families)[0]
    raise FontError(
        "no font with Chinese glyphs installed (fontconfig lists none for lang=zh), so the PDF sheets would "
        "print boxes instead of Chinese names; install one, e.g. `apt-get install fonts-noto-cjk`"
    )


def check_pango() -> None:
    """Check that WeasyPrint can load pango (Debian ``libpango-1.0-0``, ``libpangoft2-1.0-0``).

    Raises
    ------
    SystemPackageError
        When the libraries cannot be loaded, or the ``pdf`` extra (WeasyPrint, segno) is not installed.
    """
    try:
        import segno  # noqa: F401
        import weasyprint  # noqa: F401  # loads pango through cffi
    except ImportError as exc:
        raise MissingExtraError(exc.name or "weasyprint", "pdf", "the PDF sheets") from exc
    except OSError as exc:
        raise SystemPackageError(
            f"WeasyPrint cannot load pango ({exc}); install Debian packages libpango-1.0-0 and libpangoft2-1.0-0"
        ) from exc


def sheet_characters(build: Build) -> str:
    """Return every character a sheet of this build can print: its data, the words of its language, the templates.

    Parameters
    ----------
    build
        The build folder's contents.

    Returns
    -------
    str
        The characters, sorted, without repeats.
    """
    language = build.summary.language
    words = sheet_words(language)
    texts: list[str] = [build.summary.title, OSM_ATTRIBUTION, string.printable, _CODE_CHARACTERS]
    hours = HOURS_WORDS.get(language, HOURS_WORDS["en"]).values()
    texts += [" ".join(map(str, v)) if isinstance(v, list | tuple) else str(v) for v in (*words.values(), *hours)]
    texts += [" ".join(c.model_dump().values()) for c in build.summary.categories]
    for frame, columns in (
        (build.schools, ("name", "name_en", "address", "phone")),
        (build.venues, ("name", "name_en", "address", "phone", "opening_hours", "fee", "safety")),
    ):
        texts += ["".join(map(str, frame[c].dropna().unique())) for c in columns if c in frame]
    templates = resources.files("mapgen.publish").joinpath("templates")
    texts += [
        templates.joinpath(n).read_text(encoding="utf-8")
        for n in ("sheet.html.j2", "sheet_table.html.j2", "sheet.css", "sheet_style.css.j2")
    ]
    return "".join(sorted(set("".join(texts))))


def subset_font(family: str, characters: str, folder: Path, settings: Settings | None = None) -> Path | None:
    """Write `family` cut down to `characters` as an OpenType file in `folder` (None if fontconfig or fontTools cannot).

    The PDF renderer keeps the original glyph numbers of a font, so a CJK font of 65,000
    glyphs costs 80 KB and more in every PDF even for a few characters; this small font
    numbers its glyphs from 1, and a sheet embeds a few tens of KB.

    Parameters
    ----------
    family
        The font family (:func:`cjk_font_family`).
    characters
        What the sheets print (:func:`sheet_characters`).
    folder
        Where to write ``sheet-font.otf``.
    settings
        With ``graph_cache`` on, the cut font is kept in the cache (:func:`mapgen.cache.cached`),
        keyed by the font file and the characters: cutting it takes half a second.

    Returns
    -------
    pathlib.Path or None
    """
    found = _font_file(family)
    if found is None:
        return None
    file, number = found
    cut = functools.partial(_cut_font, file, number, characters)
    if settings is None:
        data = cut()
    else:
        from mapgen.cache import cached

        try:
            stat = os.stat(file)
        except OSError:
            return None
        key = {
            "font": file,
            "number": number,
            "bytes": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "characters": hashlib.sha256(characters.encode("utf-8")).hexdigest(),
            "version": _CUT_VERSION,
        }
        data = cached("font", key, cut, settings, lambda b: {"font": np.frombuffer(b, dtype=np.uint8)}, _font_bytes)
    if not data:
        return None
    path = folder / "sheet-font.otf"
    path.write_bytes(data)
    return path


# Bump when _cut_font's options change: cached cut fonts are then cut again.
_CUT_VERSION = 2
# Fonts opened and read by open_font_ahead, each for the one cut this process makes of it: (file, number) -> TTFont.
_AHEAD: dict[tuple[str, int], TTFont] = {}


def _font_file(family: str) -> tuple[str, int] | None:
    """The file and face number fontconfig gives for `family` (None without fontconfig or a match)."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    found = subprocess.run(
        [fc_match, "--format=%{file}\n%{index}", family], capture_output=True, text=True, check=False
    ).stdout.split("\n")
    if len(found) < 2 or not found[0]:
        return None
    return found[0], int(found[1] or 0)


def open_font_ahead(family: str, settings: Settings) -> None:
    """Open `family`'s font and read its tables now, so that :func:`subset_font` cuts it later without doing so.

    Done only where the cut is sure to come (the cache holds no cut font yet, or ``graph_cache``
    is off): the process that renders a build's sheets does it while the build reads its extract,
    on the other core, and the cut (0.45 s, a third of it reading the font) waits less once the
    build's characters are known. The cut font is the same to the byte.

    Parameters
    ----------
    family
        The font family (:func:`cjk_font_family`).
    settings
        The build's settings (``graph_cache``, ``cache_dir``).
    """
    from mapgen.cache import CACHE_SUFFIX, cache_folder

    if settings.graph_cache and any(cache_folder(settings).glob(f"font-*{CACHE_SUFFIX}")):
        return
    found = _font_file(family)
    if found is None:
        return
    from fontTools.ttLib import TTLibError

    try:
        font = _open_font(*found)
        for tag in font.keys():
            font[tag]  # reads and decompiles the table
    except (TTLibError, OSError, ValueError):
        return
    _AHEAD[found] = font


def _open_font(file: str, number: int) -> TTFont:
    """Font `number` of `file`, read lazily; saved, it keeps the file's own date.

    fontTools stamps a saved font with the time of saving by default, so two cuts of the same
    characters a second apart differed in their ``head`` table and every PDF with them.
    """
    from fontTools.ttLib import TTFont

    return TTFont(file, fontNumber=number, lazy=True, recalcTimestamp=False)


def _cut_font(file: str, number: int, characters: str) -> bytes:
    """Font `number` of `file` cut down to `characters`, as OpenType bytes (empty when fontTools cannot)."""
    from fontTools import subset
    from fontTools.ttLib import TTLibError

    options = subset.Options(hinting=False, desubroutinize=True, layout_features=[], notdef_outline=True)
    options.drop_tables += ["GSUB", "GPOS", "BASE", "VORG", "vhea", "vmtx"]
    try:
        font = _AHEAD.pop((file, number), None)
        if font is None:
            font = _open_font(file, number)
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=characters)
        subsetter.subset(font)
        buffer = io.BytesIO()
        font.save(buffer)
    except (TTLibError, OSError, ValueError):
        return b""
    return buffer.getvalue()


def _font_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    return arrays["font"].tobytes()
