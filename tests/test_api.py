"""The public API in `mapgen/__init__.py` gives what the commands give, on real extracts and catalogues."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import shapely
from conftest import CITIES, shared_file

import mapgen
from mapgen.contract import Summary

# Monaco: the casino square, the port, and a point in the sea (no street within 300 m)
MONACO_POINTS = [(7.4275, 43.7396), (7.4225, 43.7357), (7.45, 43.70)]


def test_the_api_is_small_and_loads_on_first_use() -> None:
    assert sorted(mapgen.__all__) == ["__version__", "build_city", "import_catalogue", "isochrones", "travel_matrix"]
    code = "import sys, mapgen.errors; print('mapgen.api' in sys.modules, 'geopandas' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == ["False"] * 2


def test_isochrones_are_nested_and_say_which_points_are_off_the_streets() -> None:
    osm = shared_file("osm", "monaco.osm.pbf")
    iso = mapgen.isochrones(osm, MONACO_POINTS, mode="walk", minutes=[10, 5])
    assert iso[["point_id", "minutes"]].values.tolist() == [["0", 5], ["0", 10], ["1", 5], ["1", 10]]
    assert iso.attrs["unattached"] == ["2"] and (iso["mode"] == "walk").all()
    metric = iso.to_crs(iso.estimate_utm_crs())
    for point_id, rings in metric.groupby("point_id"):
        small, large = rings.sort_values("minutes").geometry
        # nested, to the one-cell (10 m) simplification of both outlines
        assert small.difference(large.buffer(25.0, quad_segs=2)).area < 1.0, point_id
        assert small.area > 50_000  # five minutes' walk of streets, not a dot
    for point_id, ring in iso[iso["minutes"] == 5].set_index("point_id").geometry.items():
        assert ring.contains(shapely.Point(MONACO_POINTS[int(point_id)]))


def test_travel_matrix_equals_the_matrix_command(tmp_path: Path) -> None:
    osm = shared_file("osm", "monaco.osm.pbf")
    api = mapgen.travel_matrix(osm, MONACO_POINTS[:2], MONACO_POINTS[:2], mode="bike", max_minutes=20)
    points = tmp_path / "points.csv"
    pd.DataFrame(
        {"id": ["0", "1"], "lon": [p[0] for p in MONACO_POINTS[:2]], "lat": [p[1] for p in MONACO_POINTS[:2]]}
    ).to_csv(points, index=False)
    targets = tmp_path / "targets.geojson"
    targets.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"id": str(i)},
                        "geometry": {"type": "Point", "coordinates": list(p)},
                    }
                    for i, p in enumerate(MONACO_POINTS[:2])
                ],
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "times.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mapgen.cli",
            "matrix",
            "--osm",
            str(osm),
            "--points",
            str(points),
            "--targets",
            str(targets),
            "--mode",
            "bike",
            "--max-minutes",
            "20",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    cli = pd.read_csv(out, dtype={"point_id": str, "target_id": str})
    assert (
        len(api) == 4
        and api[["point_id", "target_id"]].values.tolist() == cli[["point_id", "target_id"]].values.tolist()
    )
    assert api["minutes"].round(2).tolist() == cli["minutes"].tolist()
    assert api["minutes"].between(0, 20).all()


def test_import_catalogue_converts_gcj02_and_reviews_the_rest() -> None:
    result = mapgen.import_catalogue(
        shared_file("venues", "shanghai-heritage-buildings-gcj02.geojson"), crs="gcj02", category="heritage"
    )
    assert len(result.venues) + len(result.review) == result.counts["rows"] and len(result.venues) > 100
    assert set(result.venues["category"]) == {"heritage"}
    assert result.datum["declared"] == "gcj02"


@pytest.mark.slow  # a whole build of its own
def test_build_city_takes_a_city_file_or_an_extract(tmp_path: Path) -> None:
    summary = mapgen.build_city(shared_file("osm", "monaco.osm.pbf"), tmp_path / "monaco")
    assert isinstance(summary, Summary) and summary.city == "monaco" and summary.counts.schools >= 1
    assert json.loads((tmp_path / "monaco" / "summary.json").read_text(encoding="utf-8"))["contract_version"] == 2
    with pytest.raises(mapgen.errors.ConfigError, match="not found"):
        mapgen.build_city(CITIES / "no-such-city.toml", tmp_path / "none")
