"""Exact travel times from schools to venues and isochrone polygons over a street graph."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.sparse.csgraph import dijkstra

from mapgen.config import Settings
from mapgen.network import MIN_EDGE_MINUTES, StreetGraph, edges_matrix

# Bound on the (origins × nodes) distance block held in memory at once.
_BLOCK_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Attachment:
    """Links that join places (schools or venues) to a street graph.

    Link ``k`` joins place ``place[k]`` and graph node ``node[k]`` with an
    access leg of ``minutes[k]`` (distance to the street plus the part of the
    edge travelled, at the mode's speed).
    """

    place: np.ndarray
    node: np.ndarray
    minutes: np.ndarray
    snap_m: np.ndarray  # per place: distance to the nearest street, NaN when none within reach

    @property
    def attached(self) -> np.ndarray:
        """Mask of places that have at least one link."""
        return ~np.isnan(self.snap_m)


def attach(graph: StreetGraph, footprints: np.ndarray, *, leaving: bool, settings: Settings) -> Attachment:
    """Join places to the graph at their nearest street edge(s) and, for areas, their entrances.

    A point is joined to the nearest edge (not only its nearest node): leaving
    it, one travels to the edge's head node; arriving, one comes from its tail
    node; the leg covers the distance to the edge and the part of the edge
    travelled. A campus or park is also joined, at no cost, to every street node
    within ``settings.access_buffer_m`` of its outline. Places farther than
    ``settings.max_snap_m`` from every edge get no link.

    Parameters
    ----------
    graph
        The street graph.
    footprints
        Shapely geometries in the graph's metric CRS (points or polygons).
    leaving
        True for origins (schools), False for destinations (venues).
    settings
        Snapping distances.

    Returns
    -------
    Attachment
    """
    footprints = np.asarray(footprints, dtype=object)
    lines = graph.edge_lines
    m_per_min = graph.speed_kmh * 1000.0 / 60.0
    place, edge = graph.edge_tree.query_nearest(footprints, max_distance=settings.max_snap_m, all_matches=True)
    dist = shapely.distance(footprints[place], lines[edge])
    on_edge = shapely.get_point(shapely.shortest_line(lines[edge], footprints[place]), 0)
    along = shapely.line_locate_point(lines[edge], on_edge)
    length = graph.edge_length_m[edge]
    node = graph.edge_v[edge] if leaving else graph.edge_u[edge]
    leg = dist + (length - along if leaving else along)

    areas = np.flatnonzero(shapely.get_dimensions(footprints) == 2)
    area_i, entrance = graph.node_tree.query(
        shapely.buffer(footprints[areas], settings.access_buffer_m), predicate="intersects"
    )
    snap_m = np.full(len(footprints), np.nan)
    np.fmin.at(snap_m, place, dist)
    snap_m[areas[area_i]] = 0.0
    return Attachment(
        place=np.concatenate([place, areas[area_i]]),
        node=np.concatenate([node, entrance]).astype(np.int64),
        minutes=np.maximum(np.concatenate([leg / m_per_min, np.zeros(len(entrance))]), MIN_EDGE_MINUTES),
        snap_m=snap_m,
    )


def iter_shortest_minutes(
    graph: StreetGraph,
    origins: Attachment,
    n_origins: int,
    targets: Attachment,
    n_targets: int,
    limit: float,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Run exact Dijkstra from every origin, bounded by `limit` minutes, in memory-bounded chunks.

    Origins and targets become virtual nodes: origins only send, targets only
    receive, so a large park can never act as a shortcut between its entrances.

    Parameters
    ----------
    graph
        The street graph.
    origins, targets
        Attachments of origins (``leaving=True``) and targets (``leaving=False``).
    n_origins, n_targets
        Number of origin and target places.
    limit
        Search bound in minutes; farther nodes get ``inf``.

    Yields
    ------
    tuple of numpy.ndarray
        (origin indices of the chunk, node minutes (c × n), target minutes (c × n_targets))
    """
    n = graph.n_nodes
    size = n + n_origins + n_targets
    matrix = edges_matrix(
        np.concatenate([graph.edge_u, n + origins.place, targets.node]),
        np.concatenate([graph.edge_v, origins.node, n + n_origins + targets.place]),
        np.concatenate([graph.edge_minutes, origins.minutes, targets.minutes]),
        size,
    )
    chunk = max(1, _BLOCK_BYTES // (8 * size))
    for start in range(0, n_origins, chunk):
        ids = np.arange(start, min(start + chunk, n_origins))
        minutes = dijkstra(matrix, directed=True, indices=n + ids, limit=limit)
        yield ids, minutes[:, :n], minutes[:, n + n_origins :]


def isochrone_polygon(
    graph: StreetGraph,
    node_minutes: np.ndarray,
    limit: float,
    buffer_m: float,
    origin: shapely.Geometry | None = None,
) -> shapely.Geometry:
    """Polygon of the street network reached within `limit` minutes.

    Every edge whose tail is reached contributes the part of it travelled
    before time runs out (interpolated along the edge); the reached segments
    are buffered by `buffer_m` and merged. Unlike a convex hull, blocks and
    rivers that are not reached stay outside.

    Parameters
    ----------
    graph
        The street graph.
    node_minutes
        Minutes to every node from the origin (``inf`` where not reached).
    limit
        Time limit in minutes.
    buffer_m
        Half-width of the band drawn around reached segments.
    origin
        The origin's own footprint (metric CRS), merged into the polygon.

    Returns
    -------
    shapely.Geometry
        Polygon or MultiPolygon in the graph's metric CRS (empty when nothing is reached).
    """
    u, v = graph.edge_u, graph.edge_v
    start = node_minutes[u]
    live = start < limit
    frac = np.clip((limit - start[live]) / graph.edge_minutes[live], 0.0, 1.0)
    a = graph.node_xy[u[live]]
    b = a + frac[:, None] * (graph.node_xy[v[live]] - a)
    parts = shapely.linestrings(np.stack([a, b], axis=1)) if len(a) else np.empty(0, dtype=object)
    if origin is not None:
        parts = np.append(parts, origin)
    if not len(parts):
        return shapely.Polygon()
    # buffering pieces then merging is ~30x faster in GEOS than buffering one collection
    merged = shapely.union_all(shapely.buffer(parts, buffer_m, quad_segs=3))
    return shapely.make_valid(shapely.simplify(merged, buffer_m / 8))


@dataclass(frozen=True)
class Reach:
    """What one travel mode reaches from every school."""

    pairs: pd.DataFrame  # school_id, venue_id, mode, minutes
    isochrones: gpd.GeoDataFrame  # school_id, mode, minutes, geometry (WGS-84)
    unattached_schools: list[str]
    unattached_venues: list[str]


def schools_reach(
    graph: StreetGraph,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    settings: Settings,
    bands: Sequence[float] | None = None,
    progress: object | None = None,
) -> Reach:
    """Travel minutes from every school to every venue within the limit, and isochrones.

    Parameters
    ----------
    graph
        Street graph of one mode.
    schools, venues
        GeoDataFrames with ``school_id`` / ``venue_id`` and a ``footprint`` geometry column (WGS-84).
    settings
        Minutes limit, snapping and polygon settings.
    bands
        Isochrone time limits (default: just ``settings.minutes``); the largest bounds the search.
    progress
        Optional callable ``progress(n_done)`` called after each chunk of schools.

    Returns
    -------
    Reach
    """
    bands = sorted(bands or [settings.minutes])
    limit = max(bands[-1], settings.minutes)
    school_fp = to_metric(schools["footprint"], graph.crs)
    origins = attach(graph, school_fp, leaving=True, settings=settings)
    targets = attach(graph, to_metric(venues["footprint"], graph.crs), leaving=False, settings=settings)
    school_ids = schools["school_id"].to_numpy()
    venue_ids = venues["venue_id"].to_numpy()
    pair_parts, iso_rows = [], []
    for ids, node_min, target_min in iter_shortest_minutes(graph, origins, len(schools), targets, len(venues), limit):
        rows, cols = np.nonzero(target_min <= settings.minutes)
        pair_parts.append(pd.DataFrame({
            "school_id": school_ids[ids[rows]], "venue_id": venue_ids[cols],
            "mode": graph.mode, "minutes": np.round(target_min[rows, cols], 2),
        }))
        for row, i in enumerate(ids):
            if not origins.attached[i]:
                continue
            for band in bands:
                poly = isochrone_polygon(graph, node_min[row], band, settings.isochrone_buffer_m, school_fp[i])
                iso_rows.append({"school_id": school_ids[i], "mode": graph.mode, "minutes": band, "geometry": poly})
        if callable(progress):
            progress(len(ids))
    pairs = pd.concat(pair_parts, ignore_index=True) if pair_parts else pd.DataFrame(
        columns=["school_id", "venue_id", "mode", "minutes"]
    )
    iso = gpd.GeoDataFrame(iso_rows, columns=["school_id", "mode", "minutes", "geometry"], geometry="geometry", crs=graph.crs)
    return Reach(
        pairs=pairs.sort_values(["school_id", "minutes", "venue_id"], ignore_index=True),
        isochrones=iso.to_crs(4326),
        unattached_schools=list(school_ids[~origins.attached]),
        unattached_venues=list(venue_ids[~targets.attached]),
    )


def to_metric(geoms: gpd.GeoSeries, crs: pyproj.CRS) -> np.ndarray:
    """Return WGS-84 geometries as a shapely array in the metric `crs`."""
    return np.asarray(gpd.GeoSeries(geoms, crs=4326).to_crs(crs).values, dtype=object)
