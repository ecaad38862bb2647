"""Offline geocoding: Chinese names and addresses against the OSM culture gazetteer of Shanghai."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from mapgen.catalog import OnlineLookup, build_gazetteer, geocode, read_gazetteer
from mapgen.catalog.names import Address, name_key, name_score, name_variants, parse_address
from mapgen.config import CatalogueSettings, OnlineGeocoder
from mapgen.geo import distance_m, wgs84_to_gcj02

SETTINGS = CatalogueSettings()

# Bureau venues (CODE) whose true place I checked by hand in shanghai-osm-culture.geojson:
# same name or the official name in brackets, and where the OSM feature has an address it
# matches the bureau's (上海博物馆 人民大道201, 自然博物馆 北京西路510, 天文馆 临港大道380,
# 震旦博物馆 富城路99 = the OSM "震旦美术馆" building, 少儿图书馆 南京西路962, 宋庆龄故居 1843).
TRUE_PLACE = {
    "6": "way/161090899",  # 上海博物馆 (not 长海医院仓库 "原上海博物馆", not 上海博物馆东馆)
    "7": "way/40036584",  # 上海豫园 → 豫园
    "8": "way/39763847",  # 上海城市规划展示馆 (not 松江城市规划展示馆)
    "91": "node/4674819096",  # 上海杜莎夫人蜡像馆
    "317": "way/490656166",  # 上海世博会博物馆 → 世博会博物馆
    "318": "way/435452367",  # 中共一大纪念馆 (not 中共四大纪念馆)
    "314": "node/5530017322",  # 上海市历史博物馆 南京西路325
    "321": "way/298132744",  # 上海当代艺术博物馆 (not 上海当代艺术馆, another museum)
    "11": "way/490214455",  # 上海宋庆龄故居纪念馆 → 宋庆龄故居 (not 宋庆龄陵园)
    "280": "node/11205532011",  # 上海四行仓库抗战纪念馆
    "1872556247141269506": "way/490442156",  # 上海少年儿童图书馆（南西馆） 南京西路962
    "100": "way/425762388",  # 上海科技馆分馆（上海自然博物馆）: not 上海科技馆, not 自然博物馆旧馆
    "658": "way/610744664",  # 上海科技馆分馆(上海天文馆)
    "320": "way/783613995",  # 程十发美术馆 Changning (not 程十发祖居 / 文化馆 in Songjiang)
    "319": "node/4166717989",  # 刘海粟美术馆 延安西路1609
    "55": "way/477237906",  # 上海M50创意园 → M50
    "54": "way/206608461",  # 上海犹太难民纪念馆
    "473": "node/4211961753",  # 中共四大纪念馆
    "2": "node/11221706187",  # 东方明珠广播电视塔 → 东方明珠
    "4": "way/43927496",  # 上海科技馆 世纪大道2000
    "16": "node/11221706209",  # 上海海洋水族馆
    "71": "node/4719781191",  # 新场古镇
    "69": "way/283988108",  # 上海中医药博物馆
    "322": "way/206382288",  # 中华艺术宫（上海美术馆）
    "233": "node/4339617605",  # 上海之巅观光厅
    "263": "node/1489398730",  # 上海震旦博物馆 富城路99 (not 上海博物馆)
    "15": "node/5660470937",  # 中国航海博物馆 申港大道197
    "72": "node/4406330897",  # 上海玻璃博物馆
    "78": "way/496386253",  # 上海福泉山遗址景区
    "278": "way/496387121",  # 上海崧泽遗址博物馆 → 青浦区崧泽遗址博物馆
    "82": "way/709876615",  # 上海南社纪念馆
    "483": "node/12441465917",  # 上海亭林遗址公园
    "84": "node/7368316885",  # 花米庄行景区
    "414": "node/11928065367",  # 上海浦江之首旅游景区
    "93": "way/156311798",  # 上海国际赛车场旅游景区
}
# Not in the gazetteer (checked: no feature of that name): these must go to review, not to a lookalike.
NOT_IN_GAZETTEER = {
    "3": "上海动物园",  # lookalike 上海动画博物馆 / 上海博物馆
    "327": "上海市群众艺术馆",  # lookalike: a feature named just 艺术馆
    "513": "上海北外滩国航中心景区",  # contains 外滩, which is elsewhere
    "277": "中共二大会址纪念馆",  # lookalikes 中共一大会址, 中共四大纪念馆
    "283": "上海木文化博物馆",  # contains 上海…博物馆
    "43": "上海宝山国际民间艺术博览馆景区",
    "582": "上海少年儿童图书馆（长风馆）",  # the other branch of the children's library
    "52": "上海鲁迅公园",  # lookalike 鲁迅纪念馆
    "18": "上海世纪公园",
    "514": "上海黄道婆纪念公园",  # lookalike 黄道婆纪念馆
}


@pytest.fixture(scope="module")
def gazetteer():
    return build_gazetteer(read_gazetteer(shared_file("venues", "shanghai-osm-culture.geojson")), SETTINGS)


@pytest.fixture(scope="module")
def bureau(gazetteer):
    rows = json.loads(shared_file("venues", "shanghai-culture-bureau-venues.json").read_text(encoding="utf-8"))["rows"]
    queries = pd.DataFrame(
        {
            "code": [r["CODE"] for r in rows],
            "name": [r["NAME"] for r in rows],
            "address": [r.get("ADDRESS") for r in rows],
            "district": [r["DNAME"] for r in rows],
        }
    )
    return pd.concat([queries, geocode(queries, gazetteer, SETTINGS)], axis=1).set_index("code")


def test_gazetteer_indexes_names_and_addresses(gazetteer):
    e = gazetteer.entries
    assert e["feature_id"].nunique() == 1073 and len(e) == 1122
    museum = e[e["name"] == "上海博物馆"].iloc[0]
    assert (museum.street, museum.num_lo, museum.num_hi) == ("人民大道", 201, 201)
    assert e.loc[e["name"] == "上海科技馆", "district"].iloc[0] == "浦东"


def test_name_keys_strip_places_and_noise_but_keep_the_distinctive_part():
    assert name_key("上海市历史博物馆", SETTINGS) == "历史博物馆"
    assert name_key("上海博物馆", SETTINGS) == "上海博物馆"  # nothing distinctive would be left
    assert name_key("青浦区崧泽遗址博物馆", SETTINGS) == "崧泽遗址博物馆"
    assert name_key("上海国际赛车场旅游景区", SETTINGS) == "国际赛车场"
    assert name_key("松江城市规划展示馆", SETTINGS) == "松江城市规划展示馆"  # 城市 is not a city name
    assert name_key("上海Ｍ５０创意园", SETTINGS) == "m50创意园"  # full-width folded
    assert dict(name_variants("上海科技馆分馆（上海自然博物馆）", SETTINGS)) == {"科技馆分馆": 1.0, "自然博物馆": 0.97}
    assert "迪士尼乐园" in dict(name_variants("上海国际旅游度假区--迪士尼乐园", SETTINGS))


def test_lookalikes_score_low():
    k = lambda n: name_key(n, SETTINGS)  # noqa: E731
    assert name_score(k("上海科技馆分馆"), k("上海科技馆"), SETTINGS) == 0  # a branch is another place
    assert name_score(k("上海博物馆"), k("上海博物馆东馆"), SETTINGS) == 0
    assert name_score(k("上海震旦博物馆"), k("上海博物馆"), SETTINGS) < 0.5
    assert name_score(k("上海木文化博物馆"), k("上海博物馆"), SETTINGS) < 0.5
    assert name_score(k("上海动物园"), k("上海博物馆"), SETTINGS) == 0
    assert name_score(k("上海大观园"), k("上海大观园检票口"), SETTINGS) == 0
    assert name_score(k("中共二大会址纪念馆"), k("中共一大会址"), SETTINGS) < SETTINGS.min_confidence
    assert name_score(k("东方明珠广播电视塔"), k("东方明珠"), SETTINGS) >= SETTINGS.min_confidence
    assert name_score(k("上海宋庆龄故居纪念馆"), k("宋庆龄故居"), SETTINGS) >= SETTINGS.min_confidence


def test_addresses_parse():
    assert parse_address("上海市黄浦区人民大道201号", SETTINGS) == Address("黄浦", "人民大道", 201)
    assert parse_address("静安区北京西路510号（静安雕塑公园内）", SETTINGS) == Address("静安", "北京西路", 510)
    assert parse_address("上海宝山区沪太路4788号", SETTINGS) == Address("宝山", "沪太路", 4788)
    assert parse_address("中国上海市浦东新区金科路2889弄", SETTINGS) == Address("浦东", "金科路", 2889)
    assert parse_address("上海市长宁区虹桥路1398", SETTINGS) == Address("长宁", "虹桥路", 1398)
    assert parse_address("上海市卢湾区淮海中路1843号", SETTINGS).district == "黄浦"  # old district name
    assert parse_address("黄浦区", SETTINGS) == Address("黄浦", "", None)


def test_bureau_catalogue_placed_with_hand_checked_precision(gazetteer, bureau):
    placed = bureau[bureau["lon"].notna()]
    assert len(bureau) == 150 and len(placed) == 35
    checked = placed[placed.index.isin(TRUE_PLACE)]
    truth = (
        gazetteer.entries.drop_duplicates("feature_id")
        .set_index("feature_id")
        .loc[[TRUE_PLACE[c] for c in checked.index]]
    )
    error = distance_m(checked["lon"], checked["lat"], truth["lon"].values, truth["lat"].values)
    correct = int((error <= 100).sum())
    precision = correct / len(checked)
    assert len(checked) == len(placed) == 35  # every placed venue is in the hand-checked list
    assert precision >= 0.95 and correct == 35, checked[error > 100]
    assert set(TRUE_PLACE) <= set(placed.index)  # recall on the hand-checked list
    assert bureau.loc["263", "match_name"] in ("震旦博物馆", "震旦美术馆")


def test_venues_outside_the_gazetteer_go_to_review_with_a_reason(bureau):
    for code in NOT_IN_GAZETTEER:
        assert np.isnan(bureau.loc[code, "lon"]), bureau.loc[code, "match_name"]
        assert bureau.loc[code, "reason"].startswith("unmatched")
    chongming = bureau[bureau["district"] == "崇明区"]
    assert len(chongming) == 24 and chongming["lon"].isna().all()
    assert (bureau.loc[bureau["lon"].isna(), "reason"] != "").all()


def test_district_constrains_candidates(gazetteer):
    q = pd.DataFrame({"name": ["上海科技馆"] * 2, "address": [None, None], "district": ["浦东新区", "松江区"]})
    found = geocode(q, gazetteer, SETTINGS)
    assert found["match_id"].iloc[0] == "way/43927496" and found["lon"].notna().iloc[0]
    assert np.isnan(found["lon"].iloc[1])


def test_address_alone_places_a_venue_whose_name_is_unknown(gazetteer):
    q = pd.DataFrame({"name": ["某某展览"], "address": ["上海市黄浦区人民大道201号"], "district": ["黄浦区"]})
    found = geocode(q, gazetteer, SETTINGS).iloc[0]
    assert found["method"] == "address" and found["match_id"] == "way/161090899" and found["confidence"] == 0.9


def test_online_lookup_is_cached_rate_limited_and_datum_aware(tmp_path):
    asked: list[str] = []
    wlon, wlat = 121.4737, 31.2304
    glon, glat = wgs84_to_gcj02(wlon, wlat)

    def fake_amap(text: str):
        asked.append(text)
        return (float(glon), float(glat)) if "人民大道" in text else None

    config = OnlineGeocoder(provider="amap", api_key_env="NOT_USED", min_delay_s=0.2, cache=tmp_path / "cache.json")
    lookup = OnlineLookup(config, fetch=fake_amap)
    import time

    t0 = time.monotonic()
    first = lookup("人民大道200号")
    assert lookup("未知地址") is None
    second = lookup("人民大道200号")
    assert asked == ["人民大道200号", "未知地址"]  # the repeat came from the cache
    assert time.monotonic() - t0 >= 0.2  # two requests, at least min_delay_s apart
    assert distance_m(first[0], first[1], wlon, wlat) < 0.5 and first == second  # GCJ-02 answer → WGS-84
    again = OnlineLookup(config, fetch=fake_amap)  # cache on disk survives
    assert again("人民大道200号") == first and len(asked) == 2
