"""Reach on real extracts: exact travel times (checked against networkx) and honest isochrones."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely

from mapgen.config import DEFAULT_CATEGORIES, Settings
from mapgen.network import street_graph
from mapgen.osm_extract import read_osm
from mapgen.reach import attach, schools_reach, to_metric
from mapgen.schools import schools_from_osm
from mapgen.taxonomy import load_taxonomy
from mapgen.venues import venues_from_osm
from tests.conftest import shared_file

SETTINGS = Settings()


def _city(name: str):
    taxonomy = load_taxonomy(DEFAULT_CATEGORIES)
    extract = read_osm(shared_file("osm", name), set(taxonomy.tag_keys) | {"amenity"})
    schools = schools_from_osm(extract.features, SETTINGS)
    venues = venues_from_osm(extract.features, taxonomy)
    graphs = {m: street_graph(extract, m, SETTINGS) for m in ("walk", "bike")}
    reach = {m: schools_reach(graphs[m], schools, venues, SETTINGS) for m in graphs}
    return schools, venues, graphs, reach


@pytest.fixture(scope="module", params=["shenzhen-longgang.osm", "heidelberg.osm.pbf"])
def city(request):
    return _city(request.param)


def _networkx_minutes(graph, schools, venues, school_index: int) -> dict[str, float]:
    """Independent exact Dijkstra (networkx) over the same graph and the same snapping legs."""
    g = graph.to_networkx()
    origins = attach(graph, to_metric(schools["footprint"], graph.crs), leaving=True, settings=SETTINGS)
    targets = attach(graph, to_metric(venues["footprint"], graph.crs), leaving=False, settings=SETTINGS)
    for node, minutes in zip(
        origins.node[origins.place == school_index], origins.minutes[origins.place == school_index]
    ):
        old = g.get_edge_data("school", int(node), {"minutes": np.inf})["minutes"]
        g.add_edge("school", int(node), minutes=min(old, float(minutes)))
    venue_ids = venues["venue_id"].to_numpy()
    for place, node, minutes in zip(targets.place, targets.node, targets.minutes):
        key = ("venue", venue_ids[place])
        old = g.get_edge_data(int(node), key, {"minutes": np.inf})["minutes"]
        g.add_edge(int(node), key, minutes=min(old, float(minutes)))
    dist = nx.single_source_dijkstra_path_length(g, "school", cutoff=SETTINGS.minutes, weight="minutes")
    return {k[1]: d for k, d in dist.items() if isinstance(k, tuple)}


@pytest.mark.parametrize("mode", ["walk", "bike"])
def test_reachable_venues_equal_networkx_dijkstra(city, mode: str) -> None:
    schools, venues, graphs, reach = city
    pairs = reach[mode].pairs
    for i in range(0, len(schools), max(1, len(schools) // 4)):
        school_id = schools["school_id"].iloc[i]
        expected = _networkx_minutes(graphs[mode], schools, venues, i)
        got = pairs[pairs["school_id"] == school_id].set_index("venue_id")["minutes"].to_dict()
        assert set(got) == set(expected), school_id
        for venue_id, minutes in expected.items():
            assert got[venue_id] == pytest.approx(minutes, abs=0.006)


def test_every_school_has_valid_walk_and_bike_polygons_bike_larger(city) -> None:
    schools, _, graphs, reach = city
    walk, bike = (reach[m].isochrones.set_index("school_id") for m in ("walk", "bike"))
    assert len(walk) == len(bike) == len(schools)
    crs = graphs["walk"].crs
    for school_id in schools["school_id"]:
        w_out, b_out = walk.loc[school_id].geometry, bike.loc[school_id].geometry
        assert w_out.is_valid and b_out.is_valid and w_out.geom_type in ("Polygon", "MultiPolygon")  # as written
        w = walk.loc[[school_id]].to_crs(crs).geometry.iloc[0]
        b = bike.loc[[school_id]].to_crs(crs).geometry.iloc[0]
        assert 0.2e6 < w.area < b.area  # at least 0.2 km² on foot, more by bike


def test_minutes_never_exceed_the_limit(city) -> None:
    _, _, _, reach = city
    for mode in ("walk", "bike"):
        minutes = reach[mode].pairs["minutes"]
        assert len(minutes) > 0
        assert minutes.max() <= SETTINGS.minutes
        assert minutes.min() >= 0


def test_polygon_covers_reached_streets_and_not_far_ones(city) -> None:
    """Around every school: ≥ 99 % of reached nodes inside the walk polygon, and few nodes
    beyond 1.1 × the limit inside it (pooled over schools; Heidelberg ≤ 2 %, Shenzhen's unconnected
    sidewalk mapping ≤ 5 %); the polygon is smaller than a convex hull of the reached nodes."""
    from scipy.sparse.csgraph import dijkstra

    schools, _, graphs, reach = city
    graph = graphs["walk"]
    iso = reach["walk"].isochrones.set_index("school_id").to_crs(graph.crs)
    origins = attach(graph, to_metric(schools["footprint"], graph.crs), leaving=True, settings=SETTINGS)
    far_inside = all_inside = 0
    for i in range(len(schools)):
        links = origins.place == i
        minutes = np.min(
            dijkstra(graph.matrix, indices=origins.node[links], limit=2 * SETTINGS.minutes)
            + origins.minutes[links, None],
            axis=0,
        )
        poly = iso.loc[schools["school_id"].iloc[i]].geometry
        near = minutes <= 2 * SETTINGS.minutes  # the nodes that matter around this school
        inside = shapely.contains_xy(shapely.buffer(poly, 0.5), graph.node_xy[near, 0], graph.node_xy[near, 1])
        reached, far = minutes[near] <= SETTINGS.minutes, minutes[near] > 1.1 * SETTINGS.minutes
        assert inside[reached].mean() >= 0.99
        far_inside += inside[far].sum()
        all_inside += inside.sum()
        hull = shapely.convex_hull(shapely.multipoints(graph.node_xy[minutes <= SETTINGS.minutes]))
        assert poly.area < hull.area  # blocks ringed by reached streets are filled, bays and big holes are not
    limit = 0.02 if graph.crs.to_epsg() == 32632 else 0.05
    assert far_inside / all_inside <= limit, (far_inside, all_inside)
