"""The command line: builds, a closing summary, and one clear line for every kind of bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CITIES, OSM, shared_file


def _mapgen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mapgen.cli", *args], capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.slow  # a whole build of its own
def test_build_with_city_file_prints_progress_and_summary(tmp_path) -> None:
    shared_file("osm", "shenzhen-longgang.osm")
    run = _mapgen("build", "--city", str(CITIES / "shenzhen-longgang.toml"), "--out", str(tmp_path), "--minutes", "10")
    assert run.returncode == 0, run.stderr
    assert "Routing walk from schools" in run.stderr  # progress
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("done") or "rejected rows" in run.stderr
    assert "3 schools" in run.stderr and "0 rejected rows" in run.stderr
    assert (tmp_path / "index.html").is_file()
    assert '"minutes": 10.0' in (tmp_path / "summary.json").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--osm", "nowhere/missing.osm.pbf"], "OSM file not found"),
        (["--osm", "README.md"], "not an OSM extract"),
        (
            ["--osm", str(OSM / "shenzhen-longgang.osm"), "--bbox", "114.1887,22.6797,114.1927,22.6837"],
            "no schools found",
        ),
        (["--osm", str(OSM / "shenzhen-longgang.osm"), "--bbox", "120,10,120.01,10.01"], "no streets in bbox"),
        (["--osm", str(OSM / "shenzhen-longgang.osm"), "--walk-kmh", "-3"], "walk_kmh"),
        (["--city", "data/venues/no-such-city.toml"], "city configuration file not found"),
        ([], "exactly one of --city"),
    ],
)
def test_bad_input_is_one_clear_line_not_a_traceback(tmp_path, args: list[str], message: str) -> None:
    shared_file("osm", "shenzhen-longgang.osm")
    run = _mapgen("build", "--out", str(tmp_path / "out"), *args)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert message in run.stderr
    assert "error:" in run.stderr


def test_not_osm_content_names_the_file(tmp_path) -> None:
    fake = tmp_path / "city.osm"
    fake.write_text("<html>not osm</html>", encoding="utf-8")
    run = _mapgen("build", "--osm", str(fake), "--out", str(tmp_path / "out"))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "city.osm" in run.stderr


def test_missing_extract_without_download_area_says_what_to_do(tmp_path) -> None:
    city = tmp_path / "city.toml"
    city.write_text('name = "x"\nosm = "absent.osm"\n', encoding="utf-8")
    run = _mapgen("build", "--city", str(city), "--out", str(tmp_path / "out"))
    assert run.returncode == 2
    assert "not found" in run.stderr and "download_bbox" in run.stderr


def _absent_extract_city(tmp_path) -> Path:
    """A city file whose extract is absent, with Shenzhen Longgang's download_bbox."""
    city = tmp_path / "city.toml"
    city.write_text(
        'name = "x"\nosm = "absent.osm"\ndownload_bbox = [114.1862, 22.6732, 114.2318, 22.7019]\n', encoding="utf-8"
    )
    return city


@pytest.mark.slow  # a whole build of its own
def test_missing_extract_falls_back_to_osmnx_download_and_says_so(
    tmp_path, monkeypatch, capsys, shenzhen_build
) -> None:
    """The download fallback with stand-ins for osmnx's two Overpass calls that answer from the real extract."""
    import json

    import osmnx as ox

    from mapgen.config import load_city
    from mapgen.pipeline import build_city

    path = shared_file("osm", "shenzhen-longgang.osm")
    asked: list[tuple[str, object]] = []

    def graph_from_bbox(bbox, **kwargs):
        asked.append(("graph", bbox))
        assert kwargs == {"custom_filter": '["highway"]', "simplify": False, "retain_all": True}
        return ox.graph_from_xml(path, simplify=False, retain_all=True)

    def features_from_bbox(bbox, tags):
        asked.append(("features", bbox))
        return ox.features_from_xml(path, tags=tags)

    monkeypatch.setattr(ox, "graph_from_bbox", graph_from_bbox)
    monkeypatch.setattr(ox, "features_from_bbox", features_from_bbox)
    summary = build_city(load_city(_absent_extract_city(tmp_path)), tmp_path / "out")
    err = capsys.readouterr().err
    assert "absent.osm not found" in err and "Downloading the same area" in err and "osmnx" in err
    bbox = (114.1862, 22.6732, 114.2318, 22.7019)
    assert asked == [("graph", bbox), ("features", bbox)]
    assert summary.source.downloaded_with_osmnx is True
    assert summary.source.osm == f"Overpass API via osmnx, bbox {bbox}"
    from_file = json.loads((shenzhen_build / "summary.json").read_text(encoding="utf-8"))
    assert summary.counts.schools == from_file["counts"]["schools"] == 3
    assert summary.reach["walk"]["pairs"] == from_file["reach"]["walk"]["pairs"]
    assert (tmp_path / "out" / "site.db").is_file() and (tmp_path / "out" / "index.html").is_file()


def test_failed_download_is_one_clear_line(tmp_path, monkeypatch, capsys) -> None:
    """Offline, osmnx's call fails: exit 2 with one line naming the bbox and what to do, no traceback."""
    import osmnx as ox

    from mapgen import cli

    def offline(*args, **kwargs):
        raise ConnectionError("Max retries exceeded with url: /api/interpreter (network is unreachable)")

    monkeypatch.setattr(ox, "graph_from_bbox", offline)
    city = _absent_extract_city(tmp_path)
    monkeypatch.setattr("sys.argv", ["mapgen", "build", "--city", str(city), "--out", str(tmp_path / "out"), "-q"])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "error: downloading OSM data for bbox (114.1862, 22.6732, 114.2318, 22.7019) with osmnx failed" in err
    assert "ConnectionError" in err and "give an extract file with --osm" in err and "Traceback" not in err
