"""Isochrone shapes on Heidelberg: exact routing around points, honest and small polygons, filled blocks, open river."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from conftest import shared_file
from scipy.sparse.csgraph import dijkstra
from test_reach_core import random_nodes

from mapgen.config import Settings
from mapgen.planning.points import load_graph
from mapgen.reach import attach, chains, isochrone_quality, isochrones_around, nearby_minutes

SETTINGS = Settings()
LIMIT = 15.0
# On the Neckar between the middles of the Theodor-Heuss-Brücke and the Alte Brücke spans (read from the extract)
THEODOR_HEUSS, ALTE_BRUECKE = np.array([8.6925, 49.4125]), np.array([8.7095, 49.4143])
NECKAR = [THEODOR_HEUSS + (ALTE_BRUECKE - THEODOR_HEUSS) * f for f in (0.25, 0.5, 0.75)]
BISMARCKPLATZ = np.array([[8.6935, 49.4096]])

pytestmark = pytest.mark.slow


def graph(mode: str):
    return load_graph(shared_file("osm", "heidelberg.osm.pbf"), mode, SETTINGS)


def to_metric(g, shape: shapely.Geometry) -> shapely.Geometry:
    import pyproj

    forward = pyproj.Transformer.from_crs(4326, g.crs, always_xy=True)
    return shapely.transform(shape, lambda c: np.column_stack(forward.transform(c[:, 0], c[:, 1])))


@pytest.mark.parametrize(("mode", "k", "max_median_vertices"), [("walk", 30, 300), ("bike", 12, 800)])
def test_isochrones_around_points_are_exact_honest_and_small(mode: str, k: int, max_median_vertices: int) -> None:
    g = graph(mode)
    rng = np.random.default_rng(19)
    lonlat = g.node_lonlat[random_nodes(g, rng, k)] + rng.uniform(-4e-4, 4e-4, (k, 2))
    around = isochrones_around(g, lonlat, [LIMIT], SETTINGS)
    assert around.attached.all()
    links = attach(g, to_metric(g, shapely.points(lonlat)), leaving=True, settings=SETTINGS)
    covered: list[float] = []
    inside_total = over = 0
    for i in range(k):
        mine = links.place == i
        nodes, minutes = nearby_minutes(g, links.node[mine], links.minutes[mine], 1.1 * LIMIT)
        whole = np.min(
            dijkstra(g.matrix, indices=links.node[mine], limit=1.1 * LIMIT) + links.minutes[mine, None], axis=0
        )
        exact = np.flatnonzero(whole <= 1.1 * LIMIT)
        np.testing.assert_array_equal(np.sort(nodes), exact)  # the neighbourhood search is exact
        np.testing.assert_allclose(minutes[np.argsort(nodes)], whole[exact])
        assert shapely.is_valid(around.geometry[i, 0])
        polygon = to_metric(g, around.geometry[i, 0])
        c, _ = isochrone_quality(g, whole, polygon, LIMIT)
        covered.append(c)
        inside = shapely.contains_xy(polygon, *g.node_xy.T)
        inside_total += int(inside.sum())
        over += int((whole[inside] > 1.1 * LIMIT).sum())
    ch = chains(g)  # every search leaves its scratch clean for the next one
    assert np.isinf(ch.best).all() and np.isinf(ch.kept_best).all() and np.isinf(ch.kept_dist).all()
    assert (ch.kept_slot == -1).all()
    assert np.mean(covered) >= 0.99 and min(covered) >= 0.95, covered
    assert over / inside_total <= 0.01, (over, inside_total)
    vertices = shapely.get_num_coordinates(around.geometry[:, 0])
    assert np.median(vertices) <= max_median_vertices, vertices


@pytest.mark.parametrize("mode", ["walk", "bike"])
def test_blocks_ringed_by_reached_streets_are_filled_and_the_neckar_stays_out(mode: str) -> None:
    g = graph(mode)
    lace = isochrones_around(g, BISMARCKPLATZ, [LIMIT], SETTINGS.model_copy(update={"isochrone_fill_m2": 0.0}))
    area = isochrones_around(g, BISMARCKPLATZ, [LIMIT], SETTINGS)
    lace_m, area_m = to_metric(g, lace.geometry[0, 0]), to_metric(g, area.geometry[0, 0])
    start = attach(
        g,
        shapely.points(np.column_stack(to_metric(g, shapely.points(BISMARCKPLATZ[0])).xy)),
        leaving=True,
        settings=SETTINGS,
    )
    nodes, minutes = nearby_minutes(g, start.node, start.minutes, 1.1 * LIMIT)
    reached = np.zeros(g.n_nodes, dtype=bool)
    reached[nodes[minutes <= LIMIT]] = True
    # the streets no search from here reaches in time: between two nodes not reached, and the islands'
    apart = ~reached[g.edge_u] & ~reached[g.edge_v]
    not_reached = shapely.STRtree(
        np.concatenate(
            [
                shapely.linestrings(np.stack([g.node_xy[g.edge_u[apart]], g.node_xy[g.edge_v[apart]]], axis=1)),
                shapely.linestrings(
                    np.stack([g.island_xy[g.island_edge[:, 0]], g.island_xy[g.island_edge[:, 1]]], axis=1)
                ),
                shapely.points(g.node_xy[~reached]),
            ]
        )
    )

    def holds_a_street_not_reached(hole: shapely.Polygon) -> bool:  # to a cell: the raster marks whole cells
        return len(not_reached.query(hole, predicate="dwithin", distance=10.0)) > 0

    holes = [shapely.Polygon(ring) for part in shapely.get_parts(lace_m) for ring in part.interiors]
    small = [h for h in holes if h.area < 0.5 * SETTINGS.isochrone_fill_m2 and not holds_a_street_not_reached(h)]
    assert len(small) >= 10  # without filling, every block is a hole: lace
    assert all(shapely.contains(area_m, h.representative_point()) for h in small)
    left = [shapely.Polygon(ring) for part in shapely.get_parts(area_m) for ring in part.interiors]
    small_left = [h for h in left if h.area < 0.8 * SETTINGS.isochrone_fill_m2]
    assert all(holds_a_street_not_reached(h) for h in small_left)  # only large holes stay, and blocks not reached
    assert len(small_left) <= 0.2 * len(small)
    assert area_m.area > lace_m.area
    for point in NECKAR:  # the river between two reached bridges is not a block
        assert not shapely.contains_xy(area.geometry[0, 0], *point)
    if mode == "bike":  # both banks are reached: the river is a hole, not the edge of the polygon
        assert shapely.contains_xy(area.geometry[0, 0], 8.70959, 49.41335)  # Alte Brücke, south end
        assert shapely.contains_xy(area.geometry[0, 0], 8.70951, 49.41521)  # north end
