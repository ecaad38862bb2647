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
