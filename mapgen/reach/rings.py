"""Compiled kernel (numba) of isochrone outlines: traced rings simplified (Douglas-Peucker) and assembled."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def simplify_rings(
    points: np.ndarray, starts: np.ndarray, tree: np.ndarray, tolerance: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Douglas-Peucker simplification of OpenCV's two-level contours, assembled as polygons with holes.

    Parameters
    ----------
    points
        (n, 2) integer vertices of every contour, one after the other.
    starts
        (c + 1,) offsets of the contours in `points`.
    tree
        (c, 4) OpenCV's hierarchy (next, previous, first child, parent) of a ``RETR_CCOMP`` trace:
        shells at the top, their holes as children.
    tolerance
        Largest distance (pixels) a dropped vertex may lie from the simplified ring.

    Returns
    -------
    tuple of numpy.ndarray
        Closed rings' vertices (m, 2), ring offsets (r + 1) and polygon offsets (p + 1), each polygon its
        shell then its holes; rings left with fewer than three vertices are dropped (a shell with its holes).
    """
    keep = np.zeros(len(points), dtype=np.bool_)
    stack = np.empty((len(points) + 2, 2), dtype=np.int64)
    out = np.empty((len(points) + len(starts), 2), dtype=points.dtype)
    ring_offsets = np.zeros(len(starts), dtype=np.int64)
    polygon_offsets = np.zeros(len(starts), dtype=np.int64)
    n_out = n_rings = n_polygons = 0
    for shell in range(len(starts) - 1):
        if tree[shell, 3] >= 0:
            continue
        k = shell
        while k >= 0:
            kept = _simplify_ring(points, starts[k], starts[k + 1], tolerance, keep, stack)
            if kept >= 3:
                first = n_out
                for i in range(starts[k], starts[k + 1]):
                    if keep[i]:
                        out[n_out] = points[i]
                        n_out += 1
                out[n_out] = out[first]  # closed, as shapely's rings are
                n_out += 1
                n_rings += 1
                ring_offsets[n_rings] = n_out
            elif k == shell:
                break
            k = tree[shell, 2] if k == shell else tree[k, 0]
        if n_rings > polygon_offsets[n_polygons]:
            n_polygons += 1
            polygon_offsets[n_polygons] = n_rings
    return out[:n_out], ring_offsets[: n_rings + 1], polygon_offsets[: n_polygons + 1]


@njit(cache=True, nogil=True)
def _simplify_ring(
    points: np.ndarray, start: int, stop: int, tolerance: float, keep: np.ndarray, stack: np.ndarray
) -> int:
    """Mark in `keep` the vertices of ring ``points[start:stop]`` that Douglas-Peucker keeps; their number.

    The ring is split at its first vertex and the vertex farthest from it, and each half simplified
    against the line through its ends (as OpenCV's ``approxPolyDP`` does).
    """
    n = stop - start
    if n < 3:
        for i in range(start, stop):
            keep[i] = True
        return n
    far, far_d = start, -1.0
    for i in range(start + 1, stop):
        d = float(points[i, 0] - points[start, 0]) ** 2 + float(points[i, 1] - points[start, 1]) ** 2
        if d > far_d:
            far, far_d = i, d
    keep[start] = keep[far] = True
    kept = 2
    top = 0
    stack[top, 0], stack[top, 1] = start, far
    stack[top + 1, 0], stack[top + 1, 1] = far, stop  # stop stands for the first vertex again
    top = 2
    while top:
        top -= 1
        a, b = stack[top, 0], stack[top, 1]
        if b - a < 2:
            continue
        bi = start if b == stop else b
        ax, ay = float(points[a, 0]), float(points[a, 1])
        dx, dy = float(points[bi, 0]) - ax, float(points[bi, 1]) - ay
        # distance to the line a-b, squared and scaled by its squared length: no roots, no divisions
        scale = dx * dx + dy * dy
        worst, worst_d = -1, tolerance * tolerance * scale if scale > 0.0 else tolerance * tolerance
        for i in range(a + 1, b):
            px, py = float(points[i, 0]) - ax, float(points[i, 1]) - ay
            d = (px * dy - py * dx) ** 2 if scale > 0.0 else px * px + py * py
            if d > worst_d:
                worst, worst_d = i, d
        if worst >= 0:
            keep[worst] = True
            kept += 1
            stack[top, 0], stack[top, 1] = a, worst
            stack[top + 1, 0], stack[top + 1, 1] = worst, b
            top += 2
    return kept


@njit(cache=True, nogil=True)
def rings_apart(points: np.ndarray, ring_offsets: np.ndarray, polygon_offsets: np.ndarray, bucket: int) -> bool:
    """Whether the closed integer rings of :func:`simplify_rings` make a valid (multi)polygon without GEOS.

    True when no two edges of any rings meet, except consecutive edges of a ring at their shared
    vertex (and those not doubling back), and each hole's first vertex lies inside its shell: the
    rings are then simple and apart, as they were traced. Exact (integer arithmetic); False for
    anything less sure, which the caller checks with GEOS. Edges are compared within square
    buckets of `bucket` pixels.
    """
    n_rings = len(ring_offsets) - 1
    n_edges = 0
    for r in range(n_rings):
        n_edges += ring_offsets[r + 1] - ring_offsets[r] - 1
    if n_edges == 0:
        return True
    edge_start = np.empty(n_edges, dtype=np.int64)  # index of the edge's first vertex
    edge_ring = np.empty(n_edges, dtype=np.int64)
    k = 0
    for r in range(n_rings):
        for i in range(ring_offsets[r], ring_offsets[r + 1] - 1):
            if points[i, 0] == points[i + 1, 0] and points[i, 1] == points[i + 1, 1]:
                return False  # a repeated vertex: let GEOS decide
            edge_start[k], edge_ring[k] = i, r
            k += 1
    x0, y0 = points[:, 0].min(), points[:, 1].min()
    nx = (points[:, 0].max() - x0) // bucket + 1
    ny = (points[:, 1].max() - y0) // bucket + 1
    count = np.zeros(nx * ny + 1, dtype=np.int64)  # edges per bucket, then the buckets' offsets in `listed`
    for e in range(n_edges):
        bx0, bx1, by0, by1 = _buckets(points, edge_start[e], x0, y0, bucket)
        for by in range(by0, by1 + 1):
            for bx in range(bx0, bx1 + 1):
                count[by * nx + bx + 1] += 1
    for b in range(nx * ny):
        count[b + 1] += count[b]
    listed = np.empty(count[nx * ny], dtype=np.int64)
    fill = count[:-1].copy()
    for e in range(n_edges):
        bx0, bx1, by0, by1 = _buckets(points, edge_start[e], x0, y0, bucket)
        for by in range(by0, by1 + 1):
            for bx in range(bx0, bx1 + 1):
                listed[fill[by * nx + bx]] = e
                fill[by * nx + bx] += 1
    for b in range(nx * ny):
        for p in range(count[b], count[b + 1]):
            for q in range(p + 1, count[b + 1]):
                if not _edges_apart(points, ring_offsets, edge_start, edge_ring, listed[p], listed[q]):
                    return False
    for poly in range(len(polygon_offsets) - 1):
        shell = polygon_offsets[poly]
        for hole in range(shell + 1, polygon_offsets[poly + 1]):
            h = ring_offsets[hole]
            if not _inside(points, ring_offsets[shell], ring_offsets[shell + 1], points[h, 0], points[h, 1]):
                return False
    return True


@njit(cache=True, nogil=True)
def _buckets(points: np.ndarray, i: int, x0: int, y0: int, bucket: int) -> tuple[int, int, int, int]:
    """First and last bucket column and row of the edge from vertex `i` to ``i + 1``."""
    bx0 = (min(points[i, 0], points[i + 1, 0]) - x0) // bucket
    bx1 = (max(points[i, 0], points[i + 1, 0]) - x0) // bucket
    by0 = (min(points[i, 1], points[i + 1, 1]) - y0) // bucket
    by1 = (max(points[i, 1], points[i + 1, 1]) - y0) // bucket
    return bx0, bx1, by0, by1


@njit(cache=True, nogil=True)
def _turn(ax: int, ay: int, bx: int, by: int, cx: int, cy: int) -> int:
    """Sign of the turn a -> b -> c (1 left, -1 right, 0 straight), exactly."""
    cross = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    return (cross > 0) - (cross < 0)


@njit(cache=True, nogil=True)
def _edges_apart(
    points: np.ndarray, ring_offsets: np.ndarray, edge_start: np.ndarray, edge_ring: np.ndarray, e: int, f: int
) -> bool:
    """Whether edges `e` and `f` meet nowhere, or (consecutive in one ring) only at their shared vertex."""
    if e > f:
        e, f = f, e
    i, j = edge_start[e], edge_start[f]
    ax, ay, bx, by = points[i, 0], points[i, 1], points[i + 1, 0], points[i + 1, 1]
    cx, cy, dx, dy = points[j, 0], points[j, 1], points[j + 1, 0], points[j + 1, 1]
    ring = edge_ring[e]
    if ring == edge_ring[f]:
        first, last = ring_offsets[ring], ring_offsets[ring + 1] - 2  # the ring's first and last edges start there
        if j == i + 1:  # f follows e: they share b == c
            return _turn(ax, ay, bx, by, dx, dy) != 0 or (bx - ax) * (dx - bx) + (by - ay) * (dy - by) > 0
        if i == first and j == last:  # the closing edge f ends where e starts: d == a
            return _turn(cx, cy, dx, dy, bx, by) != 0 or (dx - cx) * (bx - dx) + (dy - cy) * (by - dy) > 0
    if max(ax, bx) < min(cx, dx) or max(cx, dx) < min(ax, bx) or max(ay, by) < min(cy, dy) or max(cy, dy) < min(ay, by):
        return True
    t1, t2 = _turn(ax, ay, bx, by, cx, cy), _turn(ax, ay, bx, by, dx, dy)
    t3, t4 = _turn(cx, cy, dx, dy, ax, ay), _turn(cx, cy, dx, dy, bx, by)
    return t1 * t2 > 0 or t3 * t4 > 0  # (collinear edges whose boxes overlap meet: all four turns are 0)


@njit(cache=True, nogil=True)
def _inside(points: np.ndarray, start: int, stop: int, x: int, y: int) -> bool:
    """Whether (`x`, `y`) lies strictly inside the closed ring ``points[start:stop]`` (crossings of a ray, exactly)."""
    inside = False
    for i in range(start, stop - 1):
        ax, ay, bx, by = points[i, 0], points[i, 1], points[i + 1, 0], points[i + 1, 1]
        if (ay > y) != (by > y):
            # x of the crossing compared with x, multiplied out by (by - ay) to stay in integers
            side = (bx - ax) * (y - ay) - (x - ax) * (by - ay)
            if side == 0:
                return False  # on the edge
            inside ^= (side > 0) == (by > ay)
    return inside
