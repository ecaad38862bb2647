"""Residential demand on an H3 hexagon grid: homes, residential land use and residential streets per cell."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mapgen.config import PlanningSettings
from mapgen.errors import MissingExtraError
from mapgen.geo import distance_m
from mapgen.osm_extract import OsmExtract

try:
    import h3
except ImportError as exc:
    raise MissingExtraError("h3", "planning", "the planning notebooks (residential hexagons)") from exc


def residential_cells(extract: OsmExtract, planning: PlanningSettings) -> gpd.GeoDataFrame:
    """Residential demand on an H3 hexagon grid: homes, residential land use and residential streets per cell.

    A hexagon is residential when a residential building's point or the centre
    of the hexagon lies in it / in residential land use, or when at least
    ``planning.min_street_m`` of residential streets run through it (the proxy
    where buildings are not mapped).

    Parameters
    ----------
    extract
        OSM extract read with the ``building`` and ``landuse`` keys.
    planning
        Tag values and grid resolution.

    Returns
    -------
    geopandas.GeoDataFrame
        Index ``cell`` (H3 id); ``homes`` (residential buildings), ``landuse`` (bool),
        ``street_m``, ``centre`` (WGS-84 point) and the hexagon as geometry; sorted by cell.
    """
    res = planning.hex_resolution
    features = extract.features
    homes = pd.Series(dtype=np.int64)
    landuse_cells: set[str] = set()
    if "building" in features:
        built = features[features["building"].isin(planning.residential_buildings)]
        points = shapely.get_coordinates(built.representative_point().values)
        homes = pd.Series([h3.latlng_to_cell(lat, lon, res) for lon, lat in points], dtype=object).value_counts()
    if "landuse" in features:
        for geom in features.loc[features["landuse"].isin(planning.residential_landuse), "geometry"]:
            if geom.geom_type in ("Polygon", "MultiPolygon"):
                landuse_cells.update(h3.geo_to_cells(geom, res))
                pt = geom.representative_point()
                landuse_cells.add(h3.latlng_to_cell(pt.y, pt.x, res))
    street = _street_metres(extract, planning.residential_streets, res)
    cells = sorted(set(homes.index) | landuse_cells | set(street.index[street >= planning.min_street_m]))
    frame = pd.DataFrame(index=pd.Index(cells, name="cell"))
    frame["homes"] = homes.reindex(cells, fill_value=0).astype(int).values
    frame["landuse"] = frame.index.isin(list(landuse_cells))
    frame["street_m"] = street.reindex(cells, fill_value=0.0).round(1).values
    centres = [h3.cell_to_latlng(c) for c in cells]
    hexes = [shapely.Polygon([(lon, lat) for lat, lon in h3.cell_to_boundary(c)]) for c in cells]
    frame["centre"] = gpd.GeoSeries(shapely.points([(lon, lat) for lat, lon in centres]), index=frame.index, crs=4326)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(hexes, index=frame.index, crs=4326), crs=4326)


def _street_metres(extract: OsmExtract, highways: tuple[str, ...], res: int) -> pd.Series:
    """Length in metres of the ways tagged with `highways`, summed per H3 cell of each segment's midpoint.

    Parameters
    ----------
    extract
        OSM extract (its ``highways`` ways, WGS-84).
    highways
        ``highway=*`` values to count (e.g. ``residential``).
    res
        H3 resolution.

    Returns
    -------
    pandas.Series
        Metres (great circle, :func:`mapgen.geo.distance_m`) indexed by H3 cell id; empty when no way matches.
    """
    parts = [w.lonlat for w in extract.highways if w.tags.get("highway") in highways]
    if not parts:
        return pd.Series(dtype=float)
    a = np.concatenate([p[:-1] for p in parts])
    b = np.concatenate([p[1:] for p in parts])
    metres = distance_m(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    mid = (a + b) / 2
    cells = [h3.latlng_to_cell(lat, lon, res) for lon, lat in mid]
    return pd.Series(metres, index=cells).groupby(level=0).sum()
