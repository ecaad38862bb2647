"""Schools and venues taken from real extracts and from a user's school list."""

from __future__ import annotations

import numpy as np
import pytest

from mapgen.basemap import BASEMAP_KEYS
from mapgen.config import DEFAULT_CATEGORIES, Settings
from mapgen.contract import ReviewLog
from mapgen.osm_extract import feature_tags, read_osm
from mapgen.schools import schools_from_csv, schools_from_osm
from mapgen.taxonomy import load_taxonomy
from mapgen.venues import venues_from_osm
from tests.conftest import shared_file

TAXONOMY = load_taxonomy(DEFAULT_CATEGORIES)


def _features(name: str):
    return read_osm(shared_file("osm", name), set(TAXONOMY.tag_keys) | {"amenity"}).features


def test_shenzhen_schools_have_their_real_names_and_no_college() -> None:
    schools = schools_from_osm(_features("shenzhen-longgang.osm"), Settings())
    assert set(schools["name"]) == {"龙岗外国语学校", "深圳市体育运动学校", "华南师范大学附属龙岗大运学校"}
    # 深圳信息职业技术学院 is tagged amenity=school but is a vocational college
    assert schools["school_id"].is_unique


def test_nanjing_drops_party_school_teacher_training_and_kindergarten() -> None:
    features = _features("nanjing-xinjiekou.osm")
    schools = schools_from_osm(features, Settings())
    names = set(schools["name"])
    assert {"金陵中学", "南京市第五中学", "人民中学", "汉中门小学"} <= names
    assert not names & {"秦淮区委党校", "秦淮区教师进修学校", "南京幼儿高等师范学校", "五老村幼儿园"}
    assert len(schools) == 13
    with_kg = schools_from_osm(features, Settings(include_kindergartens=True))
    assert "五老村幼儿园" in set(with_kg["name"])


def test_school_node_inside_its_campus_counts_once() -> None:
    features = _features("nanjing-xinjiekou.osm")
    schools = schools_from_osm(features, Settings())
    campuses = schools[schools["footprint"].geom_type.isin(["Polygon", "MultiPolygon"])]
    points = schools[schools["footprint"].geom_type == "Point"]
    assert not points.geometry.apply(lambda p: campuses["footprint"].contains(p).any()).any()


def test_heidelberg_has_its_twenty_schools_with_campus_polygons() -> None:
    schools = schools_from_osm(_features("heidelberg.osm.pbf"), Settings())
    assert len(schools) == 20
    assert {"Helmholtz-Gymnasium", "Kurfürst-Friedrich-Gymnasium", "Tiefburgschule"} <= set(schools["name"])
    assert (schools["footprint"].geom_type == "Polygon").sum() == 20
    # the point published for a campus lies on the campus
    assert schools["footprint"].contains(schools.geometry).all()


@pytest.mark.parametrize(
    "extract",
    ["monaco.osm.pbf", "heidelberg.osm.pbf", "nanjing-xinjiekou.osm", "shenzhen-longgang.osm", "beijing-haidian.osm"],
)
def test_tags_read_by_column_are_the_rows_tags_and_every_venue_row_is_a_candidate(extract: str) -> None:
    # the keys a build reads: with the base map's buildings Monaco's table is 25,000 rows by 427 columns
    features = read_osm(shared_file("osm", extract), set(TAXONOMY.tag_keys) | BASEMAP_KEYS | {"amenity"}).features
    sample = features.sample(n=min(2000, len(features)), random_state=0)  # row by row, all of Monaco takes seconds
    by_row = [
        {k: v for k, v in rec.items() if isinstance(v, str) and k != "element"} for rec in sample.to_dict("records")
    ]
    assert feature_tags(sample) == by_row and all(list(a) == list(b) for a, b in zip(feature_tags(sample), by_row))
    tags = feature_tags(features)
    classified = np.array([TAXONOMY.classify(t) is not None for t in tags])
    candidates = TAXONOMY.may_match(features)
    assert classified.sum() >= 20
    assert not (classified & ~candidates).any()  # no row a category matches is left out of the candidates
    keys = sorted(TAXONOMY.tag_keys & set(features.columns))
    keyless = features[keys].isna().all(axis=1).to_numpy()  # base-map areas, buildings, schools
    assert keyless.any() and not (candidates & keyless).any()  # rows no rule can match are not read one by one


def test_venues_get_categories_labels_and_osm_ids() -> None:
    venues = venues_from_osm(_features("nanjing-xinjiekou.osm"), TAXONOMY)
    counts = venues["category"].value_counts().to_dict()
    assert counts["museum"] >= 6 and counts["library"] == 2 and counts["sports"] >= 20
    assert set(venues["category_zh"]) >= {"博物馆与美术馆", "图书馆", "体育场地"}
    assert venues["venue_id"].is_unique
    assert venues["osm_id"].str.match(r"^(node|way|relation)/\d+$").all()
    assert (venues["source"] == "OpenStreetMap").all()


def test_science_museum_is_a_science_venue_not_a_museum() -> None:
    category = TAXONOMY.classify({"tourism": "museum", "name": "上海科技馆"})
    assert category is not None and category.key == "science"
    assert TAXONOMY.classify({"tourism": "museum", "name": "南京博物院"}).key == "museum"
    assert TAXONOMY.classify({"leisure": "pitch", "access": "private"}).key == "sports"


def test_private_venues_are_not_listed_except_on_school_grounds() -> None:
    features = _features("heidelberg.osm.pbf")
    venues = venues_from_osm(features, TAXONOMY)
    private = features[(features.get("access") == "private") & (features.get("leisure") == "pitch")]
    assert len(private) > 0
    listed = venues[venues["osm_id"].str.split("/").str[1].astype(int).isin(private["osm_id"])]
    # a private pitch on school grounds is kept, as that school's own (never public); the rest are left out
    assert len(listed) < len(private)
    assert (~listed["public"]).all() and (listed["campus"] != "").all()


def test_school_csv_keeps_good_rows_and_reports_bad_ones(tmp_path) -> None:
    path = tmp_path / "schools.csv"
    path.write_text(
        "\ufeff名称,经度,纬度\n"
        "龙城小学,114.2101,22.7203\n"
        ",114.21,22.72\n"
        "坐标缺失学校,,\n"
        "颠倒学校,22.72,114.21\n"
        "<script>alert(1)</script>中学,114.2201,22.7103\n",
        encoding="utf-8",
    )
    review = ReviewLog()
    schools = schools_from_csv(path, review)
    assert list(schools["name"]) == ["龙城小学", "<script>alert(1)</script>中学"]
    rows = list(review)
    assert [r.row for r in rows] == [3, 4, 5]
    assert "name missing" in rows[0].reason
    assert "not numbers" in rows[1].reason
    assert "swapped" in rows[2].reason
    assert all(r.file == str(path) for r in rows)
