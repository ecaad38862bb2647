"""Leaflet pages (folium skeleton): page texts, the items ``lib/mapgen/map.js`` draws and the JSON block they travel in.

folium writes the page skeleton (Leaflet, the base map, the view); every text from the data
travels in a JSON block written after folium's Jinja rendering and is drawn by the page's
own script as DOM text, so no name is ever template source or markup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import folium
import geopandas as gpd
import shapely

from mapgen.config import OSM_ATTRIBUTION, TileProvider
from mapgen.geo import shift_to_datum
from mapgen.publish.assets import MAP_SCRIPT, asset_links
from mapgen.taxonomy import Category, Taxonomy
from mapgen.textsafe import folium_text, html_text, json_script

# folium's page forbids pinch zoom (user-scalable=no); the pages allow it
_VIEWPORT = re.compile(r'<meta name="viewport"[^>]*>')


# Page texts by language (the city's: zh pages are bilingual, Chinese first, as the categories are).
TEXT = {
    "zh": {
        "schools": "学校 Schools",
        "search": "搜索学校或场馆 Search",
        "legend": "图例 Legend",
        "open_school": "打开学校地图 Open school map",
        "within": "{m} 分钟可达场馆 venues within {m} min",
        "all_schools": "← 全部学校 All schools",
        "data_edge": "出行圈已到达地图数据的边界，实际范围可能更大。 The circles run into the edge of the map data: the real reach may be larger.",
        "hours": "开放时间 Hours",
        "fee": "收费 Fee",
        "source": "来源 Source",
        "pdf": "PDF 活动单 Outing sheet (PDF)",
        "site": "网站上的学校页 School on the site",
        "venues": "{m} 分钟内可达场馆 Venues within {m} min ({n})",
        "after_school": "放学后 After school",
        "weekend": "周末 Weekends",
        "yes": "开放 open",
        "no": "关闭 closed",
        "unknown": "未知 unknown",
        "free": "免费 free",
        "paid": "收费 paid",
        "route": "路线 Route",
        "no_match": "无结果 No match",
        "bike_only": "仅骑行可达 By bike only",
        "on_campus": "校内设施（不算校外活动）On campus, not outings ({n})",
        "title": "学生 {m} 分钟活动圈 {m}-minute activity circles",
        "circles": "{m} 分钟活动圈 {m}-minute circles",
    },
    "en": {
        "schools": "Schools",
        "search": "Search schools and venues",
        "legend": "Legend",
        "open_school": "Open school map",
        "within": "venues within {m} min",
        "all_schools": "← All schools",
        "data_edge": "The circles run into the edge of the map data: the real reach may be larger.",
        "hours": "Hours",
        "fee": "Fee",
        "source": "Source",
        "pdf": "Outing sheet (PDF)",
        "site": "School on the site",
        "venues": "Venues within {m} min ({n})",
        "after_school": "After school",
        "weekend": "Weekends",
        "yes": "open",
        "no": "closed",
        "unknown": "unknown",
        "free": "free",
        "paid": "paid",
        "route": "Route",
        "no_match": "No match",
        "bike_only": "By bike only",
        "on_campus": "On campus, the school's own, not outings ({n})",
        "title": "{m}-minute activity circles",
        "circles": "{m}-minute circles",
    },
    "de": {
        "schools": "Schulen",
        "search": "Schulen und Orte suchen",
        "legend": "Legende",
        "open_school": "Karte der Schule öffnen",
        "within": "Orte in {m} Min.",
        "all_schools": "← Alle Schulen",
        "data_edge": "Die Kreise reichen bis an den Rand der Kartendaten: die wahre Reichweite kann größer sein.",
        "hours": "Öffnungszeiten",
        "fee": "Eintritt",
        "source": "Quelle",
        "pdf": "Ausflugsblatt (PDF)",
        "site": "Schule auf der Website",
        "venues": "Orte in {m} Min. erreichbar ({n})",
        "after_school": "Nach der Schule",
        "weekend": "Wochenende",
        "yes": "geöffnet",
        "no": "geschlossen",
        "unknown": "unbekannt",
        "free": "frei",
        "paid": "kostenpflichtig",
        "route": "Weg",
        "no_match": "Kein Treffer",
        "bike_only": "Nur mit dem Rad",
        "on_campus": "Auf dem Schulgelände, kein Ausflug ({n})",
        "title": "{m}-Minuten-Aktivitätskreise",
        "circles": "{m}-Minuten-Kreise",
    },
}


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
    return {
        "title": str(title),
        "lines": [str(x) for x in lines or []],
        "links": [{"href": href, "text": text} for href, text in links or []],
    }


def point(geom: shapely.Point, color: str, radius: int, details: dict, tooltip: object = None) -> dict:
    """Describe a circle marker for ``map.js`` with its popup (see :func:`popup`) and hover text."""
    return {
        "lat": geom.y,
        "lon": geom.x,
        "color": color,
        "radius": radius,
        "popup": details,
        "tooltip": None if tooltip is None else str(tooltip),
    }


def marker(geom: shapely.Point, details: dict, tooltip: object = None) -> dict:
    """Describe a pin (Leaflet's default marker) for ``map.js``."""
    return {**point(geom, "", 0, details, tooltip), "pin": True}


def shape(
    geom: shapely.Geometry, color: str, details: dict | None = None, tooltip: object = None, fill_opacity: float = 0.15
) -> dict:
    """Describe an outline for ``map.js``: GeoJSON geometry, colour, optional popup and hover text."""
    return {
        "geojson": json.loads(shapely.to_geojson(geom)),
        "color": color,
        "fill_opacity": fill_opacity,
        "popup": details,
        "tooltip": None if tooltip is None else str(tooltip),
    }


def layer(name: str, items: list[dict], cluster: bool = False, in_control: bool = True) -> dict:
    """Describe an overlay for ``map.js``: its name in the layer list and its items (clustered or not)."""
    return {"name": name, "items": items, "cluster": cluster, "in_control": in_control}


def page_text(language: str = "zh") -> dict:
    """Return the page texts of `language` (:data:`TEXT`; English for a language it lacks), with ``language`` set."""
    return {**TEXT.get(language, TEXT["en"]), "language": language if language in TEXT else "en"}


def category_legend(taxonomy: Taxonomy, text: dict | None = None) -> list[dict]:
    """Legend entries (colour dot and label) of the taxonomy's categories, in the page's language."""
    return [{"color": c.color, "text": category_name(c, text or page_text())} for c in taxonomy.categories]


def page_data(
    title: str,
    layers: list[dict],
    legend: list[dict],
    links: list[tuple[str, str]] | None = None,
    text: dict | None = None,
    basemap: str | None = None,
) -> dict:
    """Assemble what ``map.js`` draws: title, layers, legend entries, links, page texts, the offline base map.

    `basemap` is the base-map script (:func:`mapgen.publish.mapbase.write_basemap_script`, drawn
    under the tiles) relative to the output folder, or none.
    """
    return {
        "title": title,
        "layers": layers,
        "legend": legend,
        "attribution": OSM_ATTRIBUTION,
        "links": [{"href": href, "text": label} for href, label in links or []],
        "text": text or page_text(),
        "basemap_script": basemap,
    }


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
    base = f'<script src="{prefix}{data["basemap_script"]}"></script>\n' if data.get("basemap_script") else ""
    block = (
        f'<script type="application/json" id="mg-data">{json_script({**data, "map": fmap.get_name()})}</script>\n'
        f'{base}<script src="{prefix}{MAP_SCRIPT}"></script>\n'
    )
    path.write_text(head + block + end + tail, encoding="utf-8")
    return path


def category_name(category: Category, text: dict) -> str:
    """A category's label in the page's language (``体育场地 Sports grounds`` on bilingual Chinese pages)."""
    return f"{category.zh} {category.en}" if text["language"] == "zh" else category.en


def display_shift(tiles: TileProvider) -> Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]:
    """Return a function moving drawn geometries into the tiles' datum (GCJ-02 tiles need shifted overlays)."""
    if tiles.datum == "wgs84":
        return lambda frame: frame
    return lambda frame: frame.set_geometry(shift_to_datum(frame.geometry.values, tiles.datum))
