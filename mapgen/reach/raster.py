"""Compiled kernels (numba) of isochrone rasters: reached streets drawn, unreached nodes cut out, small holes filled."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def reached_segments(
    canvas: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    node_xy: np.ndarray,
    nodes: np.ndarray,
    minutes: np.ndarray,
    limit: float,
    x0: float,
    y0: float,
    cell: float,
) -> tuple[np.ndarray, int]:
    """Draw on `canvas` the street segments travelled within `limit` minutes; the box of their far ends and their count.

    A segment is every edge out of a node reached in under `limit` minutes, from its tail to the
    point where time runs out (or its head). Each marks (1) the cell of its far end and of points
    every cell or less back towards (not onto) its start, whose cell is another segment's end or a
    cell from one, so the far ends span the drawing; then the cell of every node a segment starts
    from is marked 2 (a reached node, see :func:`carve_unreached`). (`x0`, `y0`) is the corner of
    pixel (0, 0). An empty `canvas` (no cells) draws nothing: the call only measures the box, to size
    the raster (the box, 2 × 2: lower left, upper right, is set only then, and when the count is not 0).
    """
    draw = canvas.size > 0
    box = np.empty((2, 2))
    box[0, :] = np.inf
    box[1, :] = -np.inf
    count = 0
    for i in range(len(nodes)):
        m = minutes[i]
        if not m < limit:
            continue
        tail = nodes[i]
        ax, ay = node_xy[tail, 0], node_xy[tail, 1]
        for j in range(indptr[tail], indptr[tail + 1]):
            frac = min((limit - m) / data[j], 1.0)
            head = indices[j]
            bx = ax + frac * (node_xy[head, 0] - ax)
            by = ay + frac * (node_xy[head, 1] - ay)
            count += 1
            if not draw:
                box[0, 0], box[0, 1] = min(box[0, 0], bx), min(box[0, 1], by)
                box[1, 0], box[1, 1] = max(box[1, 0], bx), max(box[1, 1], by)
                continue
            ex, ey = (bx - x0) / cell, (by - y0) / cell
            sx, sy = (bx - ax) / cell, (by - ay) / cell
            canvas[int(ey + 0.5), int(ex + 0.5)] = 1
            steps = math.ceil(max(abs(sx), abs(sy)))
            for k in range(1, steps):
                t = k / steps
                canvas[int(ey - t * sy + 0.5), int(ex - t * sx + 0.5)] = 1
    for i in range(len(nodes) if draw else 0):  # after the segments, which would overwrite them
        if minutes[i] < limit:
            tail = nodes[i]
            canvas[int((node_xy[tail, 1] - y0) / cell + 0.5), int((node_xy[tail, 0] - x0) / cell + 0.5)] = 2
    return box, count


@njit(cache=True, nogil=True)
def _root(parent: np.ndarray, i: int) -> int:
    """Root of `i` in the union-find forest `parent`, halving the path on the way."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True, nogil=True)
def fill_small_holes(band: np.ndarray, max_cells: float, unreached: np.ndarray) -> int:
    """Fill, in place, every hole of `band` (0 empty, other values marked) smaller than `max_cells` cells; the number filled.

    A hole with a cell marked in `unreached` (a street node not reached, :func:`carve_unreached`) stays
    open. A hole is a 4-connected region of empty cells not joined to the raster's border (the marked cells
    are 8-connected, as OpenCV traces them, so two empty regions touching at a corner are two holes);
    the border row and column are empty. Regions are found as runs of empty cells per row, joined to
    the overlapping runs of the row above (union-find), so the work grows with the runs, not the cells.
    """
    height, width = band.shape
    most = height * ((width + 1) // 2)  # runs a row can hold, times the rows: no growing in the loop
    starts = np.empty(most, dtype=np.int64)
    ends = np.empty(most, dtype=np.int64)
    rows = np.empty(most, dtype=np.int64)
    open_run = np.zeros(most, dtype=np.bool_)
    row_first = np.empty(height + 1, dtype=np.int64)
    n = 0
    for y in range(height):
        row_first[y] = n
        before = np.uint8(1)
        for x in range(width):
            cell = band[y, x]
            if cell == 0 and before != 0:
                starts[n], rows[n] = x, y
                n += 1
            elif cell != 0 and before == 0:
                ends[n - 1] = x
            if cell == 0 and unreached[y, x]:
                open_run[n - 1] = True
            before = cell
        if before == 0:
            ends[n - 1] = width
    row_first[height] = n
    parent = np.arange(n)
    for y in range(1, height):
        i, j = row_first[y - 1], row_first[y]
        while i < row_first[y] and j < row_first[y + 1]:
            if starts[i] < ends[j] and starts[j] < ends[i]:
                a, b = _root(parent, i), _root(parent, j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            if ends[i] < ends[j]:
                i += 1
            else:
                j += 1
    area = np.zeros(n, dtype=np.int64)
    keep_open = np.zeros(n, dtype=np.bool_)
    for r in range(n):
        root = _root(parent, r)
        area[root] += ends[r] - starts[r]
        keep_open[root] |= open_run[r]
    border = _root(parent, 0)  # the first run is the empty top row
    holes = 0
    for r in range(n):
        root = _root(parent, r)
        if root != border and area[root] < max_cells and not keep_open[root]:
            for x in range(starts[r], ends[r]):
                band[rows[r], x] = 1
            holes += r == root
    return holes


@njit(cache=True, nogil=True)
def thicken_corner_touches(band: np.ndarray) -> int:
    """Where two marked cells of `band` touch only at a corner, mark one of the other two; the number marked.

    OpenCV traces marked cells 8-connected, through the centres of the border cells: at a corner
    touch an outline passes one point twice, which makes a ring touch itself (an invalid polygon).
    """
    height, width = band.shape
    marked = 0
    for y in range(height - 1):
        for x in range(width - 1):
            if band[y, x] and band[y + 1, x + 1] and not band[y, x + 1] and not band[y + 1, x]:
                band[y, x + 1] = 1
                marked += 1
            elif band[y, x + 1] and band[y + 1, x] and not band[y, x] and not band[y + 1, x + 1]:
                band[y, x] = 1
                marked += 1
    return marked


@njit(cache=True, nogil=True)
def carve_unreached(
    band: np.ndarray,
    streets: np.ndarray,
    unreached: np.ndarray,
    corner: np.ndarray,
    bin_m: float,
    n_bins_x: int,
    n_bins_y: int,
    bin_ptr: np.ndarray,
    grid_node: np.ndarray,
    reached: np.ndarray,
    node_xy: np.ndarray,
    x0: float,
    y0: float,
    cell: float,
) -> int:
    """Clear, in `band`, the cells of street nodes not `reached` that no reached street crosses; the number cleared.

    Those cells, and the cells of such nodes outside the band, are marked in `unreached` (a raster of
    the band's shape, zero before): :func:`fill_small_holes` leaves the holes holding them open.

    `streets` is the raster of reached segments (1) and reached nodes (2) before it was widened into
    `band` (:func:`reached_segments`). A cell next to a reached node is kept, so the outline, traced
    through cell centres and simplified by a cell, still holds that node. The nodes come from the grid
    bins (`corner`, `bin_m`, ``bin_ptr``, ``grid_node``: a :class:`mapgen.reach.nodegrid.NodeGrid`)
    under the raster, whose pixel (0, 0) has its corner at (`x0`, `y0`).
    """
    height, width = band.shape
    i0 = max(0, int((x0 - corner[0]) // bin_m))
    j0 = max(0, int((y0 - corner[1]) // bin_m))
    i1 = min(n_bins_x - 1, int((x0 + width * cell - corner[0]) // bin_m))
    j1 = min(n_bins_y - 1, int((y0 + height * cell - corner[1]) // bin_m))
    cleared = 0
    for j in range(j0, j1 + 1):
        for i in range(i0, i1 + 1):
            b = j * n_bins_x + i
            for k in range(bin_ptr[b], bin_ptr[b + 1]):
                node = grid_node[k]
                if reached[node]:
                    continue
                px = int((node_xy[node, 0] - x0) / cell + 0.5)
                py = int((node_xy[node, 1] - y0) / cell + 0.5)
                if not (1 <= px < width - 1 and 1 <= py < height - 1) or streets[py, px]:
                    continue
                if not band[py, px]:
                    unreached[py, px] = 1  # outside the band: a hole around it stays open
                elif (streets[py - 1 : py + 2, px - 1 : px + 2] < 2).all():
                    band[py, px] = 0
                    unreached[py, px] = 1
                    cleared += 1
    return cleared
