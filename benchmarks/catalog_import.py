"""Benchmark: import a 100,000-row venue catalogue (time and peak memory), against plain pandas reading."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import shapely

from mapgen.catalog import import_catalogue
from mapgen.config import DEFAULT_CATEGORIES, PROJECT_ROOT, CatalogueConfig, CatalogueSettings
from mapgen.taxonomy import load_taxonomy

T = TypeVar("T")
HERITAGE = PROJECT_ROOT.parent / "shared" / "data" / "venues" / "shanghai-heritage-buildings-gcj02.geojson"
HOURS = PROJECT_ROOT.parent / "shared" / "data" / "venues" / "shanghai-culture-bureau-venues.json"


def make_catalogue(path: Path, rows: int, seed: int = 5) -> int:
    """Write `rows` venues drawn from the real heritage list (jittered, GCJ-02), 1 % of them bad; return bad count."""
    features = json.loads(HERITAGE.read_text(encoding="utf-8"))["features"]
    hours = [r["T_TIME"] for r in json.loads(HOURS.read_text(encoding="utf-8"))["rows"]]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(features), rows)
    frame = pd.DataFrame(
        {
            "名称": [f"{features[i]['properties']['title']}{k}" for k, i in enumerate(pick)],
            "地址": [features[i]["properties"]["xian_di_zhi"] or "" for i in pick],
            "经度": (np.array([features[i]["geometry"]["coordinates"][0] for i in pick]) + rng.normal(0, 0.003, rows)),
            "纬度": (np.array([features[i]["geometry"]["coordinates"][1] for i in pick]) + rng.normal(0, 0.003, rows)),
            "开放时间": [hours[i % len(hours)] for i in range(rows)],
        }
    )
    bad = np.arange(0, rows, 100)
    frame.loc[bad, "经度"] = 150.0
    frame.to_csv(path, index=False, encoding="utf-8")
    return len(bad)


def measure(run: Callable[[], T]) -> tuple[float, float, T]:
    """Wall seconds of one untraced run, peak traced MiB of a second run, and the result."""
    t0 = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - t0
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, result


def main() -> int:
    """Run the benchmark, print a table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=PROJECT_ROOT / "out" / "bench-catalog-import.json")
    args = parser.parse_args()
    if not HERITAGE.exists():
        print(f"{HERITAGE} not found: the benchmark needs ../shared/data", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalogue.csv"
        n_bad = make_catalogue(path, args.rows)
        spec = CatalogueConfig(file=path, crs="gcj02", category="heritage")
        taxonomy, settings = load_taxonomy(DEFAULT_CATEGORIES), CatalogueSettings()
        area = shapely.box(120.8, 30.6, 122.3, 31.9)
        base_s, base_mb, _ = measure(lambda: pd.read_csv(path, dtype=str, keep_default_na=False))
        imp_s, imp_mb, result = measure(lambda: import_catalogue(spec, taxonomy, settings, area=area))
    assert len(result.venues) == args.rows - n_bad and len(result.review) == n_bad
    report = {
        "rows": args.rows,
        "bad_rows": n_bad,
        "baseline_pandas_read_csv": {"seconds": round(base_s, 3), "peak_mib": round(base_mb, 1)},
        "import_catalogue": {
            "seconds": round(imp_s, 3),
            "peak_mib": round(imp_mb, 1),
            "rows_per_second": round(args.rows / imp_s),
        },
        "ratio_time": round(imp_s / base_s, 1),
        "ratio_memory": round(imp_mb / base_mb, 1),
    }
    print(f"{'step':<28}{'seconds':>10}{'peak MiB':>10}")
    print(f"{'pandas.read_csv (baseline)':<28}{base_s:>10.2f}{base_mb:>10.1f}")
    print(f"{'import_catalogue':<28}{imp_s:>10.2f}{imp_mb:>10.1f}")
    print(
        f"ratio: time ×{report['ratio_time']}, memory ×{report['ratio_memory']}; "
        f"{args.rows} rows → {len(result.venues)} venues, {n_bad} to review"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
