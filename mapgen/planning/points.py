"""Travel matrix and isochrones for arbitrary points (the backends of `mapgen matrix` and `mapgen isochrones`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from mapgen import osm_extract
from mapgen.cache import cached, file_digest
from mapgen.config import Mode, Settings
from mapgen.contract import PAIR_COLUMNS, ReviewLog
from mapgen.errors import InputFileError
from mapgen.network import StreetGraph, street_graph
from mapgen.reach import Reach, isochrones_around, points_reach, to_metric
from mapgen.schools import bad_lonlat, read_csv_points

_POINT_COLUMNS = {"id": ("id",), "lon": ("lon",), "lat": ("lat",)}


def load_graph(osm: str | Path, mode: Mode, settings: Settings) -> StreetGraph:
    """Street graph of `mode` for an OSM extract, through the on-disk cache (a second call skips parsing).

    Parameters
    ----------
    osm
        ``.osm`` or ``.osm.pbf`` extract.
    mode
        ``"walk"`` or ``"bike"``.
    settings
        Speeds, graph and cache settings.

    Returns
    -------
    StreetGraph
    """
    osm = Path(osm)
    if not osm.is_file():
        raise InputFileError(f"{osm}: OSM file not found")
    digest = file_digest(osm)
    key = {"osm": digest, "feature_keys": [], "way_tags": osm_extract.WAY_TAGS}
    extract = cached(
        "extract",
        key,
        lambda: osm_extract.read_osm(osm, ()),
        settings,
        osm_extract.extract_arrays,
        osm_extract.extract_from_arrays,
    )
    return street_graph(dataclasses.replace(extract, source=str(osm)), mode, settings, cache_key=f"{digest} bbox=None")


def read_points(path: str | Path, review: ReviewLog) -> gpd.GeoDataFrame:
    """Read a CSV of points with columns ``id,lon,lat`` (WGS-84).

    Parameters
    ----------
    path
        UTF-8 CSV file (a BOM is allowed).
    review
        Collects rejected rows (file, row, column, reason); good rows go on.

    Returns
    -------
    geopandas.GeoDataFrame
        ``school_id`` (the point id, the contract's origin column) and ``footprint`` points.
    """
    path = Path(path)
    ids, points, seen = [], [], set()
    for line, fields, lon, lat in read_csv_points(path, _POINT_COLUMNS, tuple(_POINT_COLUMNS), "points file", review):
        point_id = fields["id"]
        reason = (
            "id missing"
            if not point_id
            else (f"id {point_id!r} repeated" if point_id in seen else bad_lonlat(lon, lat))
        )
        if reason:
            review.add(path, line, "lon/lat" if point_id else "id", reason, point_id)
            continue
        seen.add(point_id)
        ids.append(point_id)
        points.append(shapely.Point(lon, lat))
    if not ids:
        raise InputFileError(f"{path}: no usable points (see the review file)")
    return gpd.GeoDataFrame(
        {"school_id": ids, "footprint": gpd.GeoSeries(points, crs=4326)}, geometry="footprint", crs=4326
    )


def read_targets(path: str | Path) -> gpd.GeoDataFrame:
    """Read target places (venues) from a GeoJSON or any vector file.

    The id is the ``venue_id`` property, else ``id``, else the feature's position.

    Parameters
    ----------
    path
        Vector file in WGS-84 (e.g. a build's ``venues.geojson``).

    Returns
    -------
    geopandas.GeoDataFrame
        ``venue_id`` and ``footprint`` (points or areas).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: targets file not found")
    try:
        frame = gpd.read_file(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputFileError(f"{path}: not a readable vector file: {exc}") from exc
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if frame.empty:
        raise InputFileError(f"{path}: no features with a geometry")
    column = next((c for c in ("venue_id", "id") if c in frame), None)
    ids = frame[column].astype(str) if column else pd.Series(range(len(frame)), index=frame.index).astype(str)
    footprint = frame.geometry.to_crs(4326) if frame.crs is not None else frame.geometry.set_crs(4326)
    return gpd.GeoDataFrame(
        {"venue_id": ids.to_numpy(), "footprint": footprint.to_numpy()}, geometry="footprint", crs=4326
    )


def point_isochrones(graph: StreetGraph, points: gpd.GeoDataFrame, bands: Sequence[float], settings: Settings) -> Reach:
    """Nested isochrones (one polygon per band) around every point.

    Parameters
    ----------
    graph
        Street graph of one mode.
    points
        From :func:`read_points`.
    bands
        Time limits in minutes (e.g. 5, 10, 15).
    settings
        Snapping and polygon settings.

    Returns
    -------
    Reach
        ``isochrones`` has ``school_id`` (the point id), ``mode``, ``minutes``, geometry.
    """
    around = isochrones_around(graph, shapely.get_coordinates(points["footprint"].to_numpy()), bands, settings)
    ids = points["school_id"].to_numpy()
    used = around.attached
    isochrones = gpd.GeoDataFrame(
        {
            "school_id": np.repeat(ids[used], len(around.bands)),
            "mode": graph.mode,
            "minutes": np.tile(around.bands, int(used.sum())),
            "geometry": around.geometry[used].ravel(),
        },
        geometry="geometry",
        crs=4326,
    )
    return Reach(
        pairs=pd.DataFrame(columns=PAIR_COLUMNS[:4]),
        isochrones=isochrones,
        unattached_schools=list(ids[~used]),
        unattached_venues=[],
    )


def travel_matrix(
    graph: StreetGraph, points: gpd.GeoDataFrame, targets: gpd.GeoDataFrame, max_minutes: float, settings: Settings
) -> Reach:
    """Exact minutes from every point to every target within `max_minutes` (no polygons).

    Parameters
    ----------
    graph
        Street graph of one mode.
    points, targets
        From :func:`read_points` and :func:`read_targets`.
    max_minutes
        Pairs farther than this are left out.
    settings
        Snapping settings.

    Returns
    -------
    Reach
        ``pairs`` has ``school_id`` (the point id), ``venue_id`` (the target id), ``mode``, ``minutes``.
    """
    limited = settings.model_copy(update={"minutes": max_minutes})
    found = points_reach(
        graph,
        to_metric(points["footprint"], graph.crs),
        to_metric(targets["footprint"], graph.crs),
        limited,
        isochrones=False,
    )
    return Reach.from_points(found, points["school_id"].to_numpy(), targets["venue_id"].to_numpy(), graph.mode)
