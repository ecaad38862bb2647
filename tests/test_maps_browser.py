"""The published maps open in real headless Chromium with no network: no script errors, markers drawn."""

from __future__ import annotations

import math
import shutil

import geopandas as gpd
import pandas as pd
import pytest
from playwright.sync_api import expect

from mapgen.config import DEFAULT_CATEGORIES, load_city
from mapgen.publish import write_maps
from mapgen.taxonomy import load_taxonomy
from tests.conftest import CITIES, chromium_path

pytestmark = pytest.mark.browser

EVIL = "<img src=x onerror=alert(1)>"
TEMPLATE_BREAKOUT = "`)[0];alert(3);var x=$(`${alert(4)}\\u"  # folium puts popups in JS template literals


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


def _open_offline(browser, path):
    """Open a file:// page with every http(s) request refused, as where CDNs are blocked."""
    context = browser.new_context()
    context.route("http*://**/*", lambda route: route.abort())
    page = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text) if msg.type == "error" and "Failed to load resource" not in msg.text else None
        ),
    )
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_selector(".leaflet-control-layers", timeout=15_000)
    return page, errors, dialogs


def test_index_map_draws_offline_with_layers_per_category(browser, shenzhen_build) -> None:
    page, errors, _ = _open_offline(browser, shenzhen_build / "index.html")
    assert errors == []
    assert page.evaluate("typeof L") == "object" and page.evaluate("typeof L.markerClusterGroup") == "function"
    overlays = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    assert any("Schools (3)" in t for t in overlays)
    # the library on a school's grounds is that school's own, not on the public map
    assert any("Libraries (3)" in t for t in overlays) and any("Parks" in t for t in overlays)
    assert len(overlays) == 1 + 3  # schools + sports, park, library
    # school dots are SVG circles; venues are clustered or drawn as dots
    assert page.locator("path.leaflet-interactive").count() >= 3
    assert page.locator(".marker-cluster").count() + page.locator("path.leaflet-interactive").count() > 3
    assert "OpenStreetMap contributors" in page.locator("#mg-legend").inner_text()


def test_school_page_shows_toggleable_walk_and_bike_circles(browser, shenzhen_build) -> None:
    page, errors, _ = _open_offline(browser, shenzhen_build / "schools" / "osm-w533650676.html")
    assert errors == []
    walk = page.locator('path[stroke="#2171b5"]')
    bike = page.locator('path[stroke="#cb181d"]')
    assert walk.count() >= 1 and bike.count() >= 1
    assert page.locator(".leaflet-marker-icon").count() == 1  # the school
    assert page.locator("path.leaflet-interactive").count() > 2 + 5  # circles + reachable venues
    page.locator(".leaflet-control-layers").hover()  # the list starts collapsed
    labels = page.locator(".leaflet-control-layers-overlays label")
    walk_label = labels.filter(has_text="步行")
    assert walk_label.count() == 1 and labels.filter(has_text="骑行").count() == 1
    walk_label.locator("input").uncheck()
    assert walk.count() == 0 and bike.count() >= 1
    # a venue popup shows its walk and bike minutes
    page.locator("path.leaflet-interactive:not([stroke='#2171b5']):not([stroke='#cb181d'])").first.dispatch_event(
        "click"
    )
    popup = page.locator(".leaflet-popup-content").inner_text()
    assert "分钟 min" in popup and "Source" in popup


def test_markup_in_names_stays_inert_text(browser, shenzhen_build, tmp_path) -> None:
    out = tmp_path / "evil"
    shutil.copytree(shenzhen_build, out)
    schools = gpd.read_file(out / "schools.geojson")
    venues = gpd.read_file(out / "venues.geojson")
    iso = gpd.read_file(out / "isochrones.geojson")
    pairs = pd.read_csv(out / "reachability.csv")
    schools.loc[0, "name"] = EVIL
    schools.loc[1, "name"] = TEMPLATE_BREAKOUT
    reached = pairs.loc[pairs["school_id"] == schools.loc[0, "school_id"], "venue_id"].iloc[0]
    venues.loc[venues["venue_id"] == reached, ["name", "opening_hours"]] = [EVIL, "<script>alert(2)</script>"]
    schools["footprint"], venues["footprint"] = schools.geometry, venues.geometry
    write_maps(
        out,
        load_city(CITIES / "shenzhen-longgang.toml"),
        schools,
        venues,
        iso,
        pairs,
        load_taxonomy(DEFAULT_CATEGORIES),
    )
    for page_path in (out / "index.html", out / "schools" / f"{schools.loc[0, 'school_id']}.html"):
        html = page_path.read_text(encoding="utf-8")
        assert EVIL not in html and "<script>alert(2)" not in html
        page, errors, dialogs = _open_offline(browser, page_path)
        page.wait_for_timeout(300)
        for marker in page.locator("path.leaflet-interactive").all()[:40]:
            marker.dispatch_event("click")
        assert dialogs == [] and errors == []
        assert page.locator("img[src='x']").count() == 0
    index, _, dialogs = _open_offline(browser, out / "index.html")
    for name in (EVIL, TEMPLATE_BREAKOUT):  # found by the search box, opened, shown as text
        index.fill("#mg-search", name[:12])
        index.locator(".mg-search li").first.click()
        expect(index.locator(".leaflet-popup-content").filter(has_text=name)).to_have_count(1)  # text, not markup
    assert dialogs == []


@pytest.mark.parametrize("size", [(390, 844), (1280, 800)], ids=["phone", "desktop"])
def test_overview_search_finds_a_school_and_opens_it_layers_start_collapsed(browser, shenzhen_build, size) -> None:
    context = browser.new_context(
        viewport={"width": size[0], "height": size[1]}, is_mobile=size[0] < 500, has_touch=size[0] < 500
    )
    context.route("http*://**/*", lambda route: route.abort())
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto((shenzhen_build / "index.html").as_uri())
    page.wait_for_selector("#mg-search")
    assert "user-scalable=no" not in page.content()
    # the layer list is folded into its button, the legend folds too (closed on a phone)
    assert page.locator(".leaflet-control-layers-expanded").count() == 0
    assert not page.locator(".leaflet-control-layers-list").is_visible()
    assert page.locator("#mg-legend").evaluate("d => d.open") == (size[0] >= 900)
    # the map fills the screen's height; schools are above the venue clusters
    box = page.locator(".folium-map").bounding_box()
    assert box["height"] == size[1]
    assert page.locator(".leaflet-mg-schools-pane path.leaflet-interactive").count() == 3
    z = page.evaluate(
        "[getComputedStyle(document.querySelector('.leaflet-mg-schools-pane')).zIndex,"
        " getComputedStyle(document.querySelector('.leaflet-marker-pane')).zIndex]"
    )
    assert int(z[0]) > int(z[1])
    # a partial name finds the school; picking it flies there and opens its popup
    page.fill("#mg-search", "外国语")
    results = page.locator(".mg-search li")
    expect(results.first).to_contain_text("龙岗外国语学校")
    results.first.click()
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text("龙岗外国语学校")
    expect(popup.locator("a")).to_have_attribute("href", "schools/osm-w238458950.html")
    assert page.evaluate("window[JSON.parse(document.getElementById('mg-data').textContent).map].getZoom()") >= 16
    # by the name's pinyin, partial and in any case
    page.fill("#mg-search", "GangWaiGuo")
    expect(page.locator(".mg-search li").first).to_contain_text("龙岗外国语学校")
    page.press("#mg-search", "Enter")
    expect(page.locator(".leaflet-popup-content")).to_contain_text("龙岗外国语学校")
    # a venue inside a cluster: the cluster opens and the venue's popup shows
    page.fill("#mg-search", "图书馆")
    page.locator(".mg-search li").first.click()
    expect(page.locator(".leaflet-popup-content")).to_contain_text("图书馆")
    # the school list beside the map on wide screens only
    assert page.locator("#mg-side button").first.is_visible() == (size[0] >= 900)
    assert errors == []
    context.close()


@pytest.mark.parametrize("size", [(390, 844), (1280, 800)], ids=["phone", "desktop"])
def test_school_page_lists_its_venues_and_links_its_pdf(browser, shenzhen_build, size) -> None:
    school = "osm-w238458950"
    pairs = pd.read_csv(shenzhen_build / "reachability.csv", dtype=str)
    mine = pairs[pairs["school_id"] == school]
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    context.route("http*://**/*", lambda route: route.abort())
    page = context.new_page()
    page.goto((shenzhen_build / "schools" / f"{school}.html").as_uri())
    page.wait_for_selector(".leaflet-control-layers")
    items = page.locator("ol.mg-venues > li")
    assert items.count() == mine.loc[mine["on_campus"].str.lower().ne("true"), "venue_id"].nunique()
    # by walking time, whole minutes rounded up as on the PDF; bike-only venues last
    walk = mine[(mine["mode"] == "walk") & mine["on_campus"].str.lower().ne("true")].astype({"minutes": float})
    walk = walk.sort_values("minutes")
    first = items.first.inner_text()
    assert f"步行 Walk {math.ceil(walk['minutes'].iloc[0] - 1e-9)} 分钟 min" in first
    assert "开放时间 Hours" in first and "放学后 After school" in first and "收费 Fee" in first
    outing = mine["on_campus"].str.lower().ne("true")
    assert page.locator("ol.mg-venues > li.mg-bike-only").count() == mine.loc[outing, "venue_id"].nunique() - len(walk)
    assert page.locator("#mg-side a", has_text="PDF").get_attribute("href") == f"{school}.pdf"
    assert (shenzhen_build / "schools" / f"{school}.pdf").is_file()
    assert page.locator("#mg-side a", has_text="site").get_attribute("href") == f"/school/{school}"
    # one popup, no hover tooltip repeating it; the legend says which outline is walk and which bike
    assert page.locator(".leaflet-tooltip").count() == 0
    page.locator(".leaflet-marker-icon").hover()
    assert page.locator(".leaflet-tooltip").count() == 0
    # the school's own facilities (pairs on_campus) in a list apart, not among the outings
    own = pairs[(pairs["school_id"] == school) & pairs["on_campus"].str.lower().eq("true")]["venue_id"].unique()
    outings = set(mine.loc[mine["on_campus"].str.lower().ne("true"), "venue_id"])
    assert page.locator("#mg-campus > li").count() == len(own)
    assert items.count() == len(outings)
    page.locator("#mg-legend summary").click() if size[0] < 900 else None
    legend = page.locator("#mg-legend").inner_text()
    assert "步行 Walk 15 分钟 min" in legend and "骑行 Bike 15 分钟 min" in legend
    assert page.locator("#mg-legend .mg-line.mg-dash").count() == 1
    context.close()


def test_hours_in_words_one_wording_for_maps_sheets_and_site() -> None:
    from mapgen.look import hours_words
    from mapgen.publish.words import venue_hours

    # opening_hours of the Nanjing extract and T_TIME of the Shanghai bureau's feed, as they are written
    assert venue_hours("Tu-Su 00:00-24:00", "zh") == "周二至周日 00:00–24:00"
    assert venue_hours("Tu-Su 00:00-24:00", "en") == "Tue–Sun 00:00–24:00"
    assert venue_hours("Mo-Fr 06:00-18:00", "de") == "Mo–Fr 06:00–18:00"
    assert venue_hours("09:00~16:30", "zh") == "周一至周日 09:00–16:30"
    assert venue_hours("Mo-Fr 08:00-20:00; Sa 09:00-12:00", "zh") == "周一至周五 08:00–20:00; 周六 09:00–12:00"
    assert venue_hours("24/7", "zh") == "全天开放" and venue_hours("24/7", "en") == "open 24/7"
    assert venue_hours("", "de") == "unbekannt" and venue_hours("", "zh") == "未知"
    assert venue_hours("nach Vereinbarung", "de") == "nach Vereinbarung"  # unreadable hours stay as written
    # the site reads site.db's opening rows (weekday, open, close) into the same words
    rows = [(0, 480, 1200), (1, 480, 1200), (2, 480, 1200), (3, 480, 1200), (4, 480, 1200), (5, 540, 720)]
    days = [[(a, b) for d, a, b in rows if d == day] for day in range(7)]
    assert hours_words("Mo-Fr 08:00-20:00; Sa 09:00-12:00", days, "zh") == "周一至周五 08:00–20:00; 周六 09:00–12:00"
    assert hours_words("Su off", [[] for _ in range(7)], "zh") == "闭馆"


def test_school_grounds_listed_apart_on_their_school_page(browser, shenzhen_build) -> None:
    pairs = pd.read_csv(shenzhen_build / "reachability.csv", dtype=str)
    venues = gpd.read_file(shenzhen_build / "venues.geojson").set_index("venue_id")
    own = pairs[pairs["on_campus"].str.lower() == "true"].drop_duplicates(["school_id", "venue_id"])
    assert len(own) >= 1  # the library on a school's grounds
    for school, group in own.groupby("school_id"):
        page, errors, _ = _open_offline(browser, shenzhen_build / "schools" / f"{school}.html")
        listed = page.locator("#mg-campus > li b").all_inner_texts()
        assert sorted(listed) == sorted(venues.loc[group["venue_id"], "name"]) and errors == []
        assert not set(listed) & set(page.locator("ol.mg-venues > li b").all_inner_texts())
        assert "校内设施" in page.locator("#mg-campus-title").inner_text()
        page.context.close()


@pytest.mark.parametrize("page_name", ["index.html", "schools/osm-w238458950.html"])
def test_maps_orient_offline_with_the_builds_own_streets(browser, shenzhen_build, page_name) -> None:
    import json

    import shapely

    page, errors, _ = _open_offline(browser, shenzhen_build / page_name)
    basemap = page.evaluate("window.mgBasemap")  # lib/mapgen/basemap.js: one file for every page of the build
    assert (shenzhen_build / "lib" / "mapgen" / "basemap.js").is_file()
    base = gpd.read_parquet(shenzhen_build / "basemap.parquet")
    colors = {part["color"] for part in basemap["layers"]}
    assert {"#9a9a9a", "#e8590c"} <= colors  # streets and main roads of the extract (parks, water where there are)
    drawn = [
        shapely.from_geojson(json.dumps(part["geojson"]))
        for part in basemap["layers"]
        if part["color"] in ("#9a9a9a", "#e8590c")
    ]
    length = sum(g.length for g in drawn)
    streets = base[
        (base["layer"] == "street") & ~base["kind"].isin(("footway", "path", "steps", "service", "cycleway"))
    ]
    assert 0.9 < length / streets.geometry.length.sum() < 1.05  # degrees: the streets, joined and simplified
    # drawn on a canvas in a pane under the tiles: tiles cover it when they load, offline it shows
    assert page.locator(".leaflet-mg-base-pane canvas").count() == 1
    z = page.evaluate(
        "[getComputedStyle(document.querySelector('.leaflet-mg-base-pane')).zIndex,"
        " getComputedStyle(document.querySelector('.leaflet-tile-pane')).zIndex]"
    )
    assert int(z[0]) < int(z[1])
    painted = page.evaluate("""() => { const c = document.querySelector('.leaflet-mg-base-pane canvas');
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 3; i < px.length; i += 4) { if (px[i] > 0) n++; } return n / (c.width * c.height); }""")
    assert painted > 0.01 and errors == []
    page.context.close()


def test_english_pages_say_route_notes_and_hours_in_english(shenzhen_build, tmp_path) -> None:
    import re

    out = tmp_path / "en"
    shutil.copytree(shenzhen_build, out)
    frames = [gpd.read_file(out / f"{n}.geojson") for n in ("schools", "venues", "isochrones")]
    pairs, routes = pd.read_csv(out / "reachability.csv"), pd.read_csv(out / "routes.csv")
    write_maps(
        out,
        load_city(CITIES / "shenzhen-longgang.toml"),
        *frames,
        pairs,
        load_taxonomy(DEFAULT_CATEGORIES),
        language="en",
        routes=routes,
    )
    html = (out / "schools" / "osm-w238458950.html").read_text(encoding="utf-8")
    notes = re.findall(r"<div>Route: ([^<]*)</div>", html)
    hours = re.findall(r"<div>Hours: ([^<]*)</div>", html)
    assert notes and hours
    assert all(re.fullmatch(r"[\x20-\x7e×·–]+", line) for line in notes + hours), notes + hours  # no Chinese words
    assert any("main road" in n for n in notes)
