"""Route safety summaries: crossings of main roads, metres along them, and agreement with reachability.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from conftest import CITIES, ROOT, shared_file

from mapgen.config import load_city
from mapgen.contract import ROUTE_COLUMNS
from mapgen.routes import crossing_nodes


def _adjacency(pairs: list[tuple[int, int]], n: int) -> sp.csr_matrix:
    u = [a for a, b in pairs] + [b for a, b in pairs]
    v = [b for a, b in pairs] + [a for a, b in pairs]
    return sp.csr_matrix((np.ones(len(u)), (u, v)), shape=(n, n))


def test_crossing_is_straight_over_a_main_road_not_a_turn_onto_it_nor_a_t_junction() -> None:
    # a main road west (0) - X (1) - east (2); a side street north (3) - X - south (4); X2 (5) a T-junction
    # of the main road east (2) - X2 (5) - far east (6) with a side street only to its north (7)
    xy = np.array([[-100, 0], [0, 0], [100, 0], [0, 100], [0, -100], [200, 0], [300, 0], [200, 100]], float)
    main = _adjacency([(0, 1), (1, 2), (2, 5), (5, 6)], len(xy))
    steps = {
        "north to south over the crossroads": (3, 1, 4),
        "north, turning east onto the main road": (3, 1, 2),
        "along the main road through the crossroads": (0, 1, 2),
        "side street into the T-junction and on east": (7, 5, 6),
        "along the main road, turning up the side street": (2, 5, 7),
    }
    prev, node, follow = (np.array(v) for v in zip(*steps.values(), strict=True))
    crosses = dict(zip(steps, crossing_nodes(xy, prev, node, follow, main), strict=True))
    assert crosses == {
        "north to south over the crossroads": True,
        "north, turning east onto the main road": False,
        "along the main road through the crossroads": False,
        "side street into the T-junction and on east": False,
        "along the main road, turning up the side street": False,
    }


def test_routes_csv_has_one_route_per_reachable_pair_with_the_same_minutes(shenzhen_build) -> None:
    routes = pd.read_csv(shenzhen_build / "routes.csv")
    pairs = pd.read_csv(shenzhen_build / "reachability.csv")
    assert list(routes.columns) == ROUTE_COLUMNS
    both = pairs.merge(routes, on=["school_id", "venue_id", "mode"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all(), both[both["_merge"] != "both"]
    assert len(routes) == len(pairs) == 65  # 15 walking + 50 cycling pairs to public venues in Longgang
    assert np.abs(both["minutes_x"] - both["minutes_y"]).max() <= 0.005


def test_route_metres_fit_the_travel_time_and_main_road_counts_are_plausible(shenzhen_build) -> None:
    settings = load_city(CITIES / "shenzhen-longgang.toml").settings
    routes = pd.read_csv(shenzhen_build / "routes.csv")
    speed_m_per_min = routes["mode"].map({"walk": settings.walk_kmh, "bike": settings.bike_kmh}) * 1000 / 60
    # street metres are the route minus the access legs: never more than the time allows (minutes have 2 decimals)
    assert (routes["street_m"] <= (routes["minutes"] + 0.005) * speed_m_per_min + 0.1).all()
    assert (routes["main_road_m"] <= routes["street_m"] + 0.1).all()
    walk = routes[routes["mode"] == "walk"]
    # Longgang's schools sit between trunk and primary roads (Longxiang Avenue, Huangge Road): 6 of the 15 walks
    # to public venues cross one (pairs to other schools' grounds are no outings and have no route)
    assert len(walk) == 15 and (walk["main_road_crossings"] > 0).sum() == 6
    assert walk["main_road_crossings"].max() == 2
    assert (routes[routes["mode"] == "bike"]["main_road_m"] > 0).sum() == 29


def test_every_street_metre_is_main_road_when_every_class_counts() -> None:
    from mapgen import osm_extract
    from mapgen.network import street_graph
    from mapgen.routes import routes_summary
    from mapgen.schools import schools_from_osm
    from mapgen.taxonomy import load_taxonomy
    from mapgen.venues import venues_from_osm

    city = load_city(CITIES / "shenzhen-longgang.toml")
    taxonomy = load_taxonomy(city.categories)
    extract = osm_extract.read_osm(shared_file("osm", "shenzhen-longgang.osm"), set(taxonomy.tag_keys) | {"amenity"})
    schools, venues = schools_from_osm(extract.features, city.settings), venues_from_osm(extract.features, taxonomy)
    graph = street_graph(extract, "walk", city.settings)
    every = city.settings.model_copy(update={"main_roads": tuple(set(graph.edge_highway))})
    none = city.settings.model_copy(update={"main_roads": ()})
    all_main, no_main = (routes_summary(graph, schools, venues, s) for s in (every, none))
    assert np.allclose(all_main["main_road_m"], all_main["street_m"])
    assert all_main["street_m"].sum() > 10_000  # 19 walking routes, ~600 m each
    assert (no_main["main_road_m"] == 0).all() and (no_main["main_road_crossings"] == 0).all()


def test_route_columns_are_documented_in_the_output_contract() -> None:
    contract = (ROOT / "docs" / "output-contract.md").read_text(encoding="utf-8")
    for column in ROUTE_COLUMNS:
        assert f"`{column}`" in contract
