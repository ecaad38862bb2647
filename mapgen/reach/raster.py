"""Compiled kernels (numba) of isochrone rasters: reached streets drawn, streets not reached cut out, small holes filled."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def reached_extent(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    node_xy: np.ndarray,
    slowest: np.ndarray,
    nodes: np.ndarray,
    minutes: np.ndarray,
    limit: float,
    also: np.ndarray,
) -> tuple[np.ndarray, int]:
    """The box (2 × 2: lower left, upper right) of the segments, the nodes they start from and the points `also`; the segments' count.

    The segments are those :func:`reached_segments` draws; the reached nodes count only when there is
    one (a node with no segment draws nothing). Only a node whose slowest edge out (`slowest`,
    minutes) ends beyond `limit` has segments that stop short of their head; every other segment
    ends at a reached node, so its head is never read. The box is set when the count or the
    number of points `also` ((k, 2): the origin's footprint) is not 0.
    """
    box = np.empty((2, 2))
    box[0, :] = np.inf
    box[1, :] = -np.inf
    count = 0
    for i in range(len(nodes)):
        m = minutes[i]
        if m > limit:
            continue
        tail = nodes[i]
        ax, ay = node_xy[tail, 0], node_xy[tail, 1]
        box[0, 0], box[0, 1] = min(box[0, 0], ax), min(box[0, 1], ay)
        box[1, 0], box[1, 1] = max(box[1, 0], ax), max(box[1, 1], ay)
        if not m < limit:
            continue
        count += indptr[tail + 1] - indptr[tail]
        if m + slowest[tail] <= limit:
            continue
        for j in range(indptr[tail], indptr[tail + 1]):
            if m + data[j] <= limit:
                continue
            frac = (limit - m) / data[j]
            head = indices[j]
            bx = ax + frac * (node_xy[head, 0] - ax)
            by = ay + frac * (node_xy[head, 1] - ay)
            box[0, 0], box[0, 1] = min(box[0, 0], bx), min(box[0, 1], by)
            box[1, 0], box[1, 1] = max(box[1, 0], bx), max(box[1, 1], by)
    if count == 0:
        box[0, :] = np.inf
        box[1, :] = -np.inf
    for k in range(len(also)):
        box[0, 0], box[0, 1] = min(box[0, 0], also[k, 0]), min(box[0, 1], also[k, 1])
        box[1, 0], box[1, 1] = max(box[1, 0], also[k, 0]), max(box[1, 1], also[k, 1])
    return box, count


@njit(cache=True, nogil=True)
def mark_points(canvas: np.ndarray, xy: np.ndarray, x0: float, y0: float, cell: float) -> None:
    """Mark (1) the cells of `canvas` under the points `xy` ((k, 2), metric); (`x0`, `y0`) is the corner of pixel (0, 0)."""
    for k in range(len(xy)):
        canvas[int((xy[k, 1] - y0) / cell + 0.5), int((xy[k, 0] - x0) / cell + 0.5)] = 1


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
) -> None:
    """Draw on `canvas` the street segments travelled within `limit` minutes, and the nodes they start from.

    A segment is every edge out of a node reached in under `limit` minutes, from its tail to the
    point where time runs out (or its head). Each marks (1) the cell of its far end and of points
    every cell or less back towards (not onto) its start, whose cell is another segment's end or a
    cell from one, so the far ends span the drawing; then the cell of every node a segment starts
    from is marked 2 (a reached node, see :func:`clear_nearer_unreached`). (`x0`, `y0`) is the corner of
    pixel (0, 0); the canvas covers :func:`reached_extent`.
    """
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
            ex, ey = (bx - x0) / cell, (by - y0) / cell
            sx, sy = (bx - ax) / cell, (by - ay) / cell
            canvas[int(ey + 0.5), int(ex + 0.5)] = 1
            steps = math.ceil(max(abs(sx), abs(sy)))
            for k in range(1, steps):
                t = k / steps
                canvas[int(ey - t * sy + 0.5), int(ex - t * sx + 0.5)] = 1
    for i in range(len(nodes)):  # after the segments, which would overwrite them
        if minutes[i] < limit:
            tail = nodes[i]
            canvas[int((node_xy[tail, 1] - y0) / cell + 0.5), int((node_xy[tail, 0] - x0) / cell + 0.5)] = 2


@njit(cache=True, nogil=True)
def _root(parent: np.ndarray, i: int) -> int:
    """Root of `i` in the union-find forest `parent`, halving the path on the way."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True, nogil=True)
def close_band(band: np.ndarray, max_cells: float, unreached: np.ndarray) -> tuple[int, int]:
    """Fill, in place, the holes of `band` smaller than `max_cells` cells, then thicken its corner touches.

    `band` is 0 where empty, marked (any other value) elsewhere; its border row and column are empty.
    Returns (holes filled, cells marked at corner touches).

    A hole is a 4-connected region of empty cells not joined to the raster's border (the marked cells
    are 8-connected, as OpenCV traces them, so two empty regions touching at a corner are two holes);
    one with a cell marked in `unreached` (a street not reached, :func:`clear_nearer_unreached`)
    stays open. Where two marked cells then touch only at a corner, one of the two empty cells
    beside them in the upper row is marked: OpenCV traces through the centres of border cells, and
    at a corner touch an outline would pass one point twice (a ring touching itself, invalid).

    The empty cells are read once, as runs per row; the regions are the runs joined to the
    overlapping runs of the row above (union-find), and `unreached` is read only under the runs of
    holes small enough to fill. A corner touch is where an empty run of one row starts at the
    column where one of the row below ends, or ends where one below starts, so the touches are
    found on the runs left empty; the marks go to the upper row, which no later pair of rows reads
    (the same marks as a scan of every 2 × 2 window from the top left).
    """
    starts, ends, rows, row_first = _empty_runs(band)
    n = row_first[-1]
    root, area = _regions(starts, ends, row_first)
    small = (root != root[0]) & (area[root] < max_cells)  # the first run is the empty top row: the outside
    keep_open = np.zeros(n, dtype=np.bool_)
    for r in range(n):
        if small[r] and not keep_open[root[r]]:
            for x in range(starts[r], ends[r]):
                if unreached[rows[r], x]:
                    keep_open[root[r]] = True
                    break
    holes = 0
    filled = small & ~keep_open[root]
    for r in range(n):
        if filled[r]:
            band[rows[r], starts[r] : ends[r]] = 1
            holes += r == root[r]
    return holes, _thicken_on_runs(band, starts, ends, row_first, filled)


@njit(cache=True, nogil=True)
def _empty_runs(band: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The runs of empty cells of `band`, row by row: (start column, end column (excluded), row, first run of each row)."""
    height, width = band.shape
    most = height * ((width + 1) // 2)  # runs a row can hold, times the rows: no growing in the loop
    starts = np.empty(most, dtype=np.int64)
    ends = np.empty(most, dtype=np.int64)
    rows = np.empty(most, dtype=np.int64)
    row_first = np.empty(height + 1, dtype=np.int64)
    n = 0
    for y in range(height):
        row_first[y] = n
        empty = False
        for x in range(width):
            if (band[y, x] == 0) != empty:  # a run starts or ends: rare, so the scan stays a plain loop
                empty = not empty
                if empty:
                    starts[n], rows[n] = x, y
                    n += 1
                else:
                    ends[n - 1] = x
        if empty:
            ends[n - 1] = width
    row_first[height] = n
    return starts[:n], ends[:n], rows[:n], row_first


@njit(cache=True, nogil=True)
def _regions(starts: np.ndarray, ends: np.ndarray, row_first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 4-connected region of every run (its first run, by union-find over overlapping runs of adjacent rows) and each region's cells."""
    n = len(starts)
    parent = np.arange(n)
    for y in range(1, len(row_first) - 1):
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
    root = np.empty(n, dtype=np.int64)
    area = np.zeros(n, dtype=np.int64)
    for r in range(n):
        root[r] = _root(parent, r)
        area[root[r]] += ends[r] - starts[r]
    return root, area


@njit(cache=True, nogil=True)
def _thicken_on_runs(
    band: np.ndarray, starts: np.ndarray, ends: np.ndarray, row_first: np.ndarray, filled: np.ndarray
) -> int:
    """Mark the upper empty cell of every corner touch of `band`, found on its empty runs not `filled`; the number marked."""
    width = band.shape[1]
    marked = 0
    for y in range(len(row_first) - 2):
        i, j = row_first[y], row_first[y + 1]  # the runs left empty in row y and row y + 1, in column order
        while i < row_first[y + 1] and j < row_first[y + 2]:
            if filled[i]:
                i += 1
                continue
            if filled[j]:
                j += 1
                continue
            if 0 < starts[i] == ends[j] < width and band[y, starts[i]] == 0:
                band[y, starts[i]] = 1  # marked, empty / empty, marked: the upper empty cell is marked
                marked += 1
            if 0 < ends[i] == starts[j] < width and band[y, ends[i] - 1] == 0:
                band[y, ends[i] - 1] = 1  # empty, marked / marked, empty: the upper empty cell is marked
                marked += 1
            if ends[i] < ends[j]:
                i += 1
            else:
                j += 1
    return marked


@njit(cache=True, nogil=True)
def clear_nearer_unreached(
    band: np.ndarray,
    streets: np.ndarray,
    others: np.ndarray,
    offsets: np.ndarray,
    within: int,
    corner: np.ndarray,
    bin_m: float,
    n_bins_x: int,
    n_bins_y: int,
    bin_ptr: np.ndarray,
    grid_node: np.ndarray,
    reached: np.ndarray,
    reached_nodes: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    node_xy: np.ndarray,
    binned_xy: np.ndarray,
    x0: float,
    y0: float,
    cell: float,
) -> int:
    """Clear the cells of `band` nearer to a street the search did not reach than to a reached one; the number cleared.

    The streets not reached are the edges (``indptr``, ``indices``: CSR) between two nodes not
    in `reached_nodes` (flagged in the scratch `reached`, all False on entry and on return), out of
    the nodes in the grid bins (`corner`, `bin_m`, ``bin_ptr``, ``grid_node``: a
    :class:`mapgen.reach.nodegrid.NodeGrid`, with the graph's islands; ``binned_xy`` their coordinates in
    that order, read in turn rather than each from `node_xy`) under the raster,
    whose pixel (0, 0) has its corner at (`x0`, `y0`). They are drawn on `others` (1) where `streets`
    (the reached segments, 1, and nodes, 2, of :func:`reached_segments`) has no mark, from the nodes
    in `band` (a street elsewhere is drawn from its other end, if that is in the band); the cell of
    every such node in the raster is marked too (:func:`close_band` keeps the holes holding
    one open).

    `offsets` are the (row, column) steps of a disc, sorted by length, the first `within` of them no
    longer than the band's radius less one cell. A cell of the band that many steps from a marked
    street cell is cleared when no reached street lies as near (at equal distance the reached street
    keeps it), unless a reached node is among its eight neighbours (so the outline, traced through
    cell centres and simplified by a cell, still holds the node): where a street not reached runs
    beside a reached one (the other carriageway of a one-way pair, a path behind a fence, a sidewalk
    mapped apart and joined to nothing) the band stops about halfway between them.
    """
    for node in reached_nodes:
        reached[node] = True
    height, width = band.shape
    i0 = max(0, int((x0 - corner[0]) // bin_m))
    j0 = max(0, int((y0 - corner[1]) // bin_m))
    i1 = min(n_bins_x - 1, int((x0 + width * cell - corner[0]) // bin_m))
    j1 = min(n_bins_y - 1, int((y0 + height * cell - corner[1]) // bin_m))
    near = np.empty(height * width, dtype=np.int64)  # marked cells within reach of the band, as row * width + column
    n_near = 0
    for j in range(j0, j1 + 1):
        for i in range(i0, i1 + 1):
            b = j * n_bins_x + i
            for k in range(bin_ptr[b], bin_ptr[b + 1]):
                tail = grid_node[k]
                if reached[tail]:
                    continue
                ax, ay = (binned_xy[k, 0] - x0) / cell, (binned_xy[k, 1] - y0) / cell
                tx, ty = int(ax + 0.5), int(ay + 0.5)
                inside = 0 <= tx < width and 0 <= ty < height
                if inside and not streets[ty, tx] and not others[ty, tx]:
                    others[ty, tx] = 1
                    n_near = _keep_if_near(near, n_near, band, offsets, within, ty, tx)
                if not (inside and band[ty, tx]):
                    continue
                for e in range(indptr[tail], indptr[tail + 1]):
                    head = indices[e]
                    if reached[head]:
                        continue
                    bx, by = (node_xy[head, 0] - x0) / cell, (node_xy[head, 1] - y0) / cell
                    steps = math.ceil(max(abs(bx - ax), abs(by - ay)))
                    for s in range(1, steps + 1):
                        t = s / steps
                        px, py = int(ax + t * (bx - ax) + 0.5), int(ay + t * (by - ay) + 0.5)
                        if 0 <= px < width and 0 <= py < height and not streets[py, px] and not others[py, px]:
                            others[py, px] = 1
                            n_near = _keep_if_near(near, n_near, band, offsets, within, py, px)
    for node in reached_nodes:
        reached[node] = False
    return _clear_cells(band, streets, near[:n_near], offsets, within)


@njit(cache=True, nogil=True)
def _clear_cells(band: np.ndarray, streets: np.ndarray, near: np.ndarray, offsets: np.ndarray, within: int) -> int:
    """Clear the cells of `band` within the first `within` `offsets` of the `near` cells (row * width + column) that no reached street is as near to and no reached node is next to; the number cleared."""
    height, width = band.shape
    cleared = 0
    for q in range(len(near)):
        uy, ux = near[q] // width, near[q] % width
        for a in range(within):
            cy, cx = uy + offsets[a, 0], ux + offsets[a, 1]
            if not (0 <= cy < height and 0 <= cx < width) or not band[cy, cx]:
                continue
            reach = offsets[a, 0] ** 2 + offsets[a, 1] ** 2
            kept = False
            for o in range(len(offsets)):
                if offsets[o, 0] ** 2 + offsets[o, 1] ** 2 > reach:
                    break
                ry, rx = cy + offsets[o, 0], cx + offsets[o, 1]
                if 0 <= ry < height and 0 <= rx < width and streets[ry, rx]:
                    kept = True
                    break
            for ry in range(max(cy - 1, 0), min(cy + 2, height)):
                for rx in range(max(cx - 1, 0), min(cx + 2, width)):
                    kept |= streets[ry, rx] == 2
            if not kept:
                band[cy, cx] = 0
                cleared += 1
    return cleared


@njit(cache=True, nogil=True)
def _keep_if_near(
    near: np.ndarray, n_near: int, band: np.ndarray, offsets: np.ndarray, within: int, y: int, x: int
) -> int:
    """Append cell (`y`, `x`) to `near` when a cell of `band` lies within the first `within` `offsets` of it; the new length."""
    height, width = band.shape
    for a in range(within):
        cy, cx = y + offsets[a, 0], x + offsets[a, 1]
        if 0 <= cy < height and 0 <= cx < width and band[cy, cx]:
            near[n_near] = y * width + x
            return n_near + 1
    return n_near
