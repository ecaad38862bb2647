"""The last step of a build: summary, PDF sheets and site database written once each."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import geopandas as gpd
import pytest

from mapgen.contract import BuildFolder
from mapgen.publish import finish


def test_finish_build_writes_site_db_once(
    heidelberg_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "heidelberg"
    shutil.copytree(heidelberg_build, out)
    (out / "site.db").unlink()
    shutil.rmtree(out / "schools")
    schools = gpd.read_file(out / "schools.geojson")
    assert len(schools) == 20
    (out / "schools.geojson").unlink()
    schools.head(2).to_file(out / "schools.geojson", driver="GeoJSON", engine="pyogrio")  # two sheets are enough
    summary = BuildFolder(out).summary
    summary.outputs.pop("site_db")
    written: list[Path] = []
    real_write_site_db = finish.write_site_db

    def counted(data_dir: Path) -> dict[str, object]:
        written.append(Path(data_dir))
        return real_write_site_db(data_dir)

    monkeypatch.setattr(finish, "write_site_db", counted)
    timings = {"read": 1.0}
    result = finish.finish_build(out, summary, timings, time.perf_counter(), 2, quiet=True)

    assert result is None
    assert written == [out]
    on_disk = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["outputs"]["site_db"] == str(out / "site.db")
    with sqlite3.connect(out / "site.db") as db:
        assert db.execute("SELECT count(*) FROM schools").fetchone() == (2,)  # written from this folder
    assert len(list((out / "schools").glob("*.pdf"))) == 2
    assert set(on_disk["seconds"]) == {"read", "pdf", "total"}
    assert on_disk["seconds"]["total"] >= on_disk["seconds"]["pdf"] > 0
