"""PDF outing sheets: one A4 sheet per school with an offline map and its venues by travel time."""

from __future__ import annotations

import base64
import functools
import multiprocessing.pool
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from mapgen.config import OSM_ATTRIBUTION
from mapgen.contract import SCHOOL_PAGES_DIR, SCHOOLS_FILE
from mapgen.errors import ConfigError
from mapgen.look import MODE_COLORS, NO_CATEGORY_COLOR, SCHOOL_COLOR, whole_minutes
from mapgen.processes import fork_pool, may_fork
from mapgen.publish.basestyle import AREA_STYLE, MAIN_ROAD_COLOR
from mapgen.publish.fonts import check_pango, cjk_font_family, sheet_characters, subset_font
from mapgen.publish.sheetdata import Build, safety_note, sheet_table, sheet_words
from mapgen.publish.sitedb import free_flag
from mapgen.publish.words import venue_hours

if TYPE_CHECKING:
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    SheetStyle = tuple[FontConfiguration, CSS]  # the renderer's fonts holding the sheet font, and the stylesheet

_BIKE_COLUMNS = 4  # the venues reached only by bike, in a compact list of this many columns
_BIKE_NAME_WIDTH = 26  # … with names cut to this many columns (the full names are on the site)


def render_sheet(
    build: Build,
    school_id: str,
    font_family: str,
    font_face: Path | None = None,
    style: SheetStyle | None = None,
) -> bytes:
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
    style
        :func:`sheet_style` of these fonts, made once for many sheets (default: made here).

    Returns
    -------
    bytes
        The PDF.
    """
    from weasyprint import HTML  # imported here: it loads pango, needed only for sheets

    from mapgen.publish.staticmap import school_map_jpeg  # matplotlib, loaded only where sheets are drawn

    language = build.summary.language
    w = sheet_words(language)
    school = build.schools.set_index("school_id").loc[school_id]
    table = sheet_table(build, school_id)
    categories = [c.model_dump() for c in build.summary.categories]
    labels = {c["key"]: _category_label(c, language) for c in categories}
    colors = {c["key"]: c["color"] for c in categories}
    table["color"] = table["category"].map(colors).fillna(NO_CATEGORY_COLOR)
    table["category_label"] = table["category"].map(labels).fillna(table["category"])
    dots = dot_classes(build)
    picture = school_map_jpeg(
        build.basemap,
        school.geometry,
        build.isochrones[build.isochrones["school_id"] == school_id],
        table[["number", "lon", "lat", "color", "section"]],
        build.settings.main_roads,
    )
    minutes = f"{build.settings.minutes:g}"
    walk = table[table["section"] == "walk"]
    bike = table[table["section"] == "bike"]
    nearest = [
        table[table["category"] == c["key"]].iloc[0] for c in categories if (table["category"] == c["key"]).any()
    ]
    html = _template("sheet.html.j2").render(
        w=w,
        dots=dots,
        attribution=OSM_ATTRIBUTION,
        school={
            "name": school["name"],
            "name_en": _other_name(school["name"], school.get("name_en"), language),
            "contact": " · ".join(filter(None, (_text(school.get("address")), _text(school.get("phone"))))),
        },
        title=build.summary.title,
        data_date=build.summary.source.data_date or w["unknown"],
        speeds=str(w["speeds"]).format(
            walk=f"{build.settings.walk_kmh:g}", bike=f"{build.settings.bike_kmh:g}", minutes=minutes
        ),
        link=_school_link(build.settings.site_url, school_id),
        map_jpeg=base64.b64encode(picture.jpeg).decode("ascii"),
        moved=picture.moved > 0,
        data_edge=bool(
            build.isochrones.loc[build.isochrones["school_id"] == school_id]
            .get("reaches_data_edge", pd.Series(dtype=bool))
            .fillna(False)
            .astype(bool)
            .any()
        ),
        legend={
            "walk": str(w["walk_circle"]).format(minutes=minutes),
            "bike": str(w["bike_circle"]).format(minutes=minutes),
        },
        used_categories=[
            {"label": labels[c["key"]], "color": c["color"]} for c in categories if c["key"] in set(table["category"])
        ],
        nearest=_rows(pd.DataFrame(nearest), w, language),
        no_venue=str(w["no_venue"]).format(minutes=minutes),
        missing_walk_label=str(w["missing_walk"]).format(minutes=minutes),
        missing_walk=[labels[c["key"]] for c in categories if c["key"] not in set(walk["category"])],
        missing_bike=[labels[c["key"]] for c in categories if c["key"] not in set(table["category"])],
        walk_heading=str(w["walk_section"]).format(minutes=minutes, n=len(walk)),
        walk_rows=_rows(walk, w, language),
        bike_heading=str(w["bike_section"]).format(minutes=minutes, n=len(bike)),
        bike_columns=_BIKE_COLUMNS,
        bike_rows=_down_columns(
            [
                {
                    "number": r.number,
                    "name": _one_line(r.name, _BIKE_NAME_WIDTH),
                    "color": r.color,
                    "bike": whole_minutes(r.bike),
                }
                for r in bike.itertuples()
            ],
            _BIKE_COLUMNS,
        ),
        notes=[
            str(w["note_times"]).format(
                walk=f"{build.settings.walk_kmh:g}",
                bike=f"{build.settings.bike_kmh:g}",
                buffer=f"{build.settings.access_buffer_m:g}",
            ),
            str(w["note_route"]).format(roads="/".join(build.settings.main_roads)),
            str(w["note_hours"]).format(start=build.settings.after_school_start, end=build.settings.after_school_end),
        ],
    )
    fonts, css = style or sheet_style(font_family, font_face, dots)
    return HTML(string=html).write_pdf(stylesheets=[css], font_config=fonts)


def sheet_style(font_family: str, font_face: Path | None = None, dots: Mapping[str, str] | None = None) -> SheetStyle:
    """The sheets' stylesheet, to parse once for every sheet of a build (one parse per sheet is an eighth of its time).

    Parameters
    ----------
    font_family, font_face
        As for :func:`render_sheet`.
    dots
        :func:`dot_classes` of the build: one rule per category colour, where a style
        attribute on every dot costs each sheet a parse of its own.

    Returns
    -------
    tuple
        The renderer's font configuration holding the sheet font, and the stylesheet.
    """
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    text = _template("sheet_style.css.j2").render(
        font=font_family,
        font_face=font_face.as_uri() if font_face else "",
        attribution=OSM_ATTRIBUTION,
        modes={m: {"color": MODE_COLORS[m]} for m in MODE_COLORS},
        school_color=SCHOOL_COLOR,
        main_road_color=MAIN_ROAD_COLOR,
        areas=AREA_STYLE,
        dots={color: name for color, name in (dots or {}).items() if name},
    )
    return fonts, CSS(string=text, font_config=fonts)


def dot_classes(build: Build) -> dict[str, str]:
    """The class of each category colour's dot in the sheets' stylesheet (:func:`sheet_style`).

    A colour other than ``#`` and 3 to 8 hex digits or a colour keyword gets no class: its
    dots print in the text's colour, as they did when such a colour was an invalid style.

    Parameters
    ----------
    build
        The build folder's contents (its categories' colours).

    Returns
    -------
    dict
        Colour → class name (empty for a colour the stylesheet does not hold).
    """
    colors = sorted({c.color for c in build.summary.categories} | {NO_CATEGORY_COLOR})
    return {color: f"dot-{i}" if _CSS_COLOR.fullmatch(color) else "" for i, color in enumerate(colors)}


# Colours a stylesheet holds as they are.
_CSS_COLOR = re.compile(r"#[0-9a-fA-F]{3,8}|[a-zA-Z]+")


def write_sheets(
    build: Build,
    school_ids: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write ``schools/<school_id>.pdf`` for every school (or the given ones) of a build folder.

    With more than one sheet and ``settings.sheet_workers`` other than 1, the sheets are
    rendered by forked processes (one per CPU core by default), each with the build already
    in memory; the files are written by this process (see :class:`SheetRun`).

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
    with SheetRun(build, school_ids) as run:
        return run.write(progress)


class SheetRun:
    """The PDF sheets of a build, rendered by forked processes from the moment it is made.

    This process is free meanwhile (a build writes its maps and ``site.db``); :meth:`write`
    then writes the sheets as they come. Without forked workers (``settings.sheet_workers``
    1, a single sheet, no ``fork`` start method, or a daemonic process such as a Dask worker)
    :meth:`write` renders them one by one. Use it as a context manager: leaving it stops
    the workers and removes the sheets' font.

    Parameters
    ----------
    build
        A build folder's contents (:func:`load_build`).
    school_ids
        Only these schools (default: all).

    Raises
    ------
    ConfigError
        When a school id is not in the build.
    """

    def __init__(self, build: Build, school_ids: Sequence[str] | None = None) -> None:
        font = cjk_font_family()
        check_pango()
        known = list(build.schools["school_id"])
        wanted = list(school_ids) if school_ids else known
        unknown = sorted(set(wanted) - set(known))
        if unknown:
            raise ConfigError(f"{build.folder / SCHOOLS_FILE}: no school with school_id {', '.join(unknown)}")
        self.build, self.font, self.wanted = build, font, wanted
        self._tmp = tempfile.TemporaryDirectory(prefix="mapgen-sheets-")
        self.face = subset_font(font, sheet_characters(build), Path(self._tmp.name), build.settings)
        self.style: SheetStyle | None = None  # parsed once per process that renders
        workers = min(build.settings.sheet_workers or os.cpu_count() or 1, len(wanted))
        self._pool: multiprocessing.pool.Pool | None = None
        self._results: Iterator[tuple[str, bytes]] | None = None
        if workers > 1 and may_fork():
            warm_up(font)  # the renderer's fonts load once, before the fork, and are shared
            global _SHARED
            _SHARED = (build, font, self.face)
            # each worker parses the stylesheet into a font configuration of its own: one made before the fork
            # and used by every worker was in use when a worker aborted in a test run
            self._pool = fork_pool(workers)
            # the sheets with most venues first, so that the last ones to finish are short and no core waits long
            rows = build.times.index.get_level_values(0).value_counts()
            self._results = self._pool.imap_unordered(_render_shared, sorted(wanted, key=lambda s: -rows.get(s, 0)))
        else:
            self.style = sheet_style(font, self.face, dot_classes(build))

    def __enter__(self) -> SheetRun:
        """Return the run."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the workers (if any are left), free the renderer's fonts and remove the sheets' font."""
        global _SHARED
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
            _SHARED = None
        self.style = None  # its font configuration cleans up now, not while the interpreter shuts down
        self._tmp.cleanup()

    def write(self, progress: Callable[[int], None] | None = None) -> list[Path]:
        """Write ``schools/<school_id>.pdf`` of every wanted school as each is rendered.

        Parameters
        ----------
        progress
            Called with 1 after each sheet.

        Returns
        -------
        list of pathlib.Path
            The sheets written.
        """
        out = self.build.folder / SCHOOL_PAGES_DIR
        out.mkdir(exist_ok=True)
        if self._results is not None:
            written = {school_id: _write(out, school_id, pdf, progress) for school_id, pdf in self._results}
            return [written[school_id] for school_id in self.wanted]
        return [
            _write(out, school_id, render_sheet(self.build, school_id, self.font, self.face, self.style), progress)
            for school_id in self.wanted
        ]


_SHARED: tuple[Build, str, Path | None] | None = None  # what a forked sheet worker renders from
_WORKER_STYLE: SheetStyle | None = None  # a forked sheet worker's own stylesheet and font configuration


def _render_shared(school_id: str) -> tuple[str, bytes]:
    global _WORKER_STYLE
    assert _SHARED is not None, "sheet worker started without a build"
    build, font, face = _SHARED
    if _WORKER_STYLE is None:
        _WORKER_STYLE = sheet_style(font, face, dot_classes(build))
    return school_id, render_sheet(build, school_id, font, face, _WORKER_STYLE)


def _write(out: Path, school_id: str, pdf: bytes, progress: Callable[[int], None] | None) -> Path:
    path = out / f"{school_id}.pdf"
    path.write_bytes(pdf)
    if progress:
        progress(1)
    return path


@functools.cache
def warm_up(font: str) -> None:
    """Load the renderer's fonts by rendering one line in `font` (once per process)."""
    from weasyprint import HTML

    HTML(string=f"<p style=\"font-family: '{font}'\">学校 school</p>").write_pdf()


def _school_link(site_url: str | None, school_id: str) -> dict[str, str] | None:
    """The school's page on the search site and its QR code (an SVG data URI), if the site's URL is set."""
    if not site_url:
        return None
    import segno

    url = f"{site_url.rstrip('/')}/school/{quote(school_id, safe='')}"
    return {"url": url, "qr": segno.make(url, error="m").svg_data_uri(border=0, dark="#000000")}


@functools.cache
def _template(name: str) -> Template:
    env = Environment(
        loader=PackageLoader("mapgen.publish", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(name)


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
    return [
        [items[c * height + i] if c * height + i < len(items) else None for c in range(columns)] for i in range(height)
    ]


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
        rows.append(
            {
                "number": r.number,
                "name": r.name,
                "name_en": _other_name(r.name, r.name_en, language),
                "category": r.category_label,
                "color": r.color,
                "walk": "—" if walk is None else walk,
                "bike": "—" if bike is None else bike,
                "hours": venue_hours(_text(r.opening_hours), language),
                "hours_unknown": not _text(r.opening_hours),
                "after_school": words["unknown"] if after is None else words["yes" if after else "no"],
                "after_unknown": after is None,
                "fee": fee,
                "fee_unknown": fee_unknown,
                "contact": " · ".join(filter(None, (_text(getattr(r, "address", "")), _text(getattr(r, "phone", ""))))),
                "route": " · ".join(filter(None, notes)),
            }
        )
    return rows
