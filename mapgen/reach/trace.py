"""Isochrone polygons traced from reached street segments on a raster (OpenCV), and their honesty."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import shapely

from mapgen.network import StreetGraph
from mapgen.reach.kernels import corners, mark_segments, segment_ends


def reached_segments(
    graph: StreetGraph, nodes: np.ndarray, minutes: np.ndarray, limit: float
) -> tuple[np.ndarray, np.ndarray]:
    """Street segments travelled within `limit` minutes, the frontier edges cut where time runs out.

    Parameters
    ----------
    graph
        The street graph.
    nodes, minutes
        Reached node indices and their minutes.
    limit
        Time limit in minutes.

    Returns
    -------
    tuple of numpy.ndarray
        Start and end points (metric CRS), each (k, 2).
    """
    matrix = graph.matrix
    return segment_ends(
        matrix.indptr,
        matrix.indices,
        matrix.data,
        graph.node_xy,
        np.asarray(nodes, dtype=np.int64),
        np.asarray(minutes, dtype=float),
        float(limit),
    )


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
    polygon. It is traced on a raster (OpenCV): the segments are drawn one
    cell thick, widened by `buffer_m` (a dilation with a disc), enclosed holes
    smaller than `fill_m2` are filled (blocks ringed by reached streets), and
    the outlines are traced and simplified to one cell before any shapely
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
        Holes smaller than this (square metres) are filled.

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
    bands = sorted(bands)
    segments = [reached_segments(graph, nodes, minutes, band) for band in bands]
    outlines = trace_outlines(segments, origin, buffer_m, cell_m or buffer_m / 2.5, max_cells, fill_m2)
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
        return shape if shapely.is_valid(shape) else shapely.buffer(shape, 0)


EMPTY_POLYGON = shapely.Polygon()
_NO_OUTLINE = Outline(np.empty((0, 2)), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))


def trace_outlines(
    segments: Sequence[tuple[np.ndarray, np.ndarray]],
    origin: shapely.Geometry | None,
    buffer_m: float,
    cell_m: float,
    max_cells: int,
    fill_m2: float,
) -> list[Outline]:
    """Outlines of the area within `buffer_m` of each set of segments (and of `origin`), on one raster.

    Parameters
    ----------
    segments
        Per band, start and end points (k, 2) of its segments (see :func:`reached_segments`);
        the last set spans the others.
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
        One per set of segments.
    """
    last_b = segments[-1][1]
    dots = np.empty((0, 2))
    shells: list[np.ndarray] = []
    if origin is not None and not shapely.is_empty(origin):
        if shapely.get_dimensions(origin) == 2:
            shells = [shapely.get_coordinates(ring) for ring in shapely.get_exterior_ring(shapely.get_parts(origin))]
        else:
            dots = shapely.get_coordinates(origin)
    # every start is another segment's end or a cell from one: the ends (and the origin) span the raster
    parts = [p for p in (last_b, dots, *shells) if len(p)]
    if not parts:
        return [_NO_OUTLINE] * len(segments)
    extent = np.array([corners(p) for p in parts])
    lo, hi = extent[:, 0].min(axis=0), extent[:, 1].max(axis=0)
    span = hi - lo + 2 * buffer_m
    cell = max(cell_m, float(np.sqrt(span[0] * span[1] / max_cells)))
    radius = max(1, round(buffer_m / cell))
    origin_xy = lo - (radius + 2) * cell  # pixel (0, 0); a background margin of two cells all round
    width, height = (np.ceil((hi - origin_xy) / cell) + radius + 3).astype(int)
    canvas = np.zeros((height, width), dtype=np.uint8)
    if len(dots):
        _mark(canvas, (dots - origin_xy) / cell)
    if shells:  # OpenCV draws on fixed-point pixel coordinates, here with 2 fractional bits
        cv2.fillPoly(
            canvas, [((s - origin_xy) * (4.0 / cell)).round().astype(np.int32) for s in shells], 1, cv2.LINE_8, 2
        )
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    fill_px = fill_m2 / cell**2
    outlines = []
    for a, b in segments:
        mark_segments(canvas, a, b, float(origin_xy[0]), float(origin_xy[1]), cell)
        outlines.append(_outline(cv2.dilate(canvas, disc), origin_xy, cell, fill_px))
    return outlines


def _mark(canvas: np.ndarray, px: np.ndarray) -> None:
    """Mark, in place, the cells of `canvas` under the points `px` (pixel coordinates, x then y)."""
    cells = (px + 0.5).astype(np.intp)
    canvas[cells[:, 1], cells[:, 0]] = 1


def _outline(band: np.ndarray, origin_xy: np.ndarray, cell: float, fill_px: float) -> Outline:
    """Trace the outlines of the marked cells, fill holes under `fill_px` cells, simplify to one cell, georeference.

    Contours nest (OpenCV's tree): shells at even depth, holes at odd depth. A
    hole smaller than `fill_px` is dropped with everything inside it, which
    fills it; the rest are simplified (Douglas-Peucker, one cell) as pixel chains.
    """
    contours, hierarchy = cv2.findContours(band, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return _NO_OUTLINE
    parent = hierarchy[0][:, 3]
    depth = np.zeros(len(parent), dtype=np.intp)
    up = parent.copy()
    while (up >= 0).any():
        depth += up >= 0
        up = np.where(up >= 0, parent[up], -1)
    keep = np.ones(len(parent), dtype=bool)
    holes = np.flatnonzero(depth % 2 == 1)
    if fill_px >= 1 and len(holes):
        keep[holes[ring_areas(contours, holes) < fill_px]] = False
        inside_filled = np.zeros(len(parent), dtype=bool)
        up = parent.copy()
        while (up >= 0).any():
            inside_filled |= (up >= 0) & ~keep[np.maximum(up, 0)]
            up = np.where(up >= 0, parent[up], -1)
        keep &= ~inside_filled
    rings: list[np.ndarray] = []
    ring_offsets, polygon_offsets = [0], [0]
    kept_holes = np.flatnonzero(keep & (depth % 2 == 1))
    by_parent = kept_holes[np.argsort(parent[kept_holes], kind="stable")]
    hole_start = np.searchsorted(parent[by_parent], np.arange(len(parent) + 1))
    for shell in np.flatnonzero(keep & (depth % 2 == 0)):
        for k in (shell, *by_parent[hole_start[shell] : hole_start[shell + 1]]):
            ring = cv2.approxPolyDP(contours[int(k)], 1.0, True)[:, 0]
            if len(ring) < 3:
                if k == shell:
                    break
                continue
            rings += [ring, ring[:1]]
            ring_offsets.append(ring_offsets[-1] + len(ring) + 1)
        if len(ring_offsets) - 1 > polygon_offsets[-1]:
            polygon_offsets.append(len(ring_offsets) - 1)
    if len(polygon_offsets) == 1:
        return _NO_OUTLINE
    return Outline(np.concatenate(rings) * cell + origin_xy, np.array(ring_offsets), np.array(polygon_offsets))


def ring_areas(contours: Sequence[np.ndarray], which: np.ndarray) -> np.ndarray:
    """Areas, in cells, of the OpenCV contours `which` (integer vertices, shoelace formula).

    The same figures as ``cv2.contourArea`` (on integer vertices every product and sum is exact in
    double precision), in one pass over all the rings instead of one call per ring.
    """
    sizes = np.array([len(contours[int(k)]) for k in which])
    xy = np.concatenate([contours[int(k)] for k in which]).reshape(-1, 2).astype(np.int64)
    start = np.cumsum(sizes) - sizes
    after = np.arange(1, len(xy) + 1)
    after[start + sizes - 1] = start  # each ring closes on its first vertex
    cross = xy[:, 0] * xy[after, 1] - xy[after, 0] * xy[:, 1]
    return np.abs(np.add.reduceat(cross, start)) / 2.0


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
