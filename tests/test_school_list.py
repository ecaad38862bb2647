"""Official school lists (names, addresses, ids; no coordinates) reconciled with the real extracts' OSM schools."""

from __future__ import annotations

import csv

import geopandas as gpd
import numpy as np
import pytest
from conftest import shared_file

from mapgen import osm_extract
from mapgen.config import CatalogueSettings, SchoolListConfig, Settings, city_from_osm, load_city
from mapgen.contract import ReviewLog
from mapgen.geo import distance_m
from mapgen.places import select_schools
from mapgen.school_list import reconcile_school_list, school_key, school_score
from mapgen.schools import schools_from_osm

KEYS = {"name", "amenity", "building", "landuse", "leisure", "addr:housenumber"}
SETTINGS = CatalogueSettings()

# (official id, name as an education bureau writes it, address, the OSM feature it is, or None when OSM lacks it)
NANJING = [
    ("320102001", "南京市金陵中学", "南京市鼓楼区中山路169号", "way/88780395"),  # city prefix
    ("320102002", "南京市人名中学", "南京市鼓楼区中山路178号", "node/1058331313"),  # misspelt (人民), address confirms
    ("320104003", "南京市石鼓路小学", "", "way/147399444"),
    ("320104004", "南京九中", "", "way/444227092"),  # 南京市第九中学
    ("320104005", "南京市第九初级中学", "", "way/863056908"),  # not 九中
    ("320104006", "南京五中", "", "way/445000100"),  # 南京市第五中学
    ("320104007", "三条巷小学", "", "way/318173790"),  # 南京市三条巷小学
    ("320104008", "南京市五老村小学", "", "way/223942597"),
    ("320104009", "南京市第三中学（金銮校区）", "", "way/321791623"),  # OSM: 南京三中金銮校区
    ("320104010", "南京市第三高级中学文昌初级中学", "", "way/166717323"),  # OSM: …文昌初中
    ("320104011", "汉中们小学", "", None),  # misspelt (汉中门), no address: review with the best candidate
    ("320104012", "南京市第一中学", "南京市秦淮区中华路399号", None),  # not in the extract
    ("320104013", "南京市金陵中学河西分校", "", None),  # a branch is another school
]
HEIDELBERG = [
    ("H01", "Helmholtz-Gymnasium Heidelberg", "Rohrbacher Straße 102", "way/372535118"),
    ("H02", "Kurfürst-Friedrich-Gymnasium", "", "way/155204823"),
    ("H03", "Bunsen-Gymnasium", "", "way/138564974"),  # only its school yard is mapped (a gazetteer place)
    ("H04", "Pestalozzischule", "", "way/372535120"),  # OSM: Pestalozzi-Schule
    ("H05", "Willy Hellpach Schule", "", "way/372535122"),
    ("H06", "Tiefburgschule Handschuhsheim", "", "way/384802164"),
    ("H07", "Landhausschule", "", "way/372753850"),  # OSM: Landhausschule Heidelberg
    ("H08", "Elisabeth-von-Thadden-Schule", "", "way/24608070"),
    ("H09", "Julius-Springer-Schule", "", "way/372535119"),
    ("H10", "Grundschule Schlierbach", "", "way/215343942"),
    ("H11", "Heiligenbergschule", "", "way/91097268"),  # its sports ground (the tram stop of that name is not a place)
    ("H12", "Strahlenburger Grundschule", "", "way/43125647"),  # misspelt (Strahlenberger)
    ("H13", "Geschwister-Scholl-Schule", "", None),  # not in OSM
]

MONACO = [
    ("M1", "Ecole de la Condamine", "", "node/1867162684"),  # accents dropped
    ("M2", "Lycée Albert 1er", "", "way/104863462"),  # OSM: Lycée Albert-1er
    ("M3", "École Saint Charles", "", "node/280489204"),
    ("M4", "Ecole des Carmes", "", "node/1872391440"),
    ("M5", "Collège Saint-Joseph Carnolès", "", "way/210933747"),  # OSM: Collège privé Saint-Joseph Carnolès
    ("M6", "Ecole de Fontvieille", "", "way/176131190"),
    ("M7", "École primaire Pagnol", "", "way/137793240"),
    ("M8", "Lycée technique et hôtelier de Monte-Carlo", "", "way/176684621"),  # mapped without amenity=school
    ("M9", "École des Révoires", "", "way/94399948"),  # mapped as building=school only
    ("M10", "Collège Charles III", "", None),  # not in OSM (only the Boulevard Charles III, a street)
]


def _write(path, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["学校代码", "学校名称", "地址"], *[r[:3] for r in rows]])
    return path


def _reconcile(tmp_path, osm_file, rows, complete=True):
    extract = osm_extract.read_osm(shared_file("osm", osm_file), KEYS)
    osm_schools = schools_from_osm(extract.features, Settings())
    spec = SchoolListConfig(file=_write(tmp_path / f"{osm_file.split('.')[0]}-schools.csv", rows), complete=complete)
    return reconcile_school_list(spec, osm_schools, extract.features, SETTINGS), extract.features, osm_schools


def _position_errors(result, features, rows):
    """Metres from each matched school's point to the point of the OSM feature its row was made from."""
    truth = {
        f"{e}/{i}": g.representative_point()
        for e, i, g in zip(features["element"], features["osm_id"], features.geometry, strict=True)
    }
    by_id = {r[0]: r[3] for r in rows}
    errors = []
    for school_id, point in zip(result.schools["school_id"], result.schools.geometry, strict=True):
        want = truth[by_id[school_id.rsplit("-", 1)[1]]]
        errors.append(float(distance_m(point.x, point.y, want.x, want.y)))
    return np.array(errors)


@pytest.mark.parametrize(
    ("osm_file", "rows", "matched", "by_address", "other_places", "review", "left_out"),
    [
        (
            "nanjing-xinjiekou.osm",
            NANJING,
            10,
            1,
            0,
            3,
            {"Changjiang Road Primary School", "南京外国语学校国际部及初三年级校区", "汉中门小学"},
        ),
        ("heidelberg.osm.pbf", HEIDELBERG, 12, 0, 2, 1, 10),
        ("monaco.osm.pbf", MONACO, 9, 0, 2, 1, 6),
    ],
)
def test_official_list_reconciled(tmp_path, osm_file, rows, matched, by_address, other_places, review, left_out):
    result, features, osm_schools = _reconcile(tmp_path, osm_file, rows)
    summary = result.summary
    assert (summary["rows"], summary["matched"], summary["to_review"]) == (len(rows), matched, review)
    assert (summary["matched_by_address"], summary["matched_other_places"]) == (by_address, other_places)
    left = {s["name"] for s in summary["left_out"]}
    assert left == left_out if isinstance(left_out, set) else len(left) == left_out
    # every matched school is the place its official row names, with the official name and id
    expected = {f"{osm_file.split('.')[0]}-schools-{r[0]}": (r[1], r[3]) for r in rows if r[3]}
    got = dict(
        zip(
            result.schools["school_id"], zip(result.schools["name"], result.schools["osm_id"], strict=True), strict=True
        )
    )
    assert got == expected
    assert _position_errors(result, features, rows).max() < 0.01  # OSM's position, to the centimetre
    ways = [r[3] for r in rows if r[3] and r[3].startswith("way/")]
    campus = gpd.GeoSeries(result.schools.set_index("osm_id").loc[ways, "footprint"])
    assert set(campus.geom_type) == {"Polygon"}  # the campus outline travels with the school
    # what is not found goes to review naming the best candidate
    reasons = {r.name: r.reason for r in result.review}
    assert set(reasons) == {r[1] for r in rows if r[3] is None}
    assert len(left) + matched - other_places == len(osm_schools)


def test_review_names_the_best_candidate_and_keeps_branches_apart(tmp_path):
    result, _, _ = _reconcile(tmp_path, "nanjing-xinjiekou.osm", NANJING)
    reasons = {r.name: r.reason for r in result.review}
    assert "best candidate '汉中门小学' (way/147399449) has confidence 0.76" in reasons["汉中们小学"]
    assert "another branch or campus, '金陵中学' (way/88780395)" in reasons["南京市金陵中学河西分校"]
    assert all(r.file == "nanjing-xinjiekou-schools.csv" and int(r.row) >= 2 for r in result.review)


def test_incomplete_list_keeps_the_other_osm_schools(tmp_path):
    result, _, osm_schools = _reconcile(tmp_path, "nanjing-xinjiekou.osm", NANJING, complete=False)
    assert len(result.schools) == len(osm_schools) == 13 and result.summary["left_out"] == []
    assert result.schools["school_id"].str.startswith("nanjing-xinjiekou-schools-").sum() == 10


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("南京市金陵中学", "金陵中学", True),
        ("南京市第一中学", "南京一中", True),
        ("江苏省南京市第13中学", "南京十三中", True),
        ("南京市第九中学", "南京市第九初级中学", False),
        ("南京市第三高级中学", "南京三高中", True),
        ("金陵中学", "金陵中学河西分校", False),
        ("南京三中金銮校区", "南京市第三中学", False),
        ("Helmholtz-Gymnasium Heidelberg", "Helmholtz-Gymnasium", True),
        ("Grundschule Schlierbach", "Grundschule Neckargemünd", False),
        ("Gymnasium Heidelberg", "Bunsen-Gymnasium", False),
    ],
)
def test_school_name_variants(a, b, same):
    spec = SchoolListConfig(file="list.csv")
    score = school_score(school_key(a, spec, SETTINGS), school_key(b, spec, SETTINGS), spec)
    assert (score >= spec.min_confidence) == same


def test_city_file_school_list_in_select_schools(tmp_path):
    listed = _write(tmp_path / "official.csv", NANJING)
    toml = tmp_path / "nanjing.toml"
    toml.write_text(
        f'osm = "{shared_file("osm", "nanjing-xinjiekou.osm")}"\n\n[school_list]\nfile = "official.csv"\n'
        'name = "nj"\ncomplete = true\n',
        encoding="utf-8",
    )
    city = load_city(toml)
    assert city.school_list is not None and city.school_list.file == listed
    extract = osm_extract.read_osm(city.osm, KEYS)
    review = ReviewLog()
    schools = select_schools(extract.features, city, review)
    assert len(schools) == 10 and schools["school_id"].str.startswith("nj-").all() and schools["from_osm"].all()
    assert schools.attrs["school_list"]["matched"] == 10 and len(schools.attrs["school_list"]["left_out"]) == 3
    assert [r.name for r in review] == ["汉中们小学", "南京市第一中学", "南京市金陵中学河西分校"]
    assert select_schools(extract.features, city_from_osm(city.osm), ReviewLog()).attrs["school_list"] == {}
