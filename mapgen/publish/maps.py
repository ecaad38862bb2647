"""Leaflet maps that draw offline: an overview map and one page per school with its venue list.

The pages are built from :mod:`mapgen.publish.leaflet`'s parts: no text from the data is ever
template source or markup.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mapgen.config import MODES, CityConfig
from mapgen.look import MINUTES_UNIT, MODE_COLORS, MODE_DASH, SCHOOL_COLOR, mode_label, whole_minutes
from mapgen.publish.assets import copy_assets
from mapgen.publish.leaflet import (
    base_map,
    category_legend,
    category_name,
    display_shift,
    layer,
    marker,
    page_data,
    page_text,
    point,
    popup,
    save_page,
    shape,
)
from mapgen.publish.mapbase import read_basemap, write_basemap_script
from mapgen.publish.sheetdata import safety_note, sheet_words
from mapgen.publish.words import pinyin_forms, venue_hours
from mapgen.taxonomy import Taxonomy
from mapgen.textsafe import html_text, url_path

# region.py and planning.py build their pages from these parts too
__all__ = [
    "base_map",
    "category_legend",
    "display_shift",
    "layer",
    "page_data",
    "point",
    "popup",
    "save_page",
    "shape",
    "write_maps",
]


def write_maps(
    out_dir: Path,
    city: CityConfig,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    isochrones: gpd.GeoDataFrame,
    pairs: pd.DataFrame,
    taxonomy: Taxonomy,
    progress: Callable[[int], None] | None = None,
    language: str = "zh",
    routes: pd.DataFrame | None = None,
) -> list[Path]:
    """Write ``index.html`` and ``schools/<school_id>.html`` with local Leaflet assets.

    The overview has a search box (school and venue names, partial names), schools
    above the venue clusters and labelled from zoom 14, a school list beside the map
    on wide screens, a collapsed layer list and a collapsible legend. A school page
    lists its venues by walking time (minutes on foot and by bike, hours in words,
    after school and weekends, fee, the route note) and links the school's PDF sheet
    and its page on the site. Names, hours and every other text from the data go into
    the page as JSON data or escaped HTML, never into folium's templates (see :func:`save_page`).

    Parameters
    ----------
    out_dir
        The build's output folder; ``lib/`` with Leaflet is written there.
    city
        City configuration (title, tile provider, minutes).
    schools, venues, isochrones, pairs
        The build's contract tables (WGS-84). Pairs ``on_campus`` are listed apart on their
        school's page; venues not ``public`` (school grounds) are left off the maps unless
        ``include_non_public_venues``.
    taxonomy
        Category labels and colours.
    progress
        Called with 1 after each school page.
    language
        Language of the page texts: ``zh`` (bilingual, Chinese first), ``en`` or ``de``.
    routes
        The route summary (``routes.csv`` columns) for the route notes; none when omitted.

    Returns
    -------
    list of pathlib.Path
        The pages written.
    """
    copy_assets(out_dir)
    text = page_text(language)
    shift = display_shift(city.tiles)
    schools, venues, isochrones = (shift(f) for f in (schools, venues, isochrones))
    minutes = f"{city.settings.minutes:g}"
    on_campus = _true(pairs["on_campus"]) if "on_campus" in pairs else pd.Series(False, index=pairs.index)
    campus = (
        pairs.loc[on_campus, ["school_id", "venue_id"]]
        .drop_duplicates()
        .merge(pd.DataFrame(venues.drop(columns=venues.geometry.name)), on="venue_id")
    )  # a school's own facilities, listed apart
    pairs = pairs[~on_campus]  # a school's own grounds are no outing
    if "public" in venues and not city.settings.include_non_public_venues:
        venues = venues[_true(venues["public"])]
    reached = pairs.pivot_table(index=["school_id", "venue_id"], columns="mode", values="minutes", aggfunc="min")
    basemap = write_basemap_script(out_dir, read_basemap(out_dir, shift))
    pages = [_index_page(out_dir, city, schools, venues, isochrones, reached, taxonomy, minutes, text, basemap)]
    (out_dir / "schools").mkdir(exist_ok=True)
    venues_by_id = venues.set_index("venue_id")
    notes = _route_notes(routes, text["language"])
    for school in schools.itertuples():
        mine = (
            reached.loc[school.school_id] if school.school_id in reached.index.get_level_values(0) else reached.iloc[:0]
        )
        pages.append(
            _school_page(
                out_dir,
                city,
                school,
                venues_by_id,
                mine,
                isochrones[isochrones["school_id"] == school.school_id],
                taxonomy,
                minutes,
                text,
                notes,
                campus[campus["school_id"] == school.school_id],
                basemap,
            )
        )
        if progress:
            progress(1)
    return pages


def _index_page(
    out_dir: Path,
    city: CityConfig,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    isochrones: gpd.GeoDataFrame,
    reached: pd.DataFrame,
    taxonomy: Taxonomy,
    minutes: str,
    text: dict,
    basemap: str | None,
) -> Path:
    # open on the schools' circles: extracts often hold venues far beyond the district
    fmap = base_map(city.tiles, pd.concat([schools.geometry, isochrones.geometry]), prefix="")
    counts = reached.groupby(level=0).count() if len(reached) else pd.DataFrame()
    school_items = []
    for s in schools.sort_values("name").itertuples():
        n = {m: int(counts.loc[s.school_id].get(m, 0)) if s.school_id in counts.index else 0 for m in MODES}
        reach = f"{text['within'].format(m=minutes)}: " + " · ".join(f"{_mode(m, text)} {n[m]}" for m in MODES)
        school_items.append(
            {
                **point(
                    s.geometry,
                    SCHOOL_COLOR,
                    8,
                    popup(
                        s.name,
                        [reach],
                        [(url_path("schools", f"{s.school_id}.html"), text["open_school"])],
                    ),
                ),
                "label": str(s.name),
                "search": _also(s),
                "note": reach,
            }
        )
    layers = [{**layer(f"{text['schools']} ({len(schools)})", school_items), "pane": "mg-schools", "list": True}]
    for category in taxonomy.categories:
        members = venues[venues["category"] == category.key]
        if not members.empty:
            layers.append(
                layer(
                    f"{category_name(category, text)} ({len(members)})",
                    [
                        {**point(v.geometry, category.color, 6, _venue_popup(v, text)), "search": _also(v)}
                        for v in members.itertuples()
                    ],
                    cluster=True,
                )
            )
    title = f"{city.display_title} — {text['title'].format(m=minutes)}"
    data = page_data(title, layers, category_legend(taxonomy, text), text=text, basemap=basemap)
    return save_page(fmap, data, out_dir / "index.html", prefix="")


def _school_page(
    out_dir: Path,
    city: CityConfig,
    school: Any,  # a row of schools.itertuples()
    venues_by_id: gpd.GeoDataFrame,
    mine: pd.DataFrame,
    isochrones: gpd.GeoDataFrame,
    taxonomy: Taxonomy,
    minutes: str,
    text: dict,
    notes: pd.Series,
    campus: pd.DataFrame,
    basemap: str | None,
) -> Path:
    fmap = base_map(
        city.tiles, pd.concat([gpd.GeoSeries([school.geometry], crs=4326), isochrones.geometry]), prefix="../"
    )
    layers = []
    legend: list[dict] = []
    for mode in ("bike", "walk"):  # bike first so the smaller walk circle stays clickable on top
        shapes = isochrones[isochrones["mode"] == mode]
        if not shapes.empty:
            name = f"{_mode(mode, text)} {minutes} {_unit(text)}"
            layers.append(
                layer(
                    name,
                    [{**shape(shapely.union_all(shapes.geometry.values), MODE_COLORS[mode]), "dash": MODE_DASH[mode]}],
                )
            )
            legend.insert(0, {"color": MODE_COLORS[mode], "text": name, "dash": MODE_DASH[mode], "line": True})
    layers.append(layer(str(school.name), [marker(school.geometry, popup(school.name))], in_control=False))
    rows = mine.join(venues_by_id, how="inner")
    rows["order"] = rows["walk"].fillna(np.inf) if "walk" in rows else np.inf
    rows = rows.sort_values(["order", *(["bike"] if "bike" in rows else []), "name"])
    by_venue = rows.to_dict("index")  # plain rows, made once: a Series per row cost a third of the maps
    for category in taxonomy.categories:
        members = [v for v in by_venue.values() if v["category"] == category.key]
        if members:
            layers.append(
                layer(
                    f"{category_name(category, text)} ({len(members)})",
                    [
                        point(v["geometry"], category.color, 7, _venue_popup(v, text, extra=_times(v, text)))
                        for v in members
                    ],
                )
            )
    links = [
        (url_path(f"{school.school_id}.pdf"), text["pdf"]),
        ("/school/" + url_path(school.school_id), text["site"]),
        ("../index.html", text["all_schools"]),
    ]
    title = f"{school.name} — {text['circles'].format(m=minutes)}"
    data = page_data(
        title,
        layers,
        legend + category_legend(taxonomy, text),
        text=text,  # links: in the list
        basemap=basemap,
    )
    side = _venue_list(school, by_venue, taxonomy, minutes, text, notes, links, campus)
    if "reaches_data_edge" in isochrones and isochrones["reaches_data_edge"].astype(bool).any():
        side = side.replace("</h1>", f'</h1><p id="mg-data-edge">{html_text(text["data_edge"])}</p>', 1)
    return save_page(fmap, data, out_dir / "schools" / f"{school.school_id}.html", prefix="../", side=side)


def _venue_list(
    school: Any,
    rows: dict[str, dict[str, Any]],
    taxonomy: Taxonomy,
    minutes: str,
    text: dict,
    notes: pd.Series,
    links: list[tuple[str, str]],
    campus: pd.DataFrame,
) -> str:
    """The school page's venue list as HTML (every value escaped): by walking time, bike-only venues last.

    `rows` are the reached venues by id, in that order.

    The school's own facilities (venues on its grounds) follow in a list of their own.
    """
    colors = {c.key: c.color for c in taxonomy.categories}
    items = []
    for venue_id, v in rows.items():
        walk_only = pd.isna(v.get("walk"))
        flags = " · ".join(
            f"{text[k]}: {_flag(v.get(col), text)}"
            for k, col in (("after_school", "open_after_school"), ("weekend", "open_weekend"))
        )
        note = notes.get((school.school_id, venue_id, "bike" if walk_only else "walk"), "")
        lines = [
            _times(v, text),
            f"{text['hours']}: {venue_hours(_value(v.get('opening_hours')), text['language'])}",
            flags,
            f"{text['fee']}: {_fee(_value(v.get('fee')), text)}",
        ]
        if note:
            lines.append(f"{text['route']}: {note}")
        items.append(
            f'<li class="mg-venue{" mg-bike-only" if walk_only else ""}">'
            f'<span class="mg-swatch" style="background:{html_text(colors.get(v["category"], "#777"))}"></span>'
            f'<b>{html_text(v["name"])}</b> <span class="mg-cat">{html_text(_category_of(v, text))}</span>'
            + "".join(f"<div>{html_text(line)}</div>" for line in lines)
            + "</li>"
        )
    link_html = " · ".join(f'<a href="{html_text(href)}">{html_text(label)}</a>' for href, label in links)
    return (
        f'<aside class="mg-side" id="mg-side"><h1>{html_text(school.name)}</h1><p>{link_html}</p>'
        f"<h2>{html_text(text['venues'].format(m=minutes, n=len(rows)))}</h2>"
        f'<ol class="mg-venues">{"".join(items)}</ol>{_campus_list(campus, text)}</aside>'
    )


def _campus_list(campus: pd.DataFrame, text: dict) -> str:
    """The school's own facilities as an HTML list (escaped): name, category and what is there."""
    if campus.empty:
        return ""
    items = "".join(
        f'<li><b>{html_text(v["name"])}</b> <span class="mg-cat">{html_text(_category_of(v, text))}</span>'
        + (f"<div>{html_text(_value(v.get('facilities')))}</div>" if _value(v.get("facilities")) else "")
        + "</li>"
        for v in campus.sort_values("name").to_dict("records")
    )
    return (
        f'<h2 id="mg-campus-title">{html_text(text["on_campus"].format(n=len(campus)))}</h2>'
        f'<ul class="mg-campus" id="mg-campus">{items}</ul>'
    )


def _venue_popup(v: object, text: dict, extra: str = "") -> dict:
    def get(key: str) -> str:
        return _value(v.get(key) if isinstance(v, dict) else getattr(v, key, ""))

    lines = [_category_of(v, text)]
    if extra:
        lines.append(extra)
    lines.append(f"{text['hours']}: {venue_hours(get('opening_hours'), text['language'])}")
    if get("fee"):
        lines.append(f"{text['fee']}: {_fee(get('fee'), text)}")
    lines.append(f"{text['source']}: {get('source')}")
    return popup(get("name"), lines)


def _true(flags: pd.Series) -> pd.Series:
    """Booleans of a flag column as read from GeoJSON or CSV (``True``/``"true"``/``1``; missing is false)."""
    return flags.map(lambda f: str(f).strip().lower() in ("true", "1", "yes")).astype(bool)


def _value(value: object) -> str:
    """A table cell as text; empty for None/NaN."""
    return "" if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) else str(value)


def _mode(mode: str, text: dict) -> str:
    label = mode_label(mode, text["language"])
    return f"{label} {mode_label(mode, 'en')}" if text["language"] == "zh" else label


def _unit(text: dict) -> str:
    return "分钟 min" if text["language"] == "zh" else MINUTES_UNIT.get(text["language"], "min")


def _times(v: dict, text: dict) -> str:
    """``步行 Walk 6 分钟 min · 骑行 Bike 2 分钟 min``: whole minutes rounded up (:func:`mapgen.look.whole_minutes`)."""
    return " · ".join(
        f"{_mode(m, text)} {whole_minutes(v[m])} {_unit(text)}" for m in MODES if m in v and pd.notna(v[m])
    )


def _category_of(v: object, text: dict) -> str:
    get = v.get if isinstance(v, dict) else lambda k: getattr(v, k, "")
    zh, en = _value(get("category_zh")), _value(get("category_en"))
    return f"{zh} {en}".strip() if text["language"] == "zh" else en


def _flag(value: object, text: dict) -> str:
    if value is None or value is pd.NA or value == "" or (isinstance(value, float) and np.isnan(value)):
        return text["unknown"]
    return text["yes"] if bool(value) else text["no"]


def _fee(fee: str, text: dict) -> str:
    key = fee.strip().lower()
    return {"": text["unknown"], "no": text["free"], "free": text["free"], "yes": text["paid"]}.get(key, fee)


def _also(row: object) -> str:
    """Other names a search may use: the English name and the name's pinyin (:func:`~mapgen.publish.words.pinyin_forms`)."""
    return " ".join(filter(None, (_value(getattr(row, "name_en", "")), pinyin_forms(_value(getattr(row, "name", ""))))))


def _route_notes(routes: pd.DataFrame | None, language: str) -> pd.Series:
    """Route note per ``(school_id, venue_id, mode)`` in the page's language (:func:`mapgen.publish.pdf.safety_note`)."""
    if routes is None or routes.empty:
        return pd.Series(dtype=object)
    words = sheet_words(language)
    notes = [
        safety_note(m, c, words) for m, c in zip(routes["main_road_m"], routes["main_road_crossings"], strict=True)
    ]
    return pd.Series(notes, index=pd.MultiIndex.from_frame(routes[["school_id", "venue_id", "mode"]]))
