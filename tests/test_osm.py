"""Reading real OSM extracts (XML and PBF) and the osmnx download path."""

from __future__ import annotations

import pytest

from mapgen.errors import EmptyNetworkError, InputFileError
from mapgen.osm_extract import clip_extract, extract_from_osmnx, read_osm
from tests.conftest import shared_file


def test_xml_extract_gives_streets_and_school_campuses() -> None:
    extract = read_osm(shared_file("osm", "shenzhen-longgang.osm"), {"amenity", "leisure"})
    schools = extract.features[extract.features["amenity"] == "school"]
    assert len(extract.highways) > 400
    assert "龙岗外国语学校" in set(schools["name"])
    assert set(schools.geom_type) == {"Polygon"}  # campuses are closed ways, read as areas


def test_pbf_extract_is_read_with_the_same_function() -> None:
    extract = read_osm(shared_file("osm", "heidelberg.osm.pbf"), {"amenity"})
    schools = extract.features[extract.features["amenity"] == "school"]
    assert len(extract.highways) > 20_000
    assert {"Helmholtz-Gymnasium", "Kurfürst-Friedrich-Gymnasium"} <= set(schools["name"])


def test_a_dated_pbf_read_for_its_streets_only_keeps_every_street() -> None:
    # no feature keys: the header-dated read drops every node before Python, and needs none
    with_features = read_osm(shared_file("osm", "monaco.osm.pbf"), {"amenity", "leisure"})
    streets_only = read_osm(shared_file("osm", "monaco.osm.pbf"), [])
    assert streets_only.data_date == with_features.data_date
    assert streets_only.features.empty and not with_features.features.empty
    assert [(w.way_id, list(w.node_ids)) for w in streets_only.highways] == [
        (w.way_id, list(w.node_ids)) for w in with_features.highways
    ]


def test_missing_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        read_osm(tmp_path / "nowhere.osm.pbf", {"amenity"})


def test_wrong_suffix_is_refused(tmp_path) -> None:
    path = tmp_path / "venues.csv"
    path.write_text("name,lon,lat\n")
    with pytest.raises(InputFileError, match="not an OSM extract"):
        read_osm(path, {"amenity"})


def test_garbage_with_osm_suffix_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "broken.osm"
    path.write_text("this is not XML at all")
    with pytest.raises(InputFileError, match="broken.osm"):
        read_osm(path, {"amenity"})


def test_bbox_without_streets_is_an_empty_network_error() -> None:
    extract = read_osm(shared_file("osm", "shenzhen-longgang.osm"), {"amenity"})
    with pytest.raises(EmptyNetworkError, match="no streets"):
        clip_extract(extract, (0.0, 0.0, 0.01, 0.01))


def test_osmnx_graph_converts_to_the_same_streets_and_schools() -> None:
    """The download fallback feeds osmnx output into the pipeline; check it on a real file via osmnx's reader."""
    import osmnx as ox

    from mapgen.config import Settings
    from mapgen.network import street_graph
    from mapgen.osm_extract import WAY_TAGS

    path = shared_file("osm", "shenzhen-longgang.osm")
    ox.settings.useful_tags_way = sorted(set(ox.settings.useful_tags_way) | set(WAY_TAGS))
    graph = ox.graph_from_xml(path, simplify=False, retain_all=True)
    features = ox.features_from_xml(path, tags={"amenity": True})
    via_osmnx = extract_from_osmnx(graph, features, "osmnx")
    direct = read_osm(path, {"amenity"})
    for mode in ("walk", "bike"):
        a, b = street_graph(via_osmnx, mode, Settings()), street_graph(direct, mode, Settings())
        assert set(a.node_osmid) == set(b.node_osmid)
        assert a.edge_length_m.sum() == pytest.approx(b.edge_length_m.sum(), rel=1e-6)
    names = set(via_osmnx.features.loc[via_osmnx.features["amenity"] == "school", "name"])
    assert "龙岗外国语学校" in names


def test_overlong_tag_values_are_cut_or_refused_in_one_line(tmp_path) -> None:
    from mapgen.osm_extract import MAX_TAG_CHARS

    text = shared_file("osm", "shenzhen-longgang.osm").read_text(encoding="utf-8")
    crafted = tmp_path / "long.osm"
    # longer than OSM allows (255 characters) but within what libosmium reads (1,024 bytes): cut
    crafted.write_text(text.replace('v="龙岗外国语学校"', f'v="龙岗外国语学校{"x" * 600}"', 1), encoding="utf-8")
    names = read_osm(crafted, {"amenity"}).features["name"].dropna()
    cut = names[names.str.len() == MAX_TAG_CHARS]
    assert names.str.len().max() == MAX_TAG_CHARS
    assert len(cut) == 1 and cut.iloc[0].startswith("龙岗外国语学校xxx") and cut.iloc[0].endswith("…")
    # a megabyte-long name: libosmium refuses the file, and the build says so in one line
    crafted.write_text(text.replace('v="龙岗外国语学校"', f'v="{"长" * 1_000_000}"', 1), encoding="utf-8")
    with pytest.raises(InputFileError, match=r"long\.osm: cannot be read as OSM data: .*too long"):
        read_osm(crafted, {"amenity"})


def test_cached_extract_keeps_the_files_bounds_and_data_date() -> None:
    from mapgen.osm_extract import extract_arrays, extract_from_arrays

    extract = read_osm(shared_file("osm", "monaco.osm.pbf"), {"amenity"})
    again = extract_from_arrays(extract_arrays(extract))
    assert extract.data_date == "2016-03-05" and again.data_date == extract.data_date
    assert again.box == extract.box and again.bounds == extract.bounds
    assert len(again.features) == len(extract.features) and len(again.highways) == len(extract.highways)
