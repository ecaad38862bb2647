"""Region builds on Dask: several extracts in one command, exact tiling, re-running only what changed."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import CITIES, OSM, shared_file
from typer.testing import CliRunner

from mapgen.cli import app
from mapgen.config import DEFAULT_CATEGORIES, load_region
from mapgen.errors import ConfigError
from mapgen.geo import M_PER_DEG_LAT, M_PER_DEG_LON
from mapgen.region import build_region, expand_bbox, tile_bbox, tile_of

SMALL_CITIES = ("shenzhen-longgang", "nanjing-xinjiekou", "beijing-haidian", "monaco")


def _region_file(folder: Path, body: str) -> Path:
    path = folder / "region.toml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.slow  # four builds on a local Dask cluster
def test_region_of_four_extracts_builds_in_one_command(tmp_path: Path, shenzhen_build: Path) -> None:
    for name in SMALL_CITIES:
        shared_file("osm", f"{name}.osm" if name != "monaco" else "monaco.osm.pbf")
    region = _region_file(
        tmp_path,
        'name = "league"\ntitle = "联赛 League"\n'
        + "".join(f'[[areas]]\ncity = "{CITIES / name}.toml"\n' for name in SMALL_CITIES),
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["region", "build", str(region), "--out", str(out), "--workers", "2", "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "region.json").read_text(encoding="utf-8"))
    assert summary["built"] == 4 and summary["failed"] == [] and summary["skipped"] == 0
    for name in SMALL_CITIES:
        area = json.loads((out / name / "summary.json").read_text(encoding="utf-8"))
        assert area["counts"]["schools"] > 0 and area["reach"]["bike"]["pairs"] >= area["reach"]["walk"]["pairs"] > 0
        assert (out / name / "index.html").is_file() and (out / name / MANIFEST).is_file()
        assert len(list((out / name / "schools").glob("*.html"))) == area["counts"]["schools"]
    # an area built on the cluster is the city built alone, pair for pair
    assert (out / "shenzhen-longgang" / "reachability.csv").read_bytes() == (
        shenzhen_build / "reachability.csv"
    ).read_bytes()
    # venue directory: one list per area and the merged list
    merged = pd.read_csv(out / "venues.csv")
    per_area = {n: pd.read_csv(out / "venues" / f"{n}.csv") for n in SMALL_CITIES}
    for name, table in per_area.items():
        assert len(table) == json.loads((out / name / "summary.json").read_text())["counts"]["venues"]
        pairs = pd.read_csv(out / name / "reachability.csv")
        walk_reached = pairs[pairs["mode"] == "walk"].groupby("venue_id")["school_id"].nunique()
        assert table.set_index("venue_id")["schools_walk"].loc[walk_reached.index].tolist() == walk_reached.tolist()
    assert len(merged) == merged["venue_id"].nunique() == sum(len(t) for t in per_area.values())
    index = (out / "index.html").read_text(encoding="utf-8")
    assert all(f"{name}/index.html" in index for name in SMALL_CITIES)
    assert "© OpenStreetMap contributors" in index and "unpkg.com" not in index and "cdn.jsdelivr" not in index
    assert (out / "lib" / "leaflet" / "leaflet.js").is_file()
    # the search site's database covers the whole region (and every area has its own)
    site = summary["site_database"]
    areas = [json.loads((out / n / "summary.json").read_text(encoding="utf-8")) for n in SMALL_CITIES]
    assert site["schools"] == sum(a["counts"]["schools"] for a in areas)
    # the site lists public venues and outings (no area shares a venue, as above); school grounds are their school's own
    assert site["venues"] == sum(a["counts"]["public_venues"] for a in areas)
    outings = [pd.read_csv(out / n / "reachability.csv")["on_campus"].eq(False).sum() for n in SMALL_CITIES]
    assert site["pairs"] == sum(outings)
    with sqlite3.connect(out / "site.db") as con:
        assert con.execute("select count(*) from schools").fetchone()[0] == site["schools"]
    assert all((out / n / "site.db").is_file() for n in SMALL_CITIES)


MANIFEST = "manifest.json"


def test_changing_one_catalogue_rebuilds_only_that_area_and_a_failed_area_does_not_stop_the_rest(
    tmp_path: Path, dask_client
) -> None:
    shared_file("osm", "monaco.osm.pbf")
    shared_file("osm", "nanjing-xinjiekou.osm")
    catalogue = tmp_path / "monaco-categories.toml"
    shutil.copy(DEFAULT_CATEGORIES, catalogue)
    study_rooms = tmp_path / "nanjing-study-rooms.csv"
    header, room = (
        "名称,经度,纬度,类别,开放时间\n",
        "新街口社区自习室,118.7784,32.0416,社区自习室,周一至周五 16:00-20:00\n",
    )
    study_rooms.write_text(header + room, encoding="utf-8")
    region_file = _region_file(
        tmp_path,
        f"""
name = "two"
[[areas]]
city = "{CITIES / "monaco.toml"}"
categories = "{catalogue}"
[[areas]]
city = "{CITIES / "nanjing-xinjiekou.toml"}"
grid = [2, 1]
catalogues = [{{ file = "{study_rooms.name}" }}]
[[areas]]
name = "nowhere"
osm = "{tmp_path / "missing.osm.pbf"}"
""",
    )
    out = tmp_path / "out"
    first = build_region(load_region(region_file), out, client=dask_client, quiet=True)
    status = {a["name"]: a["status"] for a in first["areas"]}
    assert status == {"monaco": "built", "nanjing-xinjiekou": "built", "nowhere": "failed"}
    failed = next(a for a in first["areas"] if a["name"] == "nowhere")
    assert "missing.osm.pbf" in failed["error"] and "no download_bbox" in failed["error"]
    assert json.loads((out / "nowhere" / MANIFEST).read_text())["status"] == "failed"
    monaco_venues = json.loads((out / "monaco" / "summary.json").read_text())["counts"]["venues"]
    nanjing = json.loads((out / "nanjing-xinjiekou" / "summary.json").read_text())
    assert nanjing["catalogues"]["nanjing-study-rooms"]["venues"] == 1
    nanjing_mtime = (out / "nanjing-xinjiekou" / "reachability.csv").stat().st_mtime_ns

    second = build_region(load_region(region_file), out, client=dask_client, quiet=True)
    assert {a["name"]: a["status"] for a in second["areas"]} == {
        "monaco": "skipped",
        "nanjing-xinjiekou": "skipped",
        "nowhere": "failed",
    }  # a failed area is retried

    text = catalogue.read_text(encoding="utf-8")
    start = text.index("[categories.sports]")
    end = text.index("[categories.", start + 1)
    catalogue.write_text(text[:start] + text[end:], encoding="utf-8")  # Monaco without sports grounds
    third = build_region(load_region(region_file), out, client=dask_client, quiet=True)
    assert {a["name"]: a["status"] for a in third["areas"]} == {
        "monaco": "built",
        "nanjing-xinjiekou": "skipped",
        "nowhere": "failed",
    }
    monaco = json.loads((out / "monaco" / "summary.json").read_text())
    assert "sports" not in monaco["counts"]["venues_by_category"] and monaco["counts"]["venues"] < monaco_venues
    assert (out / "nanjing-xinjiekou" / "reachability.csv").stat().st_mtime_ns == nanjing_mtime
    monaco_mtime = (out / "monaco" / "reachability.csv").stat().st_mtime_ns

    # one more study room in Nanjing's catalogue: only Nanjing is routed again
    study_rooms.write_text(
        header + room + "汉中门社区自习室,118.7650,32.0400,社区自习室,周六 9:00-17:00\n", encoding="utf-8"
    )
    fourth = build_region(load_region(region_file), out, client=dask_client, quiet=True)
    assert {a["name"]: a["status"] for a in fourth["areas"]} == {
        "monaco": "skipped",
        "nanjing-xinjiekou": "built",
        "nowhere": "failed",
    }
    assert (out / "monaco" / "reachability.csv").stat().st_mtime_ns == monaco_mtime
    rebuilt = json.loads((out / "nanjing-xinjiekou" / "summary.json").read_text())
    assert rebuilt["catalogues"]["nanjing-study-rooms"]["venues"] == 2
    assert rebuilt["counts"]["venues"] == nanjing["counts"]["venues"] + 1
    directory = pd.read_csv(out / "venues.csv")
    assert set(directory["area"]) == {"monaco", "nanjing-xinjiekou"}
    assert (directory["area"] == "monaco").sum() == monaco["counts"]["venues"]
    rooms = directory[directory["name"].str.endswith("社区自习室")]
    assert len(rooms) == 2 and (rooms["schools_walk"] > 0).all()  # listed, and reached by Nanjing's schools


def test_tiles_own_every_point_once() -> None:
    extent = (8.0, 49.0, 9.0, 50.0)
    lon, lat = [8.0, 8.5, 8.999, 9.0, 7.5, 8.25], [49.0, 49.5, 49.999, 50.0, 49.2, 50.4]
    points = gpd.GeoSeries(gpd.points_from_xy(lon, lat))
    assert tile_of(points, extent, (2, 2), clamp=True).tolist() == [0, 3, 3, 3, 0, 2]
    assert tile_of(points, extent, (2, 2), clamp=False).tolist() == [0, 3, 3, -1, -1, -1]
    assert tile_bbox(extent, (2, 2), 3) == (8.5, 49.5, 9.0, 50.0)
    grown = expand_bbox(extent, 4325)
    assert grown[1] == pytest.approx(49.0 - 4325 / M_PER_DEG_LAT)
    assert 8.0 - grown[0] == pytest.approx(4325 / (M_PER_DEG_LON * np.cos(np.radians(50.0 + 4325 / M_PER_DEG_LAT))))


def test_region_config_inherits_defaults_and_rejects_bad_areas(tmp_path: Path) -> None:
    region = load_region(
        _region_file(
            tmp_path,
            f"""
name = "r"
osm = "{OSM / "heidelberg.osm.pbf"}"
[settings]
bike_kmh = 15
[[areas]]
name = "west"
bbox = [8.57, 49.35, 8.69, 49.46]
[[areas]]
city = "{CITIES / "monaco.toml"}"
[areas.settings]
minutes = 10
""",
        ),
        walk_kmh=5,
    )
    west, monaco = region.areas
    assert west.osm == OSM / "heidelberg.osm.pbf" and west.settings.bike_kmh == 15 and west.settings.walk_kmh == 5
    assert monaco.osm is not None and monaco.osm.name == "monaco.osm.pbf" and monaco.settings.minutes == 10
    assert region.buffer_m(west) == pytest.approx(15 * 1000 / 60 * 15 + 300 + 25 + 1000)
    assert west.tiled and not monaco.tiled
    with pytest.raises(ConfigError, match="area names must be unique"):
        load_region(_region_file(tmp_path, '[[areas]]\nname = "a"\nosm = "x.osm"\n[[areas]]\nname = "a"\n'))
    with pytest.raises(ConfigError, match="grid"):
        load_region(_region_file(tmp_path, '[[areas]]\nname = "a"\ngrid = [0, 2]\n'))
    assert np.isfinite(region.buffer_m(monaco))
