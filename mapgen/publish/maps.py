"""Leaflet maps (folium) that draw offline: an overview map and one page per school.

folium writes the page skeleton (Leaflet, the base map, the view); every text from the data
travels in a JSON block written after folium's Jinja rendering and is drawn by the page's
own script (``lib/mapgen/map.js``) as DOM text, so no name is ever template source or markup.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mapgen.config import OSM_ATTRIBUTION, CityConfig, TileProvider
from mapgen.coords import wgs84_to_gcj02
from mapgen.publish._assets import MAP_SCRIPT, asset_links, copy_assets
from mapgen.textsafe import folium_text, html_text, json_script, url_path
from mapgen.venues import Taxonomy

SCHOOL_COLOR = "#08519c"
MODE_STYLE = {
    "walk": {"label": "步行 Walk", "color": "#2171b5"},
    "bike": {"label": "骑行 Bike", "color": "#cb181d"},
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
) -> list[Path]:
    """Write ``index.html`` and ``schools/<school_id>.html`` with local Leaflet assets.

    Names, hours and every other text from the data go into the page as JSON data,
    never into folium's templates (see :func:`save_page`).

    Parameters
    ----------
    out_dir
        The build's output folder; ``lib/`` with Leaflet is written there.
    city
        City configuration (title, tile provider, minutes).
    schools, venues, isochrones, pairs
        The build's contract tables (WGS-84).
    taxonomy
        Category labels and colours.
    progress
        Called with 1 after each school page.

    Returns
    -------
    list of pathlib.Path
        The pages written.
    """
    copy_assets(out_dir)
    shift = display_shift(city.tiles)
    schools, venues, isochrones = (shift(f) for f in (schools, venues, isochrones))
    minutes = f"{city.settings.minutes:g}"
    reached = pairs.pivot_table(index=["school_id", "venue_id"], columns="mode", values="minutes", aggfunc="min")
    pages = [_index_page(out_dir, city, schools, venues, isochrones, reached, taxonomy, minutes)]
    (out_dir / "schools").mkdir(exist_ok=True)
    venues_by_id = venues.set_index("venue_id")
    for school in schools.itertuples():
        mine = reached.loc[school.school_id] if school.school_id in reached.index.get_level_values(0) else reached.iloc[:0]
        pages.append(_school_page(
            out_dir, city, school, venues_by_id, mine, isochrones[isochrones["school_id"] == school.school_id],
            taxonomy, minutes,
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
) -> Path:
    # open on the schools' circles: extracts often hold venues far beyond the district
    fmap = base_map(city.tiles, pd.concat([schools.geometry, isochrones.geometry]), prefix="")
    counts = reached.groupby(level=0).count() if len(reached) else pd.DataFrame()
    school_items = []
    for s in schools.itertuples():
        walk = int(counts.loc[s.school_id].get("walk", 0)) if s.school_id in counts.index else 0
        bike = int(counts.loc[s.school_id].get("bike", 0)) if s.school_id in counts.index else 0
        school_items.append(point(s.geometry, SCHOOL_COLOR, 8, popup(
            s.name, [f"{minutes} 分钟可达场馆 venues within {minutes} min: 步行 walk {walk} · 骑行 bike {bike}"],
            [(url_path("schools", f"{s.school_id}.html"), "打开学校地图 Open school map")],
        ), tooltip=s.name))
    layers = [layer(f"学校 Schools ({len(schools)})", school_items)]
    for category in taxonomy.categories:
        members = venues[venues["category"] == category.key]
        if not members.empty:
            layers.append(layer(f"{category.zh} {category.en} ({len(members)})", [
                point(v.geometry, category.color, 6, _venue_popup(v), tooltip=v.name) for v in members.itertuples()
            ], cluster=True))
    title = f"{city.display_title} — 学生 {minutes} 分钟活动圈 {minutes}-minute activity circles"
    return save_page(fmap, page_data(title, layers, category_legend(taxonomy)), out_dir / "index.html", prefix="")


def _school_page(
    out_dir: Path,
    city: CityConfig,
    school: Any,  # a row of schools.itertuples()
    venues_by_id: gpd.GeoDataFrame,
    mine: pd.DataFrame,
    isochrones: gpd.GeoDataFrame,
    taxonomy: Taxonomy,
    minutes: str,
) -> Path:
    fmap = base_map(city.tiles, pd.concat([gpd.GeoSeries([school.geometry], crs=4326), isochrones.geometry]),
                    prefix="../")
    layers = []
    for mode in ("bike", "walk"):  # bike first so the smaller walk circle stays clickable on top
        shapes = isochrones[isochrones["mode"] == mode]
        if not shapes.empty:
            style = MODE_STYLE[mode]
            layers.append(layer(f"{style['label']} {minutes} 分钟 min", [
                shape(shapely.union_all(shapes.geometry.values), style["color"]),
            ]))
    layers.append(layer(str(school.name), [marker(school.geometry, popup(school.name), tooltip=school.name)],
                        in_control=False))
    rows = mine.join(venues_by_id, how="inner")
    for category in taxonomy.categories:
        members = rows[rows["category"] == category.key]
        if members.empty:
            continue
        items = []
        for _, v in members.iterrows():
            times = " · ".join(
                f"{MODE_STYLE[m]['label']} {v[m]:.0f} 分钟 min" for m in ("walk", "bike") if m in v and pd.notna(v[m])
            )
            items.append(point(v.geometry, category.color, 7, _venue_popup(v, extra=times),
                               tooltip=f"{v['name']} ({times})"))
        layers.append(layer(f"{category.zh} {category.en} ({len(members)})", items))
    data = page_data(f"{school.name} — {minutes} 分钟活动圈 {minutes}-minute circles", layers,
                     category_legend(taxonomy), links=[("../index.html", "← 全部学校 All schools")])
    return save_page(fmap, data, out_dir / "schools" / f"{school.school_id}.html", prefix="../")


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


def category_legend(taxonomy: Taxonomy) -> list[dict]:
    """Legend entries (colour dot and label) of the taxonomy's categories."""
    return [{"color": c.color, "text": f"{c.zh} {c.en}"} for c in taxonomy.categories]


def page_data(title: str, layers: list[dict], legend: list[dict], links: list[tuple[str, str]] | None = None) -> dict:
    """Assemble what ``map.js`` draws: title, layers, legend entries and links, with the OSM attribution."""
    return {"title": title, "layers": layers, "legend": legend, "attribution": OSM_ATTRIBUTION,
            "links": [{"href": href, "text": text} for href, text in links or []]}


def save_page(fmap: folium.Map, data: dict, path: Path, prefix: str) -> Path:
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

    Returns
    -------
    pathlib.Path
        `path`.
    """
    root = fmap.get_root()
    assert isinstance(root, folium.Figure)  # a folium.Map is created inside a Figure (the HTML page)
    root.title = html_text(data["title"])  # a variable of the page template, rendered once, autoescaped here
    page = root.render()
    head, end, tail = page.rpartition("</html>")
    block = (f'<script type="application/json" id="mg-data">{json_script({**data, "map": fmap.get_name()})}</script>\n'
             f'<script src="{prefix}{MAP_SCRIPT}"></script>\n')
    path.write_text(head + block + end + tail, encoding="utf-8")
    return path


def _venue_popup(v: object, extra: str = "") -> dict:
    def get(key: str, default: object = "") -> object:
        value = v.get(key, default) if isinstance(v, pd.Series) else getattr(v, key, default)
        return "" if value is None or (isinstance(value, float) and np.isnan(value)) else value

    lines = [f"{get('category_zh', '')} {get('category_en', '')}"]
    if extra:
        lines.append(extra)
    if get("opening_hours", ""):
        lines.append(f"开放时间 Hours: {get('opening_hours', '')}")
    if get("fee", ""):
        lines.append(f"收费 Fee: {get('fee', '')}")
    lines.append(f"来源 Source: {get('source', '')}")
    return popup(get("name", ""), lines)


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

