"""The search site in real headless Chromium (Debian's, via Playwright): search, filter, school map, hostile data."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
from conftest import chromium_path
from playwright.sync_api import expect
from werkzeug.serving import make_server

from webapp import create_app

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCHOOL = "osm-w238458950"  # 龙岗外国语学校: the hostile test venue is next to it


@pytest.fixture(scope="module")
def base_url(site_data: Path) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, create_app(site_data / "site.db"), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Watch:
    """Everything a page did that it should not: script errors, CSP violations, dialogs, outside requests."""

    def __init__(self, page, base_url: str) -> None:  # type: ignore[no-untyped-def]
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.outside: set[str] = set()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(msg.text) if msg.type == "error" and "Content Security Policy" in msg.text else None
            ),
        )
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

        def outside(route) -> None:  # type: ignore[no-untyped-def]
            self.outside.add(urlsplit(route.request.url).netloc)
            route.abort()  # offline: base tiles may not load; the test checks markers and layers

        page.route(re.compile(rf"^(?!{re.escape(base_url)}).*"), outside)


@pytest.fixture()
def page(browser, base_url: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.watch = Watch(page, base_url)
    yield page
    context.close()


def test_search_filter_and_school_map(page, base_url: str, site_data: Path) -> None:  # type: ignore[no-untyped-def]
    pairs = pd.read_csv(site_data / "reachability.csv", dtype=str)
    import geopandas as gpd

    frame = gpd.read_file(site_data / "venues.geojson")
    public = frame["public"].map(lambda v: str(v).strip().lower() not in ("false", "0"))
    libraries = int((public & (frame["category"] == "library")).sum())
    matches = create_app(site_data / "site.db").test_client().get("/api/venues?q=图书馆").get_json()["total"]
    assert matches == libraries >= 3  # every listed library matches by its category label 图书馆, nothing else does
    page.goto(base_url + "/")
    page.fill("#q", "图书馆")
    page.press("#q", "Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    # the OSM libraries + the test venue (category 图书馆), all matched by the trigram index
    assert page.locator("li.venue").count() == libraries
    assert page.locator("#count b").inner_text() == str(libraries)

    page.select_option("#f-category", "sports")  # one form: the search words stay, one button applies
    page.click("#f-filter")
    page.wait_for_url(re.compile(r"category=sports"))
    assert "q=%E5%9B%BE%E4%B9%A6%E9%A6%86" in page.url  # 图书馆
    assert page.locator("li.venue").count() == 0 and page.locator(".empty").is_visible()
    page.select_option("#f-category", "library")
    page.click("#f-filter")
    page.wait_for_url(re.compile(r"category=library"))
    assert page.locator("li.venue").count() == libraries
    # the results map shows the same venues, numbered as in the list
    page.wait_for_selector(".mg-number")
    assert page.locator(".mg-number").all_inner_texts() == [str(i) for i in range(1, libraries + 1)]
    # a new query keeps the chosen filters
    page.select_option("#f-school", SCHOOL)
    page.select_option("#f-mode", "bike")
    page.click("#f-filter")
    page.wait_for_url(re.compile(rf"school={SCHOOL}"))
    page.fill("#q", "馆")
    page.press("#q", "Enter")
    page.wait_for_url(re.compile(r"q=%E9%A6%86"))
    assert f"school={SCHOOL}" in page.url and "mode=bike" in page.url and "category=library" in page.url
    minutes = [int(m) for m in re.findall(r"(\d+) 分钟", " ".join(page.locator("li.venue .time").all_inner_texts()))]
    assert minutes and minutes == sorted(minutes)

    page.goto(base_url + "/")
    page.click(f'a[href="/school/{SCHOOL}"]')
    page.wait_for_selector("path.mg-venue")
    mine = pairs.loc[pairs["school_id"] == SCHOOL, "venue_id"]
    reached = mine.nunique()
    assert page.locator("path.mg-venue").count() == reached >= 3 and "test-xss" in set(
        mine
    )  # walk or bike, test venue included
    assert page.locator("path.mg-school").count() == 1
    assert page.locator("path.mg-iso-walk").count() == 1 and page.locator("path.mg-iso-bike").count() == 1
    labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    assert len(labels) == 2 + 3 and any("步行 15 分钟" in t for t in labels)
    # switching off the sports layer removes its markers from the map
    sports = page.locator("path.mg-venue-sports").count()
    page.locator(".leaflet-control-layers-overlays label", has_text="体育场地").locator("input").uncheck()
    assert page.locator("path.mg-venue").count() == reached - sports and sports > 0
    assert page.locator(".leaflet-control-attribution").inner_text().count("OpenStreetMap contributors") == 1
    # offline the build's own streets, parks and water (lib/mapgen/basemap.js) show under the missing tiles
    assert page.locator(".leaflet-mg-base-pane canvas").count() == 1
    # the build's own static map (folium) opens from the school page, served by the site
    page.click("#static-map")
    page.wait_for_selector("path.leaflet-interactive")
    assert page.locator("path.leaflet-interactive").count() >= reached
    assert page.watch.errors == [] and page.watch.dialogs == []
    assert page.watch.outside <= {"tile.openstreetmap.org"}  # no CDN: only base tiles leave the site


def test_hostile_venue_never_runs(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    for url in (
        "/search?q=img",
        "/search?category=library&lang=en",
        "/venue/test-xss",
        f"/school/{SCHOOL}",
        "/api/venues/test-xss",
        "/venue/test-xss?lang=zh",
    ):
        page.goto(base_url + url)
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"], script:not([src]):not([type])').length") == 0
    page.goto(base_url + "/venue/test-xss")
    assert page.locator("#venue-name").inner_text() == "<img src=x onerror=alert(1)>"
    page.locator("path.mg-venue").click()
    popup = page.locator(".leaflet-popup-content")
    assert "<img src=x onerror=alert(1)>" in popup.inner_text()
    assert popup.locator("img").count() == 0
    page.goto(base_url + f"/school/{SCHOOL}")
    page.locator("path.mg-venue-library").last.hover()
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert page.watch.dialogs == [] and page.watch.errors == []


def test_pages_fit_a_phone_screen(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    Watch(page, base_url)
    for url in ("/", "/search?q=体育", f"/school/{SCHOOL}", "/venue/osm-w219058187"):
        page.goto(base_url + url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, url
    assert page.locator("#map").bounding_box()["width"] <= 375
    context.close()


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 800)])
def test_search_page_finds_a_school_and_maps_the_results(
    browser,
    base_url: str,
    site_data: Path,  # type: ignore[no-untyped-def]
    width: int,
    height: int,
) -> None:
    import json

    summary = json.loads((site_data / "summary.json").read_text(encoding="utf-8"))
    english = {c["key"] for c in summary["categories"]} | {c["en"] for c in summary["categories"]}
    phone = width < 600
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone, locale="zh-CN"
    )
    page = context.new_page()
    watch = Watch(page, base_url)
    page.goto(base_url + "/search?q=馆")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shown = set(page.locator("li.venue .cat").all_inner_texts())
    assert shown and not shown & english and shown <= {c["zh"] for c in summary["categories"]}
    page.wait_for_selector(".mg-number")
    assert page.locator(".mg-number").count() == page.locator("li.venue").count() >= 5
    assert page.locator("#map").is_visible()
    # the map sits beside the list on a wide screen, under it on a phone
    list_box, map_box = page.locator("#results").bounding_box(), page.locator("#map").bounding_box()
    assert (
        (map_box["y"] > list_box["y"] + list_box["height"] - 1)
        if phone
        else (map_box["x"] > list_box["x"] + list_box["width"] - 1)
    )
    # the filters fold away on a phone: the first results show on the first screen, under the search box
    assert page.locator("#filter-panel").evaluate("d => d.open") == (not phone)
    assert page.locator("#f-category").is_visible() == (not phone)
    assert page.locator("li.venue").first.bounding_box()["y"] < height / 2
    # 篮球 finds the basketball courts (by name, and a sports centre by its facilities)
    page.fill("#q", "篮球")
    page.press("#q", "Enter")
    page.wait_for_url(re.compile(r"q=%E7%AF%AE%E7%90%83"))
    courts = page.locator("li.venue .name").all_inner_texts()
    api = create_app(site_data / "site.db").test_client().get("/api/venues?q=篮球").get_json()
    assert len(courts) == api["total"] and sum("篮球场" in name for name in courts) >= 3  # + a centre with courts
    # a school by its name's pinyin (partial), then by its Chinese name, opens the school's page
    page.fill("#q", "waiguoyu")
    page.press("#q", "Enter")
    expect(page.locator("#schools-found a", has_text="龙岗外国语学校")).to_have_count(1)
    page.fill("#q", "外国语")
    page.press("#q", "Enter")
    page.wait_for_selector("#schools-found")
    page.locator("#schools-found a", has_text="龙岗外国语学校").click()
    page.wait_for_url(re.compile(rf"/school/{SCHOOL}$"))
    page.wait_for_selector("path.mg-venue")
    assert page.locator("#school-name").inner_text() == "龙岗外国语学校"
    expanded = page.locator(".leaflet-control-layers-expanded").count()
    assert expanded == (0 if phone else 1)  # the layer list starts folded on a phone
    assert watch.errors == [] and watch.dialogs == []
    context.close()
