"""Leaflet maps (folium) that draw offline: an overview map and one page per school."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.plugins import MarkerCluster

from mapgen.config import OSM_ATTRIBUTION, CityConfig, TileProvider
from mapgen.coords import wgs84_to_gcj02
from mapgen.publish._assets import asset_links, copy_assets
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

    Every text that comes from the data is HTML-escaped before it reaches a
    popup, tooltip or layer name.

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
    shift = _display_shift(city.tiles)
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
    fmap = _base_map(city, pd.concat([schools.geometry, isochrones.geometry]), prefix="")
    counts = reached.groupby(level=0).count() if len(reached) else pd.DataFrame()
    school_layer = folium.FeatureGroup(name=escape(f"学校 Schools ({len(schools)})"))
    for s in schools.itertuples():
        walk = int(counts.loc[s.school_id].get("walk", 0)) if s.school_id in counts.index else 0
        bike = int(counts.loc[s.school_id].get("bike", 0)) if s.school_id in counts.index else 0
        popup = (
            f"<b>{escape(s.name)}</b><br>{minutes} 分钟可达场馆 venues within {minutes} min: "
            f"步行 walk {walk} · 骑行 bike {bike}<br>"
            f'<a href="schools/{escape(s.school_id)}.html">打开学校地图 Open school map</a>'
        )
        _dot(s.geometry, SCHOOL_COLOR, 8, popup, s.name).add_to(school_layer)
    school_layer.add_to(fmap)
    for category in taxonomy.categories:
        members = venues[venues["category"] == category.key]
        if members.empty:
            continue
        cluster = MarkerCluster(name=escape(f"{category.zh} {category.en} ({len(members)})"))
        cluster.default_js, cluster.default_css = [], []  # served by the map's local assets
        for v in members.itertuples():
            _dot(v.geometry, category.color, 6, _venue_popup(v), v.name).add_to(cluster)
        cluster.add_to(fmap)
    _finish(fmap, city, taxonomy, f"{city.display_title} — 学生 {minutes} 分钟活动圈 {minutes}-minute activity circles")
    path = out_dir / "index.html"
    fmap.save(str(path))
    return path


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
    fmap = _base_map(city, pd.concat([gpd.GeoSeries([school.geometry], crs=4326), isochrones.geometry]), prefix="../")
    for mode in ("bike", "walk"):  # bike first so the smaller walk circle stays clickable on top
        shapes = isochrones[isochrones["mode"] == mode]
        if shapes.empty:
            continue
        style = MODE_STYLE[mode]
        folium.GeoJson(
            shapely.to_geojson(shapely.union_all(shapes.geometry.values)),
            name=escape(f"{style['label']} {minutes} 分钟 min"),
            style_function=lambda _, c=style["color"]: {"color": c, "weight": 1.5, "fillColor": c, "fillOpacity": 0.15},
        ).add_to(fmap)
    folium.Marker(
        [school.geometry.y, school.geometry.x],
        popup=folium.Popup(f"<b>{escape(school.name)}</b>", parse_html=False),
        tooltip=escape(school.name),
    ).add_to(fmap)
    rows = mine.join(venues_by_id, how="inner")
    for category in taxonomy.categories:
        members = rows[rows["category"] == category.key]
        if members.empty:
            continue
        layer = folium.FeatureGroup(name=escape(f"{category.zh} {category.en} ({len(members)})"))
        for _, v in members.iterrows():
            times = " · ".join(
                f"{MODE_STYLE[m]['label']} {v[m]:.0f} 分钟 min" for m in ("walk", "bike") if m in v and pd.notna(v[m])
            )
            popup = _venue_popup(v, extra=times)
            _dot(v.geometry, category.color, 7, popup, f"{v['name']} ({times})").add_to(layer)
        layer.add_to(fmap)
    back = '<a href="../index.html">← 全部学校 All schools</a>'
    if "reaches_data_edge" in isochrones and isochrones["reaches_data_edge"].astype(bool).any():
        back += ('<div id="mg-data-edge">出行圈已到达地图数据的边界，实际范围可能更大。'
                 " The circles run into the edge of the map data: the real reach may be larger.</div>")
    _finish(fmap, city, taxonomy, f"{school.name} — {minutes} 分钟活动圈 {minutes}-minute circles", back)
    path = out_dir / "schools" / f"{school.school_id}.html"
    fmap.save(str(path))
    return path


def _base_map(city: CityConfig, geoms: gpd.GeoSeries, prefix: str) -> folium.Map:
    fmap = folium.Map(tiles=None, control_scale=True)
    fmap.default_js, fmap.default_css = asset_links(prefix)
    folium.TileLayer(tiles=city.tiles.url, attr=city.tiles.attribution, name=escape(city.tiles.name)).add_to(fmap)
    west, south, east, north = gpd.GeoSeries(list(geoms)).total_bounds
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


def _finish(fmap: folium.Map, city: CityConfig, taxonomy: Taxonomy, title: str, links: str = "") -> None:
    folium.LayerControl(collapsed=False).add_to(fmap)
    legend = "".join(
        f'<div><span style="background:{c.color}" class="mg-swatch"></span>{escape(c.zh)} {escape(c.en)}</div>'
        for c in taxonomy.categories
    )
    root = fmap.get_root()
    assert isinstance(root, folium.Figure)  # a folium.Map is created inside a Figure (the HTML page)
    root.header.add_child(folium.Element(f"<title>{escape(title)}</title>"))
    root.html.add_child(folium.Element(
        '<style>.mg-legend{position:fixed;bottom:24px;left:10px;z-index:1000;background:#fff;padding:6px 8px;'
        'font:12px/1.4 sans-serif;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.4);max-width:60vw}'
        '.mg-swatch{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px}</style>'
        f'<div class="mg-legend" id="mg-legend"><b>{escape(title)}</b>{links and "<div>" + links + "</div>"}{legend}'
        f'<div>{escape(OSM_ATTRIBUTION)}</div></div>'
    ))


def _dot(point: shapely.Point, color: str, radius: int, popup_html: str, tooltip: str) -> folium.CircleMarker:
    return folium.CircleMarker(
        [point.y, point.x], radius=radius, color=color, weight=2, fill=True, fill_color=color, fill_opacity=0.8,
        popup=folium.Popup(popup_html, max_width=320, parse_html=False), tooltip=escape(str(tooltip)),
    )


def _venue_popup(v: object, extra: str = "") -> str:
    get = v.get if isinstance(v, pd.Series) else lambda k, d="": getattr(v, k, d)  # noqa: E731
    lines = [
        f"<b>{escape(str(get('name', '')))}</b>",
        escape(f"{get('category_zh', '')} {get('category_en', '')}"),
    ]
    if extra:
        lines.append(escape(extra))
    if get("opening_hours", ""):
        lines.append("开放时间 Hours: " + escape(str(get("opening_hours", ""))))
    if get("fee", ""):
        lines.append("收费 Fee: " + escape(str(get("fee", ""))))
    lines.append("来源 Source: " + escape(str(get("source", ""))))
    return "<br>".join(lines)


def escape(text: object) -> str:
    """HTML-escape data for a popup, tooltip or label.

    folium places popup HTML inside a JavaScript template literal, so backticks,
    ``${`` and backslashes are escaped as entities too.
    """
    return html.escape(str(text), quote=True).replace("`", "&#96;").replace("$", "&#36;").replace("\\", "&#92;")


def _display_shift(tiles: TileProvider) -> Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]:
    """Move drawn geometries into the tiles' datum (GCJ-02 tiles need shifted overlays)."""
    if tiles.datum == "wgs84":
        return lambda frame: frame

    def shift(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        def move(xy: np.ndarray) -> np.ndarray:
            lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
            return pd.DataFrame({"x": lon, "y": lat}).to_numpy()

        return frame.set_geometry(shapely.transform(frame.geometry.values, move))

    return shift
