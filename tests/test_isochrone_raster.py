"""Isochrone raster kernels: holes filled by size and content, corner touches, streets not reached cut out, rings simplified, grid."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest
import shapely
from scipy.ndimage import distance_transform_edt, label
from scipy.sparse.csgraph import dijkstra
from test_reach_core import SETTINGS, graph_of, random_nodes, random_points

from mapgen.reach import attach, chains, nearby_minutes, trace
from mapgen.reach.kernels import bounded_search
from mapgen.reach.nodegrid import BIN_M, node_grid
from mapgen.reach.raster import close_band, reached_extent, reached_segments
from mapgen.reach.rings import rings_apart, simplify_rings
from mapgen.reach.trace import Outline, cut_out_unreached, slowest_edge_minutes, trace_outlines


def frame(rows: list[str]) -> np.ndarray:
    """A raster from rows of '#' (marked) and '.' (empty)."""
    return np.array([[c == "#" for c in row] for row in rows], dtype=np.uint8)


def test_holes_smaller_than_the_limit_are_filled_and_the_outside_is_not() -> None:
    band = frame(
        [
            "..............",
            ".#####.######.",
            ".#...#.#....#.",
            ".#.#.#.#....#.",
            ".#...#.#....#.",
            ".#####.######.",
            "..............",
        ]
    )
    before = band.copy()
    # left: a hole of 8 cells around an island; right: a hole of 12 cells
    assert close_band(band, 10.0, np.zeros_like(band)) == (1, 0)
    assert band[2:5, 2:5].all()  # the small hole is filled (its island joined)
    assert (band[2:5, 8:12] == 0).all()  # the larger one stays
    assert (band[0] == 0).all() and (band[:, 6] == 0).all()  # the outside (touching the border) stays empty
    assert ((band - before) >= 0).all()


def test_a_small_hole_holding_a_street_node_not_reached_stays_open() -> None:
    band = frame(
        [
            ".............",
            ".#####.#####.",
            ".#...#.#...#.",
            ".#...#.#...#.",
            ".#####.#####.",
            ".............",
        ]
    )
    unreached = np.zeros_like(band)
    unreached[2, 9] = 1  # a node of a street no path reaches within the limit lies in the right hole
    unreached[0, 3] = 1  # one outside changes nothing
    assert close_band(band, 10.0, unreached) == (1, 0)
    assert band[2:4, 2:5].all()  # the left block is filled
    assert (band[2:4, 8:11] == 0).all()  # the right one is not: something in it is not reached


def test_empty_regions_touching_at_a_corner_are_two_holes() -> None:
    # marked cells are 8-connected, as OpenCV traces them: the two empty cells are separate holes of one cell
    band = frame(
        [
            "......",
            ".####.",
            ".#.##.",
            ".##.#.",
            ".####.",
            "......",
        ]
    )
    assert close_band(band, 2.0, np.zeros_like(band)) == (2, 0)
    assert band[1:5, 1:5].all()


def test_corner_touches_are_thickened_so_no_ring_passes_a_point_twice() -> None:
    band = frame(
        [
            "........",
            ".###....",
            ".###....",
            ".###....",
            "....###.",
            "....###.",
            "....###.",
            "........",
        ]
    )
    assert close_band(band, 0.0, np.zeros_like(band)) == (0, 1)
    contours, _ = cv2.findContours(band, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    assert len(contours) == 1
    ring = contours[0][:, 0]
    assert len({tuple(p) for p in ring}) == len(ring)  # no vertex visited twice
    assert shapely.Polygon(ring).is_valid


def heidelberg_bike_outlines(k: int, seed: int, fill_m2: float) -> Iterator[Outline]:
    """The traced 15-minute outlines (no origin footprint) around `k` random points of Heidelberg's bike graph."""
    graph = graph_of("heidelberg", "bike")
    origins = attach(graph, random_points(graph, np.random.default_rng(seed), k), leaving=True, settings=SETTINGS)
    for place in range(k):
        mine = origins.place == place
        nodes, minutes = nearby_minutes(graph, origins.node[mine], origins.minutes[mine], SETTINGS.minutes)
        yield trace_outlines(
            graph, nodes, minutes, [SETTINGS.minutes], None, 25.0, 10.0, SETTINGS.isochrone_max_cells, fill_m2
        )[0]


@pytest.mark.parametrize(("city", "mode"), [("shenzhen", "walk"), ("heidelberg", "bike")])
def test_real_bands_closed_as_labelled_regions_and_2x2_windows_say(city: str, mode: str, monkeypatch) -> None:
    # the run-based kernel against the plain rules, on the bands of real isochrones: holes are the 4-connected
    # empty regions off the border (scipy's labels), filled under the area unless a street not reached is in
    # them; then every 2 x 2 window touching at a corner, from the top left, gets its upper empty cell marked
    seen = []

    def recorded(band: np.ndarray, max_cells: float, unreached: np.ndarray) -> tuple[int, int]:
        before = band.copy()
        counts = close_band(band, max_cells, unreached)
        seen.append((before, unreached.copy(), max_cells, band.copy(), counts))
        return counts

    monkeypatch.setattr(trace, "close_band", recorded)
    graph = graph_of(city, mode)
    for point in random_points(graph, np.random.default_rng(6), 8):
        trace.reached_polygons(
            graph, *_searched(graph, point), [5.0, 15.0], 25.0, point, fill_m2=SETTINGS.isochrone_fill_m2
        )
    holes = marks = 0
    for before, unreached, max_cells, after, counts in seen:
        expected = before.astype(bool)
        labels, n = label(~expected)  # 4-connected
        area = np.bincount(labels.ravel(), minlength=n + 1)
        open_ = np.zeros(n + 1, dtype=bool)
        open_[
            np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1], labels[unreached > 0]]))
        ] = True
        fill = (area < max_cells) & ~open_
        fill[0] = False
        expected |= fill[labels]
        corner_a = expected[:-1, :-1] & expected[1:, 1:] & ~expected[:-1, 1:] & ~expected[1:, :-1]
        corner_b = expected[:-1, 1:] & expected[1:, :-1] & ~expected[:-1, :-1] & ~expected[1:, 1:]
        filled_holes = int(fill.sum())
        expected[:-1, 1:] |= corner_a
        expected[:-1, :-1] |= corner_b
        assert (after > 0).tolist() == expected.tolist()
        assert counts[0] == filled_holes
        holes += counts[0]
        marks += counts[1]
    assert len(seen) == 16 and holes >= 40 and marks >= 8  # the rules bite on these real bands (58 and 11 in Shenzhen)


def _searched(graph, point: shapely.Point) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and minutes of the 15-minute search from `point`."""
    links = attach(graph, np.array([point]), leaving=True, settings=SETTINGS)
    return nearby_minutes(graph, links.node, links.minutes, SETTINGS.minutes)


def test_simplified_rings_stay_within_a_cell_of_the_traced_outline_on_real_isochrones() -> None:
    checked = 0
    for outline in heidelberg_bike_outlines(6, 5, 0.0):
        assert len(outline.polygon_offsets) > 1
        # the rings are closed and every polygon has a shell
        for r in range(len(outline.ring_offsets) - 1):
            ring = outline.xy[outline.ring_offsets[r] : outline.ring_offsets[r + 1]]
            assert len(ring) >= 4 and (ring[0] == ring[-1]).all()
        checked += 1
    # the simplification itself, on a traced ring: every traced vertex within one pixel of the simplified ring
    canvas = np.zeros((60, 80), dtype=np.uint8)
    cv2.circle(canvas, (40, 30), 22, 1, -1)
    cv2.rectangle(canvas, (30, 20), (44, 34), 0, -1)
    contours, hierarchy = cv2.findContours(canvas, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    points = np.concatenate(contours).reshape(-1, 2).astype(np.int64)
    starts = np.cumsum([0] + [len(c) for c in contours])
    xy, ring_at, polygon_at = simplify_rings(points, starts, hierarchy[0].astype(np.int64), 1.0)
    assert len(polygon_at) == 2 and len(ring_at) == 3  # one polygon: its shell and the square hole
    assert len(xy) < len(points)
    shape = shapely.Polygon(xy[ring_at[0] : ring_at[1]], [xy[ring_at[1] : ring_at[2]]])
    assert shape.is_valid
    assert shapely.distance(shapely.points(points), shape.boundary).max() <= 1.0 + 1e-9
    assert checked == 6


def rings(*loops: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One polygon of closed integer rings (the first its shell), as simplify_rings gives them."""
    points = np.array([p for loop in loops for p in [*loop, loop[0]]], dtype=np.int64)
    ring_at = np.cumsum([0] + [len(loop) + 1 for loop in loops])
    return points, ring_at, np.array([0, len(loops)])


def test_rings_apart_only_when_no_edges_meet_and_holes_lie_in_their_shell() -> None:
    square = [(0, 0), (10, 0), (10, 10), (0, 10)]
    assert rings_apart(*rings(square, [(3, 3), (3, 6), (6, 6), (6, 3)]), 8)
    assert not rings_apart(*rings([(0, 0), (10, 10), (10, 0), (0, 10)]), 8)  # a bow tie crosses itself
    assert not rings_apart(*rings(square, [(3, 3), (3, 6), (10, 5)]), 8)  # the hole touches the shell
    assert not rings_apart(*rings(square, [(13, 3), (13, 6), (16, 6), (16, 3)]), 8)  # the hole lies outside
    assert not rings_apart(*rings([(0, 0), (10, 0), (5, 0), (5, 8)]), 8)  # an edge doubles back
    assert not rings_apart(*rings([(0, 0), (6, 0), (6, 6), (3, 0), (0, 6)]), 8)  # the ring touches itself
    # on real outlines: whatever it passes GEOS finds valid, and it passes most
    passed = 0
    for outline in heidelberg_bike_outlines(40, 7, 20000.0):
        plain = Outline(outline.xy, outline.ring_offsets, outline.polygon_offsets)  # not known apart: GEOS decides
        if outline.apart:
            assert shapely.equals_exact(outline.geometry(outline.xy), plain.geometry(plain.xy), 0.0)
            assert shapely.is_valid(plain.geometry(plain.xy))
        passed += outline.apart
    assert passed >= 0.7 * 40


def test_the_raster_box_holds_every_reached_node_segment_end_and_footprint_point() -> None:
    graph = graph_of("heidelberg", "bike")
    csr = graph.matrix
    for start in random_nodes(graph, np.random.default_rng(4), 5):
        nodes, minutes = nearby_minutes(graph, np.array([start]), np.array([0.01]), SETTINGS.minutes)
        footprint = graph.node_xy[start][None, :] + [[4000.0, -4000.0]]  # a point beyond the reach, to the south-east
        box, count = reached_extent(
            csr.indptr,
            csr.indices,
            csr.data,
            graph.node_xy,
            slowest_edge_minutes(graph),
            nodes,
            minutes,
            15.0,
            footprint,
        )
        # by arrays: every edge out of a node reached in under the limit, cut where time runs out
        tails = nodes[minutes < 15.0]
        rows = np.repeat(np.arange(len(tails)), np.diff(csr.indptr)[tails])
        edge = np.concatenate([np.arange(csr.indptr[t], csr.indptr[t + 1]) for t in tails])
        frac = np.minimum((15.0 - minutes[minutes < 15.0][rows]) / csr.data[edge], 1.0)[:, None]
        ends = graph.node_xy[tails[rows]] + frac * (graph.node_xy[csr.indices[edge]] - graph.node_xy[tails[rows]])
        every = np.concatenate([ends, graph.node_xy[nodes], footprint])
        assert count == len(edge)
        assert (box[0] == every.min(axis=0)).all() and (box[1] == every.max(axis=0)).all()


@pytest.mark.parametrize(("city", "mode"), [("shenzhen", "bike"), ("heidelberg", "walk")])
def test_band_cells_nearer_to_a_street_not_reached_are_cleared(city: str, mode: str) -> None:
    graph = graph_of(city, mode)
    rng = np.random.default_rng(8)
    csr = graph.matrix
    checked = 0
    for start in random_nodes(graph, rng, 4):
        nodes, minutes = nearby_minutes(graph, np.array([start]), np.array([0.01]), SETTINGS.minutes)
        reached = nodes[minutes <= SETTINGS.minutes]
        street = (csr.indptr, csr.indices, csr.data, graph.node_xy, nodes)
        # the drawing's box as the isochrones take it: the segments' far ends too, which lie beyond the reached
        # nodes (a box of the nodes alone had the kernel write past the canvas, into the test process's memory)
        box, _ = reached_extent(
            *street[:4], slowest_edge_minutes(graph), nodes, minutes, SETTINGS.minutes, np.empty((0, 2))
        )
        cell, radius = 10.0, 2
        corner = box[0] - 8 * cell
        width, height = ((box[1] - corner) / cell).astype(int) + 9
        streets = np.zeros((height, width), dtype=np.uint8)
        reached_segments(streets, *street, minutes, SETTINGS.minutes, float(corner[0]), float(corner[1]), cell)
        band = cv2.dilate(streets, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
        before, others = band.copy(), np.zeros_like(band)
        cut_out_unreached(band, streets, others, radius, graph, reached, corner, cell)
        assert not node_grid(graph).reached.any()  # the scratch flags are left clean
        # the rule, by exact distances: a band cell goes when a street not reached lies nearer than any reached
        # street, less than `radius` cells away, and no reached node is among its eight neighbours
        to_others = distance_transform_edt(others == 0)
        to_reached = distance_transform_edt(streets == 0)
        node_near = cv2.dilate((streets == 2).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        expected = (before > 0) & (to_others < to_reached) & (to_others <= radius - 1) & ~node_near
        assert ((before > 0) & (band == 0)).tolist() == expected.tolist()
        assert expected.any()  # the rule bites on every one of these searches
        # every node not reached, the islands' too, lies on a marked cell unless a reached street runs through it
        unreached = np.concatenate([graph.node_xy[np.setdiff1d(np.arange(graph.n_nodes), reached)], graph.island_xy])
        px = ((unreached - corner) / cell + 0.5).astype(int)
        # (the raster's border row and column are background, never marked)
        inside = (px[:, 0] >= 1) & (px[:, 0] < width - 1) & (px[:, 1] >= 1) & (px[:, 1] < height - 1)
        cells = px[inside]
        assert (others[cells[:, 1], cells[:, 0]] | streets[cells[:, 1], cells[:, 0]]).all()
        checked += 1
    assert checked == 4


@pytest.mark.parametrize(("city", "mode"), [("shenzhen", "bike"), ("heidelberg", "walk")])
def test_the_node_grid_holds_every_node_and_island_node_once_in_its_bin(city: str, mode: str) -> None:
    graph = graph_of(city, mode)
    grid = node_grid(graph)
    assert node_grid(graph) is grid  # built once per graph
    n, k = graph.n_nodes, len(graph.island_xy)
    assert k > 0  # both extracts have street parts too small to keep
    assert np.array_equal(np.sort(grid.node), np.arange(n + k))
    assert np.array_equal(grid.xy, np.concatenate([graph.node_xy, graph.island_xy]))
    # the graph's edges and the islands' (which never join the graph)
    heads = np.split(grid.indices, grid.indptr[1:-1])
    assert sum(len(h) for h in heads[:n]) == graph.matrix.nnz and all((h >= n).all() for h in heads[n:])
    assert all((h < n).all() for h in heads[:n])
    nx, ny = grid.shape
    for b in np.random.default_rng(3).choice(nx * ny, 40, replace=False):
        mine = grid.node[grid.bin_ptr[b] : grid.bin_ptr[b + 1]]
        i, j = b % nx, b // nx
        lo = grid.corner + np.array([i, j]) * BIN_M
        assert ((grid.xy[mine] >= lo) & (grid.xy[mine] < lo + BIN_M + 1e-6)).all()


def test_one_search_from_several_starts_equals_scipy_from_each() -> None:
    graph = graph_of("shenzhen", "bike")
    ch = chains(graph)
    rng = np.random.default_rng(8)
    for _ in range(5):
        sources = rng.choice(len(ch.kept_nodes), 3, replace=False)
        offsets = rng.uniform(0.0, 2.0, 3)
        settled = bounded_search(
            ch.matrix.indptr, ch.matrix.indices, ch.matrix.data, sources, offsets, 8.0, ch.kept_dist, ch.kept_slot
        )
        found = ch.kept_dist[settled].copy()
        ch.kept_dist[settled] = np.inf
        each = dijkstra(ch.matrix, directed=True, indices=sources, limit=8.0) + offsets[:, None]
        best = each.min(axis=0)
        expected = np.flatnonzero(best <= 8.0)
        assert np.array_equal(np.sort(settled), expected)
        np.testing.assert_allclose(found, best[settled], rtol=1e-12, atol=1e-12)
        assert np.all(np.diff(found) >= 0)  # settled in order
    assert np.isinf(ch.kept_dist).all() and (ch.kept_slot == -1).all()
