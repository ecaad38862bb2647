"""The generic points engine: any origins and targets in, exact minutes and isochrones out, as arrays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from mapgen.config import Settings
from mapgen.geo import transformers
from mapgen.network import StreetGraph
from mapgen.reach.pool import origin_parts, run_parts, worker_count
from mapgen.reach.route import nearby_minutes, reach_blocks
from mapgen.reach.snap import attach, attach_points
from mapgen.reach.trace import EMPTY_POLYGON, reached_polygons, trace_outlines


@dataclass(frozen=True)
class PointIsochrones:
    """Isochrones around points: one WGS-84 polygon per point and band."""

    bands: list[float]  # sorted, minutes
    geometry: np.ndarray  # (k, len(bands)) object: shapely polygons, WGS-84 (empty where not snapped)
    snap_m: np.ndarray  # (k,) metres from each point to its street, NaN where none within max_snap_m

    @property
    def attached(self) -> np.ndarray:
        """Mask of points that were joined to a street."""
        return ~np.isnan(self.snap_m)


def isochrones_around(
    graph: StreetGraph, lonlat: np.ndarray, bands: Sequence[float], settings: Settings
) -> PointIsochrones:
    """Nested isochrones around WGS-84 points, arrays in and arrays out (no data frames on the way).

    Each point is joined to its nearest street edge (:func:`attach_points`) and routed
    by an exact bounded Dijkstra on the part of the graph within reach of it
    (:func:`nearby_minutes`); the polygons are traced by :func:`trace_outlines`
    with the settings' band, cell, cell budget and hole filling.

    Parameters
    ----------
    graph
        Street graph of one mode.
    lonlat
        (k, 2) longitudes and latitudes.
    bands
        Time limits in minutes.
    settings
        Snapping and polygon settings.

    Returns
    -------
    PointIsochrones
    """
    bands = sorted(bands)
    to_xy, to_lonlat = transformers(graph.crs.srs)
    xy = np.column_stack(to_xy.transform(lonlat[:, 0], lonlat[:, 1]))
    points = shapely.points(xy)
    links = attach_points(graph, xy, leaving=True, settings=settings)
    start = np.searchsorted(links.place, np.arange(len(xy) + 1))  # the links come by point
    geometry = np.full((len(xy), len(bands)), EMPTY_POLYGON, dtype=object)
    cell = settings.isochrone_cell_m or settings.isochrone_buffer_m / 2.5
    for i in np.flatnonzero(np.diff(start)):
        mine = slice(start[i], start[i + 1])
        nodes, minutes = nearby_minutes(graph, links.node[mine], links.minutes[mine], bands[-1])
        outlines = trace_outlines(
            graph,
            nodes,
            minutes,
            bands,
            points[i],
            settings.isochrone_buffer_m,
            cell,
            settings.isochrone_max_cells,
            settings.isochrone_fill_m2,
        )
        geometry[i] = [o.geometry(np.column_stack(to_lonlat.transform(o.xy[:, 0], o.xy[:, 1]))) for o in outlines]
    return PointIsochrones(bands=bands, geometry=geometry, snap_m=links.snap_m)


@dataclass(frozen=True)
class PointsReach:
    """Exact minutes from origins to targets within the limit, and isochrones, as index arrays.

    Pair ``k`` joins origin ``origin[k]`` and target ``target[k]`` in ``minutes[k]``;
    isochrone ``j`` belongs to origin ``iso_origin[j]`` and band ``iso_minutes[j]``
    (sorted by origin, then band).
    """

    origin: np.ndarray  # (k,) origin index of each pair
    target: np.ndarray  # (k,) target index of each pair
    minutes: np.ndarray  # (k,) minutes, rounded to 0.01
    iso_origin: np.ndarray  # (j,) origin index of each isochrone
    iso_minutes: np.ndarray  # (j,) band of each isochrone, minutes
    iso_geometry: np.ndarray  # (j,) object: shapely polygons, WGS-84
    origin_attached: np.ndarray  # (n_origins,) mask of origins joined to a street
    target_attached: np.ndarray  # (n_targets,) mask of targets joined to a street


def points_reach(
    graph: StreetGraph,
    origins: np.ndarray,
    targets: np.ndarray,
    settings: Settings,
    bands: Sequence[float] | None = None,
    progress: Callable[[int], object] | None = None,
    isochrones: bool = True,
) -> PointsReach:
    """Travel minutes from every origin to every target within the limit, and isochrones around the origins.

    Origins are routed in parts of about 64 neighbours (:func:`reach_blocks`);
    with ``settings.reach_workers`` above 1 (0: one per CPU core) the parts are
    shared out to forked processes.

    Parameters
    ----------
    graph
        Street graph of one mode.
    origins, targets
        Shapely footprints (points or areas) in the graph's metric CRS (see :func:`to_metric`).
    settings
        Minutes limit, snapping, polygon and worker settings.
    bands
        Isochrone time limits (default: just ``settings.minutes``); the largest bounds the search.
    progress
        Optional callable ``progress(n_done)`` called as origins are done.
    isochrones
        False to skip the polygons (travel times only).

    Returns
    -------
    PointsReach
    """
    bands = sorted(bands or [settings.minutes])
    limit = max(bands[-1], settings.minutes)
    sources = attach(graph, origins, leaving=True, settings=settings)
    sinks = attach(graph, targets, leaving=False, settings=settings)

    def work(ids: np.ndarray) -> tuple[list[np.ndarray], list[tuple[int, float, shapely.Geometry]]]:
        pair_parts, iso_rows = [], []
        for block in reach_blocks(graph, sources, len(origins), limit, ids=ids):
            target_min = block.target_minutes(sinks, len(targets))
            rows, cols = np.nonzero(target_min <= settings.minutes)
            pair_parts.append(np.stack([block.ids[rows], cols, np.round(target_min[rows, cols], 2)]))
            for row, i in enumerate(block.ids if isochrones else []):
                nodes, minutes = block.reached(row)
                polys = reached_polygons(
                    graph,
                    nodes,
                    minutes,
                    bands,
                    settings.isochrone_buffer_m,
                    origins[i],
                    settings.isochrone_cell_m,
                    max_cells=settings.isochrone_max_cells,
                    fill_m2=settings.isochrone_fill_m2,
                )
                iso_rows += [(int(i), band, poly) for band, poly in zip(bands, polys, strict=True)]
        return pair_parts, iso_rows

    linked = np.flatnonzero(sources.attached)
    if progress is not None and len(linked) < len(origins):
        progress(len(origins) - len(linked))
    pair_parts: list[np.ndarray] = [np.empty((3, 0))]
    iso_rows: list[tuple[int, float, shapely.Geometry]] = []
    for ids, (pairs_part, rows) in run_parts(work, origin_parts(graph, sources, linked), worker_count(settings)):
        pair_parts += pairs_part
        iso_rows += rows
        if progress is not None:
            progress(len(ids))
    pairs = np.concatenate(pair_parts, axis=1)
    iso_origin = np.array([r[0] for r in iso_rows], dtype=np.int64)
    iso_minutes = np.array([r[1] for r in iso_rows], dtype=float)
    order = np.lexsort((iso_minutes, iso_origin))
    shapes = np.array([r[2] for r in iso_rows] or [], dtype=object)[order]
    to_lonlat = transformers(graph.crs.srs)[1]
    shapes = shapely.transform(shapes, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1])))
    bad = ~shapely.is_valid(shapes)  # a vertex a hair from another ring's edge may cross it once reprojected
    shapes[bad] = shapely.make_valid(shapes[bad], method="structure")
    return PointsReach(
        origin=pairs[0].astype(np.int64),
        target=pairs[1].astype(np.int64),
        minutes=pairs[2],
        iso_origin=iso_origin[order],
        iso_minutes=iso_minutes[order],
        iso_geometry=shapes,
        origin_attached=sources.attached,
        target_attached=sinks.attached,
    )
