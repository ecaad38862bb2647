"""Hostile and broken input on the real extracts and catalogues: bounded imports, row-safe readers, atomic outputs, a cache that cannot lie."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from mapgen.cache import CACHE_SUFFIX, dump_arrays
from mapgen.catalog import build as catalog_build
from mapgen.catalog import diff_venues, import_catalogue, read_table
from mapgen.config import DEFAULT_CATEGORIES, CatalogueConfig, CatalogueSettings, Settings
from mapgen.contract import ReviewLog
from mapgen.planning.points import load_graph
from mapgen.schools import schools_from_csv
from mapgen.taxonomy import load_taxonomy
from tests.conftest import CITIES, OSM, shared_file

TAXONOMY = load_taxonomy(DEFAULT_CATEGORIES)
SETTINGS = CatalogueSettings()


def _mapgen(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mapgen.cli", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(Path.cwd()), **(env or {})},
    )


def _one_error_line(run: subprocess.CompletedProcess[str], text: str) -> None:
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], run.stderr


@pytest.fixture(scope="module")
def culture() -> list[dict]:
    """Named point features of the real Shanghai OSM culture export."""
    data = json.loads(shared_file("venues", "shanghai-osm-culture.geojson").read_text(encoding="utf-8"))
    return [f for f in data["features"] if f["geometry"]["type"] == "Point" and f["properties"].get("name")]


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _rows(features: list[dict]) -> list[list[object]]:
    return [
        [f["properties"]["name"], f["properties"].get("addr:street", ""), *f["geometry"]["coordinates"], "museum"]
        for f in features
    ]


HEADER = ["name", "address", "lon", "lat", "category"]


# --- imports: bounded and row-safe -------------------------------------------------------------------------


def test_twenty_thousand_rows_at_one_spot_import_without_a_pair_matrix(tmp_path: Path, culture: list[dict]) -> None:
    """20,000 rows on one real venue: half repeat its name (duplicates), half are new names (kept)."""
    f = culture[0]
    name, (lon, lat) = f["properties"]["name"], f["geometry"]["coordinates"]
    rows = [[name if i % 2 else f"{name}{i}", "", lon, lat, "museum"] for i in range(20_000)]
    result = import_catalogue(CatalogueConfig(file=_write_csv(tmp_path / "same.csv", HEADER, rows)), TAXONOMY, SETTINGS)
    assert result.counts["rows"] == 20_000
    assert result.counts["venues"] == 10_001  # 10,000 distinct names + the first of the repeated one
    assert len(result.review) == 9_999
    assert {r.reason for r in result.review} == {"duplicate of row 3 (same name and address within 50 m)"}
    assert result.venues["venue_id"].is_unique


def test_duplicates_need_the_same_address_and_distance(tmp_path: Path, culture: list[dict]) -> None:
    f = culture[1]
    name, (lon, lat) = f["properties"]["name"], f["geometry"]["coordinates"]
    rows = [
        [name, "路1号", lon, lat, "museum"],
        [name, "路1号", lon + 0.0002, lat, "museum"],  # ~20 m: duplicate
        [name, "路2号", lon, lat, "museum"],  # another address: a branch
        [name, "", lon + 0.0001, lat, "museum"],  # blank address near the first: duplicate
        [name, "路1号", lon + 0.01, lat, "museum"],
    ]  # ~1 km away: another venue
    result = import_catalogue(CatalogueConfig(file=_write_csv(tmp_path / "d.csv", HEADER, rows)), TAXONOMY, SETTINGS)
    assert [r.row for r in result.review] == [3, 5]
    assert result.counts["venues"] == 3


def test_a_200000_character_field_goes_to_review_and_the_rest_imports(tmp_path: Path, culture: list[dict]) -> None:
    rows = _rows(culture[:30])
    rows[4][0] = "长" * 200_000  # over csv's 131,072 default field limit
    rows[7][1] = "路" * 200_000
    path = _write_csv(tmp_path / "long.csv", HEADER, rows)
    result = import_catalogue(CatalogueConfig(file=path), TAXONOMY, SETTINGS)
    review = result.review.frame().set_index("row")
    assert review.loc[6, "reason"] == "name is 200,000 characters long (limit 200; see max_name_chars/max_text_chars)"
    assert review.loc[9, "reason"].startswith("address is 200,000 characters long (limit 2,000")
    assert len(review.loc[6, "name"]) == SETTINGS.max_name_chars + 1  # clipped in review.csv
    assert result.counts["venues"] + result.counts["rejected"] == 30
    assert result.counts["venues"] >= 26


def test_fifteen_thousand_identical_headers_are_made_unique_in_linear_time(tmp_path: Path, culture: list[dict]) -> None:
    rows = [[*r, *[""] * 15_000] for r in _rows(culture[:5])]
    path = _write_csv(tmp_path / "wide.csv", HEADER + ["x"] * 15_000, rows)
    started = time.process_time()
    table = read_table(path)
    assert len(set(table.headers)) == len(table.headers) == 15_005
    assert table.headers[5:8] == ["x", "x'", "x (3)"]
    assert read_table(_write_csv(tmp_path / "internal.csv", [*HEADER, "_row", "_invalid"], _rows(culture[:2]))).headers[
        -2:
    ] == ["_row'", "_invalid'"]  # never the reader's own columns
    result = import_catalogue(CatalogueConfig(file=path), TAXONOMY, SETTINGS)
    assert result.counts["venues"] == 5
    print(f"15,005 headers read and imported in {time.process_time() - started:.1f} s of CPU")


def test_nul_and_control_characters_are_rejected_with_a_reason(tmp_path: Path, culture: list[dict]) -> None:
    rows = _rows(culture[:10])
    rows[2][0] = rows[2][0] + "\x00hidden"
    rows[3][1] = "路\x1b[31m"
    result = import_catalogue(CatalogueConfig(file=_write_csv(tmp_path / "nul.csv", HEADER, rows)), TAXONOMY, SETTINGS)
    review = result.review.frame().set_index("row")["reason"]
    assert review[4].startswith("contains the control character U+0000 in name")
    assert review[5].startswith("contains the control character U+001B in address")
    assert result.counts["venues"] == 8


def test_malformed_geojson_features_become_review_rows(tmp_path: Path, culture: list[dict]) -> None:
    features = [json.loads(json.dumps(f)) for f in culture[:20]]
    features[1]["geometry"]["coordinates"] = 5
    features[2]["geometry"]["coordinates"] = {"0": 121.4, "1": 31.2}
    features[3]["properties"] = ["name", "x"]
    features[4]["properties"] = "just a string"
    features[5] = "not a feature"
    features[6]["geometry"] = {"type": "Polygon", "coordinates": [[1, 2]]}
    path = tmp_path / "bad.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), encoding="utf-8"
    )
    result = import_catalogue(CatalogueConfig(file=path, category="museum"), TAXONOMY, SETTINGS)
    reasons = result.review.frame().set_index("row")["reason"]
    assert reasons[2] == "malformed feature: Point coordinates '5' are not [lon, lat] numbers"
    assert reasons[3].startswith("malformed feature: Point coordinates '{")
    assert reasons[4] == "malformed feature: properties is a JSON list, not an object"
    assert reasons[5] == "malformed feature: properties is a JSON str, not an object"
    assert reasons[6] == "not a GeoJSON feature object (a JSON str)"
    assert reasons[7] == "malformed feature: 'Polygon' geometry cannot be read"
    assert result.counts["venues"] == 14


def test_json_nested_too_deeply_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    _one_error_line(
        _mapgen("catalog", "import", str(tmp_path / "deep.json"), "--out", str(tmp_path / "o")), "nested too deeply"
    )


def test_an_unexpected_error_in_one_row_is_a_review_row(
    tmp_path: Path, culture: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step that fails on one row's value (a bug no check foresaw) costs that row, not the import."""
    rows = _rows(culture[:40])
    victim = rows[17][0]
    real = catalog_build.name_key

    def fragile(name: str, settings: CatalogueSettings) -> str:
        if name == victim:
            raise KeyError("surprise")
        return real(name, settings)

    monkeypatch.setattr(catalog_build, "name_key", fragile)
    result = import_catalogue(CatalogueConfig(file=_write_csv(tmp_path / "x.csv", HEADER, rows)), TAXONOMY, SETTINGS)
    row = result.review.frame().set_index("row").loc[19]
    assert row["reason"].startswith("unexpected error while checking this row (KeyError: 'surprise')")
    assert row["name"] == victim
    assert result.counts["rows"] == 40 and result.counts["venues"] == 39


def test_blanking_one_id_changes_only_that_venue_id(tmp_path: Path, culture: list[dict]) -> None:
    rows = [[f["properties"]["@id"], *r] for f, r in zip(culture[:25], _rows(culture[:25]), strict=True)]
    first = import_catalogue(
        CatalogueConfig(file=_write_csv(tmp_path / "v1.csv", ["id", *HEADER], rows), name="list"), TAXONOMY, SETTINGS
    )
    rows[3][0] = ""
    second = import_catalogue(
        CatalogueConfig(file=_write_csv(tmp_path / "v2.csv", ["id", *HEADER], rows), name="list"), TAXONOMY, SETTINGS
    )
    changes = diff_venues(first.venues, second.venues, SETTINGS.moved_m)
    assert sorted(changes["change"]) == ["added", "removed"]
    assert set(changes["name"]) == {rows[3][1]}
    assert (first.venues["venue_id"] == "list-" + culture[0]["properties"]["@id"]).any()  # ids with "/" are kept


def test_catalog_import_cli_never_overwrites_its_source(tmp_path: Path, culture: list[dict]) -> None:
    source = tmp_path / "venues.geojson"
    source.write_text(
        json.dumps({"type": "FeatureCollection", "features": culture[:10]}, ensure_ascii=False), encoding="utf-8"
    )
    before = source.read_bytes()
    run = _mapgen("catalog", "import", str(source), "--out", str(tmp_path), "--category", "museum")
    _one_error_line(run, "would overwrite its own source file")
    assert source.read_bytes() == before
    (tmp_path / "file").write_text("x", encoding="utf-8")
    _one_error_line(
        _mapgen("catalog", "import", str(source), "--out", str(tmp_path / "file"), "--category", "museum"),
        "is a file, not a folder",
    )


def _schools_csv(path: Path, extra: list[list[object]]) -> Path:
    """Real Shenzhen Longgang schools (from the extract) as a school list, plus `extra` rows."""
    from mapgen import osm_extract
    from mapgen.schools import schools_from_osm

    schools = schools_from_osm(osm_extract.read_osm(OSM / "shenzhen-longgang.osm", {"amenity"}).features, Settings())
    rows = [[f"s{i}", s.name, s.geometry.x, s.geometry.y] for i, s in enumerate(schools.itertuples())]
    return _write_csv(path, ["school_id", "name", "lon", "lat"], rows + extra)


def test_school_list_rejects_repeated_ids_long_names_and_nul(tmp_path: Path) -> None:
    path = _schools_csv(
        tmp_path / "schools.csv",
        [
            ["s0", "重复编号学校", 114.25, 22.72],
            ["s9", "名" * 200_000, 114.25, 22.72],
            ["s10", "空\x00字节", 114.25, 22.72],
            ["s11", "好学校", 114.25, 22.72],
        ],
    )
    review = ReviewLog()
    schools = schools_from_csv(path, review)
    reasons = {r.row: r.reason for r in review}
    assert len(schools) == 4 and schools["school_id"].is_unique
    assert reasons[5] == "school_id 's0' repeated (also row 2)"
    assert reasons[6] == "name is 200,000 characters long (limit 200)"
    assert reasons[7] == "name contains control characters (NUL bytes and the like are not text)"


def test_isochrones_points_with_hostile_rows_write_the_rest(tmp_path: Path) -> None:
    school_list = pd.read_csv(_schools_csv(tmp_path / "schools.csv", []))
    (a_lon, a_lat), (c_lon, c_lat) = school_list[["lon", "lat"]].to_numpy()[:2]
    points = _write_csv(
        tmp_path / "points.csv",
        ["id", "lon", "lat"],
        [["a", a_lon, a_lat], ["b" * 200_000, a_lon, a_lat], ["nul\x00", a_lon, a_lat], ["c", c_lon, c_lat]],
    )
    out = tmp_path / "iso.geojson"
    run = _mapgen(
        "isochrones",
        "--osm",
        str(OSM / "shenzhen-longgang.osm"),
        "--points",
        str(points),
        "--minutes",
        "5",
        "--out",
        str(out),
        "-q",
        env={"MAPGEN_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert run.returncode == 0, run.stderr
    assert "2 rows not used" in run.stderr
    review = pd.read_csv(tmp_path / "iso.review.csv")
    assert review["row"].tolist() == [3, 4]
    assert review["reason"].tolist() == [
        "id is 200,000 characters long (limit 2,000)",
        "id contains control characters (NUL bytes and the like are not text)",
    ]
    ids = sorted(f["properties"]["id"] for f in json.loads(out.read_text(encoding="utf-8"))["features"])
    assert ids == ["a", "c"]


# --- atomic outputs ----------------------------------------------------------------------------------------


@pytest.mark.slow  # a whole build of its own
def test_a_killed_rebuild_leaves_the_previous_output_intact(shenzhen_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(shenzhen_build, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    build = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mapgen.cli",
            "build",
            "--city",
            str(CITIES / "shenzhen-longgang.toml"),
            "--out",
            str(out),
            "--minutes",
            "10",
            "-q",
        ],
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    staging: list[Path] = []
    while time.monotonic() < deadline and build.poll() is None:  # kill it once it has written maps into its folder
        staging = list(tmp_path.glob(".out.incomplete-*"))
        if staging and (staging[0] / "isochrones.geojson").is_file() and (staging[0] / "schools").is_dir():
            break
        time.sleep(0.05)
    assert build.poll() is None, "the build ended before it could be killed"
    os.kill(build.pid, signal.SIGKILL)
    build.wait()
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # every file of the previous build, unchanged; nothing of the new settings
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["settings"]["minutes"] == 15
    assert (staging[0] / "INCOMPLETE").is_file()  # the half-written folder says what it is
    assert (staging[0] / "isochrones.geojson").is_file()
    print(
        "after SIGKILL:",
        sorted(p.name for p in tmp_path.iterdir()),
        "staging holds",
        sorted(p.name for p in staging[0].iterdir()),
    )

    from mapgen.atomic import staged_folder

    with staged_folder(out, "summary.json") as work:  # the next run sweeps the dead run's folder
        shutil.copytree(out, work, dirs_exist_ok=True)
    assert not staging[0].exists() and not list(tmp_path.glob(".out.*"))


def test_a_staged_file_gets_the_mode_a_plain_write_gives(tmp_path: Path) -> None:
    from mapgen.atomic import staged_file

    plain = tmp_path / "plain.txt"
    plain.write_text("x", encoding="utf-8")
    with staged_file(tmp_path / "staged.txt") as tmp:
        tmp.write_text("x", encoding="utf-8")
    # readable by the web server's user as any other output is, not private as a temporary file
    assert (tmp_path / "staged.txt").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    assert not list(tmp_path.glob(".staged.txt.*"))


@pytest.mark.slow  # a whole build of its own
def test_build_output_errors_are_one_line(tmp_path: Path) -> None:
    osm = str(OSM / "shenzhen-longgang.osm")
    (tmp_path / "file").write_text("x", encoding="utf-8")
    _one_error_line(_mapgen("build", "--osm", osm, "--out", str(tmp_path / "file")), "--out is a file, not a folder")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine", encoding="utf-8")
    _one_error_line(_mapgen("build", "--osm", osm, "--out", str(tmp_path / "mine")), "not a mapgen build")
    assert (tmp_path / "mine" / "notes.txt").read_text(encoding="utf-8") == "mine"
    _one_error_line(_mapgen("build", "--osm", osm, "--out", "/sys/mapgen-out"), "cannot write the output folder")
    city = tmp_path / "city.toml"
    city.write_text(
        f'name = "x"\nosm = "{osm}"\n[settings]\nexclude_school_names = ["党校(", "驾校"]\n', encoding="utf-8"
    )
    _one_error_line(
        _mapgen("build", "--city", str(city), "--out", str(tmp_path / "o")), "not a valid regular expression"
    )
    city.write_text(f'name = "x"\nosm = "{osm}"\n[settings]\nisochrone_cell_m = 0.05\n', encoding="utf-8")
    _one_error_line(_mapgen("build", "--city", str(city), "--out", str(tmp_path / "o")), "isochrone_cell_m")


@pytest.mark.parametrize(
    ("setting", "value"),
    [("isochrone_cell_m", 0.05), ("access_buffer_m", 1e7), ("max_snap_m", 1e6), ("isochrone_buffer_m", 0.01)],
)
def test_settings_have_sane_bounds(setting: str, value: float) -> None:
    with pytest.raises(ValidationError, match=setting):
        Settings(**{setting: value})


def test_two_concurrent_publishes_are_safe(shenzhen_build: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(shenzhen_build, data)
    reader = sqlite3.connect(f"file:{data / 'site.db'}?mode=ro", uri=True)
    old_count = reader.execute("SELECT count(*) FROM venues").fetchone()[0]
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "mapgen.cli", "publish", "--data", str(data)],
            env={**os.environ, "PYTHONPATH": str(Path.cwd())},
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in runs]  # type: ignore[union-attr]
    assert [code for code, _ in results] == [0, 0], results
    assert reader.execute("SELECT count(*) FROM venues").fetchone()[0] == old_count  # the old file, still served
    reader.close()
    with sqlite3.connect(data / "site.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM venues").fetchone()[0] == old_count
    assert not [p.name for p in data.iterdir() if p.name.startswith(".site.db") or p.suffix == ".tmp"]


def test_publish_db_errors_are_one_line(shenzhen_build: Path, tmp_path: Path) -> None:
    _one_error_line(
        _mapgen("publish", "--data", str(shenzhen_build), "--db", str(tmp_path / "no" / "site.db")), "folder not found"
    )
    _one_error_line(_mapgen("publish", "--data", str(shenzhen_build), "--db", str(tmp_path)), "is a folder")


# --- the cache ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["flipped", "truncated", "pickle", "object-array", "old-magic"])
def test_a_damaged_or_forged_cache_file_is_discarded_and_rebuilt(
    tmp_path: Path, attack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(cache_dir=tmp_path / "cache")
    osm = OSM / "shenzhen-longgang.osm"
    fresh = load_graph(osm, "bike", settings)
    (graph_file,) = (tmp_path / "cache").glob(f"graph-*{CACHE_SUFFIX}")
    data = bytearray(graph_file.read_bytes())
    marker = tmp_path / "pwned"
    payload = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('ran')"
    if attack == "flipped":
        middle = len(data) // 2
        data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    elif attack == "truncated":
        data = data[: len(data) // 3]
    elif attack == "pickle":  # a pickle that runs code when loaded, behind a correct header and checksum

        class Exploit:
            def __reduce__(self) -> tuple[object, tuple[str]]:
                return exec, (payload,)

        import hashlib
        import pickle

        blob = pickle.dumps(Exploit())
        data = bytearray(dump_arrays({})[:15] + hashlib.sha256(blob).digest() + blob)
    elif attack == "object-array":  # an .npz whose array is pickled objects, with a correct checksum
        import hashlib
        import io

        class Exploit2:
            def __reduce__(self) -> tuple[object, tuple[str]]:
                return exec, (payload,)

        buffer = io.BytesIO()
        np.savez(buffer, edge_u=np.array([Exploit2()], dtype=object), allow_pickle=True)
        blob = buffer.getvalue()
        data = bytearray(dump_arrays({})[:15] + hashlib.sha256(blob).digest() + blob)
    else:
        data = bytearray(b"\x80\x04" + bytes(data[15:]))
    graph_file.write_bytes(bytes(data))
    capsys.readouterr()
    again = load_graph(osm, "bike", settings)
    warning = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert not marker.exists()  # no code ran
    assert len(warning) == 1 and "discarded, rebuilding" in warning[0]
    for name in ("edge_u", "edge_v", "edge_length_m", "node_xy", "edge_highway"):
        np.testing.assert_array_equal(getattr(again, name), getattr(fresh, name))
    assert load_graph(osm, "bike", settings).n_nodes == fresh.n_nodes  # rewritten: loads cleanly again
    assert not [line for line in capsys.readouterr().err.splitlines() if "warning" in line]


@pytest.mark.slow  # a whole build of its own
def test_cached_extract_round_trips_exactly(tmp_path: Path) -> None:
    from mapgen import osm_extract
    from mapgen.cache import load_arrays

    extract = osm_extract.read_osm(OSM / "monaco.osm.pbf", {"amenity", "leisure", "name", "building"})
    back = osm_extract.extract_from_arrays(load_arrays(dump_arrays(osm_extract.extract_arrays(extract))))
    pd.testing.assert_frame_equal(pd.DataFrame(back.features), pd.DataFrame(extract.features))
    assert len(back.highways) == len(extract.highways) > 1000
    assert all(
        a.tags == b.tags and np.array_equal(a.lonlat, b.lonlat) and np.array_equal(a.node_ids, b.node_ids)
        for a, b in zip(extract.highways, back.highways, strict=True)
    )


# --- the site ----------------------------------------------------------------------------------------------


def test_serve_with_a_relative_data_folder_serves_files(site_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from webapp import create_app

    monkeypatch.chdir(site_data.parent)
    client = create_app(Path(site_data.name) / "site.db").test_client()
    assert client.get("/files/index.html").status_code == 200


def test_blank_lang_is_cached_as_flask_reads_it(site_data: Path) -> None:
    """``?lang=&lang=en``: Flask reads the first, blank value (cookie, else Chinese); the cache keys it the same way."""
    from webapp import create_app

    client = create_app(site_data / "site.db").test_client()
    client.get("/?lang=en")  # remembers English in the cookie
    assert '<html lang="en">' in client.get("/?lang=&lang=en").get_data(as_text=True)  # cached under English
    client.delete_cookie("lang")
    assert '<html lang="zh-CN">' in client.get("/?lang=&lang=en").get_data(as_text=True)  # not the cached English
    plain = create_app(site_data / "site.db", cache_mb=0).test_client()
    assert '<html lang="zh-CN">' in plain.get("/?lang=&lang=en").get_data(as_text=True)


def test_ids_with_a_slash_and_repeated_words(site_data: Path, tmp_path: Path) -> None:
    import geopandas as gpd

    from mapgen.publish.sitedb import write_site_db
    from webapp import create_app
    from webapp.search import MAX_TERMS, search_terms

    data = tmp_path / "d"
    shutil.copytree(site_data, data)
    venues = gpd.read_file(data / "venues.geojson")
    old_id = venues.at[0, "venue_id"]
    venues.at[0, "venue_id"] = "list-relation/2380996"
    (data / "venues.geojson").unlink()
    venues.to_file(data / "venues.geojson", driver="GeoJSON", engine="pyogrio")
    pairs = pd.read_csv(data / "reachability.csv", dtype=str).replace({"venue_id": {old_id: "list-relation/2380996"}})
    pairs.to_csv(data / "reachability.csv", index=False)
    write_site_db(data)
    client = create_app(data / "site.db").test_client()
    assert client.get("/venue/list-relation%2F2380996").status_code == 200
    assert client.get("/api/venues/list-relation%2F2380996").get_json()["venue_id"] == "list-relation/2380996"
    assert search_terms("图书馆 " * 50) == ["图书馆"]
    assert client.get("/search?q=" + "图书馆+" * 50).status_code == 200
    many = " ".join(f"词{i}{i}" for i in range(MAX_TERMS + 1))
    assert client.get("/api/venues", query_string={"q": many}).status_code == 400


@pytest.mark.slow  # a whole build of its own
def test_a_build_with_hostile_catalogue_and_school_list_completes(tmp_path: Path) -> None:
    """``[[catalogues]]`` with malformed features and a school list with a repeated id: the build ends, rows in review."""
    from mapgen import osm_extract
    from mapgen.config import load_city
    from mapgen.pipeline import build_city

    osm = OSM / "shenzhen-longgang.osm"
    features = osm_extract.read_osm(osm, {"leisure", "amenity"}).features
    named = features[features["name"].notna() & features["leisure"].notna()].head(8)
    points = named.geometry.representative_point()
    good = [
        {
            "type": "Feature",
            "properties": {"name": n, "category": "sports"},
            "geometry": {"type": "Point", "coordinates": [p.x, p.y]},
        }
        for n, p in zip(named["name"], points, strict=True)
    ]
    bad = [
        {
            "type": "Feature",
            "properties": {"name": "五号", "category": "sports"},
            "geometry": {"type": "Point", "coordinates": 5},
        },
        {"type": "Feature", "properties": ["name"], "geometry": good[0]["geometry"]},
        {
            "type": "Feature",
            "properties": {"name": "空\x00字节", "category": "sports"},
            "geometry": good[1]["geometry"],
        },
    ]
    (tmp_path / "list.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": good + bad}), encoding="utf-8"
    )
    _schools_csv(tmp_path / "schools.csv", [["s0", "重复编号学校", points.iloc[0].x, points.iloc[0].y]])
    city = tmp_path / "city.toml"
    city.write_text(
        f'name = "sz"\nosm = "{osm}"\nschools_csv = "schools.csv"\n\n[[catalogues]]\nfile = "list.geojson"\n',
        encoding="utf-8",
    )
    summary = build_city(load_city(city), tmp_path / "out", quiet=True)
    counts = summary.catalogues["list"]
    assert counts["rows"] == 11 and counts["venues"] == 8 and counts["rejected"] == 3
    review = pd.read_csv(tmp_path / "out" / "review.csv")
    reasons = review["reason"].tolist()
    assert sum(r.startswith("malformed feature") for r in reasons) == 2
    assert any(r.startswith("contains the control character U+0000") for r in reasons)
    assert any(r.startswith("school_id 's0' repeated") for r in reasons)
    with sqlite3.connect(tmp_path / "out" / "site.db") as con:  # the step that crashed on a repeated id
        assert con.execute("SELECT count(*) FROM schools").fetchone()[0] == summary.counts.schools
