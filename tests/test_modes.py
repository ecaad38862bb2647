"""Walk and bike reach on every core is the reach of one process: same pairs, circles, routes and counts."""

from __future__ import annotations

from functools import partial

import pandas as pd
import pytest
import shapely
from conftest import CITIES, shared_file

from mapgen.config import load_city
from mapgen.contract import ReviewLog
from mapgen.modes import reach_by_mode
from mapgen.places import feature_keys, load_extract, name_unnamed_schools, select_schools, select_venues
from mapgen.taxonomy import load_taxonomy


@pytest.mark.parametrize(
    ("city_file", "extract"),
    [("shenzhen-longgang.toml", "shenzhen-longgang.osm"), ("nanjing-xinjiekou.toml", "nanjing-xinjiekou.osm")],
)
def test_forked_reach_is_the_one_process_reach(city_file: str, extract: str, tmp_path) -> None:
    shared_file("osm", extract)
    city = load_city(CITIES / city_file, cache_dir=tmp_path)
    taxonomy = load_taxonomy(city.categories)
    data, _ = load_extract(city, feature_keys(city, taxonomy), quiet=True)
    review = ReviewLog()
    schools = name_unnamed_schools(select_schools(data.features, city, review), data, city.settings)
    venues, _ = select_venues(data, city, taxonomy, review, True, report={})
    assert len(schools) >= 3 and len(venues) >= 20

    runs = {}
    for parallel in (False, True):
        log = ReviewLog()
        runs[parallel] = (reach_by_mode(data, schools, venues, city.settings, log, quiet=True, parallel=parallel), log)
    (one, one_log), (forked, forked_log) = runs[False], runs[True]

    pd.testing.assert_frame_equal(forked.pairs, one.pairs)
    pd.testing.assert_frame_equal(forked.routes, one.routes)
    pd.testing.assert_frame_equal(forked.isochrones.drop(columns="geometry"), one.isochrones.drop(columns="geometry"))
    assert shapely.equals_exact(forked.isochrones.geometry.values, one.isochrones.geometry.values, 0).all()
    assert forked.network == one.network and forked.reach == one.reach
    assert list(forked_log.frame().itertuples(index=False)) == list(one_log.frame().itertuples(index=False))
    # both modes reach venues from most schools: the bike half came back from the forked process
    assert set(one.pairs["mode"]) == {"walk", "bike"}
    assert one.pairs.groupby("mode")["school_id"].nunique().min() > len(schools) // 2


def test_no_fork_from_a_dask_task_run_in_a_thread_of_this_process() -> None:
    # a fork there copies the locks other task threads hold inside C libraries: the child may wait for ever
    from distributed import Client, LocalCluster

    from mapgen.processes import may_fork

    assert may_fork()
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            assert client.submit(may_fork).result() is False
    assert may_fork()


def test_graphs_built_beside_are_the_graphs_the_reach_builds(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the forked process leaves both graphs in the cache, and the reach's builder then loads them: what it builds
    import numpy as np

    from mapgen import network
    from mapgen.modes import graphs_beside

    shared_file("osm", "nanjing-xinjiekou.osm")
    city = load_city(CITIES / "nanjing-xinjiekou.toml", cache_dir=tmp_path / "cache")
    data, _ = load_extract(city, {"amenity"}, quiet=True)
    builder = partial(network.street_graph, cache_key="nanjing-xinjiekou test")
    with graphs_beside(data, city.settings, builder, cached=True) as done:
        done()
    assert len(list((tmp_path / "cache").glob("graph-*.mapgen-cache"))) == 2
    built = {mode: network.street_graph(data, mode, city.settings) for mode in ("walk", "bike")}

    def no_building(*args: object, **kwargs: object) -> None:
        raise AssertionError("built again")

    monkeypatch.setattr(network, "street_graph", no_building)
    for mode, graph in built.items():
        loaded = builder(data, mode, city.settings)
        assert loaded.n_nodes == graph.n_nodes > 1000
        for name in ("edge_u", "edge_v", "edge_length_m", "node_xy"):
            np.testing.assert_array_equal(getattr(loaded, name), getattr(graph, name))
