"""Catalogue import: formats, encodings, row-by-row validation, adversarial lists, diffs, dedup, the build step."""

from __future__ import annotations

import csv
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import shared_file
from typer.testing import CliRunner

from mapgen.catalog import build_gazetteer, diff_venues, import_catalogue, read_gazetteer, read_table
from mapgen.cli import app
from mapgen.config import DEFAULT_CATEGORIES, CatalogueConfig, CatalogueSettings, Settings
from mapgen.errors import InputFileError
from mapgen.geo import convert
from mapgen.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy(DEFAULT_CATEGORIES)
SETTINGS = CatalogueSettings()
HEADER = ["名称", "地址", "经度", "纬度", "类别", "开放时间", "是否免费", "电话"]


@pytest.fixture(scope="module")
def gazetteer():
    return build_gazetteer(read_gazetteer(shared_file("venues", "shanghai-osm-culture.geojson")), SETTINGS)


@pytest.fixture(scope="module")
def heritage():
    return json.loads(shared_file("venues", "shanghai-heritage-buildings-gcj02.geojson").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bureau_hours():
    rows = json.loads(shared_file("venues", "shanghai-culture-bureau-venues.json").read_text(encoding="utf-8"))["rows"]
    return [r["T_TIME"] for r in rows]


def _adversarial_rows(heritage, bureau_hours):
    """200 good rows from the real heritage list (GCJ-02), with bad rows mixed in; returns rows and expectations."""
    good = []
    for i, f in enumerate(heritage["features"][:200]):
        p, (lon, lat) = f["properties"], f["geometry"]["coordinates"]
        good.append(
            [
                p["title"],
                p["xian_di_zhi"] or "",
                f"{lon:.7f}",
                f"{lat:.7f}",
                "文物古迹",
                bureau_hours[i % len(bureau_hours)],
                "是" if i % 2 else "否",
                "",
            ]
        )
    good[5][1] = "<b>永福路</b>70号"  # markup outside the name is data: kept verbatim, escaped on output
    ref = good[10]
    bad_rows = [
        (["<script>alert('x')</script>", *ref[1:]], "名称", "name contains HTML/script markup"),
        (["<img src=x onerror=alert(1)>历史建筑", *ref[1:]], "名称", "name contains HTML/script markup"),
        ([""] * 8, "", "empty row"),
        (["", *ref[1:]], "名称", "missing name"),
        ([ref[0] + "（甲）", ref[1], ref[3], ref[2], *ref[4:]], "经度/纬度", "swapped"),
        (["东海中的一点", "", "123.5", "30.8", *ref[4:]], "经度/纬度", "outside the city area"),
        (["零点", "", "0", "0", *ref[4:]], "经度/纬度", "coordinates 0, 0"),
        (["坏经度", "", "121.4x", ref[3], *ref[4:]], "经度", "longitude is not a number"),
        (["只有经度", "", ref[2], "", *ref[4:]], "经度/纬度", "only one of longitude/latitude"),
        (list(good[20]), "名称", "duplicate of row"),
        (["火星基地", "", ref[2], ref[3], "火星基地", *ref[5:]], "类别", "unknown category"),
        # a short row without coordinates: geocoding finds nothing
        (["不存在的场馆甲", "", "", "", "文物古迹"], "名称/地址", "unmatched"),
    ]
    rows = list(good)
    expected = []
    for k, (row, column, reason) in enumerate(bad_rows):
        at = 15 * (k + 1)
        rows.insert(at, row)
        expected.append((at, column, reason))
    return rows, expected, good


def _write_csv(path, rows, encoding):
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)


def _check(result, rows, expected, good, first_row):
    review = result.review.frame()
    assert len(result.venues) == len(good) == 200  # every good row kept
    assert len(review) == len(expected) == 12
    by_row = review.set_index("row")
    for at, column, reason in expected:
        line = first_row + at
        assert line in by_row.index, (rows[at], reason)
        assert reason in by_row.at[line, "reason"], by_row.loc[line].to_dict()
        assert by_row.at[line, "column"] == column
    assert set(review.columns) == {"file", "row", "column", "reason", "name"}
    kept = result.venues.set_index("name")
    assert kept.loc[good[5][0], "address"] == "<b>永福路</b>70号"
    assert kept["fee"].isin(["yes", "no"]).all()
    assert result.counts["hours_unparsed"] == 2  # the "~" of the bureau list (used twice), kept verbatim
    assert (result.venues["location_method"] == "catalogue").all()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_adversarial_csv_every_bad_row_reported_every_good_row_kept(
    tmp_path, gazetteer, heritage, bureau_hours, encoding
):
    rows, expected, good = _adversarial_rows(heritage, bureau_hours)
    path = tmp_path / f"list-{encoding}.csv"
    _write_csv(path, rows, encoding)
    table = read_table(path)
    assert table.encoding == {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig"}.get(encoding, "gb18030")
    spec = CatalogueConfig(file=path, crs="gcj02")
    result = import_catalogue(spec, TAXONOMY, SETTINGS, gazetteer=gazetteer, area=gazetteer.area)
    _check(result, rows, expected, good, first_row=2)
    assert result.venues.loc[0, "name"] == good[0][0]


def test_adversarial_xlsx_and_json(tmp_path, gazetteer, heritage, bureau_hours):
    from openpyxl import Workbook

    rows, expected, good = _adversarial_rows(heritage, bureau_hours)
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row if any(row) else [None])
    book.save(tmp_path / "list.xlsx")
    result = import_catalogue(
        CatalogueConfig(file=tmp_path / "list.xlsx", crs="gcj02"),
        TAXONOMY,
        SETTINGS,
        gazetteer=gazetteer,
        area=gazetteer.area,
    )
    _check(result, rows, expected, good, first_row=2)

    records = [dict(zip(HEADER, row, strict=False)) for row in rows]
    (tmp_path / "list.json").write_text(
        json.dumps({"total": len(records), "data": records}, ensure_ascii=False), encoding="utf-8"
    )
    result = import_catalogue(
        CatalogueConfig(file=tmp_path / "list.json", crs="gcj02"),
        TAXONOMY,
        SETTINGS,
        gazetteer=gazetteer,
        area=gazetteer.area,
    )
    _check(result, rows, expected, good, first_row=1)


def test_missing_columns_and_bad_files_are_clear_errors(tmp_path):
    path = tmp_path / "noname.csv"
    path.write_text("地址,经度,纬度\n人民大道201号,121.47,31.23\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"noname.csv: no name column"):
        import_catalogue(CatalogueConfig(file=path, category="museum"), TAXONOMY, SETTINGS)
    with pytest.raises(InputFileError, match="column '场馆' .*not in the header"):
        import_catalogue(CatalogueConfig(file=path, columns={"name": "场馆"}), TAXONOMY, SETTINGS)
    (tmp_path / "x.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputFileError, match="x.json: not valid JSON"):
        read_table(tmp_path / "x.json")
    with pytest.raises(InputFileError, match="unsupported catalogue format"):
        read_table(shared_file("osm", "monaco.osm.pbf"))
    with pytest.raises(InputFileError, match="not found"):
        read_table(tmp_path / "absent.csv")
    nolat = tmp_path / "nolat.csv"
    nolat.write_text("名称,经度\n甲,121.47\n", encoding="utf-8")
    result = import_catalogue(CatalogueConfig(file=nolat, category="museum"), TAXONOMY, SETTINGS)
    assert result.review.frame()["reason"].tolist() == ["only one of longitude/latitude given"]


def test_bureau_catalogue_via_cli(tmp_path):
    out = tmp_path / "bureau"
    args = [
        "catalog",
        "import",
        str(shared_file("venues", "shanghai-culture-bureau-venues.json")),
        "--out",
        str(out),
        "--gazetteer",
        str(shared_file("venues", "shanghai-osm-culture.geojson")),
        "--category",
        "museum",
        "--column",
        "name=NAME",
        "--column",
        "address=ADDRESS",
        "--column",
        "district=DNAME",
        "--column",
        "opening_hours=T_TIME",
        "--column",
        "id=CODE",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "150 rows → 35 venues (35 geocoded), 115 to review" in " ".join(result.output.split())
    venues = gpd.read_file(out / "venues.geojson")
    review = pd.read_csv(out / "review.csv")
    assert len(venues) + len(review) == 150  # every row ends somewhere
    assert (review["file"] == "shanghai-culture-bureau-venues.json").all() and review["reason"].str.len().min() > 10
    assert set(review["row"]) | set(venues["sources"].str.split("#").str[1].astype(int)) == set(range(1, 151))
    museum = venues.set_index("name").loc["上海博物馆"]
    assert museum["venue_id"] == "shanghai-culture-bureau-venues-6" and museum["osm_id"] == "way/161090899"
    assert museum["open_weekend"] == 1 and museum["open_after_school"] == 0 and museum["hours_parsed"]
    assert not (out / "changes.csv").exists()


def test_update_diff_lists_added_removed_moved_changed(tmp_path, heritage):
    v1 = tmp_path / "v1.geojson"
    v1.write_text(json.dumps(heritage, ensure_ascii=False), encoding="utf-8")
    newer = json.loads(json.dumps(heritage))
    features = newer["features"]
    removed = [features.pop(3)["properties"]["_id"], features.pop(7)["properties"]["_id"]]
    features[0]["properties"]["xian_di_zhi"] = "大连西路552号"  # changed address
    features[1]["geometry"]["coordinates"][0] += 0.002  # moved ~190 m
    added = json.loads(json.dumps(features[2]))
    added["properties"].update(_id="999999", title="新增历史建筑")
    added["geometry"]["coordinates"][1] += 0.01
    features.append(added)
    v2 = tmp_path / "v2.geojson"
    v2.write_text(json.dumps(newer, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    base = [
        "catalog",
        "import",
        "--out",
        str(out),
        "--crs",
        "gcj02",
        "--category",
        "heritage",
        "--name",
        "heritage",
        "--column",
        "name=title",
        "--column",
        "address=xian_di_zhi",
        "--column",
        "id=_id",
        "-q",
    ]
    runner = CliRunner()
    assert runner.invoke(app, [*base[:2], str(v1), *base[2:]]).exit_code == 0
    assert runner.invoke(app, [*base[:2], str(v2), *base[2:]]).exit_code == 0
    changes = pd.read_csv(out / "changes.csv", dtype=str)
    assert changes["change"].value_counts().to_dict() == {"removed": 2, "changed": 1, "moved": 1, "added": 1}
    ids = lambda kind: set(changes.loc[changes["change"] == kind, "venue_id"].str.split("-").str[-1])  # noqa: E731
    assert ids("removed") == set(removed) and ids("added") == {"999999"}
    changed = changes[changes["change"] == "changed"].iloc[0]
    assert (changed["field"], changed["old"], changed["new"]) == ("address", "大连西路550号", "大连西路552号")
    assert 150 < float(changes.loc[changes["change"] == "moved", "distance_m"].iloc[0]) < 250


def test_diff_of_identical_lists_is_empty(heritage):
    frame = gpd.GeoDataFrame(
        {"venue_id": ["a", "b"], "name": ["甲", "乙"]},
        geometry=gpd.points_from_xy([121.4, 121.5], [31.2, 31.3]),
        crs=4326,
    )
    assert diff_venues(frame, frame.copy(), 50).empty


def test_gcj02_list_merges_with_osm_venues_keeping_both_sources(gazetteer):
    from mapgen.catalog import merge_venues
    from mapgen.venues import venues_from_osm

    osm = read_gazetteer(shared_file("venues", "shanghai-osm-culture.geojson"))
    osm = osm.assign(element=osm["@id"].str.split("/").str[0], osm_id=osm["@id"].str.split("/").str[1])
    osm_venues = venues_from_osm(osm, TAXONOMY, Settings(language="zh"))  # Shanghai's venues go by their Chinese names
    spec = CatalogueConfig(
        file=shared_file("venues", "shanghai-heritage-buildings-gcj02.geojson"),
        crs="gcj02",
        category="heritage",
        columns={"name": "title", "address": "xian_di_zhi", "id": "_id"},
    )
    listed = import_catalogue(spec, TAXONOMY, SETTINGS, gazetteer=gazetteer).venues
    merged, log = merge_venues(osm_venues, listed, SETTINGS)
    assert len(merged) == len(osm_venues) + len(listed) - len(log)
    twins = listed.merge(osm_venues[["name", "geometry"]], on="name", suffixes=("", "_osm"))
    near = convert_distance(twins) <= SETTINGS.merge_m
    assert set(twins.loc[near, "venue_id"]) <= set(log["merged_id"])  # every same-name twin within 150 m
    similar = log[log["name"] != log["merged_name"]]
    assert len(log) == 45 and sorted(zip(similar["name"], similar["merged_name"], strict=True)) == [
        ("上海中华职业教育社", "中华职业教育社"),
        ("上海密丰绒线厂", "密丰绒线厂"),
        ("大世界", "大世界游乐场"),
        ("邬达克纪念馆", "邬达克住宅"),  # the memorial hall is in Hudec's house
    ]
    assert log["distance_m"].median() < 30
    both = merged[merged["sources"].str.contains("OpenStreetMap") & merged["sources"].str.contains("heritage")]
    assert len(both) == len(log)
    assert merged["venue_id"].is_unique


@pytest.mark.slow
def test_100k_row_catalogue(tmp_path, heritage):
    """Scale: 100,000 rows from the real list (jittered copies) with 1 % bad rows, imported row by row."""
    rng = np.random.default_rng(5)
    features = heritage["features"]
    n = 100_000
    pick = rng.integers(0, len(features), n)
    lon = np.array([features[i]["geometry"]["coordinates"][0] for i in pick]) + rng.normal(0, 0.003, n)
    lat = np.array([features[i]["geometry"]["coordinates"][1] for i in pick]) + rng.normal(0, 0.003, n)
    frame = pd.DataFrame(
        {
            "名称": [f"{features[i]['properties']['title']}{k}" for k, i in enumerate(pick)],
            "经度": lon.round(7),
            "纬度": lat.round(7),
            "开放时间": "9:00-17:00",
        }
    )
    bad = np.arange(0, n, 100)
    frame.loc[bad, "经度"] = 150.0  # far outside
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False, encoding="utf-8")
    area = shapely_box(120.8, 30.6, 122.3, 31.9)
    result = import_catalogue(
        CatalogueConfig(file=path, crs="gcj02", category="heritage"), TAXONOMY, SETTINGS, area=area
    )
    assert len(result.venues) == n - len(bad) and len(result.review) == len(bad)
    assert {r.row for r in result.review} == set(bad + 2)
    assert result.review.frame()["reason"].str.startswith("outside the city area").all()


def convert_distance(twins):
    from mapgen.geo import distance_m

    a, b = gpd.GeoSeries(twins["geometry"]), gpd.GeoSeries(twins["geometry_osm"])
    return distance_m(a.x, a.y, b.x, b.y)


def shapely_box(*bounds):
    import shapely

    return shapely.box(*bounds)


@pytest.mark.slow
def test_catalogue_in_city_file_is_merged_in_build(tmp_path):
    """A [[catalogues]] list in a city TOML, built with the real Nanjing extract."""
    from mapgen import osm_extract
    from mapgen.config import load_city
    from mapgen.pipeline import build_city

    osm = shared_file("osm", "nanjing-xinjiekou.osm")
    features = osm_extract.read_osm(osm, {"tourism", "amenity"}).features
    museums = features[(features.get("tourism") == "museum") & features["name"].notna()].head(4)
    pts = museums.geometry.representative_point()
    glon, glat = convert(pts.x, pts.y, "wgs84", "gcj02")
    rows = [
        [n, "", f"{x:.7f}", f"{y:.7f}", "博物馆", "周二至周日 9:00-17:00（16:00停止入馆）"]
        for n, x, y in zip(museums["name"][:2], glon[:2], glat[:2], strict=True)
    ]
    rows += [[n, "", "", "", "博物馆", ""] for n in museums["name"][2:4]]  # to be geocoded on OSM names
    lon0, lat0 = convert(pts.x.mean(), pts.y.mean(), "wgs84", "gcj02")
    rows.append(
        ["新街口社区自习室", "", f"{float(lon0):.7f}", f"{float(lat0):.7f}", "社区自习室", "周一至周五 16:00-20:00"]
    )
    rows.append(["长江里的自习室", "", "122.9", "31.9", "社区自习室", ""])
    listed = tmp_path / "nanjing-list.csv"
    with listed.open("w", encoding="gbk", newline="") as fh:
        csv.writer(fh).writerows([["名称", "地址", "经度", "纬度", "类别", "开放时间"], *rows])
    city = tmp_path / "nanjing.toml"
    city.write_text(
        f'name = "nanjing"\nosm = "{osm}"\n\n[[catalogues]]\nfile = "nanjing-list.csv"\ncrs = "gcj02"\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    summary = build_city(load_city(city), out, quiet=True)
    counts = summary.catalogues["nanjing-list"]
    assert counts["rows"] == 6 and counts["venues"] == 5 and counts["rejected"] == 1
    assert counts["geocoded"] == 2 and counts["merged_with_osm"] == 4
    venues = gpd.read_file(out / "venues.geojson")
    merged = venues[venues["sources"].str.contains("nanjing-list.csv", na=False)]
    assert len(merged) == 5 and merged["sources"].str.contains("OpenStreetMap").sum() == 4
    room = venues.set_index("name").loc["新街口社区自习室"]
    assert room["category"] == "study" and room["open_after_school"] == 1 and room["open_weekend"] == 0
    pairs = pd.read_csv(out / "reachability.csv")
    assert (pairs["venue_id"] == room["venue_id"]).any()  # reached from the schools around it
    review = pd.read_csv(out / "review.csv")
    assert review.loc[review["file"] == "nanjing-list.csv", "reason"].str.startswith("outside the city area").all()
    museum = venues.set_index("name").loc[museums["name"].iloc[0]]
    assert museum["opening_hours"].startswith("周二至周日") and museum["open_weekend"] == 1


def test_docs_name_every_venue_field_cli_option_and_template_column():
    import typer.main

    from mapgen.catalog import FIELD_ALIASES, map_columns
    from mapgen.config import PROJECT_ROOT
    from mapgen.contract import VENUE_COLUMNS

    contract = (PROJECT_ROOT / "docs" / "output-contract.md").read_text(encoding="utf-8")
    assert [c for c in VENUE_COLUMNS if f"`{c}`" not in contract] == []
    readme = (PROJECT_ROOT / "data" / "venues" / "README.md").read_text(encoding="utf-8")
    command = typer.main.get_command(app).commands["catalog"].commands["import"]  # type: ignore[attr-defined]
    options = [o for p in command.params for o in p.opts if o.startswith("--")]
    assert len(options) == 12 and [o for o in options if f"`{o}" not in readme] == []
    template = read_table(PROJECT_ROOT / "data" / "venues" / "catalogue-template.csv")
    assert template.encoding == "utf-8-sig" and template.rows.empty
    mapped = map_columns(template, {})
    assert set(mapped) == set(FIELD_ALIASES) - {"name_en", "fee"}  # every field but the alternatives
