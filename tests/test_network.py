"""Walk and bike graphs built from real extracts follow the mode rules."""

from __future__ import annotations

import numpy as np
import pytest

from mapgen.config import Settings
from mapgen.network import StreetGraph, street_graph, way_directions
from mapgen.osm_extract import read_osm
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def heidelberg():
    extract = read_osm(shared_file("osm", "heidelberg.osm.pbf"), {"amenity"})
    return extract, {m: street_graph(extract, m, Settings()) for m in ("walk", "bike")}


def _has_edge(graph: StreetGraph, a: int, b: int) -> bool:
    index = {osmid: i for i, osmid in enumerate(graph.node_osmid)}
    if a not in index or b not in index:
        return False
    return bool(np.any((graph.edge_u == index[a]) & (graph.edge_v == index[b])))


@pytest.mark.parametrize(
    ("tags", "walk", "bike"),
    [
        ({"highway": "residential", "oneway": "yes"}, (True, True), (True, False)),
        ({"highway": "residential", "oneway": "-1"}, (True, True), (False, True)),
        ({"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"}, (True, True), (True, True)),
        ({"highway": "primary", "junction": "roundabout"}, (True, True), (True, False)),
        ({"highway": "footway"}, (True, True), (False, False)),
        ({"highway": "footway", "bicycle": "yes"}, (True, True), (True, True)),
        ({"highway": "path", "bicycle": "designated"}, (True, True), (True, True)),
        ({"highway": "cycleway"}, (False, False), (True, True)),
        ({"highway": "motorway"}, (False, False), (False, False)),
        ({"highway": "service", "access": "private"}, (False, False), (False, False)),
        ({"highway": "residential", "access": "private", "foot": "yes"}, (True, True), (False, False)),
        ({"highway": "steps"}, (True, True), (False, False)),
        ({"highway": "trunk", "motorroad": "yes"}, (True, True), (False, False)),
    ],
)
def test_mode_rules(tags: dict[str, str], walk: tuple[bool, bool], bike: tuple[bool, bool]) -> None:
    assert way_directions(tags, "walk") == walk
    assert way_directions(tags, "bike") == bike


def test_bike_respects_oneway_and_walk_ignores_it(heidelberg) -> None:
    extract, graphs = heidelberg
    oneways = [
        w
        for w in extract.highways
        if w.tags.get("oneway") == "yes"
        and w.tags.get("highway") == "residential"
        and "oneway:bicycle" not in w.tags
        and "cycleway" not in w.tags
    ]
    assert len(oneways) > 50  # Heidelberg's old town has many one-way streets
    checked = 0
    for way in oneways[:40]:
        a, b = int(way.node_ids[0]), int(way.node_ids[1])
        if not _has_edge(graphs["bike"], a, b):
            continue  # dropped as a small island
        assert not _has_edge(graphs["bike"], b, a)
        assert _has_edge(graphs["walk"], a, b) and _has_edge(graphs["walk"], b, a)
        checked += 1
    assert checked >= 30


def test_bike_graph_has_no_plain_footways_and_no_motorways(heidelberg) -> None:
    extract, graphs = heidelberg
    allowed_paths = {
        w.way_id
        for w in extract.highways
        if w.tags.get("bicycle") in ("yes", "designated", "permissive", "destination")
    }
    bike = graphs["bike"]
    foot_only = np.isin(bike.edge_highway, ["footway", "steps", "pedestrian", "path"])
    assert foot_only.any()  # shared paths with bicycle=yes exist ...
    assert set(bike.edge_way_id[foot_only]) <= allowed_paths  # ... and only those
    for graph in graphs.values():
        assert not np.isin(graph.edge_highway, ["motorway", "motorway_link"]).any()


def test_walk_graph_is_larger_than_bike_graph_and_metric(heidelberg) -> None:
    _, graphs = heidelberg
    walk, bike = graphs["walk"], graphs["bike"]
    assert walk.n_nodes > bike.n_nodes > 100_000
    assert walk.crs.to_epsg() == 32632  # UTM 32N
    # edge lengths are metres: Heidelberg street segments are metres to a few hundred metres
    assert 5 < np.median(walk.edge_length_m) < 50
    assert walk.edge_minutes == pytest.approx(walk.edge_length_m / (4000 / 60), rel=1e-9, abs=1e-8)
    assert bike.edge_minutes == pytest.approx(bike.edge_length_m / (12000 / 60), rel=1e-9, abs=1e-8)


def test_parallel_edges_keep_the_fastest(heidelberg) -> None:
    _, graphs = heidelberg
    walk = graphs["walk"]
    m = walk.matrix
    assert m.nnz <= len(walk.edge_u)
    pairs = {}
    for u, v, t in zip(walk.edge_u, walk.edge_v, walk.edge_minutes):
        pairs[(u, v)] = min(t, pairs.get((u, v), np.inf))
    sample = list(pairs.items())[:: max(1, len(pairs) // 2000)]
    assert all(m[u, v] == pytest.approx(t) for (u, v), t in sample)


def test_nodes_are_numbered_in_place_order_and_found_by_osm_id(heidelberg) -> None:
    _, graphs = heidelberg
    for graph in graphs.values():
        rng = np.random.default_rng(2)
        # neighbours in the arrays are neighbours on the ground: 99 in 100 steps stay within a few 100 m cells,
        # where by OSM id one step in 100 jumps about 10 km (ids follow mapping history, not place)
        step = np.hypot(*(graph.node_xy[1:] - graph.node_xy[:-1]).T)
        by_id = graph.node_xy[np.argsort(graph.node_osmid)]
        step_by_id = np.hypot(*(by_id[1:] - by_id[:-1]).T)
        assert np.percentile(step, 99) < 500.0 < 5000.0 < np.percentile(step_by_id, 99)
        ids = graph.node_osmid[rng.choice(graph.n_nodes, 500, replace=False)]
        assert (graph.node_osmid[graph.node_index(ids)] == ids).all()
        absent = graph.node_osmid.max() + 1
        with pytest.raises(KeyError, match=f"OSM node {absent} is not in the {graph.mode} graph"):
            graph.node_index(np.array([ids[0], absent]))
