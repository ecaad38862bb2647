"""The planning Leaflet maps, offline beside the build: coverage gaps and sited study stations."""

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

from mapgen.config import OSM_ATTRIBUTION, CityConfig
from mapgen.look import SCHOOL_COLOR
from mapgen.publish.assets import copy_assets
from mapgen.publish.maps import base_map, display_shift
from mapgen.taxonomy import Taxonomy
from mapgen.textsafe import folium_text as escape

PLANNING_DIR = "planning"
_RAMP = ["#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027"]  # few gaps → many gaps


def save_map(fmap: folium.Map, build_dir: str | Path, name: str) -> Path:
    """Write a planner map to ``<build_dir>/planning/<name>``, beside the build's local Leaflet (``lib/``).

    Parameters
    ----------
    fmap
        A map from :func:`gap_map` or :func:`siting_map` (its assets point at ``../lib``).
    build_dir
        Output folder of the build.
    name
        File name, e.g. ``coverage_gaps.html``.

    Returns
    -------
    pathlib.Path
    """
    build = Path(build_dir)
    copy_assets(build)
    path = build / PLANNING_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fmap.save(str(path))
    return path


def gap_map(
    city: CityConfig,
    schools: gpd.GeoDataFrame,
    nearest: pd.DataFrame,
    minutes: float,
    taxonomy: Taxonomy,
    cells: gpd.GeoDataFrame | None = None,
    cells_reached: pd.Series | None = None,
) -> folium.Map:
    """Map of the categories each school lacks within `minutes`, and optionally the residential hexagons.

    Schools are coloured by the number of categories they lack on foot; their
    tooltip lists what is missing on foot and by bike with the nearest time. One
    toggleable layer per category shows the schools lacking it on foot.

    Parameters
    ----------
    city
        City configuration (title, tiles).
    schools
        ``school_id``, ``name``, point geometry (WGS-84).
    nearest
        Minutes to the nearest venue, index ``school_id``, columns (mode, category).
    minutes
        The time limit.
    taxonomy
        Category labels and colours.
    cells, cells_reached
        Residential hexagons and, per cell, how many categories it reaches on foot within `minutes`.

    Returns
    -------
    folium.Map
    """
    shift = display_shift(city.tiles)
    schools = shift(schools)
    fmap = base_map(city.tiles, schools.geometry if cells is None else cells.geometry, prefix="../")
    if cells is not None and cells_reached is not None:
        top = max(int(cells_reached.reindex(cells.index).max()), 1)
        _hexagon_layer(
            cells,
            cells_reached,
            "reached",
            "categories within reach",
            lambda n: _ramp(1 - n / top),
            0.45,
            shift,
            name=f"住宅网格 Residential hexagons: categories within {minutes:g} min walk",
        ).add_to(fmap)
    lacking = nearest > minutes
    n_walk = lacking["walk"].sum(axis=1)
    labels = {c.key: f"{c.zh} {c.en}" for c in taxonomy.categories}
    layer = folium.FeatureGroup(name=escape(f"学校 Schools ({len(schools)}): colour = categories lacking on foot"))
    by_category = {
        c.key: folium.FeatureGroup(
            name=escape(f"缺 lacking {labels[c.key]} ({int(lacking['walk'][c.key].sum())})"), show=False
        )
        for c in taxonomy.categories
    }
    for s in schools.itertuples():
        lines = [f"<b>{escape(s.name)}</b>"]
        for mode in ("walk", "bike"):
            missing = [
                f"{escape(labels[c])} ({_minutes_text(nearest.at[s.school_id, (mode, c)])})"
                for c in lacking[mode].columns
                if lacking.at[s.school_id, (mode, c)]
            ]
            lines.append(f"{mode} — lacking {len(missing)}: " + ("; ".join(missing) or "none"))
        popup = "<br>".join(lines)
        count = int(n_walk[s.school_id])
        _dot(s.geometry, _ramp(count / max(len(labels), 1)), 8, popup).add_to(layer)
        for c, group in by_category.items():
            if lacking.at[s.school_id, ("walk", c)]:
                _dot(s.geometry, taxonomy[c].color, 6, popup).add_to(group)
    layer.add_to(fmap)
    for group in by_category.values():
        group.add_to(fmap)
    _finish(fmap, taxonomy, f"{city.display_title} — {minutes:g} 分钟缺口 {minutes:g}-minute gaps")
    return fmap


def siting_map(
    city: CityConfig,
    sites: gpd.GeoDataFrame,
    picks: pd.DataFrame,
    taxonomy: Taxonomy,
    cells: gpd.GeoDataFrame | None = None,
    cells_state: pd.Series | None = None,
    schools: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """Map of the candidate sites, the sites picked (numbered, with their gain) and the demand they cover.

    Parameters
    ----------
    city
        City configuration (title, tiles).
    sites
        Candidate sites (``site_id``, ``name``, ``kind``, point geometry).
    picks
        Picks with ``pick``, ``site_id``, ``gain`` (see :func:`mapgen.planning.siting.describe_picks`).
    taxonomy
        For the legend.
    cells, cells_state
        Residential hexagons and, per cell, ``covered`` (already near a study place),
        ``new`` (covered by the picks) or ``open`` (still uncovered).
    schools
        Schools to draw for orientation.

    Returns
    -------
    folium.Map
    """
    shift = display_shift(city.tiles)
    sites = shift(sites)
    fmap = base_map(city.tiles, sites.geometry if cells is None else cells.geometry, prefix="../")
    if cells is not None and cells_state is not None:
        colors = {"covered": "#3182bd", "new": "#31a354", "open": "#de2d26"}
        _hexagon_layer(
            cells,
            cells_state,
            "state",
            "demand",
            colors.__getitem__,
            0.4,
            shift,
            name="住宅网格 Residential hexagons (blue: study place near; green: newly covered; red: open)",
        ).add_to(fmap)
    if schools is not None:
        layer = folium.FeatureGroup(name=escape(f"学校 Schools ({len(schools)})"))
        for s in shift(schools).itertuples():
            _dot(s.geometry, SCHOOL_COLOR, 5, f"<b>{escape(s.name)}</b>").add_to(layer)
        layer.add_to(fmap)
    layer = folium.FeatureGroup(name=escape(f"候选点 Candidate sites ({len(sites)})"))
    for s in sites.itertuples():
        _dot(s.geometry, "#777777", 4, f"<b>{escape(s.name)}</b><br>{escape(s.kind)}").add_to(layer)
    layer.add_to(fmap)
    chosen = folium.FeatureGroup(name=escape(f"选址 Picked sites ({len(picks)})"))
    located = picks.merge(sites[["site_id", "geometry"]], on="site_id")
    for p in located.itertuples():
        label = f"<b>{int(p.pick)}. {escape(str(p.name))}</b><br>{escape(str(p.kind))}<br>newly covered: {p.gain:g}"
        folium.Marker(
            [p.geometry.y, p.geometry.x],
            icon=folium.DivIcon(
                html=(
                    '<div style="background:#e6ab02;color:#000;border:2px solid #000;border-radius:50%;width:22px;'
                    f'height:22px;text-align:center;font:bold 12px/18px sans-serif">{int(p.pick)}</div>'
                )
            ),
            tooltip=folium.Tooltip(label),
        ).add_to(chosen)
    chosen.add_to(fmap)
    _finish(fmap, taxonomy, f"{city.display_title} — 社区自习室选址 Siting community study stations")
    return fmap


def _finish(fmap: folium.Map, taxonomy: Taxonomy, title: str) -> None:
    """Add the layer list, the page title and a legend of the categories (all text escaped for folium)."""
    folium.LayerControl(collapsed=False).add_to(fmap)
    legend = "".join(
        f'<div><span style="background:{escape(c.color)}" class="mg-swatch"></span>{escape(c.zh)} {escape(c.en)}</div>'
        for c in taxonomy.categories
    )
    root = fmap.get_root()
    assert isinstance(root, folium.Figure)  # a folium.Map is created inside a Figure (the HTML page)
    root.header.add_child(folium.Element(f"<title>{escape(title)}</title>"))
    root.html.add_child(
        folium.Element(
            '<div class="mg-legend" id="mg-legend" style="position:fixed;bottom:24px;left:10px;z-index:1000">'
            f"<b>{escape(title)}</b>{legend}<div>{escape(OSM_ATTRIBUTION)}</div></div>"
        )
    )


def _hexagon_layer(
    cells: gpd.GeoDataFrame,
    values: pd.Series,
    column: str,
    alias: str,
    fill: Callable[[Any], str],
    opacity: float,
    shift: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame],
    name: str,
) -> folium.GeoJson:
    """Residential hexagons filled by one value per cell, with the value as tooltip.

    Parameters
    ----------
    cells
        Hexagons (WGS-84).
    values
        One value per cell, indexed like `cells`.
    column
        Property name of the value in the layer.
    alias
        Tooltip label of the value.
    fill
        Fill colour of a value.
    opacity
        Fill opacity.
    shift
        Moves the hexagons into the tiles' datum (:func:`mapgen.publish.maps.display_shift`).
    name
        Layer name (escaped here).

    Returns
    -------
    folium.GeoJson
    """
    hexes = shift(
        gpd.GeoDataFrame({column: values.reindex(cells.index).to_numpy()}, geometry=cells.geometry.values, crs=4326)
    )
    return folium.GeoJson(
        json.loads(hexes.to_json()),
        name=escape(name),
        style_function=lambda f: {
            "color": "#555",
            "weight": 0.5,
            "fillOpacity": opacity,
            "fillColor": fill(f["properties"][column]),
        },
        tooltip=folium.GeoJsonTooltip([column], aliases=[alias]),
    )


def _dot(point: shapely.Point, color: str, radius: int, label_html: str) -> folium.CircleMarker:
    """A circle marker whose details show on hover (tooltips need no jQuery, unlike folium popups)."""
    return folium.CircleMarker(
        [point.y, point.x],
        radius=radius,
        color=color,
        weight=2,
        fill=True,
        fill_color=color,
        fill_opacity=0.85,
        tooltip=folium.Tooltip(label_html),
    )


def _ramp(x: float) -> str:
    """Colour for x in [0, 1]: green (0) to red (1)."""
    return _RAMP[int(round(min(max(x, 0.0), 1.0) * (len(_RAMP) - 1)))]


def _minutes_text(value: float) -> str:
    return f"{value:.0f} min" if np.isfinite(value) else "none within the search bound"
