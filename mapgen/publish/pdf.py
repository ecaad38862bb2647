"""PDF outing sheets: one A4 sheet per school with an offline map and its venues by travel time."""

from __future__ import annotations

import base64
import functools
import multiprocessing
import os
import shutil
import string
import subprocess
import tempfile
import tomllib
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import geopandas as gpd
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from mapgen.config import OSM_ATTRIBUTION, Settings
from mapgen.contract import ROUTE_COLUMNS, SCHOOL_PAGES_DIR, SCHOOLS_FILE, SHEET_INPUTS, BuildFolder, Summary
from mapgen.errors import ConfigError, FontError, MissingExtraError, SystemPackageError
from mapgen.look import HOURS_WORDS, MODE_COLORS, SCHOOL_COLOR, whole_minutes
from mapgen.publish.sitedb import free_flag
from mapgen.publish.staticmap import AREA_STYLE, MAIN_ROAD_COLOR, school_map_jpeg
from mapgen.publish.words import venue_hours

# Font families with Chinese glyphs, in order of preference (Debian fonts-noto-cjk first).
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei", "Noto Serif CJK SC", "AR PL UMing CN", "Droid Sans Fallback",
)
# Main-road metres below this are not worth a note.
_NOTE_MIN_M = 10.0
_NO_COLOR = "#555555"
_BIKE_COLUMNS = 4  # the venues reached only by bike, in a compact list of this many columns
_BIKE_NAME_WIDTH = 26  # … with names cut to this many columns (the full names are on the site)
# Characters a sheet prints that come from neither its data, its words nor its templates' text: the
# list bullet the renderer draws, "…" of cut names, "—" of a missing time, "–" of hours in words. A
# character missing from the sheet font falls back to the whole CJK font, which costs 100 KB and more.
_CODE_CHARACTERS = "•…—–"


@dataclass(frozen=True)
class Build:
    """What the sheets read from a build folder (all WGS-84)."""

    folder: Path
    summary: Summary
    settings: Settings
    schools: gpd.GeoDataFrame
    venues: gpd.GeoDataFrame  # indexed by venue_id
    isochrones: gpd.GeoDataFrame
    times: pd.DataFrame  # index (school_id, venue_id); columns walk, bike (minutes, NaN when out of reach)
    routes: pd.DataFrame  # index (school_id, venue_id, mode); ROUTE_COLUMNS
    basemap: gpd.GeoDataFrame


def write_sheet_inputs(out_dir: Path, routes: pd.DataFrame, basemap: gpd.GeoDataFrame) -> dict[str, str]:
    """Write the files the sheets need besides the contract: ``routes.csv`` and ``basemap.parquet``.

    Parameters
    ----------
    out_dir
        The build's output folder.
    routes
        :data:`~mapgen.routes.ROUTE_COLUMNS` for both modes.
    basemap
        ``layer``, ``kind``, geometry (WGS-84) from :func:`mapgen.basemap.basemap_layers`.

    Returns
    -------
    dict
        ``routes`` and ``basemap`` → path written.
    """
    paths = {k: out_dir / v for k, v in SHEET_INPUTS.items()}
    routes[ROUTE_COLUMNS].to_csv(paths["routes"], index=False, encoding="utf-8")
    basemap.to_crs(4326).to_parquet(paths["basemap"], index=False, compression="zstd")
    return {k: str(p) for k, p in paths.items()}


def load_build(data_dir: str | Path) -> Build:
    """Read a build folder written by ``mapgen build``.

    Parameters
    ----------
    data_dir
        The folder.

    Returns
    -------
    Build
    """
    build = BuildFolder(data_dir)
    summary = build.summary
    venues = build.venues
    text = venues.select_dtypes(["object", "string"]).columns
    venues[text] = venues[text].fillna("")
    pairs = build.pairs[~build.pairs["on_campus"]]  # a school's own grounds are no outing, nor the nearest of a category
    return Build(
        folder=build.folder,
        summary=summary,
        settings=summary.settings,
        schools=build.schools,
        venues=venues.set_index("venue_id"),
        isochrones=build.isochrones,
        times=pairs.pivot_table(index=["school_id", "venue_id"], columns="mode", values="minutes", aggfunc="min")
        .reindex(columns=["walk", "bike"]),
        routes=build.routes.set_index(["school_id", "venue_id", "mode"]),
        basemap=build.basemap,
    )


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


def sheet_table(build: Build, school_id: str) -> pd.DataFrame:
    """The venues of one school's sheet, numbered as on its map.

    Venues reached on foot come first, by walking time (``section`` = ``walk``);
    then those reached only by bike, by cycling time (``bike``). The safety
    columns describe the walking route, or the cycling route for bike-only venues;
    ``after_school`` is the build's ``open_after_school`` flag.

    Parameters
    ----------
    build
        The build folder's contents.
    school_id
        The school.

    Returns
    -------
    pandas.DataFrame
        ``number``, ``section``, ``venue_id``, ``walk``, ``bike``, the venue's contract columns,
        ``main_road_m``, ``main_road_crossings``, ``after_school`` (True/False/None).
    """
    if school_id not in build.times.index.get_level_values(0):
        return pd.DataFrame(columns=["number", "section", "venue_id", "walk", "bike", "main_road_m",
                                     "main_road_crossings", "after_school", "lon", "lat", *build.venues.columns])
    rows = build.times.loc[school_id].join(build.venues, how="inner")
    rows["section"] = rows["walk"].notna().map({True: "walk", False: "bike"})
    rows["order"] = rows["walk"].fillna(rows["bike"])
    rows = rows.rename_axis("venue_id").reset_index()
    rows["bike_only"] = rows["section"] == "bike"
    rows = rows.sort_values(["bike_only", "order", "name"], ignore_index=True)
    routes = build.routes.reindex(pd.MultiIndex.from_arrays(
        [[school_id] * len(rows), rows["venue_id"], rows["section"]]
    ))
    rows["main_road_m"] = routes["main_road_m"].to_numpy()
    rows["main_road_crossings"] = routes["main_road_crossings"].to_numpy()
    # the build's flag (venues.geojson; GeoJSON readers give booleans or 1.0/0.0), empty when the hours are unknown
    rows["after_school"] = [None if v == "" or pd.isna(v) else bool(v) for v in rows["open_after_school"]]
    points = gpd.GeoSeries(rows["geometry"], crs=4326)
    rows["lon"], rows["lat"] = points.x.to_numpy(), points.y.to_numpy()
    rows.insert(0, "number", range(1, len(rows) + 1))
    return rows.drop(columns=["order", "bike_only"])


def safety_note(main_road_m: float, crossings: int, words: dict[str, object] | None = None) -> str:
    """One line on a route's main roads, e.g. ``过主路 2 次 · 沿主路 350 m``.

    Parameters
    ----------
    main_road_m
        Metres along main roads.
    crossings
        Main-road crossings.
    words
        The sheet's words (:func:`sheet_words`; default Chinese).

    Returns
    -------
    str
        The note; the language's "unknown" when the route is not known.
    """
    w = words or sheet_words("zh")
    if pd.isna(main_road_m):
        return str(w["unknown"])
    parts = []
    if crossings:
        parts.append(str(w["crosses"]).format(n=int(crossings)))
    if main_road_m >= _NOTE_MIN_M:
        parts.append(str(w["along"]).format(m=f"{round(main_road_m, -1):.0f}"))
    return " · ".join(parts) or str(w["no_main_roads"])


@functools.cache
def sheet_words(language: str) -> dict[str, object]:
    """Return the sheet's words in `language` (``zh``, ``en``, ``de``; others get English).

    Parameters
    ----------
    language
        The build's ``settings.language``.

    Returns
    -------
    dict
        Key → text, from ``templates/sheet_text.toml``.
    """
    texts = tomllib.loads(resources.files("mapgen.publish").joinpath("templates", "sheet_text.toml")
                          .read_text(encoding="utf-8"))
    return texts.get(language, texts["en"])


def render_sheet(build: Build, school_id: str, font_family: str, font_face: Path | None = None) -> bytes:
    """Render one school's sheet as PDF: front, map and nearest venues; back, every venue reached.

    Parameters
    ----------
    build
        The build folder's contents.
    school_id
        The school.
    font_family
        A font family with Chinese glyphs (:func:`cjk_font_family`).
    font_face
        That font cut down to the sheets' characters (:func:`subset_font`), used first; the
        whole family stays the fallback for any other character.

    Returns
    -------
    bytes
        The PDF.
    """
    from weasyprint import HTML  # imported here: it loads pango, needed only for sheets

    language = build.summary.language
    w = sheet_words(language)
    school = build.schools.set_index("school_id").loc[school_id]
    table = sheet_table(build, school_id)
    categories = [c.model_dump() for c in build.summary.categories]
    labels = {c["key"]: _category_label(c, language) for c in categories}
    colors = {c["key"]: c["color"] for c in categories}
    table["color"] = table["category"].map(colors).fillna(_NO_COLOR)
    table["category_label"] = table["category"].map(labels).fillna(table["category"])
    picture = school_map_jpeg(
        build.basemap, school.geometry, build.isochrones[build.isochrones["school_id"] == school_id],
        table[["number", "lon", "lat", "color", "section"]], build.settings.main_roads,
    )
    minutes = f"{build.settings.minutes:g}"
    walk = table[table["section"] == "walk"]
    bike = table[table["section"] == "bike"]
    nearest = [table[table["category"] == c["key"]].iloc[0] for c in categories
               if (table["category"] == c["key"]).any()]
    html = _template().render(
        w=w,
        font=font_family,
        font_face=font_face.as_uri() if font_face else "",
        attribution=OSM_ATTRIBUTION,
        school={"name": school["name"], "name_en": _other_name(school["name"], school.get("name_en"), language),
                "contact": " · ".join(filter(None, (_text(school.get("address")), _text(school.get("phone")))))},
        title=build.summary.title,
        data_date=build.summary.source.data_date or w["unknown"],
        speeds=str(w["speeds"]).format(walk=f"{build.settings.walk_kmh:g}", bike=f"{build.settings.bike_kmh:g}",
                                       minutes=minutes),
        link=_school_link(build.settings.site_url, school_id),
        map_jpeg=base64.b64encode(picture.jpeg).decode("ascii"),
        moved=picture.moved > 0,
        modes={m: {"color": MODE_COLORS[m]} for m in MODE_COLORS},
        school_color=SCHOOL_COLOR,
        data_edge=bool(build.isochrones.loc[build.isochrones["school_id"] == school_id]
                       .get("reaches_data_edge", pd.Series(dtype=bool)).fillna(False).astype(bool).any()),
        main_road_color=MAIN_ROAD_COLOR,
        areas=AREA_STYLE,
        legend={"walk": str(w["walk_circle"]).format(minutes=minutes),
                "bike": str(w["bike_circle"]).format(minutes=minutes)},
        used_categories=[{"label": labels[c["key"]], "color": c["color"]} for c in categories
                         if c["key"] in set(table["category"])],
        nearest=_rows(pd.DataFrame(nearest), w, language),
        no_venue=str(w["no_venue"]).format(minutes=minutes),
        missing_walk_label=str(w["missing_walk"]).format(minutes=minutes),
        missing_walk=[labels[c["key"]] for c in categories if c["key"] not in set(walk["category"])],
        missing_bike=[labels[c["key"]] for c in categories if c["key"] not in set(table["category"])],
        walk_heading=str(w["walk_section"]).format(minutes=minutes, n=len(walk)),
        walk_rows=_rows(walk, w, language),
        bike_heading=str(w["bike_section"]).format(minutes=minutes, n=len(bike)),
        bike_columns=_BIKE_COLUMNS,
        bike_rows=_down_columns([{"number": r.number, "name": _one_line(r.name, _BIKE_NAME_WIDTH), "color": r.color,
                                  "bike": whole_minutes(r.bike)} for r in bike.itertuples()], _BIKE_COLUMNS),
        notes=[
            str(w["note_times"]).format(walk=f"{build.settings.walk_kmh:g}", bike=f"{build.settings.bike_kmh:g}",
                                        buffer=f"{build.settings.access_buffer_m:g}"),
            str(w["note_route"]).format(roads="/".join(build.settings.main_roads)),
            str(w["note_hours"]).format(start=build.settings.after_school_start, end=build.settings.after_school_end),
        ],
    )
    return HTML(string=html).write_pdf()


def write_sheets(
    build: Build,
    school_ids: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write ``schools/<school_id>.pdf`` for every school (or the given ones) of a build folder.

    With more than one sheet and ``settings.sheet_workers`` other than 1, the sheets are
    rendered by forked processes (one per CPU core by default), each with the build already
    in memory; the files are written by this process.

    Parameters
    ----------
    build
        A build folder's contents (:func:`load_build`: only the folder's files are read).
    school_ids
        Only these schools (default: all).
    progress
        Called with 1 after each sheet.

    Returns
    -------
    list of pathlib.Path
        The sheets written.
    """
    font = cjk_font_family()
    check_pango()
    known = list(build.schools["school_id"])
    wanted = list(school_ids) if school_ids else known
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ConfigError(
            f"{build.folder / SCHOOLS_FILE}: no school with school_id {', '.join(unknown)}"
        )
    out = build.folder / SCHOOL_PAGES_DIR
    out.mkdir(exist_ok=True)
    workers = min(build.settings.sheet_workers or os.cpu_count() or 1, len(wanted))
    written = []
    with tempfile.TemporaryDirectory(prefix="mapgen-sheets-") as tmp:
        face = subset_font(font, sheet_characters(build), Path(tmp))
        # a daemonic process (a Dask worker building a region's area) may not fork workers of its own
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon:
            _warm_up(font)  # the renderer's fonts load once, before the fork, and are shared
            global _SHARED
            _SHARED = (build, font, face)
            try:
                with multiprocessing.get_context("fork").Pool(workers) as pool:
                    for school_id, pdf in pool.imap(_render_shared, wanted):
                        written.append(_write(out, school_id, pdf, progress))
            finally:
                _SHARED = None
        else:
            for school_id in wanted:
                written.append(_write(out, school_id, render_sheet(build, school_id, font, face), progress))
    return written


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
    for frame, columns in ((build.schools, ("name", "name_en", "address", "phone")),
                           (build.venues, ("name", "name_en", "address", "phone", "opening_hours", "fee", "safety"))):
        texts += ["".join(map(str, frame[c].dropna().unique())) for c in columns if c in frame]
    templates = resources.files("mapgen.publish").joinpath("templates")
    texts += [templates.joinpath(n).read_text(encoding="utf-8")
              for n in ("sheet.html.j2", "sheet_table.html.j2", "sheet.css")]
    return "".join(sorted(set("".join(texts))))


def subset_font(family: str, characters: str, folder: Path) -> Path | None:
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

    Returns
    -------
    pathlib.Path or None
    """
    from fontTools import subset
    from fontTools.ttLib import TTFont, TTLibError

    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    found = subprocess.run([fc_match, "--format=%{file}\n%{index}", family], capture_output=True, text=True,
                           check=False).stdout.split("\n")
    if len(found) < 2 or not found[0]:
        return None
    options = subset.Options(hinting=False, desubroutinize=True, layout_features=[], notdef_outline=True)
    options.drop_tables += ["GSUB", "GPOS", "BASE", "VORG", "vhea", "vmtx"]
    try:
        font = TTFont(found[0], fontNumber=int(found[1] or 0), lazy=True)
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=characters)
        subsetter.subset(font)
        path = folder / "sheet-font.otf"
        font.save(path)
    except (TTLibError, OSError, ValueError):
        return None
    return path


_SHARED: tuple[Build, str, Path | None] | None = None  # what a forked sheet worker renders from


def _render_shared(school_id: str) -> tuple[str, bytes]:
    assert _SHARED is not None, "sheet worker started without a build"
    build, font, face = _SHARED
    return school_id, render_sheet(build, school_id, font, face)


def _write(out: Path, school_id: str, pdf: bytes, progress: Callable[[int], None] | None) -> Path:
    path = out / f"{school_id}.pdf"
    path.write_bytes(pdf)
    if progress:
        progress(1)
    return path


@functools.cache
def _warm_up(font: str) -> None:
    from weasyprint import HTML

    HTML(string=f'<p style="font-family: \'{font}\'">学校 school</p>').write_pdf()


def _school_link(site_url: str | None, school_id: str) -> dict[str, str] | None:
    """The school's page on the search site and its QR code (an SVG data URI), if the site's URL is set."""
    if not site_url:
        return None
    import segno

    url = f"{site_url.rstrip('/')}/school/{quote(school_id, safe='')}"
    return {"url": url, "qr": segno.make(url, error="m").svg_data_uri(border=0, dark="#000000")}


@functools.cache
def _template() -> Template:
    env = Environment(
        loader=PackageLoader("mapgen.publish", "templates"), autoescape=True, undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    return env.get_template("sheet.html.j2")


def _one_line(text: str, width: int) -> str:
    """`text` cut to `width` columns (a Chinese character takes two) with "…", so a compact list keeps one line each."""
    used = 0
    for i, char in enumerate(text):
        used += 2 if unicodedata.east_asian_width(char) in "WF" else 1
        if used > width:
            return text[:i].rstrip() + "…"
    return text


def _down_columns(items: list[dict[str, object]], columns: int) -> list[list[dict[str, object] | None]]:
    """Table lines that read `items` down `columns` columns, then across (empty cells pad the last column)."""
    height = -(-len(items) // columns)
    return [[items[c * height + i] if c * height + i < len(items) else None for c in range(columns)]
            for i in range(height)]


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()


def _other_name(name: object, other: object, language: str) -> str:
    """The English name beside the local one on sheets not in Chinese, when it differs."""
    other_text = _text(other)
    return other_text if language != "zh" and other_text and other_text != _text(name) else ""


def _category_label(category: dict[str, str], language: str) -> str:
    return category.get(language) or (category["zh"] if language == "zh" else category["en"])


def _fee(fee: object, words: dict[str, object]) -> tuple[str, bool]:
    """The fee cell and whether it is unknown: free / paid (or the tagged amount) / donation."""
    text = _text(fee)
    if text.lower() == "donation":
        return str(words["donation"]), False
    flag = free_flag("", text)
    if flag is None:
        return str(words["unknown"]), True
    if flag:
        return str(words["free"]), False
    return (str(words["paid"]) if text.lower() in {"yes", "是", "收费"} else text), False


def _rows(table: pd.DataFrame, words: dict[str, object], language: str) -> list[dict[str, object]]:
    rows = []
    for r in table.itertuples():
        fee, fee_unknown = _fee(r.fee, words)
        after = r.after_school
        notes = [safety_note(r.main_road_m, r.main_road_crossings, words), _text(getattr(r, "safety", ""))]
        walk, bike = whole_minutes(r.walk), whole_minutes(r.bike)
        rows.append({
            "number": r.number, "name": r.name, "name_en": _other_name(r.name, r.name_en, language),
            "category": r.category_label, "color": r.color,
            "walk": "—" if walk is None else walk, "bike": "—" if bike is None else bike,
            "hours": venue_hours(_text(r.opening_hours), language), "hours_unknown": not _text(r.opening_hours),
            "after_school": words["unknown"] if after is None else words["yes" if after else "no"],
            "after_unknown": after is None,
            "fee": fee, "fee_unknown": fee_unknown,
            "contact": " · ".join(filter(None, (_text(getattr(r, "address", "")), _text(getattr(r, "phone", ""))))),
            "route": " · ".join(filter(None, notes)),
        })
    return rows
