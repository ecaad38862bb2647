"""Search site on the real Shenzhen Longgang build: site.db contents, search, filters, pages, API, safety."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import XSS_NAME
from typer.testing import CliRunner

from mapgen.cli import app as cli_app
from mapgen.hours import is_open, open_after_school, open_weekend
from mapgen.publish.words import pinyin_forms, venue_hours
from mapgen.sitetext import normalise
from webapp import create_app

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
SATURDAY_10 = datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)
SUNDAY_10 = datetime(2026, 11, 29, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def venues(site_data: Path) -> pd.DataFrame:
    frame = gpd.read_file(site_data / "venues.geojson")
    public = frame["public"].map(lambda v: str(v).strip().lower() not in ("false", "0"))
    frame = frame[public].reset_index(drop=True)  # school grounds are not listed
    words = (
        "name",
        "name_en",
        "aliases",
        "address",
        "district",
        "category_zh",
        "category_en",
        "category",
        "facilities",
        "search_terms",
    )
    for column in (*words, "opening_hours"):
        frame[column] = frame[column].astype(object).fillna("") if column in frame else ""
    # the site also finds names by their pinyin (site.db holds it: webapp needs no pinyin library)
    frame["search"] = [
        "\n".join([*(normalise(r[c]) for c in words), pinyin_forms(r["name"])]) for _, r in frame.iterrows()
    ]
    return frame


@pytest.fixture(scope="module")
def pairs(site_data: Path) -> pd.DataFrame:
    pairs = pd.read_csv(site_data / "reachability.csv", dtype={"school_id": str, "venue_id": str})
    return pairs[pairs["on_campus"].astype(str).str.lower() != "true"]  # a school's own grounds are no outing


@pytest.fixture(scope="module")
def client(site_data: Path):  # type: ignore[no-untyped-def]
    app = create_app(site_data / "site.db", clock=lambda: MONDAY_10)
    return app.test_client()


def _all_pages(client, url: str) -> list[dict]:  # type: ignore[no-untyped-def]
    first = client.get(url).get_json()
    results = list(first["results"])
    for page in range(2, first["pages"] + 1):
        results += client.get(f"{url}&page={page}").get_json()["results"]
    assert len(results) == first["total"]
    return results


def test_site_db_holds_every_contract_row(site_data: Path, venues: pd.DataFrame, pairs: pd.DataFrame) -> None:
    con = sqlite3.connect(site_data / "site.db")
    assert con.execute("SELECT count(*) FROM venues").fetchone()[0] == len(venues) == 18
    assert con.execute("SELECT count(*) FROM schools").fetchone()[0] == 3
    assert con.execute("SELECT count(*) FROM reach").fetchone()[0] == len(pairs)
    assert con.execute("SELECT count(*) FROM isochrones").fetchone()[0] == 6
    sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'venues_fts'").fetchone()[0]
    assert "trigram" in sql
    meta = dict(con.execute("SELECT key, value FROM meta"))
    assert meta["timezone"] == "Asia/Shanghai" and meta["minutes"] == "15"
    # the hostile venue's hours became weekly intervals: Mo-Fr 8-20 and Sa 9-12
    rows = con.execute(
        "SELECT weekday, open_min, close_min FROM opening o JOIN venues v ON v.id = o.venue "
        "WHERE v.venue_id = 'test-xss' ORDER BY weekday"
    ).fetchall()
    assert rows == [(d, 480, 1200) for d in range(5)] + [(5, 540, 720)]


def test_build_writes_site_db_as_last_step(shenzhen_build: Path) -> None:
    summary = json.loads((shenzhen_build / "summary.json").read_text(encoding="utf-8"))
    assert summary["outputs"]["site_db"] == str(shenzhen_build / "site.db")
    assert summary["tiles"]["url"].startswith("https://")
    con = sqlite3.connect(shenzhen_build / "site.db")
    assert con.execute("SELECT count(*) FROM venues").fetchone()[0] == summary["counts"]["public_venues"] == 17


@pytest.mark.parametrize("q", ["图书馆", "体育场", "大运中心"])
def test_trigram_search_finds_every_venue_containing_the_words(client, venues: pd.DataFrame, q: str) -> None:  # type: ignore[no-untyped-def]
    expected = set(venues.loc[venues["search"].str.contains(q, regex=False), "venue_id"])
    found = {v["venue_id"] for v in _all_pages(client, f"/api/venues?q={q}")}
    assert found == expected and len(expected) >= 3


@pytest.mark.parametrize("q", ["体育", "馆", "园"])
def test_one_or_two_characters_fall_back_to_substring_match(client, venues: pd.DataFrame, q: str) -> None:  # type: ignore[no-untyped-def]
    expected = set(venues.loc[venues["search"].str.contains(q, regex=False), "venue_id"])
    found = {v["venue_id"] for v in _all_pages(client, f"/api/venues?q={q}")}
    assert found == expected and len(expected) >= 4


def test_several_words_must_all_match(client, venues: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    mask = venues["search"].str.contains("大运", regex=False) & venues["search"].str.contains("体育馆", regex=False)
    found = {v["venue_id"] for v in _all_pages(client, "/api/venues?q=大运 体育馆")}
    assert found == set(venues.loc[mask, "venue_id"]) == {"osm-w219058187"}


def test_exact_name_comes_first(client) -> None:  # type: ignore[no-untyped-def]
    results = client.get("/api/venues?q=图书馆").get_json()["results"]
    # two venues are named exactly 图书馆 (and others contain it); the one on school grounds is not listed,
    # the public one leads
    assert [r["name"] for r in results].count("图书馆") == 1 and results[0]["name"] == "图书馆"
    assert client.get("/api/venues?q=大运中心体育馆").get_json()["results"][0]["name"] == "大运中心体育馆"


def test_full_width_and_case_are_folded(client, venues: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    full = {v["venue_id"] for v in client.get("/api/venues?q=ＬＩＢＲＡＲＹ").get_json()["results"]}
    plain = {v["venue_id"] for v in client.get("/api/venues?q=library").get_json()["results"]}
    # every library carries the word in its search terms, whatever its name, and nothing else does
    libraries = set(venues.loc[venues["category"] == "library", "venue_id"])
    assert full == plain == set(venues.loc[venues["search"].str.contains("library"), "venue_id"]) == libraries
    assert len(full) >= 3
    english = {v["venue_id"] for v in _all_pages(client, "/api/venues?q=ＵＮＩＶＥＲＳＩＡＤＥ")}
    assert english == set(venues.loc[venues["search"].str.contains("universiade"), "venue_id"]) and len(english) >= 3


def test_category_filter_and_pagination(client, venues: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    sports = set(venues.loc[venues["category"] == "sports", "venue_id"])
    first = client.get("/api/venues?category=sports").get_json()
    # 11 public sports venues (the courts and pitches of the sports centres are their facilities): one page
    assert first["total"] == len(sports) == 11 and first["pages"] == 1 and len(first["results"]) == 11
    every = _all_pages(client, "/api/venues?category=sports")
    assert [v["venue_id"] for v in every] == list(dict.fromkeys(v["venue_id"] for v in every))  # no duplicates
    assert {v["venue_id"] for v in every} == sports


@pytest.mark.parametrize("mode", ["walk", "bike"])
@pytest.mark.parametrize("limit", [5, 10, 15])
def test_school_filter_matches_reachability(client, pairs: pd.DataFrame, mode: str, limit: int) -> None:  # type: ignore[no-untyped-def]
    for school_id in pairs["school_id"].unique():
        mine = pairs[(pairs["school_id"] == school_id) & (pairs["mode"] == mode) & (pairs["minutes"] <= limit)]
        got = _all_pages(client, f"/api/venues?school={school_id}&mode={mode}&max_minutes={limit}")
        assert {v["venue_id"] for v in got} == set(mine["venue_id"])
        times = [v["minutes"] for v in got]
        assert times == sorted(times)
        assert dict(zip(mine["venue_id"], mine["minutes"], strict=True)) == {v["venue_id"]: v["minutes"] for v in got}


def test_open_filters_agree_with_the_hours_module(site_data: Path, venues: pd.DataFrame) -> None:
    for when in (MONDAY_10, SATURDAY_10, SUNDAY_10, datetime(2026, 11, 23, 19, 59, tzinfo=SHANGHAI)):
        client = create_app(site_data / "site.db", clock=lambda when=when: when).test_client()
        expected = {v for v, h in zip(venues["venue_id"], venues["opening_hours"], strict=True) if is_open(h, when)}
        found = {v["venue_id"] for v in _all_pages(client, "/api/venues?open=now")}
        assert found == expected
    assert "test-xss" in expected  # Monday 19:59 is inside Mo-Fr 08:00-20:00
    client = create_app(site_data / "site.db").test_client()
    for flag, check in (("after_school", open_after_school), ("weekend", open_weekend)):
        expected = {v for v, h in zip(venues["venue_id"], venues["opening_hours"], strict=True) if check(h)}
        assert {v["venue_id"] for v in _all_pages(client, f"/api/venues?open={flag}")} == expected == {"test-xss"}


def test_free_and_district_filters(client) -> None:  # type: ignore[no-untyped-def]
    free = client.get("/api/venues?free=true").get_json()
    assert [v["venue_id"] for v in free["results"]] == ["test-xss"] and free["results"][0]["free"] is True
    assert client.get("/api/venues?district=龙岗区").get_json()["total"] == 1
    assert client.get("/api/venues?district=福田区").get_json()["total"] == 0
    assert client.get("/api/schools").get_json()["districts"] == ["龙岗区"]


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "page=abc",
        "page=99999999999",
        "max_minutes=abc",
        "max_minutes=0",
        "max_minutes=16",
        "max_minutes=nan",
        "mode=car",
        "open=sometimes",
        "category=zzz",
        "school=nope",
        "free=maybe",
        "q=" + "x" * 201,
        "mode=",
        "page=",
        "max_minutes=",
        "free=",
        "open=",
        "category=",
        "school=",
    ],
)
def test_invalid_parameters_answer_400_json(client, query: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/venues?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["status"] == 400 and body["message"] and "Traceback" not in response.text
    page = client.get(f"/search?{query}")
    if query.endswith("="):  # the HTML form sends empty fields: they mean "not set"
        assert page.status_code == 200
    else:
        assert page.status_code == 400 and "Traceback" not in page.text and 'id="error-message"' in page.text


def test_unknown_ids_answer_404(client) -> None:  # type: ignore[no-untyped-def]
    for url in ("/api/schools/nope/venues", "/api/venues/nope", "/api/nothing"):
        response = client.get(url)
        assert response.status_code == 404 and response.get_json()["status"] == 404
    for url in ("/venue/nope", "/school/nope", "/files/summary.json", "/files/../site.db", "/files/site.db"):
        assert client.get(url).status_code == 404


def test_school_api_lists_reached_venues_with_both_times(client, pairs: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    schools = client.get("/api/schools").get_json()["schools"]
    assert len(schools) == 3
    for s in schools:
        mine = pairs[pairs["school_id"] == s["school_id"]]
        body = client.get(f"/api/schools/{s['school_id']}/venues").get_json()
        assert {v["venue_id"] for v in body["venues"]} == set(mine["venue_id"])
        assert s["venues_walk"] == (mine["mode"] == "walk").sum() and s["venues_bike"] == (mine["mode"] == "bike").sum()
    found = client.get("/api/schools?q=龙岗").get_json()["schools"]
    assert {s["name"] for s in found} == {"龙岗外国语学校", "华南师范大学附属龙岗大运学校"}
    trigram = client.get("/api/schools?q=外国语 school").get_json()["schools"]  # both words through FTS5
    assert [s["name"] for s in trigram] == ["龙岗外国语学校"]


def test_pages_render_in_chinese_and_english(client, site_data: Path) -> None:  # type: ignore[no-untyped-def]
    home = client.get("/")
    assert home.status_code == 200 and "搜索" in home.text and "© OpenStreetMap contributors" in home.text
    english = client.get("/?lang=en")
    assert "Search" in english.text and "lang=en" in english.headers["Set-Cookie"]
    assert "Search" in client.get("/search?q=图书馆").text  # the cookie keeps English
    client.get("/?lang=zh")
    results = client.get("/search?q=图书馆&category=library")
    assert results.status_code == 200 and results.text.count('class="venue"') == 4
    school_id = "osm-w238458950"
    page = client.get(f"/school/{school_id}")
    data = json.loads(re.search(r'id="map-data">(.*?)</script>', page.text, re.S).group(1))
    shapes = client.get(data["isochrones_url"]).get_json()
    assert [f["properties"]["mode"] for f in shapes["features"]] == ["walk", "bike"]
    assert shapes["features"][0]["geometry"]["type"] == "Polygon"
    reached = client.get(f"/api/schools/{school_id}/venues").get_json()["venues"]
    assert len(data["venues"]) == len(reached)
    assert f'href="/files/schools/{school_id}.html"' in page.text  # the build's static map exists
    assert (site_data / "schools" / f"{school_id}.html").is_file()
    assert client.get(f"/files/schools/{school_id}.html").status_code == 200
    venue = client.get("/venue/osm-w219058187")
    assert "大运中心体育馆" in venue.text and 'id="reached-by"' in venue.text


def test_pdf_sheet_is_linked_and_served_when_present(client, site_data: Path) -> None:  # type: ignore[no-untyped-def]
    school_id = "osm-w356776832"
    pdf = site_data / "schools" / f"{school_id}.pdf"
    sheet = pdf.read_bytes()  # the build wrote the outing sheet
    assert sheet.startswith(b"%PDF")
    pdf.unlink()
    try:
        assert 'id="pdf"' not in client.get(f"/school/{school_id}").text
    finally:
        pdf.write_bytes(sheet)
    assert f'href="/files/schools/{school_id}.pdf"' in client.get(f"/school/{school_id}").text
    served = client.get(f"/files/schools/{school_id}.pdf")
    assert served.status_code == 200 and served.mimetype == "application/pdf" and served.data == sheet


def test_hostile_venue_stays_inert_on_every_page_and_in_the_api(client) -> None:  # type: ignore[no-untyped-def]
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    urls = [
        "/search?q=img",
        "/search?category=library",
        "/search?free=1",
        "/venue/test-xss",
        "/school/osm-w238458950",
        "/search?q=img&lang=en",
        "/venue/test-xss?lang=en",
    ]
    for url in urls:
        text = client.get(url).text
        assert "<img" not in text and "<script>alert" not in text and "<b>bold" not in text, url
    assert escaped in client.get("/venue/test-xss").text
    for url in ["/api/venues?q=img", "/api/venues/test-xss", "/api/schools/osm-w238458950/venues"]:
        response = client.get(url)
        assert response.mimetype == "application/json" and response.headers["X-Content-Type-Options"] == "nosniff"
        assert "<" not in response.text and ">" not in response.text, url
    assert client.get("/api/venues/test-xss").get_json()["name"] == XSS_NAME  # data intact, only encoded


def test_security_headers_and_no_cdn(client) -> None:  # type: ignore[no-untyped-def]
    for url in ("/", "/search?q=图书馆", "/school/osm-w238458950", "/venue/test-xss", "/api/schools"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', response.text)
        assert all(s.startswith("/") for s in sources), sources
    assert "Leaflet 1.9" in client.get("/lib/leaflet/leaflet.js").text


def test_database_is_opened_read_only(site_data: Path) -> None:
    app = create_app(site_data / "site.db")
    from webapp.db import db

    with app.app_context():
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db().execute("DELETE FROM venues")


def test_openapi_document_lists_the_parameters(client) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/api/openapi.json").get_json()
    params = {p["name"]: p for p in doc["paths"]["/api/venues"]["get"]["parameters"]}
    assert set(params) == {
        "q",
        "category",
        "district",
        "free",
        "school",
        "mode",
        "max_minutes",
        "open",
        "page",
        "bbox",
        "near",
        "radius_m",
        "limit",
        "format",
    }
    assert params["category"]["schema"]["enum"] == ["sports", "library", "park"]  # the taxonomy's order
    assert params["max_minutes"]["schema"]["maximum"] == 15


def test_cli_publish_reports_counts(site_data: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["publish", "--data", str(site_data), "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "18 venues, 3 schools, 65 school–venue pairs" in output and "opening hours read for 1 venues" in output
    bad = CliRunner().invoke(cli_app, ["publish", "--data", str(tmp_path / "missing")])
    assert bad.exit_code != 0 and "summary.json: not found" in str(bad.exception)


def _shown_category_labels(text: str) -> list[str]:
    """Every category label a page shows: list items, drop-down, chips, school groups and the map's data."""
    labels = re.findall(r'<span class="cat">([^<]*)</span>', text)
    select = re.search(r'<select name="category".*?</select>', text, re.S)
    if select:
        labels += [
            re.sub(r" \(\d+\)$", "", o) for o in re.findall(r'<option value="[^"]+"[^>]*>([^<]*)</option>', select[0])
        ]
    labels += [
        re.sub(r" \(\d+\)$", "", c).strip()
        for c in re.findall(r'class="chip"[^>]*><span[^>]*></span>([^<]*)</a>', text)
    ]
    labels += [re.sub(r" \(\d+\)$", "", h).strip() for h in re.findall(r"<h3><span[^>]*></span>([^<]*)</h3>", text)]
    block = re.search(r'id="map-data">(.*?)</script>', text, re.S)
    if block:
        labels += [v["category_label"] for v in json.loads(block[1])["venues"]]
    return labels


def test_chinese_site_shows_no_english_category_keys(client, site_data: Path) -> None:  # type: ignore[no-untyped-def]
    summary = json.loads((site_data / "summary.json").read_text(encoding="utf-8"))
    chinese = {c["zh"] for c in summary["categories"]}
    english = {c["key"] for c in summary["categories"]} | {c["en"] for c in summary["categories"]}
    client.get("/?lang=zh")
    shown: list[str] = []
    for url in ("/", "/search?q=馆", "/search?category=sports", "/school/osm-w238458950", "/venue/osm-w219058187"):
        page = client.get(url)
        assert page.status_code == 200, url
        labels = _shown_category_labels(page.text)
        assert labels and set(labels) <= chinese | {"全部"}, (url, set(labels) - chinese)
        assert not set(labels) & english
        shown += labels
    assert {"体育场地", "图书馆", "公园绿地"} <= set(shown)
    for url, code in (("/nope", 404), ("/venue/nope", 404), ("/search?page=5", 404), ("/search?mode=car", 400)):
        page = client.get(url)
        assert page.status_code == code
        assert not re.search(r"Not Found|Bad Request|unknown venue|past the last", page.text), url
        assert re.search(r"[\u4e00-\u9fff]", re.search(r'id="error-message">([^<]*)<', page.text)[1]), url


def test_category_colours_come_from_the_taxonomy(client, site_data: Path) -> None:  # type: ignore[no-untyped-def]
    summary = json.loads((site_data / "summary.json").read_text(encoding="utf-8"))
    colour = {c["key"]: c["color"] for c in summary["categories"]}
    css = dict(re.findall(r"\.(cat-\d+) \{ background: (#[0-9a-f]+); \}", client.get("/colours.css").text))
    home = client.get("/").text
    chips = re.findall(r'href="/search\?category=(\w+)"><span class="dot (cat-\d+)"></span>', home)
    assert len(chips) == 3 and all(css[cls] == colour[key] for key, cls in chips)
    page = client.get("/school/osm-w238458950").text
    data = json.loads(re.search(r'id="map-data">(.*?)</script>', page, re.S)[1])
    assert {v["color"] for v in data["venues"]} <= set(colour.values())
    assert all(v["color"] == colour[v["category"]] for v in data["venues"])


def test_school_names_are_found_and_link_to_the_school(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/search?q=外国语").text
    found = re.search(r'id="schools-found">(.*?)</section>', page, re.S)
    assert found and 'href="/school/osm-w238458950"' in found[1] and "龙岗外国语学校" in found[1]
    assert 'id="schools-found"' not in client.get("/search?q=图书馆").text  # no school is named so


def test_results_with_a_school_are_sorted_by_minutes(client, pairs: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    for school_id in pairs["school_id"].unique():
        for q in ("馆", "体育", "图书馆", ""):
            got = _all_pages(client, f"/api/venues?school={school_id}&mode=bike&q={q}")
            times = [v["minutes"] for v in got]
            assert times == sorted(times), (school_id, q)
    page = client.get("/search?school=osm-w238458950&mode=bike&q=馆").text
    shown = [int(m) for m in re.findall(r'<span class="time">骑行 (\d+) 分钟</span>', page)]
    assert len(shown) >= 3 and shown == sorted(shown)


def test_short_queries_rank_names_before_other_fields(client, venues: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    mixed = 0
    for q in ("体育", "馆", "园"):
        got = _all_pages(client, f"/api/venues?q={q}")
        in_name = [q in v["name"] for v in got]
        assert in_name == sorted(in_name, reverse=True), q  # every name match before any other match
        matches = venues[venues["search"].str.contains(q, regex=False)]
        named = matches["name"].map(lambda n, q=q: q in normalise(n))
        # as many name matches as the data holds, and other-field matches exactly when the data has some
        assert sum(in_name) == int(named.sum()) > 0 and all(in_name) == bool(named.all()), q
        mixed += not named.all()
    assert mixed >= 2  # the rule is exercised: names and other fields both match for most of these words


def test_gallery_query_puts_the_gallery_first(nanjing_build: Path) -> None:
    client = create_app(nanjing_build / "site.db").test_client()
    results = _all_pages(client, "/api/venues?q=美术")
    assert results[0]["name"] == "江苏美术馆"  # named so and classed as a museum or gallery
    # every venue named with the words comes before those matched only by another field (here the
    # category label 博物馆与美术馆 of every museum, such as 总统府)
    in_name = ["美术" in r["name"] for r in results]
    assert in_name == sorted(in_name, reverse=True) and 0 < sum(in_name) < len(results)
    frame = gpd.read_file(nanjing_build / "venues.geojson")
    public = frame["public"].map(lambda v: str(v).strip().lower() not in ("false", "0"))
    named = set(frame.loc[public & frame["name"].fillna("").str.contains("美术"), "venue_id"])
    assert {r["venue_id"] for r in results if "美术" in r["name"]} == named
    page = client.get("/venue/" + results[0]["venue_id"]).text
    assert 'id="website" href="http://www.jsmsg.com/"' in page


def test_category_keys_and_labels_are_searchable(client, venues: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    libraries = set(venues.loc[venues["category"] == "library", "venue_id"])
    for q in ("library", "Libraries", "图书馆"):
        found = {v["venue_id"] for v in _all_pages(client, f"/api/venues?q={q}")}
        assert libraries <= found, q
    # the OSM libraries and the test venue, every one of them found by the words of its category
    assert len(libraries) >= 3 and "test-xss" in libraries


def test_unknown_hours_and_fees_are_counted_not_hidden(client, venues: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    unknown_hours = int((venues["opening_hours"] == "").sum())
    body = client.get("/api/venues?open=now").get_json()
    assert body["total"] == 1 and body["unknown_hours"] == unknown_hours > 0
    free = client.get("/api/venues?free=true").get_json()
    fee = venues["fee"].fillna("").astype(str)
    assert free["total"] == 1 and free["unknown_free"] == int((fee == "").sum())
    page = client.get("/search?open=now").text
    assert re.search(rf"<b>1</b> 个结果.*{unknown_hours} 个场馆开放时间未知", page, re.S)
    assert client.get("/api/venues").get_json()["unknown_hours"] is None  # only with an `open` filter


def test_district_filter_says_how_many_venues_it_cannot_find(client, venues: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/search?q=馆").text
    assert '<option value="龙岗区">龙岗区 (1)</option>' in page
    without = int((venues["district"].astype(str).str.strip() == "").sum())  # counted over every listed venue
    assert without == len(venues) - 1 and f"{without} 个场馆没有区的信息" in page


def test_max_minutes_without_a_school_is_ignored_visibly(client, venues: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/api/venues?max_minutes=5").get_json()
    assert body["total"] == len(venues) and body["warnings"] == [
        "max_minutes: ignored without `school` (travel times are from a school)"
    ]
    assert 'id="ignored-minutes"' in client.get("/search?max_minutes=5").text
    assert 'id="ignored-minutes"' not in client.get("/search?max_minutes=5&school=osm-w238458950").text


def test_phone_website_and_safety_notes_reach_site_db(nanjing_build: Path, tmp_path: Path) -> None:
    import shutil

    from mapgen.publish.sitedb import write_site_db

    shutil.copytree(nanjing_build, tmp_path / "b")
    frame = gpd.read_file(tmp_path / "b" / "venues.geojson")
    row = frame.index[frame["name"] == "江苏美术馆"][0]
    frame.loc[row, ["phone", "safety"]] = ["025-84500000", "入口在长江路，过马路走人行横道"]
    (tmp_path / "b" / "venues.geojson").unlink()
    frame.to_file(tmp_path / "b" / "venues.geojson", driver="GeoJSON", engine="pyogrio")
    write_site_db(tmp_path / "b")
    client = create_app(tmp_path / "b" / "site.db").test_client()
    venue = client.get(f"/api/venues/{frame.loc[row, 'venue_id']}").get_json()
    assert (venue["phone"], venue["website"], venue["safety"]) == (
        "025-84500000",
        "http://www.jsmsg.com/",
        "入口在长江路，过马路走人行横道",
    )
    page = client.get(f"/venue/{frame.loc[row, 'venue_id']}").text
    assert '<dd id="phone">025-84500000</dd>' in page and "过马路走人行横道" in page


def test_api_geojson_bbox_near_limit_and_paging(client, venues: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    points = venues.geometry.representative_point()  # where site.db places a venue drawn as an area
    lon, lat = points.x.to_numpy(), points.y.to_numpy()
    west, east = (round(float(x), 4) for x in np.quantile(lon, [0.2, 0.8]))
    south, north = (round(float(y), 4) for y in np.quantile(lat, [0.2, 0.8]))
    inside = set(venues.loc[(lon >= west) & (lon <= east) & (lat >= south) & (lat <= north), "venue_id"])
    limit = max(1, len(inside) // 2)  # the box's venues take more than one page
    first = client.get(f"/api/venues?bbox={west},{south},{east},{north}&limit={limit}").get_json()
    got = _all_pages(client, f"/api/venues?bbox={west},{south},{east},{north}&limit={limit}")
    assert {v["venue_id"] for v in got} == inside and limit < len(inside) < len(venues) and first["pages"] >= 2
    collection = client.get(f"/api/venues?bbox={west},{south},{east},{north}&format=geojson&limit=100")
    body = collection.get_json()
    assert collection.mimetype == "application/geo+json" and body["type"] == "FeatureCollection"
    assert {f["id"] for f in body["features"]} == inside and body["total"] == len(inside) and body["next"] is None
    assert all(west <= f["geometry"]["coordinates"][0] <= east for f in body["features"])
    # near: every venue within 1500 m of the first school, by distance, against pyproj's geodesic
    import pyproj

    school = client.get("/api/schools").get_json()["schools"][0]
    _, _, metres = pyproj.Geod(ellps="WGS84").inv(
        [school["lon"]] * len(venues), [school["lat"]] * len(venues), lon, lat
    )
    expected = {v for v, m in zip(venues["venue_id"], metres, strict=True) if m <= 1498}
    near = _all_pages(client, f"/api/venues?near={school['lon']},{school['lat']}&radius_m=1500")
    assert expected <= {v["venue_id"] for v in near} and len(near) >= 3
    assert all(v["distance_m"] <= 1500 for v in near) and [v["distance_m"] for v in near] == sorted(
        v["distance_m"] for v in near
    )
    assert (
        max(
            abs(v["distance_m"] - m)
            for v in near
            for i, m in enumerate(metres)
            if venues["venue_id"].iloc[i] == v["venue_id"]
        )
        < 2
    )
    # limit and paging
    per = 5
    pages = -(-len(venues) // per)  # the listed venues fill at least three pages, the last one maybe partly
    assert pages >= 3
    first = client.get(f"/api/venues?limit={per}").get_json()
    assert (first["pages"], first["per_page"], first["next"], first["prev"], len(first["results"])) == (
        pages,
        per,
        2,
        None,
        per,
    )
    last = client.get(f"/api/venues?limit={per}&page={pages}").get_json()
    assert (last["next"], last["prev"], len(last["results"])) == (None, pages - 1, len(venues) - per * (pages - 1))
    past = client.get(f"/api/venues?limit={per}&page={pages + 1}")
    assert past.status_code == 404 and f"past the last page ({pages})" in past.get_json()["message"]
    assert client.get("/api/venues?q=zzzzzz").status_code == 200  # page 1 exists even when empty
    assert client.get("/api/venues?limit=101").status_code == 400


def test_api_answers_other_sites_get_requests(client) -> None:  # type: ignore[no-untyped-def]
    for url in ("/api/venues?q=馆", "/api/schools", "/api/venues/nope", "/api/schools/osm-w238458950/isochrones"):
        response = client.get(url, headers={"Origin": "https://maps.example.org"})
        assert response.headers["Access-Control-Allow-Origin"] == "*", url
    assert "Access-Control-Allow-Origin" not in client.get("/search?q=馆").headers


def test_school_and_venue_names_are_found_by_pinyin(client, venues: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    assert pinyin_forms("龙岗外国语学校") == "longgangwaiguoyuxuexiao lgwgyxx"
    for q in ("waiguoyu", "longgang waiguoyu", "lgwgy", "WaiGuoYu"):
        page = client.get(f"/search?q={q}").get_data(as_text=True)
        assert 'id="schools-found"' in page and "龙岗外国语学校" in page, q
    # a venue by a partial pinyin of its name: every venue whose name reads so, and no other
    name = next(n for n in venues["name"] if len(n) >= 4 and pinyin_forms(n))
    q = pinyin_forms(name).split()[0][2:11]
    found = {v["venue_id"] for v in _all_pages(client, f"/api/venues?q={q}&limit=100")}
    expected = set(venues.loc[venues["search"].str.contains(q, regex=False), "venue_id"])
    assert found == expected and set(venues.loc[venues["name"] == name, "venue_id"]) <= found


def test_hours_in_words_on_results_school_and_venue_pages(client, site_data: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.test_site_browser import SCHOOL

    words = venue_hours("Mo-Fr 08:00-20:00; Sa 09:00-12:00", "zh")  # the hostile venue's hours, as the PDF says them
    assert words == "周一至周五 08:00–20:00; 周六 09:00–12:00"
    assert words in client.get("/venue/test-xss").get_data(as_text=True)
    assert words in client.get(f"/search?school={SCHOOL}").get_data(as_text=True)
    assert words in client.get(f"/school/{SCHOOL}").get_data(as_text=True)
    english = venue_hours("Mo-Fr 08:00-20:00; Sa 09:00-12:00", "en")
    assert english == "Mon–Fri 08:00–20:00; Sat 09:00–12:00"
    assert english in client.get("/venue/test-xss?lang=en").get_data(as_text=True)
    # a venue without hours says so in words, not with an empty line
    unknown = client.get(f"/search?school={SCHOOL}&lang=zh").get_data(as_text=True)
    assert "开放时间: 未知" in unknown


def test_site_db_flags_are_the_builds_hours_flags(heidelberg_build: Path) -> None:
    """site.db takes open_after_school / open_weekend from venues.geojson (nullable: 0/1 floats when read back)."""
    venues = gpd.read_file(heidelberg_build / "venues.geojson").set_index("venue_id")
    con = sqlite3.connect(heidelberg_build / "site.db")
    rows = con.execute("SELECT venue_id, after_school, weekend FROM venues").fetchall()
    known = [(v, a, w) for v, a, w in rows if a is not None]
    assert len(known) >= 15  # Heidelberg: 20 venues with readable hours
    for venue_id, after, weekend in rows:
        for value, column in ((after, "open_after_school"), (weekend, "open_weekend")):
            flag = venues.at[venue_id, column]
            assert value == (None if pd.isna(flag) else int(bool(flag))), (venue_id, column)
