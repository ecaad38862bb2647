"""The edge of the data: which isochrones run into the boundary of the extract, where the real area may be larger."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from mapgen.geo import utm_crs_of_bounds
from mapgen.osm_extract import OsmExtract

#: Declared bounds larger than this many times the streets' bounding box are not the cut's own.
BOX_SLACK = 4.0


def data_area(extract: OsmExtract) -> shapely.Polygon:
    """The area the extract covers: the bounds the file declares (or the ``--bbox`` cut), else its streets' hull.

    Beyond declared bounds an extract holds only the ways that cross them, so the network
    there is partial; a file without bounds, or with bounds far larger than its streets (more than
    :data:`BOX_SLACK` times their bounding box), is taken to cover the convex hull of its street nodes.

    Parameters
    ----------
    extract
        The OSM extract.

    Returns
    -------
    shapely.Polygon
        WGS-84.
    """
    return declared_area(extract.box, shapely.MultiPoint(np.vstack([w.lonlat for w in extract.highways])).convex_hull)


def declared_area(box: tuple[float, float, float, float] | None, hull: shapely.Geometry) -> shapely.Geometry:
    """The data area from a file's declared bounds (or None) and the convex hull of its street nodes.

    See :func:`data_area`; a region build gets both from one pass over a shared extract
    (:func:`mapgen.region.plan_cuts`).
    """
    if box is not None:
        declared = shapely.box(*box)
        # a cut's bounds hug its data; a header saying "half the world" (some PBF writers) says nothing
        if declared.intersects(hull) and declared.area <= BOX_SLACK * shapely.envelope(hull).area:
            return declared
    return hull


def reaches_data_edge(isochrones: gpd.GeoDataFrame, area: shapely.Polygon, margin_m: float) -> np.ndarray:
    """Whether each isochrone comes within `margin_m` of the data area's boundary (or leaves it).

    Parameters
    ----------
    isochrones
        Polygons in WGS-84.
    area
        From :func:`data_area`.
    margin_m
        Distance in metres (``settings.data_edge_m``).

    Returns
    -------
    numpy.ndarray
        Booleans aligned with `isochrones`.
    """
    if isochrones.empty:
        return np.zeros(0, dtype=bool)
    crs = utm_crs_of_bounds(isochrones.total_bounds)
    shapes = isochrones.geometry.to_crs(crs).values
    outline = gpd.GeoSeries([area], crs=4326).to_crs(crs).values[0]
    near = shapely.distance(shapes, outline.boundary) <= margin_m
    return np.asarray(near | ~shapely.within(shapes, outline), dtype=bool)
