"""Benchmark region builds: Heidelberg tiled (2×2) vs untiled, on 1 and 2 Dask workers.

Prints a table (wall time, CPU time, peak memory per worker, ratio to the untiled 1-worker
baseline measured in the same run) and writes JSON. Every run gets a fresh local cluster
and a fresh output folder, so nothing is skipped and worker peaks are per run.

    .venv/bin/python benchmarks/bench_region.py --json out/bench_region.json
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from mapgen.config import AreaConfig, RegionConfig
from mapgen.region import build_region, dask_client

ROOT = Path(__file__).resolve().parents[1]
HEIDELBERG = ROOT.parent / "shared" / "data" / "osm" / "heidelberg.osm.pbf"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(grid: tuple[int, int], workers: int, osm: Path) -> dict[str, object]:
    """Build Heidelberg as one area split into `grid` tiles on a fresh local cluster of `workers` processes."""
    region = RegionConfig(name="bench", areas=[AreaConfig(name="heidelberg", osm=osm, grid=grid)])
    with tempfile.TemporaryDirectory() as tmp, dask_client(workers=workers) as client:
        started = time.perf_counter()
        summary = build_region(region, tmp, client=client, quiet=True)
        wall = time.perf_counter() - started
        peaks = sorted(client.run(_peak_mb).values())  # type: ignore[attr-defined]
        cpu = sum(client.run(_cpu_s).values())  # type: ignore[attr-defined]
        reach = (Path(tmp) / "heidelberg" / "reachability.csv").read_bytes()
        area = json.loads((Path(tmp) / "heidelberg" / "summary.json").read_text(encoding="utf-8"))
    if summary["failed"]:
        raise RuntimeError(f"build failed: {summary['areas']}")
    return {
        "grid": f"{grid[0]}x{grid[1]}", "workers": workers, "wall_s": round(wall, 1), "worker_cpu_s": round(cpu, 1),
        "peak_mb_per_worker": [round(p) for p in peaks], "tiles_sum_s": area["seconds"]["tiles_sum"],
        "pairs": area["reach"]["walk"]["pairs"] + area["reach"]["bike"]["pairs"], "_reach": reach,
    }


def main() -> None:
    """Run the four configurations and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--osm", type=Path, default=HEIDELBERG, help="extract to build (default Heidelberg)")
    parser.add_argument("--json", type=Path, default=ROOT / "out" / "bench_region.json", help="JSON output")
    args = parser.parse_args()
    rows = [run(grid, workers, args.osm) for grid in ((1, 1), (2, 2)) for workers in (1, 2)]
    reaches = [r.pop("_reach") for r in rows]
    same = all(reach == reaches[0] for reach in reaches)
    base = rows[0]
    print(f"{'grid':<6}{'workers':>8}{'wall s':>9}{'× base':>8}{'worker CPU s':>14}{'tiles Σ s':>11}"
          f"{'peak MB per worker':>22}{'pairs':>8}")
    for r in rows:
        r["wall_vs_untiled_1_worker"] = round(float(r["wall_s"]) / float(base["wall_s"]), 2)  # type: ignore[arg-type]
        print(f"{r['grid']:<6}{r['workers']:>8}{r['wall_s']:>9}{r['wall_vs_untiled_1_worker']:>8}"
              f"{r['worker_cpu_s']:>14}{r['tiles_sum_s']:>11}{str(r['peak_mb_per_worker']):>22}{r['pairs']:>8}")
    print(f"reachability.csv identical in all runs: {same}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"osm": str(args.osm), "runs": rows, "identical_reachability": same}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
