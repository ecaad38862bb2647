"""The build's own base map (streets, parks, water) as a light vector layer the Leaflet maps draw under the tiles."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import shapely

from mapgen.publish.pdf import SHEET_INPUTS
from mapgen.publish.staticmap import AREA_STYLE, BACKGROUND, MAIN_ROAD_COLOR, WATER_LINE

#: Street classes drawn (paths, steps and service roads would only clutter an overview).
STREET_KINDS = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link",
    "tertiary", "tertiary_link", "unclassified", "residential", "living_street", "pedestrian", "road",
})
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
    return shift(base[keep & ~base.geometry.is_empty])


def offline_basemap(
    base: gpd.GeoDataFrame | None, bounds: tuple[float, float, float, float] | None = None,
) -> dict[str, object] | None:
    """Return the base map as light GeoJSON layers for ``map.js``, or None without one.

    The page draws them in a pane below the tiles: when the tiles load they cover it, and
    offline (or where the tile server is blocked) streets, parks and water still show
    where the dots are.

    Parameters
    ----------
    base
        From :func:`read_basemap`.
    bounds
        ``(west, south, east, north)`` in the tiles' datum to clip to; None for all of it.

    Returns
    -------
    dict or None
        ``background`` colour and ``layers``: ``{"geojson", "color", "weight", "fill"}`` each.
    """
    if base is None:
        return None
    if bounds is not None:
        base = base.clip(bounds)
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
    layers = [{"geojson": _geojson(geoms), "color": color, "weight": weight, "fill": fill}
              for geoms, color, weight, fill in parts if len(geoms)]
    return {"background": BACKGROUND, "layers": layers}


def _geojson(geoms: gpd.GeoSeries) -> dict[str, object]:
    """One light GeoJSON geometry collection: simplified to ~3 m and rounded to ~1 m."""
    light = shapely.set_precision(shapely.simplify(geoms.values, _TOLERANCE_DEG), _PRECISION_DEG)
    return json.loads(shapely.to_geojson(shapely.GeometryCollection([g for g in light if not g.is_empty])))
