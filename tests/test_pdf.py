"""PDF outing sheets of the Shenzhen Longgang and Heidelberg builds: two sides, size, CJK text, escaping, QR link."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pytest

from mapgen.errors import InputFileError
from mapgen.look import whole_minutes
from mapgen.publish.sheetdata import load_build, safety_note, sheet_table, sheet_words
from mapgen.publish.staticmap import scale_bar_metres
from mapgen.publish.words import venue_hours

MARKUP = "<b>x</b><script>alert(1)</script>"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} missing: .ci/run must install Debian's poppler-utils")
        pytest.skip(f"{name} not installed (apt-get install poppler-utils)")
    return path  # type: ignore[return-value]


def _text(pdf) -> str:  # type: ignore[no-untyped-def]
    return subprocess.run([_tool("pdftotext"), str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _squeezed(text: str) -> str:
    """Text without white space: table cells may wrap a long name over lines."""
    return re.sub(r"\s+", "", text)


def _nearest_names(build_dir, school_id: str) -> set[str]:  # type: ignore[no-untyped-def]
    """Names of the nearest venue of each category, from the contract files (walking first, then cycling)."""
    pairs = pd.read_csv(build_dir / "reachability.csv")
    pairs = pairs[~pairs["on_campus"]]  # a school's own grounds are never its nearest venue
    venues = gpd.read_file(build_dir / "venues.geojson")[["venue_id", "name", "category"]]
    mine = pairs[pairs["school_id"] == school_id].pivot_table(index="venue_id", columns="mode", values="minutes")
    mine = mine.reindex(columns=["walk", "bike"]).join(venues.set_index("venue_id"))
    names = set()
    for _, rows in mine.groupby("category"):
        by = "walk" if rows["walk"].notna().any() else "bike"
        names |= set(rows.loc[rows[by] == rows[by].min(), "name"])
    return names


def test_build_writes_one_pdf_per_school(shenzhen_build) -> None:
    schools = gpd.read_file(shenzhen_build / "schools.geojson")
    sheets = sorted((shenzhen_build / "schools").glob("*.pdf"))
    assert sorted(p.stem for p in sheets) == sorted(schools["school_id"]) and len(sheets) == 3
    summary = json.loads((shenzhen_build / "summary.json").read_text(encoding="utf-8"))
    assert summary["source"]["data_date"] == "2019-11-03"  # latest edit in the 2019 extract
    assert summary["seconds"]["pdf"] > 0


def test_sheet_text_holds_the_chinese_school_name_and_its_nearest_venues(shenzhen_build) -> None:
    schools = gpd.read_file(shenzhen_build / "schools.geojson")
    checked = 0
    for school in schools.itertuples():
        text = _text(shenzhen_build / "schools" / f"{school.school_id}.pdf")
        page_one = _squeezed(text.split("\f")[0])
        assert _squeezed(school.name) in page_one
        assert "数据日期" in page_one and "2019-11-03" in page_one and "©OpenStreetMapcontributors" in page_one
        nearest = _nearest_names(shenzhen_build, school.school_id)
        assert nearest
        for name in nearest:
            assert _squeezed(name) in _squeezed(text), (school.name, name)
            checked += 1
    assert "深圳世界大学生运动会体育中心" in _squeezed(_text(shenzhen_build / "schools" / "osm-w533650676.pdf"))
    assert checked >= 9  # three schools, three or more categories each


def test_pdffonts_lists_an_embedded_cjk_font(shenzhen_build) -> None:
    listing = subprocess.run(
        [_tool("pdffonts"), str(shenzhen_build / "schools" / "osm-w533650676.pdf")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split() for line in listing.splitlines()[2:]]
    # the CJK font cut down to the sheets' characters (glyphs numbered from 1: a few tens of KB)
    cjk = [r for r in rows if r[0].endswith("+mapgen-sheet")]
    assert cjk, listing
    # columns: name, type…, encoding, emb, sub, uni, object, id — emb is the 5th from the end
    assert all(r[-5] == "yes" for r in rows), listing


def test_markup_in_a_venue_name_prints_as_literal_text(shenzhen_build, tmp_path) -> None:
    folder = tmp_path / "build"
    shutil.copytree(shenzhen_build, folder)
    school_id = "osm-w533650676"
    walk = pd.read_csv(folder / "reachability.csv").query("school_id == @school_id and mode == 'walk'")
    venue_id = walk.sort_values("minutes")["venue_id"].iloc[0]
    venues = gpd.read_file(folder / "venues.geojson")
    venues.loc[venues["venue_id"] == venue_id, "name"] = MARKUP
    (folder / "venues.geojson").unlink()
    venues.to_file(folder / "venues.geojson", driver="GeoJSON")
    (folder / "schools" / f"{school_id}.pdf").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "mapgen.cli", "pdf", "--data", str(folder), "--school", school_id, "-q"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    text = _text(folder / "schools" / f"{school_id}.pdf")
    assert _squeezed(MARKUP) in _squeezed(text)  # printed as text (the name column may wrap it)
    assert sorted(p.name for p in (folder / "schools").glob("*.pdf")) == [
        "osm-w238458950.pdf",
        "osm-w356776832.pdf",
        f"{school_id}.pdf",
    ]


def test_sheet_table_is_numbered_by_walking_time_with_bike_only_venues_after(shenzhen_build) -> None:
    build = load_build(shenzhen_build)
    table = sheet_table(build, "osm-w533650676")
    walk, bike = table[table["section"] == "walk"], table[table["section"] == "bike"]
    assert (len(walk), len(bike)) == (6, 11)  # the centre's unnamed track and pitches are its facilities
    assert list(table["number"]) == list(range(1, 18))
    assert walk["walk"].is_monotonic_increasing and bike["bike"].is_monotonic_increasing
    assert bike["walk"].isna().all() and walk.index.max() < bike.index.min()
    routes = pd.read_csv(shenzhen_build / "routes.csv").set_index(["school_id", "venue_id", "mode"])
    flags = gpd.read_file(shenzhen_build / "venues.geojson").set_index("venue_id")["open_after_school"]
    for row in table.itertuples():
        route = routes.loc[("osm-w533650676", row.venue_id, row.section)]
        assert (row.main_road_m, row.main_road_crossings) == (route["main_road_m"], route["main_road_crossings"])
        assert row.after_school == (None if pd.isna(flags[row.venue_id]) else bool(flags[row.venue_id]))


def test_safety_note_and_scale_bar_figures() -> None:
    assert safety_note(0.0, 0) == "无主路"
    assert safety_note(347.0, 2) == "过主路 2 次 · 沿主路 350 m"
    assert safety_note(float("nan"), 0) == "未知"
    assert safety_note(347.0, 2, sheet_words("en")) == "crosses main roads 2× · 350 m along main roads"
    assert safety_note(347.0, 0, sheet_words("de")) == "350 m an Hauptstraßen"
    # 0.05° of longitude at 22.7° N is 5.14 km: a fifth of it rounds down to 1 km
    assert scale_bar_metres(114.18, 114.23, 22.7) == 1000
    assert scale_bar_metres(8.66, 8.70, 49.41) == 500  # 2.9 km wide


def test_basemap_parquet_is_wgs84_streets_parks_water_around_every_school(shenzhen_build) -> None:
    basemap = gpd.read_parquet(shenzhen_build / "basemap.parquet")
    assert basemap.crs.to_epsg() == 4326
    counts = basemap["layer"].value_counts()
    assert (counts["street"], counts["park"], counts["water"], counts["building"]) == (514, 66, 9, 132)
    assert {"primary", "trunk", "residential", "footway"} <= set(basemap.loc[basemap["layer"] == "street", "kind"])
    west, south, east, north = basemap.total_bounds
    bike = gpd.read_file(shenzhen_build / "isochrones.geojson").query("mode == 'bike'")
    w, s, e, n = bike.total_bounds
    assert west <= w and south <= s and east >= e and north >= n


def test_missing_cjk_font_stops_with_a_clear_message(shenzhen_build, tmp_path) -> None:
    conf = tmp_path / "fonts.conf"  # a fontconfig setup that knows no font at all
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<cachedir>{tmp_path}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "mapgen.cli", "pdf", "--data", str(shenzhen_build), "-q"],
        capture_output=True,
        text=True,
        env={**os.environ, "FONTCONFIG_FILE": str(conf), "COLUMNS": "200"},
    )
    assert done.returncode == 2
    assert "no font with Chinese glyphs" in done.stderr and "fonts-noto-cjk" in done.stderr


def test_unknown_school_and_incomplete_folder_are_clear_errors(shenzhen_build, tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mapgen.cli", "pdf", "--data", str(shenzhen_build), "--school", "osm-w1", "-q"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 2
    assert "schools.geojson: no school with school_id osm-w1" in done.stderr
    folder = tmp_path / "old-build"
    shutil.copytree(shenzhen_build, folder, ignore=shutil.ignore_patterns("routes.csv"))
    with pytest.raises(InputFileError, match=r"routes\.csv: not found; run `mapgen build` into this folder first"):
        load_build(folder)


@pytest.mark.slow
def test_heidelberg_sheets_show_opening_hours_and_the_after_school_flag(heidelberg_build) -> None:
    venues = gpd.read_file(heidelberg_build / "venues.geojson")
    open_late = venues[venues["open_after_school"].eq(True)].set_index("venue_id")
    pairs = pd.read_csv(heidelberg_build / "reachability.csv")
    pairs = pairs[pairs["venue_id"].isin(open_late.index)]
    assert len(open_late) >= 10 and len(pairs) > 0
    school_id, venue_id = pairs.iloc[0][["school_id", "venue_id"]]
    text = _squeezed(_text(heidelberg_build / "schools" / f"{school_id}.pdf"))
    language = json.loads((heidelberg_build / "summary.json").read_text(encoding="utf-8"))["settings"]["language"]
    words = sheet_words(language)
    hours = _squeezed(venue_hours(open_late.loc[venue_id, "opening_hours"], language))
    flag = _squeezed(str(words["yes"]))
    # the hours in words, and beside them the after-school flag (text of a wrapped hours cell may come around it)
    assert any(hours[:i] + flag + hours[i:] in text for i in range(len(hours) + 1)), (hours, flag)
    schools = gpd.read_file(heidelberg_build / "schools.geojson")
    assert len(list((heidelberg_build / "schools").glob("*.pdf"))) == len(schools) == 20


def _numbers_below(pdf, page: int, heading: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The numbers printed in the first table column (left of 20 mm) of a page below the first word of `heading`."""
    out = subprocess.run(
        [_tool("pdftotext"), "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.findall(r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', out)
    words = [(float(x_max), float(y_min), text) for y_min, x_max, text in found]
    top = next(y_min for _, y_min, text in words if text == heading.split()[0])
    mm = 72 / 25.4
    return [text for x_max, y_min, text in words if y_min > top and x_max < 20 * mm and text.isdigit()]


@pytest.mark.slow
def test_a_venue_number_prints_on_one_line_in_the_nearest_table(heidelberg_build) -> None:
    # every Heidelberg sheet: the front page's first column holds exactly the nearest rows' numbers, none cut
    build = load_build(heidelberg_build)
    heading = str(sheet_words(build.summary.language)["nearest"])
    three_digits = 0
    for school_id in build.schools["school_id"]:
        table = sheet_table(build, school_id)
        nearest = table.drop_duplicates("category")["number"].astype(str)  # numbered by time: a category's first
        printed = _numbers_below(heidelberg_build / "schools" / f"{school_id}.pdf", 1, heading)
        assert sorted(printed, key=int) == sorted(nearest, key=int), school_id
        three_digits += int((nearest.str.len() >= 3).any())
    assert three_digits >= 1  # the case that wrapped at 5 mm


def _pages(pdf) -> int:  # type: ignore[no-untyped-def]
    info = subprocess.run([_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", info)[1])


def test_shenzhen_sheets_are_two_sides_under_300_kb(shenzhen_build) -> None:
    for pdf in sorted((shenzhen_build / "schools").glob("*.pdf")):
        assert _pages(pdf) == 2, pdf.name
        assert pdf.stat().st_size < 300_000, (pdf.name, pdf.stat().st_size)
        front, back = _text(pdf).split("\f")[:2]
        assert "各类场馆最近一处" in front and "步行 15 分钟内可达" in back and "仅骑行可达" in back


@pytest.mark.slow
def test_heidelberg_sheets_are_two_sides_for_a_typical_school_and_all_under_300_kb(heidelberg_build) -> None:
    sheets = sorted((heidelberg_build / "schools").glob("*.pdf"))
    pages = sorted(_pages(pdf) for pdf in sheets)
    sizes = [pdf.stat().st_size for pdf in sheets]
    assert len(sheets) == 20 and max(sizes) < 300_000, max(sizes)
    assert pages[len(pages) // 2] == 2 and pages.count(2) >= 18 and max(pages) <= 3, pages


def test_unknown_values_print_as_unknown_with_the_legend_on_the_same_page(shenzhen_build) -> None:
    legend = _squeezed(str(sheet_words("zh")["unknown_legend"]))
    checked = 0
    for pdf in sorted((shenzhen_build / "schools").glob("*.pdf")):
        for page in _text(pdf).split("\f"):
            if "未知" in page.replace(str(sheet_words("zh")["unknown_legend"]), ""):
                assert legend in _squeezed(page), pdf.name
                checked += 1
        assert "?" not in _text(pdf)
    assert checked >= 6  # both sides of all three sheets have unknown hours (31 of the 31 venues)


def test_minutes_are_whole_and_rounded_up_as_on_the_site(shenzhen_build) -> None:
    build = load_build(shenzhen_build)
    table = sheet_table(build, "osm-w533650676")
    pairs = pd.read_csv(shenzhen_build / "reachability.csv").query("school_id == 'osm-w533650676' and mode == 'walk'")
    first = table.iloc[0]
    walk = pairs.set_index("venue_id").loc[first["venue_id"], "minutes"]
    pdf = shenzhen_build / "schools" / "osm-w533650676.pdf"
    text = subprocess.run(
        [_tool("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout.split("\f")[1]  # the back: every venue on foot, one line each
    row = next(line for line in text.splitlines() if _squeezed(first["name"])[:8] in _squeezed(line))
    assert f" {whole_minutes(walk)} " in f" {row} " and whole_minutes(walk) == 6 and walk > 5


def test_sheet_links_the_school_page_with_a_qr_code_when_the_site_url_is_set(shenzhen_build, tmp_path) -> None:
    import dataclasses

    from mapgen.publish.fonts import cjk_font_family
    from mapgen.publish.pdf import render_sheet

    build = load_build(shenzhen_build)
    assert build.settings.site_url is None  # by default: no link, no QR code
    assert "/school/" not in _text(shenzhen_build / "schools" / "osm-w533650676.pdf")
    linked = dataclasses.replace(
        build, settings=build.settings.model_copy(update={"site_url": "https://circles.example.org/sz/"})
    )
    pdf = tmp_path / "sheet.pdf"
    pdf.write_bytes(render_sheet(linked, "osm-w533650676", cjk_font_family()))
    front = _text(pdf).split("\f")[0]
    assert "https://circles.example.org/sz/school/osm-w533650676" in _squeezed(front) and "扫码查看网页版" in front
    assert _pages(pdf) == 2 and pdf.stat().st_size < 300_000


def test_markers_under_the_school_star_are_moved_onto_rings() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    import shapely
    from matplotlib.figure import Figure

    from mapgen.publish.staticmap import _RING_SPACING_PT, _STAR_CLEAR_PT, clear_of_school

    fig = Figure(figsize=(6, 4), dpi=150)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(114.20, 114.24)
    ax.set_ylim(22.70, 22.725)
    school = shapely.Point(114.22, 22.71)
    # nine venues on the campus itself (the star covers them), two next door, one far away
    markers = pd.DataFrame(
        {"lon": [114.22] * 9 + [114.2202, 114.2198, 114.235], "lat": [22.71] * 9 + [22.7101, 22.7099, 22.72]}
    )
    placed = clear_of_school(ax, markers, school, 150)
    to_pt = lambda lon, lat: ax.transData.transform(np.column_stack([lon, lat])) * 72 / 150  # noqa: E731
    xy = to_pt(placed["lon"], placed["lat"])
    centre = to_pt([school.x], [school.y])[0]
    assert (np.hypot(*(xy - centre).T) >= _STAR_CLEAR_PT).all()
    gaps = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))[np.triu_indices(12, 1)]
    assert gaps.min() >= _RING_SPACING_PT * 0.99
    assert (placed.loc[11, ["lon", "lat"]] == markers.loc[11, ["lon", "lat"]]).all()  # the far one stays
    assert (placed[["anchor_lon", "anchor_lat"]].to_numpy() == markers.to_numpy()).all()


@pytest.mark.slow  # a whole build of its own
def test_sheets_in_parallel_are_the_sheets_in_one_process(shenzhen_build, tmp_path) -> None:
    import dataclasses

    from mapgen.publish.pdf import write_sheets

    texts = {}
    for workers in (1, 2):
        folder = tmp_path / f"w{workers}"
        shutil.copytree(shenzhen_build, folder, ignore=shutil.ignore_patterns("*.pdf"))
        build = load_build(folder)
        build = dataclasses.replace(build, settings=build.settings.model_copy(update={"sheet_workers": workers}))
        written = write_sheets(build)
        texts[workers] = {p.name: _text(p) for p in written}
    assert texts[1] == texts[2] and len(texts[1]) == 3


def test_a_builds_sheets_from_its_early_process_are_the_sheets_of_one_process(heidelberg_build, tmp_path) -> None:
    """The sheets `mapgen build` writes from the process it forks at the start are those rendered here, page for page."""
    import dataclasses

    from mapgen.publish.pdf import write_sheets

    folder = tmp_path / "here"
    shutil.copytree(heidelberg_build, folder, ignore=shutil.ignore_patterns("*.pdf", "*.html", "site.db"))
    build = load_build(folder)
    build = dataclasses.replace(build, settings=build.settings.model_copy(update={"sheet_workers": 1}))
    wanted = ["osm-w427003607", "osm-w124114162"]  # the most venues (56 on foot), and few
    here = {p.name: p for p in write_sheets(build, wanted)}
    for name, path in here.items():
        built = heidelberg_build / "schools" / name
        assert _text(built) == _text(path) and _squeezed(_text(path))
        pages = [
            subprocess.run([_tool("pdftoppm"), "-r", "40", "-gray", str(pdf)], capture_output=True, check=True).stdout
            for pdf in (built, path)
        ]
        assert pages[0] == pages[1], name
    assert len(here) == 2


def test_marker_numbers_are_their_digits_laid_out_as_text() -> None:
    """A number's outline put together from its digits is the outline matplotlib lays out for the whole number."""
    import numpy as np
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    from mapgen.publish.staticmap import NUMBER_FONT, number_outline

    checked = 0
    for size in (5.6, 4.6, 5.6 * 0.8, 4.6 * 0.8):  # walk and bike markers, and both from 100 on
        for number in [*range(0, 130), 199, 250, 404, 777, 1000, 12345]:
            whole = TextPath((0, 0), str(number), size=size, prop=NUMBER_FONT)
            (x0, y0), (x1, y1) = whole.get_extents().get_points()
            expected = whole.transformed(Affine2D().translate(-(x0 + x1) / 2, -(y0 + y1) / 2))
            got = number_outline(number, size)
            assert (got.codes == expected.codes).all(), (number, size)
            assert np.allclose(got.vertices, expected.vertices, atol=1e-9), (number, size)
            checked += 1
    assert checked == 4 * 136


def test_a_cut_font_keeps_its_source_fonts_date_so_two_cuts_are_the_same_bytes(tmp_path, monkeypatch) -> None:
    # fontTools stamps a saved font with the clock; two cuts a second apart then differed in every PDF
    import fontTools.ttLib
    import fontTools.ttLib.tables._h_e_a_d as head_table

    from mapgen.publish.fonts import _font_file, cjk_font_family, subset_font

    family, characters = cjk_font_family(), "学校 school 体育馆 0123456789"
    found = _font_file(family)
    assert found is not None
    source_date = fontTools.ttLib.TTFont(found[0], fontNumber=found[1], lazy=True)["head"].modified
    first = subset_font(family, characters, tmp_path).read_bytes()  # type: ignore[union-attr]
    monkeypatch.setattr(head_table, "timestampNow", lambda: source_date + 86_400)  # a day later
    second = subset_font(family, characters, tmp_path).read_bytes()  # type: ignore[union-attr]
    assert first == second
    assert fontTools.ttLib.TTFont(tmp_path / "sheet-font.otf")["head"].modified == source_date


def test_a_font_opened_ahead_is_cut_to_the_same_bytes_without_opening_it_again(tmp_path, monkeypatch) -> None:
    # the sheets' process opens the font while the build reads its extract, where no cut font is in the cache yet
    import fontTools.ttLib

    from mapgen.config import Settings
    from mapgen.publish.fonts import cjk_font_family, open_font_ahead, subset_font

    family, characters = cjk_font_family(), "学校 school 体育馆 Sporthalle 0123456789"
    plain = subset_font(family, characters, tmp_path).read_bytes()  # type: ignore[union-attr]
    opened = []
    real = fontTools.ttLib.TTFont

    def counted(*args: object, **kwargs: object) -> object:
        opened.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(fontTools.ttLib, "TTFont", counted)
    settings = Settings(cache_dir=tmp_path / "cache")
    open_font_ahead(family, settings)
    assert len(opened) == 1
    ahead = subset_font(family, characters, tmp_path, settings)
    assert len(opened) == 1 and ahead is not None and ahead.read_bytes() == plain  # the opened font was cut
    assert list((tmp_path / "cache").glob("font-*"))
    open_font_ahead(family, settings)  # a cut font is in the cache now: the next build likely finds its own there
    assert len(opened) == 1
