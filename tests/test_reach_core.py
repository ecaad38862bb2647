"""Reach core: exact batch routing against networkx, one-way streets, snapping, polygons, cache and planner CLI."""

from __future__ import annotations

import json

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import CITIES, shared_file
from scipy.sparse.csgraph import dijkstra
from typer.testing import CliRunner

from mapgen import osm_extract, places
from mapgen.cli import app
from mapgen.config import DEFAULT_CATEGORIES, Settings, load_city
from mapgen.network import MIN_EDGE_MINUTES, street_graph
from mapgen.planning.points import load_graph
from mapgen.reach import (
    Attachment,
    attach,
    chains,
    isochrone_quality,
    nearby_minutes,
    reach_blocks,
    reached_polygons,
    schools_reach,
    to_metric,
)
from mapgen.reach.edgegrid import nearest_edges
from mapgen.reach.kernels import bounded_search
from mapgen.taxonomy import load_taxonomy
from mapgen.venues import venues_from_osm

SETTINGS = Settings()
_EXTRACTS: dict[str, osm_extract.OsmExtract] = {}
_GRAPHS: dict[tuple[str, str], object] = {}
FILES = {"shenzhen": ("osm", "shenzhen-longgang.osm"), "heidelberg": ("osm", "heidelberg.osm.pbf")}


def extract(city: str) -> osm_extract.OsmExtract:
    if city not in _EXTRACTS:
        taxonomy = load_taxonomy(DEFAULT_CATEGORIES)
        _EXTRACTS[city] = osm_extract.read_osm(shared_file(*FILES[city]), set(taxonomy.tag_keys) | {"amenity"})
    return _EXTRACTS[city]


def graph_of(city: str, mode: str):
    if (city, mode) not in _GRAPHS:
        _GRAPHS[city, mode] = street_graph(extract(city), mode, SETTINGS)
    return _GRAPHS[city, mode]


def node_origins(nodes: np.ndarray) -> Attachment:
    k = len(nodes)
    return Attachment(place=np.arange(k), node=nodes.astype(np.int64), minutes=np.full(k, 1e-9), snap_m=np.zeros(k))


def nx_minutes(g: nx.DiGraph, links: Attachment, place: int, limit: float) -> dict[int, float]:
    """networkx Dijkstra from a virtual node joined by the place's links."""
    mine = links.place == place
    g.add_node("origin")
    for node, minutes in zip(links.node[mine], links.minutes[mine], strict=True):
        if not g.has_edge("origin", int(node)) or g["origin"][int(node)]["minutes"] > minutes:
            g.add_edge("origin", int(node), minutes=float(minutes))
    try:
        found = nx.single_source_dijkstra_path_length(g, "origin", cutoff=limit, weight="minutes")
    finally:
        g.remove_node("origin")
    found.pop("origin")
    return found


def minutes_between(graph, sources: np.ndarray, dests: np.ndarray, limit: float) -> np.ndarray:
    """Minutes from node ``sources[i]`` to node ``dests[i]`` (``inf`` beyond `limit`)."""
    out = np.full(len(sources), np.inf)
    for block in reach_blocks(graph, node_origins(sources), len(sources), limit):
        for row, i in enumerate(block.ids):
            out[i] = block.node_minutes(row, graph.n_nodes)[dests[i]] - 1e-9  # less the virtual leg
    return out


def edge_lines(graph) -> np.ndarray:
    """The graph's edges as shapely lines: the reference GEOS answers are asked of."""
    return shapely.linestrings(np.stack([graph.node_xy[graph.edge_u], graph.node_xy[graph.edge_v]], axis=1))


def random_nodes(graph, rng: np.random.Generator, k: int, replace: bool = False) -> np.ndarray:
    """Indices of `k` random nodes, drawn by OSM id: a sample is the same places however the graph numbers its nodes."""
    return graph.node_index(np.sort(graph.node_osmid)[rng.choice(graph.n_nodes, k, replace=replace)])


def random_points(graph, rng: np.random.Generator, k: int, jitter_m: float = 60.0) -> np.ndarray:
    """Points near random street nodes (metric CRS), so they snap onto edges with an access leg."""
    xy = graph.node_xy[random_nodes(graph, rng, k)] + rng.uniform(-jitter_m, jitter_m, (k, 2))
    return shapely.points(xy)


@pytest.mark.parametrize(
    ("city", "mode"),
    [
        ("shenzhen", "walk"),
        ("shenzhen", "bike"),
        pytest.param("heidelberg", "walk", marks=pytest.mark.slow),
        pytest.param("heidelberg", "bike", marks=pytest.mark.slow),
    ],
)
def test_batch_minutes_equal_networkx_dijkstra(city: str, mode: str) -> None:
    graph = graph_of(city, mode)
    rng = np.random.default_rng(7)
    points = random_points(graph, rng, 6)
    origins = attach(graph, points, leaving=True, settings=SETTINGS)
    venues = venues_from_osm(extract(city).features, load_taxonomy(DEFAULT_CATEGORIES))
    targets = attach(graph, to_metric(venues["footprint"], graph.crs), leaving=False, settings=SETTINGS)
    g = graph.to_networkx()
    checked_nodes = checked_venues = 0
    for block in reach_blocks(graph, origins, len(points), SETTINGS.minutes):
        venue_min = block.target_minutes(targets, len(venues))
        for row, place in enumerate(block.ids):
            expected = nx_minutes(g, origins, place, SETTINGS.minutes)
            nodes, minutes = block.reached(row)
            assert sorted(expected) == nodes.tolist()
            np.testing.assert_allclose(minutes, [expected[int(v)] for v in nodes], rtol=1e-12, atol=1e-12)
            best = np.full(len(venues), np.inf)
            for node, place_v, leg in zip(targets.node, targets.place, targets.minutes, strict=True):
                if int(node) in expected:
                    best[place_v] = min(best[place_v], expected[int(node)] + leg)
            np.testing.assert_allclose(venue_min[row], best, rtol=1e-12, atol=1e-12)
            checked_nodes += len(nodes)
            checked_venues += int(np.isfinite(best).sum())
    assert checked_nodes > 1000 and checked_venues > 5


@pytest.mark.parametrize("mode", ["walk", "bike"])
def test_compiled_one_origin_search_equals_networkx_and_scipy(mode: str) -> None:
    graph = graph_of("shenzhen", mode)
    ch = chains(graph)
    rng = np.random.default_rng(11)
    points = random_points(graph, rng, 8)
    origins = attach(graph, points, leaving=True, settings=SETTINGS)
    g = graph.to_networkx()
    checked = 0
    for place in range(len(points)):
        mine = origins.place == place
        nodes, minutes = nearby_minutes(graph, origins.node[mine], origins.minutes[mine], SETTINGS.minutes)
        expected = nx_minutes(g, origins, place, SETTINGS.minutes)
        assert len(set(nodes.tolist())) == len(nodes)  # each node once
        assert sorted(expected) == sorted(nodes.tolist())
        np.testing.assert_allclose(minutes, [expected[int(v)] for v in nodes], rtol=1e-12, atol=1e-12)
        checked += len(nodes)
        # the heap search on the chain graph gives scipy's distances to the last bit
        source = int(rng.integers(len(ch.kept_nodes)))
        settled = bounded_search(
            ch.matrix.indptr,
            ch.matrix.indices,
            ch.matrix.data,
            np.array([source]),
            np.zeros(1),
            6.0,
            ch.kept_dist,
            ch.kept_slot,
        )
        found = ch.kept_dist[settled].copy()
        ch.kept_dist[settled] = np.inf
        reference = dijkstra(ch.matrix, directed=True, indices=source, limit=6.0)
        assert np.array_equal(np.sort(settled), np.flatnonzero(np.isfinite(reference)))
        assert np.array_equal(found, reference[settled])
        assert np.all(np.diff(found) >= 0)  # settled in order
    assert checked > 1000
    # every search leaves its scratch clean for the next one
    assert np.isinf(ch.best).all() and np.isinf(ch.kept_best).all() and np.isinf(ch.kept_dist).all()
    assert (ch.kept_slot == -1).all()


def test_reverse_query_uses_the_transpose() -> None:
    graph = graph_of("shenzhen", "bike")
    points = random_points(graph, np.random.default_rng(3), 4)
    venues = attach(graph, points, leaving=False, settings=SETTINGS)
    rev = graph.to_networkx().reverse(copy=True)
    total = 0
    for block in reach_blocks(graph, venues, len(points), 10.0, reverse=True):
        for row, place in enumerate(block.ids):
            expected = nx_minutes(rev, venues, place, 10.0)
            nodes, minutes = block.reached(row)
            assert sorted(expected) == nodes.tolist()
            np.testing.assert_allclose(minutes, [expected[int(v)] for v in nodes], rtol=1e-12)
            total += len(nodes)
    # the reversed answer is the forward one: minutes from a reached node to the place, by bike
    forward = next(reach_blocks(graph, node_origins(nodes[:1]), 1, 10.0))
    leg = forward.target_minutes(venues, len(points))[0, place]
    assert leg == pytest.approx(minutes[0] + 1e-9, rel=1e-12)  # + the virtual leg of a node origin
    assert total > 500


@pytest.mark.slow
def test_bike_respects_oneway() -> None:
    bike, walk = graph_of("heidelberg", "bike"), graph_of("heidelberg", "walk")
    m = bike.matrix
    one_way = np.flatnonzero(np.asarray(m[bike.edge_v, bike.edge_u]).ravel() == 0)
    assert len(one_way) > 500  # Heidelberg has many one-way streets
    on_foot_too = np.isin(bike.node_osmid[bike.edge_u[one_way]], walk.node_osmid) & np.isin(
        bike.node_osmid[bike.edge_v[one_way]], walk.node_osmid
    )
    sample = np.random.default_rng(1).choice(one_way[on_foot_too], 40, replace=False)
    u, v = bike.edge_u[sample], bike.edge_v[sample]
    edge_min = bike.edge_minutes[sample]
    forward = minutes_between(bike, u, v, 30.0)
    backward = minutes_between(bike, v, u, 30.0)
    assert np.all(forward <= edge_min + 2e-9)
    assert np.all(backward > edge_min * 1.01)  # a detour (or unreachable), never the edge backwards
    # on foot the same ways are two-way
    w_index = {int(o): i for i, o in enumerate(walk.node_osmid)}
    wu = np.array([w_index[int(bike.node_osmid[x])] for x in u])
    wv = np.array([w_index[int(bike.node_osmid[x])] for x in v])
    walk_back = minutes_between(walk, wv, wu, 30.0)
    assert np.all(walk_back <= bike.edge_length_m[sample] / (SETTINGS.walk_kmh * 1000 / 60) + 2e-9)


@pytest.mark.parametrize(("city", "mode"), [("shenzhen", "walk"), ("shenzhen", "bike"), ("heidelberg", "walk")])
def test_points_find_their_nearest_edges_on_the_grid_as_geos_does(city: str, mode: str) -> None:
    graph = graph_of(city, mode)
    rng = np.random.default_rng(11)
    west_south, east_north = graph.node_xy.min(axis=0) - 500, graph.node_xy.max(axis=0) + 500
    xy = np.concatenate(
        [
            rng.uniform(west_south, east_north, (1500, 2)),  # anywhere, some beyond every street
            graph.node_xy[random_nodes(graph, rng, 500, replace=True)],  # on nodes: every edge there ties at 0 m
            (graph.node_xy[graph.edge_u[:300]] + graph.node_xy[graph.edge_v[:300]]) / 2,  # on edges, both ways
        ]
    )
    place, edge, dist, along = nearest_edges(graph, xy, SETTINGS.max_snap_m)
    points, lines = shapely.points(xy), edge_lines(graph)
    tree = shapely.STRtree(lines)
    geos_place, geos_edge = tree.query_nearest(points, max_distance=SETTINGS.max_snap_m, all_matches=True)
    ours, theirs = np.lexsort((edge, place)), np.lexsort((geos_edge, geos_place))
    assert (place[ours] == geos_place[theirs]).all() and (edge[ours] == geos_edge[theirs]).all()
    assert 0 < len(np.unique(place)) < len(xy)  # some points are beyond max_snap_m
    assert len(place) > len(np.unique(place))  # and ties are kept
    assert (dist[ours] == shapely.distance(points[geos_place], lines[geos_edge])[theirs]).all()
    on_edge = shapely.get_point(shapely.shortest_line(lines[geos_edge], points[geos_place]), 0)
    assert (along[ours] == shapely.line_locate_point(lines[geos_edge], on_edge)[theirs]).all()


@pytest.mark.parametrize(("city", "mode"), [("shenzhen", "walk"), ("heidelberg", "walk"), ("heidelberg", "bike")])
def test_campuses_and_parks_are_joined_to_the_streets_and_entrances_geos_finds(city: str, mode: str) -> None:
    """Every tagged line and area of the extract is joined to the edges and entrances an STRtree of all edges gives."""
    graph = graph_of(city, mode)
    shapes = to_metric(extract(city).features.geometry, graph.crs)
    shapes = shapes[shapely.get_dimensions(shapes) > 0]
    lines = edge_lines(graph)
    tree = shapely.STRtree(lines)
    nodes = shapely.STRtree(shapely.points(graph.node_xy))
    for settings in (SETTINGS, Settings(max_snap_m=20.0, access_buffer_m=5.0)):
        joined = attach(graph, shapes, leaving=True, settings=settings)
        place, edge = tree.query_nearest(shapes, max_distance=settings.max_snap_m, all_matches=True)
        dist = shapely.distance(shapes[place], lines[edge])
        areas = np.flatnonzero(shapely.get_dimensions(shapes) == 2)
        area_i, entrance = nodes.query(shapely.buffer(shapes[areas], settings.access_buffer_m), predicate="intersects")
        on_edge = shapely.get_point(shapely.shortest_line(lines[edge], shapes[place]), 0)
        along = shapely.line_locate_point(lines[edge], on_edge)
        length = graph.edge_length_m[edge]
        minutes = np.maximum((dist + (length - along)) / (graph.speed_kmh * 1000.0 / 60.0), MIN_EDGE_MINUTES)
        expected = sorted(
            [*zip(place.tolist(), graph.edge_v[edge].tolist(), minutes.tolist(), strict=True)]
            + [(int(areas[a]), int(n), MIN_EDGE_MINUTES) for a, n in zip(area_i, entrance, strict=True)]
        )
        assert (
            sorted(zip(joined.place.tolist(), joined.node.tolist(), joined.minutes.tolist(), strict=True)) == expected
        )
        snap_m = np.full(len(shapes), np.nan)
        np.fmin.at(snap_m, place, dist)
        snap_m[areas[area_i]] = 0.0
        np.testing.assert_array_equal(joined.snap_m, snap_m)
        assert len(place) > len(np.unique(place)) and len(area_i) > len(areas) / 2  # ties kept, most areas entered
        assert 0 < joined.attached.sum() < len(shapes) or settings is SETTINGS


def test_points_beyond_max_snap_are_reported_not_snapped() -> None:
    graph = graph_of("shenzhen", "walk")
    rng = np.random.default_rng(5)
    west, south = graph.node_xy.min(axis=0)
    east, north = graph.node_xy.max(axis=0)
    candidates = shapely.points(rng.uniform((west, south), (east, north), (400, 2)))
    lines = edge_lines(graph)
    dist = shapely.distance(candidates, lines[shapely.STRtree(lines).nearest(candidates)])
    point = candidates[np.flatnonzero((dist > 60) & (dist < 250))[0]]
    d = float(dist[np.flatnonzero((dist > 60) & (dist < 250))[0]])
    near = attach(graph, np.array([point]), leaving=True, settings=Settings(max_snap_m=d + 1))
    assert near.snap_m[0] == pytest.approx(d)
    m_per_min = SETTINGS.walk_kmh * 1000 / 60
    assert near.minutes.min() >= d / m_per_min  # the access leg is paid
    far = attach(graph, np.array([point]), leaving=True, settings=Settings(max_snap_m=d - 1))
    assert not far.attached[0] and len(far.place) == 0
    lonlat = gpd.GeoSeries([point], crs=graph.crs).to_crs(4326)
    schools = gpd.GeoDataFrame({"school_id": ["p"], "footprint": lonlat}, geometry="footprint", crs=4326)
    no_venues = gpd.GeoDataFrame({"venue_id": [], "footprint": gpd.GeoSeries([], crs=4326)}, geometry="footprint")
    assert schools_reach(graph, schools, no_venues, Settings(max_snap_m=d - 1)).unattached_schools == ["p"]
    assert schools_reach(graph, schools, no_venues, Settings(max_snap_m=d + 1)).unattached_schools == []


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "k"), [("walk", 30), ("bike", 10)])
def test_isochrone_polygons_are_honest_and_nested(mode: str, k: int) -> None:
    graph = graph_of("heidelberg", mode)
    limit, nodes = 15.0, random_nodes(graph, np.random.default_rng(11), k)
    reached = inside = over = total_inside = 0
    for block in reach_blocks(graph, node_origins(nodes), k, 1.1 * limit):
        for row in range(len(block.ids)):
            full = block.node_minutes(row, graph.n_nodes)
            got, minutes = block.reached(row)
            polys = reached_polygons(
                graph, got, minutes, (5, 10, 15), SETTINGS.isochrone_buffer_m, max_cells=10**7
            )  # 10 m cells at every size
            assert all(shapely.is_valid(p) for p in polys)
            for small, big in zip(polys, polys[1:], strict=False):  # nested, to the one-cell simplification of both
                assert shapely.area(shapely.difference(small, shapely.buffer(big, 25.0, quad_segs=2))) < 1.0
            covered, _ = isochrone_quality(graph, full, polys[-1], limit)
            assert covered >= 0.99
            mask = shapely.contains_xy(polys[-1], *graph.node_xy.T)
            reached += int((full <= limit).sum())
            inside += int(mask[full <= limit].sum())
            total_inside += int(mask.sum())
            over += int((full[mask] > 1.1 * limit).sum())
    assert inside / reached >= 0.99
    assert over / total_inside <= 0.02


def test_two_processes_give_the_same_reach() -> None:
    graph = graph_of("shenzhen", "walk")
    points = gpd.GeoSeries(random_points(graph, np.random.default_rng(2), 80), crs=graph.crs).to_crs(4326)
    schools = gpd.GeoDataFrame(
        {"school_id": [f"p{i}" for i in range(80)], "footprint": points}, geometry="footprint", crs=4326
    )
    venues = venues_from_osm(extract("shenzhen").features, load_taxonomy(DEFAULT_CATEGORIES))
    one = schools_reach(graph, schools, venues, Settings(reach_workers=1))
    two = schools_reach(graph, schools, venues, Settings(reach_workers=2))
    pd.testing.assert_frame_equal(one.pairs, two.pairs)
    assert len(one.pairs) > 100
    assert list(one.isochrones["school_id"]) == list(two.isochrones["school_id"])
    assert all(shapely.equals_exact(one.isochrones.geometry, two.isochrones.geometry, 1e-9))


def test_second_load_skips_parsing(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(cache_dir=tmp_path)
    osm = shared_file("osm", "shenzhen-longgang.osm")
    first = load_graph(osm, "bike", settings)
    city = load_city(CITIES / "shenzhen-longgang.toml", cache_dir=str(tmp_path))
    extract_first, _ = places.load_extract(city, {"amenity", "leisure"}, quiet=True)

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(osm_extract, "read_osm", no_parsing)
    again = load_graph(osm, "bike", settings)
    np.testing.assert_array_equal(first.edge_u, again.edge_u)
    np.testing.assert_array_equal(first.edge_minutes, again.edge_minutes)
    extract_again, _ = places.load_extract(city, {"amenity", "leisure"}, quiet=True)
    assert len(extract_again.features) == len(extract_first.features) > 0
    faster = load_graph(osm, "bike", Settings(cache_dir=tmp_path, bike_kmh=15))  # other settings: other graph
    assert faster.speed_kmh == 15
    np.testing.assert_allclose(faster.edge_minutes * 15, first.edge_minutes * 12)
    assert len(list(tmp_path.glob("graph-*.mapgen-cache"))) == 2


def test_planner_cli_isochrones_and_matrix(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAPGEN_CACHE_DIR", str(tmp_path / "cache"))
    osm = shared_file("osm", "shenzhen-longgang.osm")
    graph = graph_of("shenzhen", "walk")
    venues = venues_from_osm(extract("shenzhen").features, load_taxonomy(DEFAULT_CATEGORIES))
    near = venues["footprint"].representative_point().iloc[[0, 4]]
    lonlat = np.column_stack([near.x, near.y]) + 0.001  # ~100 m from two venues
    (tmp_path / "points.csv").write_text(
        "id,lon,lat\n"
        f"a,{lonlat[0, 0]},{lonlat[0, 1]}\n"
        f"b,{lonlat[1, 0]},{lonlat[1, 1]}\n"
        "c,not-a-number,22.7\n"
        "far,114.0,22.5\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    out = tmp_path / "iso.geojson"
    res = runner.invoke(
        app,
        [
            "isochrones",
            "--osm",
            str(osm),
            "--points",
            str(tmp_path / "points.csv"),
            "--mode",
            "walk",
            "--minutes",
            "5,10,15",
            "--out",
            str(out),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    iso = gpd.read_file(out)
    assert sorted(zip(iso["id"], iso["minutes"], strict=True)) == [(p, m) for p in "ab" for m in (5, 10, 15)]
    areas = iso.to_crs(graph.crs).set_index(["id", "minutes"]).area
    assert areas["a", 5] < areas["a", 10] < areas["a", 15]
    review = pd.read_csv(tmp_path / "iso.review.csv")
    assert list(review["reason"]) == [
        "coordinates missing or not numbers",
        "farther than 300 m from any street of the mode",
    ]
    assert res.output.rstrip().endswith(f"-> {out}; 2 rows not used, see {tmp_path / 'iso.review.csv'}")

    venues[["venue_id", "footprint"]].set_geometry("footprint").to_file(tmp_path / "venues.geojson")
    times = tmp_path / "times.csv"
    res = runner.invoke(
        app,
        [
            "matrix",
            "--osm",
            str(osm),
            "--points",
            str(tmp_path / "points.csv"),
            "--targets",
            str(tmp_path / "venues.geojson"),
            "--mode",
            "bike",
            "--max-minutes",
            "12",
            "--out",
            str(times),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(times, dtype={"point_id": str, "target_id": str})
    assert list(table.columns) == ["point_id", "target_id", "minutes"]
    assert len(table) > 20 and table["minutes"].max() <= 12
    assert set(table["point_id"]) <= {"a", "b"} and set(table["target_id"]) <= set(venues["venue_id"])
    written = json.loads(out.read_text())
    assert written["type"] == "FeatureCollection"
    coords = np.concatenate(
        [shapely.get_coordinates(shapely.from_geojson(json.dumps(f["geometry"]))) for f in written["features"]]
    )
    np.testing.assert_array_equal(coords, np.round(coords, 7))  # written to 7 decimals (about 1 cm)
    assert {tuple(f["properties"]) for f in written["features"]} == {("id", "mode", "minutes")}
    assert len(pd.read_csv(tmp_path / "times.review.csv")) == 2
    assert res.output.rstrip().endswith(f"-> {times}; 2 rows not used, see {tmp_path / 'times.review.csv'}")
