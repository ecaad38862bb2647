"""Hostile names in the real Shenzhen extract stay data in every output: maps, region index, site, CSVs, console."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from mapgen.cli import app
from mapgen.textsafe import csv_cell, folium_text, html_text, json_script, url_path
from tests.conftest import CITIES, chromium_path, shared_file

pytestmark = pytest.mark.slow

SCHOOL_ID = "osm-w238458950"  # 龙岗外国语学校
# every payload at once: Jinja code execution, a broken Jinja block, JS template literal, script breakout
SCHOOL_NAME = (
    "{{cycler.__init__.__globals__.os.makedirs('PWNED')}}{{7*7}}{% raw %}{# c #}"
    "${alert(document.domain)}`</script><script>alert(1)</script>龙岗外国语学校"
)
VENUE_NAME = '=HYPERLINK("x"){{7*7}}${alert(2)}</script><script>alert(3)</script>{% endraw %}馆'
FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\t=1", "\r=1"]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _rename(osm: Path, out: Path, names: dict[str, str]) -> None:
    """Copy an OSM XML extract, making `names` the only name of elements given as ``way/123`` / ``node/123``."""
    tree = ET.parse(osm)
    found = set()
    for element in tree.getroot():
        key = f"{element.tag}/{element.get('id')}"
        if key in names:
            for tag in element.findall("tag"):  # the name in every language: pages show the city's one
                if tag.get("k") in ("name:zh", "name:en", "official_name"):
                    element.remove(tag)
            tag = next((t for t in element.findall("tag") if t.get("k") == "name"), None)
            (tag if tag is not None else ET.SubElement(element, "tag", {"k": "name"})).set("v", names[key])
            found.add(key)
    assert found == set(names)
    tree.write(out, encoding="utf-8", xml_declaration=True)


def _formula_cells(path: Path) -> list[str]:
    """Cells of a CSV that a spreadsheet would run as formulas (plain numbers such as -3.5 are not)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row if csv_cell(cell) != cell]


@pytest.fixture(scope="module")
def hostile(shenzhen_build: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The Shenzhen extract with a school and a venue it reaches on foot renamed to payloads, built by the CLI.

    The build runs in an empty working directory (where ``os.makedirs('PWNED')`` would land) and adds
    a school CSV whose rows without coordinates (formula names) go to ``review.csv``.
    """
    root = tmp_path_factory.mktemp("hostile")
    pairs = pd.read_csv(shenzhen_build / "reachability.csv", dtype=str)
    venues = gpd.read_file(shenzhen_build / "venues.geojson")
    outing = pairs["on_campus"].str.lower() != "true"  # the school's own grounds are not listed as outings
    walk = pairs[(pairs["school_id"] == SCHOOL_ID) & (pairs["mode"] == "walk") & outing]["venue_id"]
    venue = venues[venues["venue_id"].isin(walk) & venues["osm_id"].str.match(r"(way|node)/")].iloc[0]
    osm = root / "hostile.osm"
    _rename(
        shared_file("osm", "shenzhen-longgang.osm"),
        osm,
        {f"way/{SCHOOL_ID.removeprefix('osm-w')}": SCHOOL_NAME, str(venue["osm_id"]): VENUE_NAME},
    )
    (root / "schools.csv").write_text(
        "name,lon,lat\n" + "".join(f'"{f.replace(chr(34), chr(34) * 2)}",,\n' for f in FORMULAS), encoding="utf-8"
    )
    city = (CITIES / "shenzhen-longgang.toml").read_text(encoding="utf-8")
    head, _, settings = city.replace(
        'osm = "../../../shared/data/osm/shenzhen-longgang.osm"', f'osm = "{osm}"'
    ).partition("[settings]")
    (root / "city.toml").write_text(
        f'{head}schools_csv = "{root / "schools.csv"}"\n[settings]{settings}', encoding="utf-8"
    )
    work = root / "cwd"
    work.mkdir()
    cwd = os.getcwd()
    os.chdir(work)
    try:
        result = CliRunner().invoke(app, ["build", "--city", str(root / "city.toml"), "--out", str(root / "out")])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    return {"root": root, "out": root / "out", "work": work, "osm": osm, "venue_id": str(venue["venue_id"])}


def test_build_runs_no_payload_and_names_show_literally(hostile: dict[str, Path]) -> None:
    out = hostile["out"]
    assert list(hostile["work"].iterdir()) == [] and not Path("PWNED").exists()
    assert not any(p.name == "PWNED" for p in hostile["root"].rglob("PWNED"))
    for page in (out / "index.html", out / "schools" / f"{SCHOOL_ID}.html"):
        html = page.read_text(encoding="utf-8")
        assert json_script(SCHOOL_NAME) in html  # the name, whole, in the page's data block
        assert "<script>alert" not in html and "49龙岗" not in html and "49$" not in html
    title = f"<title>{html_text(SCHOOL_NAME)} — "  # the page title, as text
    assert title in (out / "schools" / f"{SCHOOL_ID}.html").read_text(encoding="utf-8")
    assert json_script(VENUE_NAME) in (out / "schools" / f"{SCHOOL_ID}.html").read_text(encoding="utf-8")
    assert SCHOOL_NAME in set(gpd.read_file(out / "schools.geojson")["name"])


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=ARGS)
        yield browser
        browser.close()


def _visit(browser, url: str) -> tuple[object, list[str], list[str], list[str]]:  # type: ignore[no-untyped-def]
    """Open `url` offline (only file:// and 127.0.0.1), click up to 60 markers.

    Returns the page, script errors, dialogs and the text of each popup the clicks opened.
    """
    context = browser.new_context()
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith(("file://", "http://127.0.0.1")) else route.abort()
        ),
    )
    page = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None,
    )
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    page.wait_for_timeout(400)
    popups = page.evaluate("""() => {  // click every school dot and up to 60 other markers, keep each popup's text
        const out = [];
        const marks = [...document.querySelectorAll(".leaflet-mg-schools-pane path.leaflet-interactive"),
            ...[...document.querySelectorAll("path.leaflet-interactive, .leaflet-marker-icon:not(.marker-cluster)")]
                .slice(0, 60)];
        for (const mark of marks) {
            mark.dispatchEvent(new MouseEvent("click", {bubbles: true}));
            document.querySelectorAll(".leaflet-popup-content").forEach(p => out.push(p.innerText));
        }
        return out;
    }""")
    scripts = page.evaluate(
        "Array.from(document.scripts).filter(s => s.type !== 'application/json' && "
        "s.textContent.includes('alert')).length"
    )
    assert scripts == 0  # no payload became a script element
    return page, errors, dialogs, popups


def test_maps_in_chromium_show_the_names_as_text_and_run_nothing(browser, hostile: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    out = hostile["out"]
    page, errors, dialogs, popups = _visit(browser, (out / "index.html").as_uri())
    assert errors == [] and dialogs == []
    assert any(p.startswith(SCHOOL_NAME) for p in popups)  # school dots: the name, not "49"
    page.reload()  # no popup left open by the clicks
    page.fill("#mg-search", "{{7*7}}")  # the search box finds the name as it is
    page.locator(".mg-search li").first.click()
    page.wait_for_selector(".leaflet-popup-content")
    assert page.locator(".leaflet-popup-content").inner_text().startswith(SCHOOL_NAME) and dialogs == []
    page, errors, dialogs, popups = _visit(browser, (out / "schools" / f"{SCHOOL_ID}.html").as_uri())
    assert errors == [] and dialogs == []
    assert page.title().startswith(SCHOOL_NAME)
    assert any(p.startswith(SCHOOL_NAME) for p in popups) and any(p.startswith(VENUE_NAME) for p in popups)


def test_region_index_over_the_hostile_extract(browser, hostile: dict[str, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from dask.distributed import Client, LocalCluster

    from mapgen.config import load_region
    from mapgen.region import build_region

    region = tmp_path / "region.toml"
    region.write_text(
        f'name = "r"\ntitle = "{{{{7*7}}}} R"\n[[areas]]\ncity = "{hostile["root"] / "city.toml"}"\n', encoding="utf-8"
    )
    out = tmp_path / "out"
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        build_region(load_region(region), out, client=client, quiet=True)
    page, errors, dialogs, popups = _visit(browser, (out / "index.html").as_uri())
    assert errors == [] and dialogs == []
    assert page.title().startswith("{{7*7}} R")
    assert any(p.startswith(SCHOOL_NAME) for p in popups)
    for name in ("venues.csv", "venues/shenzhen-longgang.csv"):
        table = pd.read_csv(out / name, dtype=str, keep_default_na=False)
        assert "'" + VENUE_NAME in set(table["name"]) and _formula_cells(out / name) == []


@pytest.fixture(scope="module")
def site(hostile: dict[str, Path]) -> Iterator[str]:
    from werkzeug.serving import make_server

    from webapp import create_app

    server = make_server("127.0.0.1", 0, create_app(hostile["out"] / "site.db"), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def test_site_pages_show_the_names_as_text(browser, hostile: dict[str, Path], site: str) -> None:  # type: ignore[no-untyped-def]
    for url, name in (
        (f"/school/{SCHOOL_ID}", SCHOOL_NAME),
        (f"/venue/{hostile['venue_id']}", VENUE_NAME),
        ("/search?q=馆", VENUE_NAME),
        ("/files/index.html", SCHOOL_NAME),
        (f"/files/schools/{SCHOOL_ID}.html", SCHOOL_NAME),
    ):
        page, errors, dialogs, popups = _visit(browser, site + url)
        assert errors == [] and dialogs == [], url
        assert name in page.locator("body").inner_text() or any(p.startswith(name) for p in popups), url


def test_every_person_csv_neutralises_formulas(hostile: dict[str, Path], tmp_path: Path) -> None:
    out = hostile["out"]
    review = pd.read_csv(out / "review.csv", dtype=str, keep_default_na=False)
    from_csv = review[review["file"].str.endswith("schools.csv")]
    assert len(from_csv) == len(FORMULAS) and from_csv["name"].str.startswith("'").all()
    assert '\'=HYPERLINK("http://x","y")' in set(from_csv["name"])
    assert _formula_cells(out / "review.csv") == []
    # a catalogue imported twice: review.csv and changes.csv
    rows = [
        ('=HYPERLINK("x")', 114.2120, 22.6900, "@SUM(1)"),
        ("+cmd|' /C calc'!A0", 114.2130, 22.6910, "-1+1"),
        ("@rowbad", "", "", "=1"),
    ]
    for address in ("old", "=CHANGED()"):
        catalogue = tmp_path / "list.csv"
        with catalogue.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "name", "lon", "lat", "address", "phone"])
            for n, (name, lon, lat, phone) in enumerate(rows):
                writer.writerow([n, name, lon, lat, address, phone])
        result = CliRunner().invoke(
            app,
            [
                "catalog",
                "import",
                str(catalogue),
                "--out",
                str(tmp_path / "cat"),
                "--category",
                "library",
                "--bbox",
                "114.18,22.67,114.24,22.71",
            ],
        )
        assert result.exit_code == 0, result.output
    review = pd.read_csv(tmp_path / "cat" / "review.csv", dtype=str, keep_default_na=False)
    changes = pd.read_csv(tmp_path / "cat" / "changes.csv", dtype=str, keep_default_na=False)
    assert "'@rowbad" in set(review["name"]) and "'=CHANGED()" in set(changes["new"])
    assert '\'=HYPERLINK("x")' in set(changes["name"])
    for path in (tmp_path / "cat" / "review.csv", tmp_path / "cat" / "changes.csv"):
        assert _formula_cells(path) == []
    # mapgen matrix: point ids from the user's file; a plain negative number stays a number
    points = tmp_path / "points.csv"
    points.write_text("id,lon,lat\n=1+1,114.2120,22.6900\n-3.5,114.2125,22.6905\n@far,100.0,10.0\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "matrix",
            "--osm",
            str(hostile["osm"]),
            "--points",
            str(points),
            "--targets",
            str(out / "venues.geojson"),
            "--out",
            str(tmp_path / "m.csv"),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    matrix = pd.read_csv(tmp_path / "m.csv", dtype=str)
    assert {"'=1+1", "-3.5"} <= set(matrix["point_id"]) and _formula_cells(tmp_path / "m.csv") == []
    assert (tmp_path / "m.review.csv").is_file() and _formula_cells(tmp_path / "m.review.csv") == []


def test_console_shows_markup_in_file_names_literally(tmp_path: Path) -> None:
    bad = tmp_path / "foo[" / "red][bold]x.osm"  # the path holds "foo[/red][bold]x.osm"
    bad.parent.mkdir()
    bad.write_text("not osm", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "mapgen.cli", "build", "--osm", str(bad), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 2 and "MarkupError" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and f"{bad}:" in last  # the error line names the file as it is
    assert "Reading red][bold]x.osm" in run.stderr  # the progress bar too


def test_helpers_cover_each_context() -> None:
    assert folium_text("{{7*7}}${x}`'\"<>&#%\\") == (
        "&#123;&#123;7*7&#125;&#125;&#36;&#123;x&#125;&#96;&#39;&quot;&lt;&gt;&amp;&#35;&#37;&#92;"
    )
    assert json_script({"n": "</script><!--"}) == '{"n":"\\u003c/script\\u003e\\u003c!--"}'
    assert json_script({"x": [1.5, float("nan")], 2: float("inf")}) == '{"x":[1.5,null],"2":null}'  # no NaN in JSON
    assert url_path("javascript:alert(1)", "..", "a/b.html") == "javascript%3Aalert%281%29/%2E%2E/a%2Fb.html"
    assert [csv_cell(x) for x in ["-3.5", "+1", "1e5", -3.5, "-", "=A1", "a=b", "\tx"]] == [
        "-3.5",
        "+1",
        "1e5",
        -3.5,
        "'-",
        "'=A1",
        "a=b",
        "'\tx",
    ]


def test_folium_text_survives_folium_compiling_popups_and_tooltips(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import folium

    monkeypatch.chdir(tmp_path)
    fmap = folium.Map(tiles=None)
    name = folium_text(SCHOOL_NAME)
    folium.CircleMarker([22.7, 114.2], popup=folium.Popup(f"<b>{name}</b>", parse_html=False), tooltip=name).add_to(
        fmap
    )
    folium.FeatureGroup(name=name).add_to(fmap)
    page = fmap.get_root().render()  # the planner maps' route: folium compiles these texts as Jinja
    assert list(tmp_path.iterdir()) == []  # no PWNED directory, and {% raw %} did not abort the rendering
    assert f"<b>{name}</b>" in page and page.count(name) == 2  # popup and tooltip as escaped, not "49"
    assert "{{" not in page.split("<script>")[-1] and "${alert" not in page
