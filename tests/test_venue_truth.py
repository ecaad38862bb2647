"""What a parent is told is true: school grounds, real names, one place one venue, the data edge, the language."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from mapgen import osm_extract
from mapgen.config import load_city
from mapgen.contract import ReviewLog
from mapgen.edge import data_area
from mapgen.naming import RAW_TAG_NAME
from mapgen.places import feature_keys, load_extract, select_venues, with_language
from mapgen.publish.sheetdata import load_build, sheet_table
from mapgen.sitetext import normalise
from mapgen.taxonomy import load_taxonomy
from tests.conftest import CITIES, shared_file

CITY_FILES = ["nanjing-xinjiekou", "beijing-haidian", "heidelberg", "shenzhen-longgang", "monaco"]


@pytest.fixture(scope="module", params=CITY_FILES)
def city_venues(request: pytest.FixtureRequest) -> tuple[str, gpd.GeoDataFrame, dict[str, object], str]:
    """The venues of each shared extract as a build selects them, with the merge report and the language."""
    city = load_city(CITIES / f"{request.param}.toml")
    taxonomy = load_taxonomy(city.categories)
    shared_file("osm", city.osm.name)  # type: ignore[union-attr]
    extract, _ = load_extract(city, feature_keys(city, taxonomy), quiet=True)
    city = with_language(city, extract)
    report: dict[str, object] = {}
    venues, _ = select_venues(extract, city, taxonomy, ReviewLog(), quiet=True, report=report)
    return request.param, venues, report, str(city.settings.language)


def _table(folder: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    schools = gpd.read_file(folder / "schools.geojson")
    venues = gpd.read_file(folder / "venues.geojson")
    pairs = pd.read_csv(folder / "reachability.csv", dtype={"school_id": str, "venue_id": str})
    return schools, venues, pairs


def test_jinling_middle_schools_own_grounds_are_on_campus_not_outings(nanjing_build: Path) -> None:
    schools, venues, pairs = _table(nanjing_build)
    jinling = schools.loc[schools["name"] == "金陵中学", "school_id"].item()
    names = venues.set_index("venue_id")["name"]
    mine = pairs[pairs["school_id"] == jinling].assign(name=lambda p: p["venue_id"].map(names))
    own = set(mine.loc[mine["on_campus"], "name"])
    assert {"北操场", "南操场", "体育馆", "世纪碑", "花坛（校训石）"} <= own
    assert not set(mine.loc[~mine["on_campus"], "name"]) & own
    # the school's own grounds are no one else's outing either, and not public
    own_ids = set(mine.loc[mine["on_campus"], "venue_id"])
    assert pairs.loc[pairs["school_id"] != jinling, "venue_id"].isin(own_ids).sum() == 0
    assert not venues.loc[venues["venue_id"].isin(own_ids), "public"].any()
    # every city-wide figure: 44 school-venue pairs (22 per mode) lie on the school's own grounds
    assert pairs.groupby("mode")["on_campus"].sum().to_dict() == {"bike": 22, "walk": 22}
    summary = json.loads((nanjing_build / "summary.json").read_text(encoding="utf-8"))
    assert summary["reach"]["walk"]["on_campus_pairs"] == 22
    # the PDF sheet lists none of them, so none is the nearest venue of its category
    table = sheet_table(load_build(nanjing_build), jinling)
    assert not set(table["name"]) & own


def test_nanjing_library_and_monuments_are_one_venue_each(nanjing_build: Path) -> None:
    _, venues, _ = _table(nanjing_build)
    assert (venues["name"] == "南京图书馆").sum() == 1
    assert venues.loc[venues["name"] == "朝天宫", "category"].tolist() == ["museum"]  # museum before park
    assert venues.loc[venues["name"] == "李鸿章祠堂", "category"].tolist() == ["heritage"]
    palace = venues[venues["name"] == "总统府"]  # the museum node (name:en only) and the park, one venue
    assert palace["category"].tolist() == ["museum"] and palace["name_en"].item() == "Presidential Palace"
    assert (venues["name"] == "五台山体育馆").sum() == 1
    summary = json.loads((nanjing_build / "summary.json").read_text(encoding="utf-8"))
    assert summary["truth"]["same_place"] == 6


def test_chinese_search_for_basketball_finds_the_courts(nanjing_build: Path) -> None:
    from webapp import create_app

    client = create_app(nanjing_build / "site.db").test_client()
    found = {v["name"] for v in client.get("/api/venues?q=篮球").get_json()["results"]}
    english = {v["name"] for v in client.get("/api/venues?q=basketball").get_json()["results"]}
    assert found == english and len(found) == 3
    assert all("篮球场" in n for n in found)
    assert {v["name"] for v in client.get("/api/venues?q=篮球场").get_json()["results"]} == found  # trigram index


def test_isochrones_at_the_nanjing_bounds_are_flagged_and_inner_ones_not(nanjing_build: Path) -> None:
    iso = gpd.read_file(nanjing_build / "isochrones.geojson")
    extract = osm_extract.read_osm(shared_file("osm", "nanjing-xinjiekou.osm"), {"amenity"})
    crs = iso.estimate_utm_crs()
    outline = gpd.GeoSeries([data_area(extract)], crs=4326).to_crs(crs).iloc[0].boundary
    distance = iso.geometry.to_crs(crs).distance(outline)
    assert iso.groupby("mode")["reaches_data_edge"].sum().to_dict() == {"bike": 13, "walk": 7}
    assert (distance[iso["reaches_data_edge"]] <= 100).all()
    assert (distance[~iso["reaches_data_edge"]] > 100).all() and (~iso["reaches_data_edge"]).sum() == 6
    summary = json.loads((nanjing_build / "summary.json").read_text(encoding="utf-8"))
    assert summary["truth"]["isochrones_at_data_edge"] == {"walk": 7, "bike": 13}


def test_no_venue_is_named_with_raw_tag_values(
    city_venues: tuple[str, gpd.GeoDataFrame, dict[str, object], str],
) -> None:
    _, venues, report, _ = city_venues
    assert len(venues) > 10
    assert venues["name"].str.strip().ne("").all()
    assert not venues["name"].str.contains(RAW_TAG_NAME).any()
    assert report["named_from_tags"] > 0  # type: ignore[operator]


def test_generated_names_speak_the_citys_language(
    city_venues: tuple[str, gpd.GeoDataFrame, dict[str, object], str],
) -> None:
    city, venues, _, language = city_venues
    in_china = city in ("nanjing-xinjiekou", "beijing-haidian", "shenzhen-longgang")
    assert language == ("zh" if in_china else "en")
    sports = venues[venues["search_terms"].str.contains("Playground|Basketball court|Sports pitch")]
    words = ("儿童游乐场", "篮球场", "运动场") if in_china else ("Playground", "Basketball court", "Sports pitch")
    assert sports["name"].str.contains("|".join(words)).mean() > 0.5


def test_one_place_one_venue(city_venues: tuple[str, gpd.GeoDataFrame, dict[str, object], str]) -> None:
    _, venues, _, _ = city_venues
    metric = venues.to_crs(venues.estimate_utm_crs())
    names = metric["name"].map(normalise)
    for name, same in metric.groupby(names):
        if len(same) > 1:
            footprints = gpd.GeoSeries(same["footprint"], crs=4326).to_crs(metric.crs).to_numpy()
            gaps = [shapely.distance(a, b) for i, a in enumerate(footprints) for b in footprints[i + 1 :]]
            assert min(gaps) > 150, name


@pytest.mark.parametrize(
    ("city", "date"),
    [
        ("nanjing-xinjiekou", None),
        ("beijing-haidian", "2026-03-22"),
        ("heidelberg", "2024-09-08"),
        ("shenzhen-longgang", "2019-11-03"),
        ("monaco", "2016-03-05"),
    ],
)
def test_data_date_is_the_extracts_newest_timestamp(city: str, date: str | None) -> None:
    config = load_city(CITIES / f"{city}.toml")
    shared_file("osm", config.osm.name)  # type: ignore[union-attr]
    extract, _ = load_extract(config, feature_keys(config, load_taxonomy(config.categories)), quiet=True)
    assert extract.data_date == date


@pytest.mark.parametrize(
    ("city", "title", "language"),
    [
        ("monaco", "Monaco", "en"),  # place=city
        ("nanjing-xinjiekou", "玄武区", "zh"),  # no city node: the district boundary holding the centre
        ("heidelberg", None, "en"),  # neither in the extract: the file name stays the title
    ],
)
def test_a_bare_extract_is_titled_by_its_main_place(city: str, title: str | None, language: str) -> None:
    from mapgen.config import city_from_osm

    config = load_city(CITIES / f"{city}.toml")
    bare = city_from_osm(shared_file("osm", config.osm.name))  # type: ignore[union-attr]
    extract, _ = load_extract(bare, feature_keys(bare, load_taxonomy(bare.categories)), quiet=True)
    titled = with_language(bare, extract)
    assert (titled.title, titled.settings.language) == (title, language)
    assert titled.display_title == (title or bare.name)


def test_german_names_when_the_language_is_set() -> None:
    city = load_city(CITIES / "heidelberg.toml", language="de")
    taxonomy = load_taxonomy(city.categories)
    extract, _ = load_extract(city, feature_keys(city, taxonomy), quiet=True)
    venues, _ = select_venues(extract, city, taxonomy, ReviewLog(), quiet=True)
    playgrounds = venues[venues["search_terms"].str.startswith("儿童游乐场")]
    assert len(playgrounds) > 50 and playgrounds["name"].str.startswith("Spielplatz").mean() > 0.8
