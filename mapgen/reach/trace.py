"""Isochrone polygons traced from reached street segments on a raster (OpenCV), and their honesty."""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import shapely

from mapgen.network import StreetGraph
from mapgen.reach.memo import per_graph
from mapgen.reach.nodegrid import BIN_M, node_grid
from mapgen.reach.raster import (
    clear_nearer_unreached,
    close_band,
    mark_points,
    reached_extent,
    reached_segments,
)
from mapgen.reach.rings import rings_apart, simplify_rings


def isochrone_polygon(
    graph: StreetGraph,
    node_minutes: np.ndarray,
    limit: float,
    buffer_m: float,
    origin: shapely.Geometry | None = None,
    cell_m: float | None = None,
    *,
    max_cells: int = 65536,
    fill_m2: float = 0.0,
) -> shapely.Geometry:
    """Polygon of the street network reached within `limit` minutes.

    Every edge whose tail is reached contributes the part of it travelled
    before time runs out (interpolated along the edge); the area within
    `buffer_m` of those segments (and of the origin's footprint) is the
    polygon. It is traced on a raster: the segments are drawn one cell thick,
    widened by `buffer_m` (a dilation with a disc, OpenCV), the cells of street
    nodes the search did not reach are cut out again where no reached segment
    crosses them and no reached node is next to them (the other carriageway of a
    one-way pair is not reached), enclosed
    holes smaller than `fill_m2` are filled (blocks ringed by reached streets) unless the
    cell of a street node not reached lies in them, and
    the outlines are traced (OpenCV) and simplified to one cell before any shapely
    object exists. The cell is `cell_m` or, when the reached extent would need
    more than `max_cells` cells, as large as that extent requires. Unlike a
    convex hull, rivers, rail yards and parks larger than `fill_m2` that no
    reached street crosses stay outside.

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
        The origin's own footprint (metric CRS), included in the polygon.
    cell_m
        Smallest grid cell (default ``buffer_m / 2.5``, 10 m for the default 25 m band).
    max_cells
        Most cells of the raster; the cell grows beyond `cell_m` to stay within it.
    fill_m2
        Holes smaller than this (square metres), holding no street node not reached, are filled.

    Returns
    -------
    shapely.Geometry
        Polygon or MultiPolygon in the graph's metric CRS (empty when nothing is reached).
    """
    nodes = np.flatnonzero(node_minutes <= limit)
    return reached_polygon(
        graph, nodes, node_minutes[nodes], limit, buffer_m, origin, cell_m, max_cells=max_cells, fill_m2=fill_m2
    )


def reached_polygon(
    graph: StreetGraph,
    nodes: np.ndarray,
    minutes: np.ndarray,
    limit: float,
    buffer_m: float,
    origin: shapely.Geometry | None = None,
    cell_m: float | None = None,
    *,
    max_cells: int = 65536,
    fill_m2: float = 0.0,
) -> shapely.Geometry:
    """:func:`isochrone_polygon` from reached nodes only (node indices and their minutes)."""
    return reached_polygons(
        graph, nodes, minutes, [limit], buffer_m, origin, cell_m, max_cells=max_cells, fill_m2=fill_m2
    )[0]


def reached_polygons(
    graph: StreetGraph,
    nodes: np.ndarray,
    minutes: np.ndarray,
    bands: Sequence[float],
    buffer_m: float,
    origin: shapely.Geometry | None = None,
    cell_m: float | None = None,
    *,
    max_cells: int = 65536,
    fill_m2: float = 0.0,
) -> list[shapely.Geometry]:
    """Nested isochrone polygons, one per band, from reached nodes (see :func:`isochrone_polygon`).

    All bands are traced on one raster, and every band draws the segments of
    the smaller bands too, so each polygon contains the smaller ones (to the
    one-cell simplification).

    Parameters
    ----------
    graph
        The street graph.
    nodes, minutes
        Reached node indices and their minutes (searched to at least the largest band).
    bands
        Time limits in minutes.
    buffer_m
        Half-width of the band drawn around reached segments.
    origin
        The origin's own footprint (metric CRS), included in every polygon.
    cell_m
        Smallest grid cell (default ``buffer_m / 2.5``).
    max_cells
        Most cells of the raster.
    fill_m2
        Holes smaller than this (square metres) are filled.

    Returns
    -------
    list of shapely.Geometry
        Polygons in the order of sorted `bands` (metric CRS; empty where nothing is reached).
    """
    outlines = trace_outlines(
        graph, nodes, minutes, sorted(bands), origin, buffer_m, cell_m or buffer_m / 2.5, max_cells, fill_m2
    )
    return [outline.geometry(outline.xy) for outline in outlines]


@dataclass(frozen=True)
class Outline:
    """One traced isochrone as ragged arrays: ring vertices, ring and polygon offsets (shapely's layout).

    Rings are closed; polygon ``k`` holds rings ``polygon_offsets[k]:polygon_offsets[k + 1]``,
    the first its shell, the others its holes.
    """

    xy: np.ndarray  # (n, 2) vertices, metric CRS
    ring_offsets: np.ndarray  # (r + 1,)
    polygon_offsets: np.ndarray  # (p + 1,)
    apart: bool = False  # the rings are known to be simple and apart (:func:`rings_apart`): valid without a check

    def geometry(self, xy: np.ndarray) -> shapely.Geometry:
        """The outline as a valid (Multi)Polygon, on vertices `xy` (``self.xy`` or the same points in another CRS)."""
        n_parts = len(self.polygon_offsets) - 1
        if n_parts == 0:
            return EMPTY_POLYGON
        kind = shapely.GeometryType.POLYGON if n_parts == 1 else shapely.GeometryType.MULTIPOLYGON
        offsets: tuple[np.ndarray, ...] = (self.ring_offsets, self.polygon_offsets)
        if n_parts > 1:
            offsets += (np.array([0, n_parts]),)
        shape = shapely.from_ragged_array(kind, xy, offsets)[0]
        # simplified rings a cell apart may cross where blocks nearly touch: re-noded, areas kept
        return shape if self.apart or shapely.is_valid(shape) else shapely.buffer(shape, 0)


EMPTY_POLYGON = shapely.Polygon()
_NO_OUTLINE = Outline(np.empty((0, 2)), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))


def trace_outlines(
    graph: StreetGraph,
    nodes: np.ndarray,
    minutes: np.ndarray,
    bands: Sequence[float],
    origin: shapely.Geometry | None,
    buffer_m: float,
    cell_m: float,
    max_cells: int,
    fill_m2: float,
) -> list[Outline]:
    """Outlines of the area within `buffer_m` of the streets travelled within each band (and of `origin`), on one raster.

    Parameters
    ----------
    graph
        The street graph.
    nodes, minutes
        Reached node indices and their minutes (searched to at least the largest band).
    bands
        Time limits in minutes, ascending: each band's streets include the smaller bands' streets.
    origin
        Footprint (point or area, metric CRS) added to every outline, or None.
    buffer_m
        Half-width of the band around the segments.
    cell_m
        Smallest raster cell.
    max_cells
        Most raster cells: the cell grows with the extent to stay within it.
    fill_m2
        Enclosed holes smaller than this (square metres) are filled.

    Returns
    -------
    list of Outline
        One per band.
    """
    csr = graph.matrix
    nodes = np.asarray(nodes, dtype=np.int64)
    street = (csr.indptr, csr.indices, csr.data, graph.node_xy, nodes)
    minutes = np.asarray(minutes, dtype=float)
    dots = np.empty((0, 2))
    shells: list[np.ndarray] = []
    if origin is not None and not shapely.is_empty(origin):
        if shapely.get_dimensions(origin) == 2:
            shells = [shapely.get_coordinates(ring) for ring in shapely.get_exterior_ring(shapely.get_parts(origin))]
        else:
            dots = shapely.get_coordinates(origin)
    footprint = np.concatenate([dots, *shells]) if shells else dots
    box, n_segments = reached_extent(
        *street[:4], slowest_edge_minutes(graph), nodes, minutes, float(bands[-1]), footprint
    )
    if not n_segments and not len(footprint):
        return [_NO_OUTLINE] * len(bands)
    # the raster's frame in plain floats: numpy on 2-vectors costs more than the arithmetic
    (x_lo, y_lo), (x_hi, y_hi) = box.tolist()
    cell = max(cell_m, math.sqrt((x_hi - x_lo + 2 * buffer_m) * (y_hi - y_lo + 2 * buffer_m) / max_cells))
    radius = max(1, round(buffer_m / cell))
    x0, y0 = x_lo - (radius + 2) * cell, y_lo - (radius + 2) * cell  # pixel (0, 0); a background margin of two cells
    width = math.ceil((x_hi - x0) / cell) + radius + 3
    height = math.ceil((y_hi - y0) / cell) + radius + 3
    origin_xy = np.array([x0, y0])
    canvas = np.zeros((height, width), dtype=np.uint8)
    if len(dots):
        mark_points(canvas, dots, x0, y0, cell)
    if shells:  # OpenCV draws on fixed-point pixel coordinates, here with 2 fractional bits
        cv2.fillPoly(
            canvas, [((s - origin_xy) * (4.0 / cell)).round().astype(np.int32) for s in shells], 1, cv2.LINE_8, 2
        )
    disc = _disc(radius)
    fill_px = fill_m2 / cell**2
    outlines = []
    for limit in bands:
        reached_segments(canvas, *street, minutes, float(limit), x0, y0, cell)
        wide = cv2.dilate(canvas, disc)
        others = np.zeros_like(canvas)
        cut_out_unreached(wide, canvas, others, radius, graph, nodes[minutes <= limit], origin_xy, cell)
        outlines.append(_outline(wide, others, origin_xy, cell, fill_px))
    return outlines


def cut_out_unreached(
    band: np.ndarray,
    streets: np.ndarray,
    others: np.ndarray,
    radius: int,
    graph: StreetGraph,
    reached: np.ndarray,
    origin_xy: np.ndarray,
    cell: float,
) -> None:
    """Clear the cells of `band` nearer to a street the search did not reach than to a reached one.

    `band` is `streets` (the reached segments and nodes, :func:`reached_segments`) widened by a disc
    of `radius` cells; the streets between nodes not in `reached` (the graph's, and its islands':
    parts too small to keep, which no search reaches) are drawn on `others` and the cells
    of the band less than `radius` cells from them, with no reached street as near, are cleared
    (:func:`clear_nearer_unreached`): where a street not reached runs beside a reached one (the other
    carriageway of a one-way pair, a path behind a fence, a sidewalk mapped apart and joined to
    nothing) the band stops about halfway between them. A hole holding a street not reached is not
    filled (:func:`close_band`): a block with a street inside that no path reaches in time is
    not a block ringed by reached streets.
    """
    grid = node_grid(graph)
    offsets, within = _disc_steps(radius)
    clear_nearer_unreached(
        band,
        streets,
        others,
        offsets,
        within,
        grid.corner,
        BIN_M,
        *grid.shape,
        grid.bin_ptr,
        grid.node,
        grid.reached,
        reached,
        grid.indptr,
        grid.indices,
        grid.xy,
        grid.binned_xy,
        float(origin_xy[0]),
        float(origin_xy[1]),
        cell,
    )


@functools.lru_cache(maxsize=64)
def _disc_steps(radius: int) -> tuple[np.ndarray, int]:
    """(row, column) steps within `radius` cells, shortest first, and how many are no longer than ``radius - 1``."""
    span = np.arange(-radius, radius + 1)
    dy, dx = (a.ravel() for a in np.meshgrid(span, span, indexing="ij"))
    length2 = dy**2 + dx**2
    order = np.argsort(length2, kind="stable")
    keep = order[length2[order] <= radius**2]
    return np.column_stack([dy[keep], dx[keep]]).astype(np.int64), int((length2 <= (radius - 1) ** 2).sum())


_SLOWEST: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def slowest_edge_minutes(graph: StreetGraph) -> np.ndarray:
    """Minutes of each node's slowest edge out (0 where it has none), built on first use and kept while `graph` lives."""
    return per_graph(_SLOWEST, graph, _slowest_edges)


def _slowest_edges(graph: StreetGraph) -> np.ndarray:
    """:func:`slowest_edge_minutes`, computed."""
    csr = graph.matrix
    slowest = np.zeros(graph.n_nodes)
    np.maximum.at(slowest, np.repeat(np.arange(graph.n_nodes), np.diff(csr.indptr)), csr.data)
    return slowest


@functools.lru_cache(maxsize=64)
def _disc(radius: int) -> np.ndarray:
    """OpenCV's elliptical structuring element of `radius` cells (the band's width on the raster)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _outline(band: np.ndarray, unreached: np.ndarray, origin_xy: np.ndarray, cell: float, fill_px: float) -> Outline:
    """Fill holes under `fill_px` cells, trace the outlines of the marked cells, simplify to one cell, georeference.

    Holes are filled on the raster (:func:`close_band`; not those holding a cell marked in
    `unreached`), so OpenCV traces only the outer boundaries and the holes that stay (a two-level
    tree: shells, then their holes); where two cells touch only at a corner a third is marked
    (the same pass), so no ring passes a point twice; the rings are
    simplified (Douglas-Peucker, one cell) as pixel chains (:func:`simplify_rings`), and checked
    exactly on those integer vertices for being simple and apart (:func:`rings_apart`), which spares
    most outlines GEOS's validity check.
    """
    close_band(band, fill_px, unreached)
    contours, hierarchy = cv2.findContours(band, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return _NO_OUTLINE
    starts = np.cumsum([0] + [len(c) for c in contours])
    px, ring_at, polygon_at = simplify_rings(
        np.concatenate(contours).reshape(-1, 2).astype(np.int64), starts, hierarchy[0].astype(np.int64), 1.0
    )
    if len(polygon_at) == 1:
        return _NO_OUTLINE
    return Outline(px * cell + origin_xy, ring_at, polygon_at, rings_apart(px, ring_at, polygon_at, 8))


def isochrone_quality(
    graph: StreetGraph, node_minutes: np.ndarray, polygon: shapely.Geometry, limit: float, slack: float = 1.1
) -> tuple[float, float]:
    """Honesty of an isochrone polygon against the exact node minutes.

    Parameters
    ----------
    graph
        The street graph.
    node_minutes
        Exact minutes to every node (``inf`` where not reached; searched to at least ``slack * limit``).
    polygon
        The isochrone (metric CRS).
    limit
        Its time limit in minutes.
    slack
        Nodes slower than ``slack * limit`` count as overreach.

    Returns
    -------
    tuple of float
        (share of nodes reached within `limit` that lie inside the polygon,
        share of the nodes inside the polygon whose time exceeds ``slack * limit``)
    """
    inside = shapely.contains_xy(polygon, graph.node_xy[:, 0], graph.node_xy[:, 1])
    reached = node_minutes <= limit
    covered = float(inside[reached].mean()) if reached.any() else 1.0
    over = float((node_minutes[inside] > slack * limit).mean()) if inside.any() else 0.0
    return covered, over
