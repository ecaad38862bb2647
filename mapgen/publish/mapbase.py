"""The build's own base map (streets, parks, water) as a light vector layer the Leaflet maps draw under the tiles."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import shapely

from mapgen.contract import SHEET_INPUTS
from mapgen.publish.basestyle import AREA_STYLE, BACKGROUND, MAIN_ROAD_COLOR, WATER_LINE
from mapgen.sitetext import BASEMAP_SCRIPT
from mapgen.textsafe import json_script

#: Street classes drawn (paths, steps and service roads would only clutter an overview).
STREET_KINDS = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "pedestrian",
        "road",
    }
)
#: Main-road classes, drawn wider and in the sheets' main-road colour.
MAIN_KINDS = frozenset({"motorway", "trunk", "primary", "secondary"})
_TOLERANCE_DEG = 3e-5  # ~3 m: a light layer, no visible change at street zoom
_PRECISION_DEG = 1e-5


def read_basemap(out_dir: Path, shift: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]) -> gpd.GeoDataFrame | None:
    """Read the build's ``basemap.parquet`` (written with the PDF sheets' inputs): the parts the maps draw.

    Parameters
    ----------
    out_dir
        The build folder.
    shift
        Moves geometries into the tiles' datum (:func:`mapgen.publish.leaflet.display_shift`).

    Returns
    -------
    geopandas.GeoDataFrame or None
        Streets of :data:`STREET_KINDS`, parks and water, in the tiles' datum; None without the file.
    """
    path = out_dir / SHEET_INPUTS["basemap"]
    if not path.is_file():
        return None
    base = gpd.read_parquet(path)
    keep = ((base["layer"] == "street") & base["kind"].isin(STREET_KINDS)) | base["layer"].isin(("park", "water"))
    return shift(base[keep & ~base.geometry.is_empty]).reset_index(drop=True)


def write_basemap_script(out_dir: Path, base: gpd.GeoDataFrame | None) -> str | None:
    """Write :data:`mapgen.sitetext.BASEMAP_SCRIPT`, the base map as light GeoJSON layers for ``map.js``; remove it without one.

    Every page of the build, and the site's maps, load the same file (``window.mgBasemap``) and draw it in a pane below the
    tiles: when the tiles load they cover it, and offline (or where the tile server is
    blocked) streets, parks and water still show where the dots are. It holds only
    coordinates and the project's colours, no text from the data.

    Parameters
    ----------
    out_dir
        The build folder (``lib/`` is there).
    base
        From :func:`read_basemap`.

    Returns
    -------
    str or None
        The script's path relative to `out_dir`, or None when there is no base map.
    """
    path = out_dir / BASEMAP_SCRIPT
    if base is None or base.empty:
        path.unlink(missing_ok=True)
        return None
    streets = base[base["layer"] == "street"]
    main = streets["kind"].isin(MAIN_KINDS)
    water = base[base["layer"] == "water"]
    water_areas = water.geometry.geom_type.isin(("Polygon", "MultiPolygon"))
    parts = [
        (base.geometry[base["layer"] == "park"], AREA_STYLE["park"], 0, True),
        (water.geometry[water_areas], AREA_STYLE["water"], 0, True),
        (water.geometry[~water_areas], WATER_LINE, 2, False),
        (streets.geometry[~main], "#9a9a9a", 1, False),
        (streets.geometry[main], MAIN_ROAD_COLOR, 2.5, False),
    ]
    layers = [
        {"geojson": _geojson(geoms), "color": color, "weight": weight, "fill": fill}
        for geoms, color, weight, fill in parts
        if len(geoms)
    ]
    path.write_text(
        f"window.mgBasemap = {json_script({'background': BACKGROUND, 'layers': layers})};\n", encoding="utf-8"
    )
    return BASEMAP_SCRIPT


def _geojson(geoms: gpd.GeoSeries) -> dict[str, object]:
    """One GeoJSON geometry collection of `geoms`: lines joined where ways meet, simplified, rounded to ~1 m."""
    parts = shapely.get_parts(geoms.values)
    is_line = shapely.get_type_id(parts) == shapely.GeometryType.LINESTRING
    joined = (
        shapely.get_parts(shapely.line_merge(shapely.MultiLineString(list(parts[is_line])))) if is_line.any() else []
    )
    light = shapely.set_precision(shapely.simplify([*joined, *parts[~is_line]], _TOLERANCE_DEG), _PRECISION_DEG)
    return json.loads(shapely.to_geojson(shapely.GeometryCollection([g for g in light if not g.is_empty])))
