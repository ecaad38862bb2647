"""The published maps open in real headless Chromium with no network: no script errors, markers drawn."""

from __future__ import annotations

import shutil

import geopandas as gpd
import pandas as pd
import pytest
from playwright.sync_api import expect

from mapgen.config import load_city
from mapgen.publish import write_maps
from mapgen.venues import load_taxonomy
from tests.conftest import CITIES, chromium_path

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
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync"],
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
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "Failed to load resource" not in msg.text else None)
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
    labels = page.locator(".leaflet-control-layers-overlays label")
    walk_label = labels.filter(has_text="步行")
    assert walk_label.count() == 1 and labels.filter(has_text="骑行").count() == 1
    walk_label.locator("input").uncheck()
    assert walk.count() == 0 and bike.count() >= 1
    # a venue popup shows its walk and bike minutes
    page.locator("path.leaflet-interactive:not([stroke='#2171b5']):not([stroke='#cb181d'])").first.dispatch_event("click")
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
    write_maps(out, load_city(CITIES / "shenzhen-longgang.toml"), schools, venues, iso, pairs,
               load_taxonomy(CITIES / "categories.toml"))
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
    for i, name in enumerate((EVIL, TEMPLATE_BREAKOUT)):  # the first two dots are these schools
        index.locator("path.leaflet-interactive").nth(i).dispatch_event("click")
        expect(index.locator(".leaflet-popup-content").filter(has_text=name)).to_have_count(1)  # text, not markup
    assert dialogs == []
