"""Region builds of one extract cut into areas or tiles: exactly the whole build, across every border."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from conftest import CITIES, shared_file

from mapgen.config import DEFAULT_CATEGORIES, AreaConfig, RegionConfig, Settings, load_region
from mapgen.region import build_region, cut_graph, expand_bbox


@pytest.mark.slow
def test_heidelberg_tiled_2x2_is_exactly_the_untiled_build(tmp_path: Path, heidelberg_build: Path, dask_client) -> None:
    osm = shared_file("osm", "heidelberg.osm.pbf")
    region = RegionConfig(name="hd", areas=[AreaConfig(name="heidelberg", osm=osm, grid=(2, 2))])
    summary = build_region(region, tmp_path, client=dask_client, quiet=True)
    assert summary["failed"] == []
    area = json.loads((tmp_path / "heidelberg" / "summary.json").read_text(encoding="utf-8"))
    tiles = area["partition"]["tiles"]
    assert len(tiles) == 4 and sum(t["schools"] > 0 for t in tiles) >= 3
    assert area["partition"]["buffer_m"] == pytest.approx(3000 + 300 + 25 + 1000)

    tiled = (tmp_path / "heidelberg" / "reachability.csv").read_bytes()
    whole = (heidelberg_build / "reachability.csv").read_bytes()
    assert tiled == whole  # same pairs, same minutes, same order
    assert len(pd.read_csv(heidelberg_build / "reachability.csv")) > 2000

    def areas(folder: Path) -> pd.Series:
        iso = gpd.read_file(folder / "isochrones.geojson").to_crs(32632)
        return iso.set_index(["school_id", "mode", "minutes"]).geometry

    a, b = areas(tmp_path / "heidelberg"), areas(heidelberg_build)
    assert sorted(a.index) == sorted(b.index) and len(a) == 40
    b = b.loc[a.index]
    diff = shapely.symmetric_difference(a.values, b.values)
    rel = shapely.area(diff) / shapely.area(b.values)
    assert rel.max() < 0.01, f"isochrone area differs by {rel.max():.3%}"

    # the PDF sheets' route summaries cover the same pairs with the same minutes
    key = ["school_id", "venue_id", "mode", "minutes"]
    routes = [
        pd.read_csv(d / "routes.csv").sort_values(key, ignore_index=True)[key]
        for d in (tmp_path / "heidelberg", heidelberg_build)
    ]
    pd.testing.assert_frame_equal(*routes)
    assert len(list((tmp_path / "heidelberg" / "schools").glob("*.pdf"))) == 20

    schools = gpd.read_file(tmp_path / "heidelberg" / "schools.geojson")
    assert schools["school_id"].tolist() == gpd.read_file(heidelberg_build / "schools.geojson")["school_id"].tolist()


@pytest.mark.slow
def test_cut_keeps_every_street_piece_the_whole_extract_keeps() -> None:
    """A cut splits big networks into small pieces near its edge; those must not be dropped as islands."""
    from mapgen import osm_extract
    from mapgen.network import street_graph
    from mapgen.taxonomy import load_taxonomy

    extract = osm_extract.read_osm(shared_file("osm", "heidelberg.osm.pbf"), load_taxonomy(DEFAULT_CATEGORIES).tag_keys)
    settings = Settings()
    whole = street_graph(extract, "walk", settings)
    box = expand_bbox((8.64, 49.38, 8.70, 49.42), 2000)  # old town and Bergheim, cut 2 km around
    cut = osm_extract.clip_extract(extract, box)

    def inside(graph) -> set[int]:  # type: ignore[no-untyped-def]
        lon, lat = graph.node_lonlat.T
        ok = (lon >= box[0]) & (lon <= box[2]) & (lat >= box[1]) & (lat <= box[3])
        return set(graph.node_osmid[ok].tolist())

    expected = inside(whole)
    naive = inside(street_graph(cut, "walk", settings))
    kept = inside(cut_graph(cut, "walk", settings, box))
    assert len(expected - naive) > 0  # the naive island rule loses real streets at the cut's edge ...
    assert expected - kept == set()  # ... the cut rule loses none
    assert len(kept - expected) < 0.001 * len(expected)  # and keeps few true islands (only ones leaving the box)


@pytest.mark.slow
def test_neighbouring_areas_of_one_extract_see_venues_across_the_border(
    tmp_path: Path, heidelberg_build: Path, dask_client
) -> None:
    region = load_region(CITIES / "region-heidelberg.toml")
    west_box = region.areas[0].bbox
    assert west_box is not None
    summary = build_region(region, tmp_path, client=dask_client, quiet=True)
    assert summary["built"] == 2 and summary["failed"] == []
    west, east = (pd.read_csv(tmp_path / name / "reachability.csv") for name in ("west", "east"))
    # the areas own disjoint schools; together they are the whole build's schools inside the two boxes
    assert set(west["school_id"]).isdisjoint(east["school_id"])
    schools = gpd.read_file(heidelberg_build / "schools.geojson")
    x, y = schools.geometry.x, schools.geometry.y
    inside = schools[(x >= 8.57) & (x < 8.80) & (y >= 49.35) & (y < 49.46)]["school_id"]
    whole = pd.read_csv(heidelberg_build / "reachability.csv")
    whole = whole[whole["school_id"].isin(inside)]
    key = ["school_id", "venue_id", "mode", "minutes"]
    together = pd.concat([west, east]).sort_values(key, ignore_index=True)
    assert len(together) > 1900  # about 2,000 pairs to public venues: the comparison below is not an empty one
    pd.testing.assert_frame_equal(together, whole.sort_values(key, ignore_index=True))
    # west schools reach venues east of the border, exactly as in the whole build
    venues = gpd.read_file(heidelberg_build / "venues.geojson").set_index("venue_id")
    across = venues.loc[west["venue_id"]].geometry.x.to_numpy() >= west_box[2]
    assert across.sum() >= 20
    west_list = pd.read_csv(tmp_path / "venues" / "west.csv")
    assert set(west["venue_id"]) <= set(west_list["venue_id"])  # the directory lists the venues its schools reach
