"""Leaflet maps (folium) that draw offline: an overview map and one page per school.

folium writes the page skeleton (Leaflet, the base map, the view); every text from the data
travels in a JSON block written after folium's Jinja rendering and is drawn by the page's
own script (``lib/mapgen/map.js``) as DOM text, so no name is ever template source or markup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mapgen.config import MODES, OSM_ATTRIBUTION, CityConfig, TileProvider
from mapgen.coords import wgs84_to_gcj02
from mapgen.look import MINUTES_UNIT, MODE_COLORS, MODE_DASH, SCHOOL_COLOR, mode_label, whole_minutes
from mapgen.publish._assets import MAP_SCRIPT, asset_links, copy_assets
from mapgen.publish.mapbase import offline_basemap, read_basemap
from mapgen.publish.pdf import safety_note
from mapgen.publish.words import pinyin_forms, venue_hours
from mapgen.textsafe import folium_text, html_text, json_script, url_path
from mapgen.venues import Category, Taxonomy

# folium's page forbids pinch zoom (user-scalable=no); the pages allow it
_VIEWPORT = re.compile(r'<meta name="viewport"[^>]*>')

# Page texts by language (the city's: zh pages are bilingual, Chinese first, as the categories are).
TEXT = {
    "zh": {"schools": "学校 Schools", "search": "搜索学校或场馆 Search", "legend": "图例 Legend",
           "open_school": "打开学校地图 Open school map", "within": "{m} 分钟可达场馆 venues within {m} min",
           "all_schools": "← 全部学校 All schools",
           "data_edge": "出行圈已到达地图数据的边界，实际范围可能更大。 The circles run into the edge of the map data: the real reach may be larger.", "hours": "开放时间 Hours", "fee": "收费 Fee",
           "source": "来源 Source", "pdf": "PDF 活动单 Outing sheet (PDF)", "site": "网站上的学校页 School on the site",
           "venues": "{m} 分钟内可达场馆 Venues within {m} min ({n})", "after_school": "放学后 After school",
           "weekend": "周末 Weekends", "yes": "开放 open", "no": "关闭 closed", "unknown": "未知 unknown",
           "free": "免费 free", "paid": "收费 paid", "route": "路线 Route", "no_match": "无结果 No match",
           "bike_only": "仅骑行可达 By bike only",
           "on_campus": "校内设施（不算校外活动）On campus, not outings ({n})", "title": "学生 {m} 分钟活动圈 {m}-minute activity circles",
           "circles": "{m} 分钟活动圈 {m}-minute circles"},
    "en": {"schools": "Schools", "search": "Search schools and venues", "legend": "Legend",
           "open_school": "Open school map", "within": "venues within {m} min", "all_schools": "← All schools",
           "data_edge": "The circles run into the edge of the map data: the real reach may be larger.",
           "hours": "Hours", "fee": "Fee", "source": "Source", "pdf": "Outing sheet (PDF)",
           "site": "School on the site", "venues": "Venues within {m} min ({n})", "after_school": "After school",
           "weekend": "Weekends", "yes": "open", "no": "closed", "unknown": "unknown", "free": "free",
           "paid": "paid", "route": "Route", "no_match": "No match", "bike_only": "By bike only",
           "on_campus": "On campus, the school's own, not outings ({n})",
           "title": "{m}-minute activity circles", "circles": "{m}-minute circles"},
    "de": {"schools": "Schulen", "search": "Schulen und Orte suchen", "legend": "Legende",
           "open_school": "Karte der Schule öffnen", "within": "Orte in {m} Min.", "all_schools": "← Alle Schulen",
           "data_edge": "Die Kreise reichen bis an den Rand der Kartendaten: die wahre Reichweite kann größer sein.",
           "hours": "Öffnungszeiten", "fee": "Eintritt", "source": "Quelle", "pdf": "Ausflugsblatt (PDF)",
           "site": "Schule auf der Website", "venues": "Orte in {m} Min. erreichbar ({n})",
           "after_school": "Nach der Schule", "weekend": "Wochenende", "yes": "geöffnet", "no": "geschlossen",
           "unknown": "unbekannt", "free": "frei", "paid": "kostenpflichtig", "route": "Weg",
           "no_match": "Kein Treffer", "bike_only": "Nur mit dem Rad",
           "on_campus": "Auf dem Schulgelände, kein Ausflug ({n})", "title": "{m}-Minuten-Aktivitätskreise",
           "circles": "{m}-Minuten-Kreise"},
}


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
    campus = pairs.loc[on_campus, ["school_id", "venue_id"]].drop_duplicates().merge(
        pd.DataFrame(venues.drop(columns=venues.geometry.name)), on="venue_id")  # a school's own facilities, listed apart
    pairs = pairs[~on_campus]  # a school's own grounds are no outing
    if "public" in venues and not city.settings.include_non_public_venues:
        venues = venues[_true(venues["public"])]
    reached = pairs.pivot_table(index=["school_id", "venue_id"], columns="mode", values="minutes", aggfunc="min")
    base = read_basemap(out_dir, shift)
    pages = [_index_page(out_dir, city, schools, venues, isochrones, reached, taxonomy, minutes, text,
                         offline_basemap(base))]
    (out_dir / "schools").mkdir(exist_ok=True)
    venues_by_id = venues.set_index("venue_id")
    notes = _route_notes(routes)
    for school in schools.itertuples():
        mine = reached.loc[school.school_id] if school.school_id in reached.index.get_level_values(0) else reached.iloc[:0]
        pages.append(_school_page(
            out_dir, city, school, venues_by_id, mine, isochrones[isochrones["school_id"] == school.school_id],
            taxonomy, minutes, text, notes, campus[campus["school_id"] == school.school_id], base,
        ))
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
    basemap: dict | None,
) -> Path:
    # open on the schools' circles: extracts often hold venues far beyond the district
    fmap = base_map(city.tiles, pd.concat([schools.geometry, isochrones.geometry]), prefix="")
    counts = reached.groupby(level=0).count() if len(reached) else pd.DataFrame()
    school_items = []
    for s in schools.sort_values("name").itertuples():
        n = {m: int(counts.loc[s.school_id].get(m, 0)) if s.school_id in counts.index else 0 for m in MODES}
        reach = f"{text['within'].format(m=minutes)}: " + " · ".join(f"{_mode(m, text)} {n[m]}" for m in MODES)
        school_items.append({**point(s.geometry, SCHOOL_COLOR, 8, popup(
            s.name, [reach], [(url_path("schools", f"{s.school_id}.html"), text["open_school"])],
        )), "label": str(s.name), "search": _also(s), "note": reach})
    layers = [{**layer(f"{text['schools']} ({len(schools)})", school_items), "pane": "mg-schools", "list": True}]
    for category in taxonomy.categories:
        members = venues[venues["category"] == category.key]
        if not members.empty:
            layers.append(layer(f"{_category(category, text)} ({len(members)})", [
                {**point(v.geometry, category.color, 6, _venue_popup(v, text)), "search": _also(v)}
                for v in members.itertuples()
            ], cluster=True))
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
    base: gpd.GeoDataFrame | None,
) -> Path:
    fmap = base_map(city.tiles, pd.concat([gpd.GeoSeries([school.geometry], crs=4326), isochrones.geometry]),
                    prefix="../")
    layers = []
    legend: list[dict] = []
    for mode in ("bike", "walk"):  # bike first so the smaller walk circle stays clickable on top
        shapes = isochrones[isochrones["mode"] == mode]
        if not shapes.empty:
            name = f"{_mode(mode, text)} {minutes} {_unit(text)}"
            layers.append(layer(name, [{**shape(shapely.union_all(shapes.geometry.values), MODE_COLORS[mode]),
                                        "dash": MODE_DASH[mode]}]))
            legend.insert(0, {"color": MODE_COLORS[mode], "text": name, "dash": MODE_DASH[mode], "line": True})
    layers.append(layer(str(school.name), [marker(school.geometry, popup(school.name))], in_control=False))
    rows = mine.join(venues_by_id, how="inner")
    rows["order"] = rows["walk"].fillna(np.inf) if "walk" in rows else np.inf
    rows = rows.sort_values(["order", *(["bike"] if "bike" in rows else []), "name"])
    for category in taxonomy.categories:
        members = rows[rows["category"] == category.key]
        if not members.empty:
            layers.append(layer(f"{_category(category, text)} ({len(members)})", [
                point(v.geometry, category.color, 7, _venue_popup(v, text, extra=_times(v, text)))
                for _, v in members.iterrows()
            ]))
    links = [(url_path(f"{school.school_id}.pdf"), text["pdf"]), ("/school/" + url_path(school.school_id), text["site"]),
             ("../index.html", text["all_schools"])]
    title = f"{school.name} — {text['circles'].format(m=minutes)}"
    west, south, east, north = isochrones.total_bounds if len(isochrones) else [school.geometry.x, school.geometry.y] * 2
    margin = 0.003  # ~300 m around the circles
    basemap = offline_basemap(base, (west - margin, south - margin, east + margin, north + margin))
    data = page_data(title, layers, legend + category_legend(taxonomy, text), text=text,  # links: in the list
                     basemap=basemap)
    side = _venue_list(school, rows, taxonomy, minutes, text, notes, links, campus)
    if "reaches_data_edge" in isochrones and isochrones["reaches_data_edge"].astype(bool).any():
        side = side.replace("</h1>", f'</h1><p id="mg-data-edge">{html_text(text["data_edge"])}</p>', 1)
    return save_page(fmap, data, out_dir / "schools" / f"{school.school_id}.html", prefix="../", side=side)


def _venue_list(school: Any, rows: pd.DataFrame, taxonomy: Taxonomy, minutes: str, text: dict, notes: pd.Series,
                links: list[tuple[str, str]], campus: pd.DataFrame) -> str:
    """The school page's venue list as HTML (every value escaped): by walking time, bike-only venues last.

    The school's own facilities (venues on its grounds) follow in a list of their own.
    """
    colors = {c.key: c.color for c in taxonomy.categories}
    items = []
    for venue_id, v in rows.iterrows():
        walk_only = pd.isna(v.get("walk"))
        flags = " · ".join(f"{text[k]}: {_flag(v.get(col), text)}"
                           for k, col in (("after_school", "open_after_school"), ("weekend", "open_weekend")))
        note = notes.get((school.school_id, venue_id, "bike" if walk_only else "walk"), "")
        lines = [_times(v, text), f"{text['hours']}: {venue_hours(_value(v.get('opening_hours')), text['language'])}", flags,
                 f"{text['fee']}: {_fee(_value(v.get('fee')), text)}"]
        if note:
            lines.append(f"{text['route']}: {note}")
        items.append(
            f'<li class="mg-venue{" mg-bike-only" if walk_only else ""}">'
            f'<span class="mg-swatch" style="background:{html_text(colors.get(v["category"], "#777"))}"></span>'
            f'<b>{html_text(v["name"])}</b> <span class="mg-cat">{html_text(_category_of(v, text))}</span>'
            + "".join(f"<div>{html_text(line)}</div>" for line in lines) + "</li>"
        )
    link_html = " · ".join(f'<a href="{html_text(href)}">{html_text(label)}</a>' for href, label in links)
    return (f'<aside class="mg-side" id="mg-side"><h1>{html_text(school.name)}</h1><p>{link_html}</p>'
            f'<h2>{html_text(text["venues"].format(m=minutes, n=len(rows)))}</h2>'
            f'<ol class="mg-venues">{"".join(items)}</ol>{_campus_list(campus, text)}</aside>')


def _campus_list(campus: pd.DataFrame, text: dict) -> str:
    """The school's own facilities as an HTML list (escaped): name, category and what is there."""
    if campus.empty:
        return ""
    items = "".join(
        f'<li><b>{html_text(v["name"])}</b> <span class="mg-cat">{html_text(_category_of(v, text))}</span>'
        + (f"<div>{html_text(_value(v.get('facilities')))}</div>" if _value(v.get("facilities")) else "") + "</li>"
        for _, v in campus.sort_values("name").iterrows())
    return (f'<h2 id="mg-campus-title">{html_text(text["on_campus"].format(n=len(campus)))}</h2>'
            f'<ul class="mg-campus" id="mg-campus">{items}</ul>')


def base_map(tiles: TileProvider, geoms: gpd.GeoSeries, prefix: str) -> folium.Map:
    """Return a folium map with local assets, the base-map tiles and the view fitted to `geoms`.

    Parameters
    ----------
    tiles
        The base-map tiles (name and attribution are escaped for folium's templates).
    geoms
        Geometries the view must show (WGS-84 or the tiles' datum).
    prefix
        Relative path from the page to the output folder (``""`` or ``"../"``).

    Returns
    -------
    folium.Map
    """
    fmap = folium.Map(tiles=None, control_scale=True)
    fmap.default_js, fmap.default_css = asset_links(prefix)
    # the attribution is HTML by design (a link); only template syntax is taken out of it
    attribution = tiles.attribution.replace("{", "&#123;").replace("}", "&#125;")
    folium.TileLayer(tiles=tiles.url, attr=attribution, name=folium_text(tiles.name)).add_to(fmap)
    west, south, east, north = gpd.GeoSeries(list(geoms)).total_bounds
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


def popup(title: object, lines: list[str] | None = None, links: list[tuple[str, str]] | None = None) -> dict:
    """Describe a popup for ``map.js``: a bold title, text lines and links (all shown as text).

    Parameters
    ----------
    title
        First line, in bold.
    lines
        Further lines.
    links
        ``(href, text)`` pairs; hrefs are relative URLs built with :func:`mapgen.textsafe.url_path`.

    Returns
    -------
    dict
    """
    return {"title": str(title), "lines": [str(x) for x in lines or []],
            "links": [{"href": href, "text": text} for href, text in links or []]}


def point(geom: shapely.Point, color: str, radius: int, details: dict, tooltip: object = None) -> dict:
    """Describe a circle marker for ``map.js`` with its popup (see :func:`popup`) and hover text."""
    return {"lat": geom.y, "lon": geom.x, "color": color, "radius": radius, "popup": details,
            "tooltip": None if tooltip is None else str(tooltip)}


def marker(geom: shapely.Point, details: dict, tooltip: object = None) -> dict:
    """Describe a pin (Leaflet's default marker) for ``map.js``."""
    return {**point(geom, "", 0, details, tooltip), "pin": True}


def shape(geom: shapely.Geometry, color: str, details: dict | None = None, tooltip: object = None,
          fill_opacity: float = 0.15) -> dict:
    """Describe an outline for ``map.js``: GeoJSON geometry, colour, optional popup and hover text."""
    return {"geojson": json.loads(shapely.to_geojson(geom)), "color": color, "fill_opacity": fill_opacity,
            "popup": details, "tooltip": None if tooltip is None else str(tooltip)}


def layer(name: str, items: list[dict], cluster: bool = False, in_control: bool = True) -> dict:
    """Describe an overlay for ``map.js``: its name in the layer list and its items (clustered or not)."""
    return {"name": name, "items": items, "cluster": cluster, "in_control": in_control}


def page_text(language: str = "zh") -> dict:
    """Return the page texts of `language` (:data:`TEXT`; English for a language it lacks), with ``language`` set."""
    return {**TEXT.get(language, TEXT["en"]), "language": language if language in TEXT else "en"}


def category_legend(taxonomy: Taxonomy, text: dict | None = None) -> list[dict]:
    """Legend entries (colour dot and label) of the taxonomy's categories, in the page's language."""
    return [{"color": c.color, "text": _category(c, text or page_text())} for c in taxonomy.categories]


def page_data(title: str, layers: list[dict], legend: list[dict], links: list[tuple[str, str]] | None = None,
              text: dict | None = None, basemap: dict | None = None) -> dict:
    """Assemble what ``map.js`` draws: title, layers, legend entries, links, page texts, the offline base map.

    `basemap` is :func:`mapgen.publish.mapbase.offline_basemap`'s layers (drawn under the tiles), or none.
    """
    return {"title": title, "layers": layers, "legend": legend, "attribution": OSM_ATTRIBUTION,
            "links": [{"href": href, "text": label} for href, label in links or []], "text": text or page_text(),
            "basemap": basemap}


def save_page(fmap: folium.Map, data: dict, path: Path, prefix: str, side: str = "") -> Path:
    """Write `fmap` with `data` drawn on it by ``lib/mapgen/map.js``.

    folium renders the skeleton first (its Jinja templates never see `data`); then the
    data is appended as a ``<script type="application/json">`` block encoded by
    :func:`mapgen.textsafe.json_script`, which ``map.js`` parses and draws as DOM text.

    Parameters
    ----------
    fmap
        The map from :func:`base_map`.
    data
        From :func:`page_data`.
    path
        HTML file to write.
    prefix
        Relative path from the page to the output folder (``""`` or ``"../"``).
    side
        HTML of a panel beside the map (every value in it already escaped), or none.

    Returns
    -------
    pathlib.Path
        `path`.
    """
    root = fmap.get_root()
    assert isinstance(root, folium.Figure)  # a folium.Map is created inside a Figure (the HTML page)
    root.title = html_text(data["title"])  # a variable of the page template, rendered once, autoescaped here
    page = _VIEWPORT.sub('<meta name="viewport" content="width=device-width, initial-scale=1">', root.render(), 1)
    body, end, rest = page.rpartition("</body>")
    page = body + (side or '<aside class="mg-side mg-wide-only" id="mg-side"></aside>') + end + rest
    head, end, tail = page.rpartition("</html>")
    block = (f'<script type="application/json" id="mg-data">{json_script({**data, "map": fmap.get_name()})}</script>\n'
             f'<script src="{prefix}{MAP_SCRIPT}"></script>\n')
    path.write_text(head + block + end + tail, encoding="utf-8")
    return path


def _venue_popup(v: object, text: dict, extra: str = "") -> dict:
    def get(key: str) -> str:
        return _value(v.get(key) if isinstance(v, pd.Series) else getattr(v, key, ""))

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


def _times(v: pd.Series, text: dict) -> str:
    """``步行 Walk 6 分钟 min · 骑行 Bike 2 分钟 min``: whole minutes rounded up (:func:`mapgen.look.whole_minutes`)."""
    return " · ".join(f"{_mode(m, text)} {whole_minutes(v[m])} {_unit(text)}"
                      for m in MODES if m in v and pd.notna(v[m]))


def _category(category: Category, text: dict) -> str:
    return f"{category.zh} {category.en}" if text["language"] == "zh" else category.en


def _category_of(v: object, text: dict) -> str:
    get = v.get if isinstance(v, pd.Series) else lambda k: getattr(v, k, "")  # noqa: E731
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


def _route_notes(routes: pd.DataFrame | None) -> pd.Series:
    """Route note per ``(school_id, venue_id, mode)`` (:func:`mapgen.publish.pdf.safety_note`)."""
    if routes is None or routes.empty:
        return pd.Series(dtype=object)
    notes = [safety_note(m, c) for m, c in zip(routes["main_road_m"], routes["main_road_crossings"], strict=True)]
    return pd.Series(notes, index=pd.MultiIndex.from_frame(routes[["school_id", "venue_id", "mode"]]))


def display_shift(tiles: TileProvider) -> Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]:
    """Return a function moving drawn geometries into the tiles' datum (GCJ-02 tiles need shifted overlays)."""
    if tiles.datum == "wgs84":
        return lambda frame: frame

    def shift(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        def move(xy: np.ndarray) -> np.ndarray:
            lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
            return pd.DataFrame({"x": lon, "y": lat}).to_numpy()

        return frame.set_geometry(shapely.transform(frame.geometry.values, move))

    return shift

