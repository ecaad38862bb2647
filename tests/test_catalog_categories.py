"""Catalogue categories recognised from category words, names and matched places; readers that pick the right column."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import shared_file

from mapgen import osm_extract
from mapgen.catalog import build_gazetteer, import_catalogue, map_columns, parse_coordinate, read_gazetteer, read_table
from mapgen.catalog.categories import CategoryWords, fold
from mapgen.config import DEFAULT_CATEGORIES, CatalogueConfig, CatalogueSettings
from mapgen.errors import InputFileError
from mapgen.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy(DEFAULT_CATEGORIES)
SETTINGS = CatalogueSettings()
WORDS = CategoryWords(TAXONOMY, SETTINGS)

# 20 placed venues of the bureau list, each category checked by hand against the name and the place
BUREAU_CHECKED = {
    "上海博物馆": "museum",
    "上海科技馆": "science",
    "上海科技馆分馆（上海自然博物馆）": "science",
    "上海科技馆分馆(上海天文馆)": "science",
    "上海少年儿童图书馆（南西馆）": "library",
    "上海海洋水族馆": "science",
    "新场古镇": "heritage",
    "上海亭林遗址公园": "park",
    "上海豫园": "heritage",
    "上海国际赛车场旅游景区": "sports",
    "中共一大纪念馆": "museum",
    "程十发美术馆": "museum",
    "上海宋庆龄故居纪念馆": "museum",
    "上海福泉山遗址景区": "heritage",
    "中华艺术宫（上海美术馆）": "museum",
    "上海玻璃博物馆": "museum",
    "上海南社纪念馆": "museum",
    "中国航海博物馆": "museum",
    "上海崧泽遗址博物馆": "museum",
    "上海犹太难民纪念馆": "museum",
}


@pytest.fixture(scope="module")
def bureau():
    gazetteer = build_gazetteer(read_gazetteer(shared_file("venues", "shanghai-osm-culture.geojson")), SETTINGS)
    spec = CatalogueConfig(
        file=shared_file("venues", "shanghai-culture-bureau-venues.json"), columns={"opening_hours": "T_TIME"}
    )
    return import_catalogue(spec, TAXONOMY, SETTINGS, gazetteer=gazetteer, area=gazetteer.area)


def test_bureau_list_without_category_takes_categories_from_places_and_names(bureau):
    venues, review = bureau.venues, bureau.review.frame()
    assert len(venues) + len(review) == 150 and len(venues) == 31
    source = venues["category_source"].str.split(":").str[0]
    assert source.value_counts().to_dict() == {"tags+name": 21, "tags": 4, "name": 6}
    assert (venues["category_confidence"] >= 0.8).all()
    placed = venues.set_index("name")["category"]
    assert {n: placed[n] for n in BUREAU_CHECKED} == BUREAU_CHECKED
    assert venues.set_index("name").loc["上海博物馆", "category_source"] == "tags+name: way/161090899, 博物馆"
    # the name's kind word beats the tags of the listed building the library is housed in
    assert (
        venues.set_index("name").loc["上海少年儿童图书馆（南西馆）", "category_source"].startswith("name: 图书馆 (tags")
    )
    no_category = review[review["reason"].str.startswith("no category")]
    assert set(no_category["name"]) == {"东方明珠广播电视塔", "上海之巅观光厅", "上海浦江之首旅游景区", "花米庄行景区"}
    assert not review["reason"].str.startswith("unknown category").any()
    # DNAME (黄浦区), not the numeric DISTRICT code (1)
    assert venues["district"].str.endswith("区").all()


def test_category_setting_still_overrides_names(bureau):
    spec = CatalogueConfig(file=shared_file("venues", "shanghai-culture-bureau-venues.json"), category="park")
    gazetteer = build_gazetteer(read_gazetteer(shared_file("venues", "shanghai-osm-culture.geojson")), SETTINGS)
    result = import_catalogue(spec, TAXONOMY, SETTINGS, gazetteer=gazetteer)
    assert len(result.venues) == 35 and (result.venues["category"] == "park").all()
    assert (result.venues["category_source"] == "setting").all()


def test_category_words_people_use(tmp_path):
    """A list with traditional headers and the words districts write in its category column, on real Nanjing places."""
    extract = osm_extract.read_osm(
        shared_file("osm", "nanjing-xinjiekou.osm"), {"name", "leisure", "building", "amenity"}
    )
    f = extract.features.set_index(extract.features["element"] + "/" + extract.features["osm_id"].astype(str))
    rows = []
    for osm_id, word in [
        ("way/93689857", "运动场地"),
        ("way/88780387", "体育馆"),
        ("way/192501889", "科技馆"),
        ("way/88780397", "運動場地"),
        ("node/1069288496", "文化站"),
        ("way/94327966", "圖書館"),
        ("node/779093768", "Art Gallery"),
        ("way/93689865", "运动场所在地"),
    ]:
        point = f.at[osm_id, "geometry"].representative_point()
        rows.append([f.at[osm_id, "name"], f"{point.x:.6f}", f"{point.y:.6f}", word])
    rows.append(["南京市青少年宫", "", "", "少年宫"])  # no coordinates: review for that, its category is understood
    path = tmp_path / "nanjing-list.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["名稱", "經度", "緯度", "類別"], *rows])
    result = import_catalogue(CatalogueConfig(file=path), TAXONOMY, SETTINGS)
    got = dict(zip(result.venues["name"], result.venues["category"], strict=True))
    assert got == {
        "五台山体育中心": "sports",
        "体育馆": "sports",
        "曹隐云科学馆": "science",
        "北操场": "sports",
        "南京文化艺术中心": "culture",
        "南京图书馆": "library",
        "江苏美术馆": "museum",
    }
    assert (result.venues["category_source"].str.startswith("column: ")).all()
    reasons = {r.name: r.reason for r in result.review}
    assert reasons["五台山体育馆"].startswith("unknown category '运动场所在地' (closest category: sports")
    assert reasons["南京市青少年宫"].startswith("no coordinates")
    assert WORDS.lookup("少年宫") == WORDS.lookup("少年宮") == WORDS.lookup("青少年活动中心") == "culture"


@pytest.mark.parametrize(
    ("name", "key", "confidence"),
    [
        ("上海体育博物馆", "museum", 0.9),  # the kind word ending the name wins over 体育 inside it
        ("上海自然博物馆", "science", 0.9),  # the longest word ending the name
        ("复兴公园•INS乐园旅游景区", "park", 0.7),  # inside the name only
        ("上海少年儿童图书馆分馆", "library", 0.85),  # followed by a branch word
        ("龙岗区青少年宫", "culture", 0.9),
        ("社区学习驿站", "study", 0.9),
        ("台北市立圖書館", "library", 0.9),  # traditional characters
        ("Kurpfälzisches Museum", "museum", 0.9),
        ("Stadtbücherei Heidelberg", "library", 0.7),
        ("Zoo Heidelberg", "science", 0.7),
    ],
)
def test_name_words(name, key, confidence):
    guess = WORDS.from_name(name)
    assert guess is not None and (guess.key, guess.confidence) == (key, confidence)


@pytest.mark.parametrize("name", ["东方明珠广播电视塔", "Parkhaus am Bismarckplatz", "Gymnasium", "上海交响乐团"])
def test_names_without_a_kind_word(name):
    assert WORDS.from_name(name) is None


def test_every_taxonomy_word_names_one_category():
    seen: dict[str, set[str]] = {}
    for c in TAXONOMY.categories:
        for word in (*c.synonyms, *c.name_words):
            seen.setdefault(fold(word), set()).add(c.key)
    assert {w: k for w, k in seen.items() if len(k) > 1} == {}
    assert all(len(c.synonyms) >= 10 and len(c.name_words) >= 10 for c in TAXONOMY.categories)


def test_coordinates_are_parsed_strictly(tmp_path):
    assert (
        parse_coordinate("114.05") == 114.05 and parse_coordinate("+22.7°") == 22.7 and parse_coordinate("114") == 114.0
    )
    for text in ("114_2", "1,5", "nan", "inf", "114.05E", "0x10", "1 14"):
        assert parse_coordinate(text) != parse_coordinate(text)  # NaN
    path = tmp_path / "list.csv"
    path.write_text("名称,经度,纬度,类别\n甲,114_2,22.7,公园\n乙,114.2,22.7,公园\n", encoding="utf-8")
    result = import_catalogue(CatalogueConfig(file=path), TAXONOMY, SETTINGS)
    assert [r.reason for r in result.review] == ["longitude is not a number: '114_2'"]
    assert result.venues["name"].tolist() == ["乙"]


def test_district_name_column_beats_a_code_column_and_traditional_headers_are_read(tmp_path):
    rows = json.loads(shared_file("venues", "shanghai-culture-bureau-venues.json").read_text(encoding="utf-8"))["rows"]
    table = read_table(shared_file("venues", "shanghai-culture-bureau-venues.json"))
    assert map_columns(table, {})["district"] == "DNAME" and rows[0]["DISTRICT"] == "1"
    path = tmp_path / "big5.csv"
    path.write_bytes(
        "名稱,詳細地址,所屬區,開放時間,聯絡電話,類別\n上海博物館,人民大道201號,黃浦區,9:00-17:00,,博物館\n".encode(
            "big5"
        )
    )
    mapped = map_columns(read_table(path), {})
    assert mapped == {
        "name": "名稱",
        "address": "詳細地址",
        "district": "所屬區",
        "opening_hours": "開放時間",
        "phone": "聯絡電話",
        "category": "類別",
    }
    with pytest.raises(InputFileError, match="no name column"):
        map_columns(read_table(path), {}, {"name": ("title",)})
