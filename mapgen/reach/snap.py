"""Snapping places (schools, venues, any points) to a street graph, and the coordinate transforms it needs."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from mapgen.config import Settings
from mapgen.network import MIN_EDGE_MINUTES, StreetGraph
from mapgen.reach.edgegrid import edges_near_boxes, nearest_edges
from mapgen.reach.nodegrid import nodes_in_boxes


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
    dimensions = shapely.get_dimensions(footprints)
    if (dimensions == 0).all():  # points only (every isochrone origin): no GEOS query at all
        return attach_points(graph, shapely.get_coordinates(footprints), leaving=leaving, settings=settings)
    points = np.flatnonzero(dimensions == 0)
    others = np.flatnonzero(dimensions != 0)
    # points (most places) on the edge grid, without a GEOS object per edge
    point_at, point_edge, point_dist, point_along = nearest_edges(
        graph, shapely.get_coordinates(footprints[points]), settings.max_snap_m
    )
    other_at, other_edge, other_dist, other_along = _nearest_edges_geos(graph, footprints[others], settings.max_snap_m)
    place = np.concatenate([points[point_at], others[other_at]])
    dist = np.concatenate([point_dist, other_dist])
    node, minutes = _edge_links(
        graph, np.concatenate([point_edge, other_edge]), dist, np.concatenate([point_along, other_along]), leaving
    )
    areas = np.flatnonzero(dimensions == 2)
    outlines = shapely.buffer(footprints[areas], settings.access_buffer_m)
    area_i, entrance = nodes_in_boxes(graph, shapely.bounds(outlines))
    inside = shapely.intersects_xy(outlines[area_i], graph.node_xy[entrance, 0], graph.node_xy[entrance, 1])
    area_i, entrance = area_i[inside], entrance[inside]
    snap_m = np.full(len(footprints), np.nan)
    np.fmin.at(snap_m, place, dist)
    snap_m[areas[area_i]] = 0.0
    return Attachment(
        place=np.concatenate([place, areas[area_i]]),
        node=np.concatenate([node, entrance]).astype(np.int64),
        minutes=np.concatenate([minutes, np.full(len(entrance), MIN_EDGE_MINUTES)]),
        snap_m=snap_m,
    )


def attach_points(graph: StreetGraph, xy: np.ndarray, *, leaving: bool, settings: Settings) -> Attachment:
    """:func:`attach` for points given as coordinates: (k, 2) in the graph's metric CRS, arrays only."""
    place, edge, dist, along = nearest_edges(graph, xy, settings.max_snap_m)
    node, minutes = _edge_links(graph, edge, dist, along, leaving)
    snap_m = np.full(len(xy), np.nan)
    snap_m[place] = dist  # a point's links are ties: all at the same distance
    return Attachment(place=place, node=node.astype(np.int64), minutes=minutes, snap_m=snap_m)


def _edge_links(
    graph: StreetGraph, edge: np.ndarray, dist: np.ndarray, along: np.ndarray, leaving: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The node and the minutes of the access leg of each link onto `edge` (`dist` from it, `along` it from its tail)."""
    length = graph.edge_length_m[edge]
    node = graph.edge_v[edge] if leaving else graph.edge_u[edge]
    leg = dist + (length - along if leaving else along)
    return node, np.maximum(leg / (graph.speed_kmh * 1000.0 / 60.0), MIN_EDGE_MINUTES)


def _nearest_edges_geos(graph: StreetGraph, footprints: np.ndarray, max_distance: float) -> tuple[np.ndarray, ...]:
    """:func:`nearest_edges` for any shapes (lines, areas) by GEOS: (index, edge, distance, distance along the edge).

    GEOS measures only the edges that can be nearest: those the edge grid lists around the
    shape, within the distance from its nearest vertex to the streets (GEOS's distance from a
    shape is the least of its vertices' and segments', so no edge farther than that vertex is
    nearest) and whose bounding box comes that close to the shape's. So no line is made for
    every street of the city, nor a tree of them, for a few hundred campuses and parks.
    """
    if not len(footprints):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0), np.empty(0)
    vertex_xy, owner = shapely.get_coordinates(footprints, return_index=True)
    at, _, vertex_dist, _ = nearest_edges(graph, vertex_xy, max_distance)
    bound = np.full(len(footprints), float(max_distance))
    np.fmin.at(bound, owner[at], vertex_dist)
    bound = bound * (1 + 1e-9) + 1e-9  # GEOS rounds a shape's distance its own way: a hair of room for ties
    bounds = shapely.bounds(footprints)
    place, edge, segment = edges_near_boxes(graph, bounds + np.c_[-bound, -bound, bound, bound])
    # the gap between an edge's bounding box and the shape's is no more than their distance
    box, tail, head = bounds[place], segment[:, :2], segment[:, 2:]
    gap = np.maximum(np.maximum(np.minimum(tail, head) - box[:, 2:], box[:, :2] - np.maximum(tail, head)), 0.0)
    near = np.hypot(gap[:, 0], gap[:, 1]) <= bound[place]
    place, edge, segment = place[near], edge[near], segment[near]
    lines = shapely.linestrings(segment.reshape(-1, 2, 2))
    dist = shapely.distance(footprints[place], lines)
    best = np.full(len(footprints), np.inf)
    np.fmin.at(best, place, dist)
    nearest = (dist == best[place]) & (dist <= max_distance)
    place, edge, dist, lines = place[nearest], edge[nearest], dist[nearest], lines[nearest]
    on_edge = shapely.get_point(shapely.shortest_line(lines, footprints[place]), 0)
    return place, edge, dist, shapely.line_locate_point(lines, on_edge)


def to_metric(geoms: gpd.GeoSeries, crs: pyproj.CRS) -> np.ndarray:
    """Return WGS-84 geometries as a shapely array in the metric `crs`."""
    return np.asarray(gpd.GeoSeries(geoms, crs=4326).to_crs(crs).values, dtype=object)
