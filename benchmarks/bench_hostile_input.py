"""Benchmark: hostile catalogues (20,000 rows at one spot, a 200,000-character field, 15,000 equal headers): time and peak memory."""

from __future__ import annotations

import csv
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

from mapgen.catalog import import_catalogue
from mapgen.config import DEFAULT_CATEGORIES, PROJECT_ROOT, CatalogueConfig, CatalogueSettings
from mapgen.taxonomy import load_taxonomy

CULTURE = PROJECT_ROOT.parent / "shared" / "data" / "venues" / "shanghai-osm-culture.geojson"
HEADER = ["name", "address", "lon", "lat", "category"]


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def cases(folder: Path) -> dict[str, Path]:
    """Write the hostile files, built from real named points of the Shanghai OSM culture export."""
    points = [
        f
        for f in json.loads(CULTURE.read_text(encoding="utf-8"))["features"]
        if f["geometry"]["type"] == "Point" and f["properties"].get("name")
    ]
    real = [
        [f["properties"]["name"], f["properties"].get("addr:street", ""), *f["geometry"]["coordinates"], "museum"]
        for f in points
    ]
    name, (lon, lat) = points[0]["properties"]["name"], points[0]["geometry"]["coordinates"]
    long = [list(r) for r in real[:200]]
    long[10][0] = "长" * 200_000
    long[20][1] = "路" * 200_000
    return {
        "20,000 rows at one spot (half one name)": _write(
            folder / "same.csv",
            HEADER,
            [[name if i % 2 else f"{name}{i}", "", lon, lat, "museum"] for i in range(20_000)],
        ),
        "20,000 rows at one spot, one name": _write(
            folder / "one.csv", HEADER, [[name, "", lon, lat, "museum"] for _ in range(20_000)]
        ),
        "200 rows, two 200,000-character fields": _write(folder / "long.csv", HEADER, long),
        "15,000 headers all 'x'": _write(
            folder / "wide.csv", HEADER + ["x"] * 15_000, [[*r, *[""] * 15_000] for r in real[:50]]
        ),
    }


def main() -> None:
    """Import every case; print rows, venues, review rows, seconds and peak traced memory."""
    taxonomy, settings = load_taxonomy(DEFAULT_CATEGORIES), CatalogueSettings()
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in cases(Path(tmp)).items():
            started = time.perf_counter()
            import_catalogue(CatalogueConfig(file=path), taxonomy, settings)
            seconds = time.perf_counter() - started
            tracemalloc.start()
            result = import_catalogue(CatalogueConfig(file=path), taxonomy, settings)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            c = result.counts
            print(
                f"{label}: {c['rows']} rows -> {c['venues']} venues, {c['rejected']} to review; "
                f"{seconds:.1f} s, peak {peak / 2**20:.0f} MiB (file {path.stat().st_size / 2**20:.1f} MiB)"
            )


if __name__ == "__main__":
    main()
