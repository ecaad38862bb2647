"""Benchmark region builds: growth over synthetic regions of 1, 4, 16 copies of Heidelberg, and tiling.

Growth (default): for each number of copies, ``benchmarks/make_region.py`` lays out the copies
(one county per copy, cached in ``--data``) and ``build_region`` builds them in a fresh process
on a fresh local cluster (or on ``--scheduler``). Reported per size: wall and CPU time (workers
and client), peak memory per worker and of the client, bytes of task arguments and results
between client and workers, seconds per stage summed over tiles (choosing the tiles' cuts and
writing them, one pass each over the shared file; reading a tile's cut, selection, graph,
routing with polygons and route notes, writing, publishing maps and pages, the PDF sheets), the
machine's load, and the cost per school against the single copy.

    .venv/bin/python benchmarks/bench_region.py --copies 1 4 16 --workers 2 --json out/bench_region.json

Tiling (``--tiling``): Heidelberg as one area, untiled and 2×2, on 1 and 2 workers (ratio to the
untiled 1-worker baseline; ``reachability.csv`` must be identical).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mapgen.config import AreaConfig, RegionConfig, load_region
from mapgen.region import build_region, dask_client

ROOT = Path(__file__).resolve().parents[1]
HEIDELBERG = ROOT.parent / "shared" / "data" / "osm" / "heidelberg.osm.pbf"
STAGES = ("read", "select", "graph", "routing", "write")


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
        "grid": f"{grid[0]}x{grid[1]}",
        "workers": workers,
        "wall_s": round(wall, 1),
        "worker_cpu_s": round(cpu, 1),
        "peak_mb_per_worker": [round(p) for p in peaks],
        "tiles_sum_s": area["seconds"]["tiles_sum"],
        "pairs": area["reach"]["walk"]["pairs"] + area["reach"]["bike"]["pairs"],
        "_reach": reach,
    }


def tiling(args: argparse.Namespace) -> None:
    """Run the four tiling configurations on one extract and report."""
    rows = [run(grid, workers, args.osm) for grid in ((1, 1), (2, 2)) for workers in (1, 2)]
    reaches = [r.pop("_reach") for r in rows]
    same = all(reach == reaches[0] for reach in reaches)
    base = rows[0]
    print(
        f"{'grid':<6}{'workers':>8}{'wall s':>9}{'× base':>8}{'worker CPU s':>14}{'tiles Σ s':>11}"
        f"{'peak MB per worker':>22}{'pairs':>8}"
    )
    for r in rows:
        r["wall_vs_untiled_1_worker"] = round(float(r["wall_s"]) / float(base["wall_s"]), 2)  # type: ignore[arg-type]
        print(
            f"{r['grid']:<6}{r['workers']:>8}{r['wall_s']:>9}{r['wall_vs_untiled_1_worker']:>8}"
            f"{r['worker_cpu_s']:>14}{r['tiles_sum_s']:>11}{str(r['peak_mb_per_worker']):>22}{r['pairs']:>8}"
        )
    print(f"reachability.csv identical in all runs: {same}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"osm": str(args.osm), "runs": rows, "identical_reachability": same}, indent=2))
    print(f"wrote {args.json}")


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def measure(toml: Path, out: Path, workers: int | None, scheduler: str | None) -> dict[str, object]:
    """Build one region (in this process, a fresh one) and return its figures."""
    region = load_region(toml)
    load_before = _load()
    cpu0 = _cpu_s()
    with dask_client(scheduler, workers) as client:
        cpu_before = client.run(_cpu_s) if scheduler else {}
        started = time.perf_counter()
        summary = build_region(region, out, client=client, quiet=True)
        wall = time.perf_counter() - started
        peaks = client.run(_peak_mb)
        cpu = client.run(_cpu_s)
    if summary["failed"]:
        raise RuntimeError(f"build failed: {summary['failed']}")
    worker_cpu = sum(cpu.values()) - sum(cpu_before.values())
    stages = dict.fromkeys(STAGES, 0.0)
    counts = {"schools": 0, "venues": 0, "pairs": 0, "tiles": 0, "pre_cut_tiles": 0, "walk_nodes_routed": 0}
    publish = pdf = 0.0
    for name in (a["name"] for a in summary["areas"]):
        area = json.loads((out / name / "summary.json").read_text(encoding="utf-8"))
        for tile in area["partition"]["tiles"]:
            for stage in STAGES:
                stages[stage] += float(tile["seconds"].get(stage, 0.0))
            counts["pre_cut_tiles"] += tile.get("osm_read") == "pre-cut"
            counts["walk_nodes_routed"] += int(tile["network"].get("walk", {}).get("nodes", 0))
        counts["tiles"] += len(area["partition"]["tiles"])
        publish += float(area["seconds"]["publish"])
        pdf += float(area["seconds"].get("pdf", 0.0))
        counts["schools"] += area["counts"]["schools"]
        counts["venues"] += area["counts"]["venues"]
        counts["pairs"] += area["reach"]["walk"]["pairs"] + area["reach"]["bike"]["pairs"]
    traffic = summary["dask"]
    return {
        "region": str(toml),
        "areas": len(summary["areas"]),
        **counts,
        "workers": len(peaks),
        "wall_s": round(wall, 1),
        "worker_cpu_s": round(worker_cpu, 1),
        "client_cpu_s": round(_cpu_s() - cpu0, 1),
        "peak_mb_per_worker": sorted(round(p) for p in peaks.values()),
        "client_peak_mb": round(_peak_mb()),
        "stage_s": {k: round(v, 1) for k, v in stages.items()}
        | {
            "cut_plan": traffic["cut_plan_s"],
            "cut_write": traffic["cut_write_s"],
            "publish": round(publish, 1),
            "pdf": round(pdf, 1),
        },
        "bytes_to_workers": traffic["argument_bytes"],
        "bytes_from_workers": traffic["result_bytes"],
        "site_db": summary["site_database"],
        "load_before": load_before,
        "load_after": _load(),
    }


def growth(args: argparse.Namespace) -> None:
    """Make (or reuse) each synthetic region, build it in a fresh process, and print the growth table."""
    rows = []
    for copies in args.copies:
        folder = args.data / (f"copies-{copies}" + (f"-county-{args.county}" if args.county > 1 else ""))
        if not (folder / "region.toml").is_file():
            subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "benchmarks" / "make_region.py"),
                    "--copies",
                    str(copies),
                    "--osm",
                    str(args.osm),
                    "--trim",
                    str(args.trim),
                    "--county",
                    str(args.county),
                    "--out",
                    str(folder),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        out = args.out / folder.name
        cmd = [sys.executable, __file__, "--one", str(folder / "region.toml"), "--out", str(out)]
        cmd += ["--workers", str(args.workers)] if args.workers else []
        cmd += ["--scheduler", args.scheduler] if args.scheduler else []
        if out.exists():
            subprocess.run(["rm", "-rf", str(out)], check=True)
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        row = {"copies": copies, **json.loads(done.stdout.strip().splitlines()[-1])}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    base = rows[0]
    per_school = float(base["worker_cpu_s"]) / int(base["schools"])  # type: ignore[call-overload]
    print(
        f"{'copies':>6}{'schools':>8}{'tiles':>6}{'wall s':>8}{'wkr CPU s':>10}{'CPU/school':>11}{'× 1st':>7}"
        f"{'peak MB/worker':>16}{'client MB':>10}{'→wkr KB':>9}{'←wkr KB':>9}  load"
    )
    for r in rows:
        cost = float(r["worker_cpu_s"]) / int(r["schools"])  # type: ignore[call-overload]
        r["cpu_per_school_s"], r["cost_vs_first"] = round(cost, 2), round(cost / per_school, 2)
        print(
            f"{r['copies']:>6}{r['schools']:>8}{r['tiles']:>6}{r['wall_s']:>8}{r['worker_cpu_s']:>10}"
            f"{r['cpu_per_school_s']:>11}{r['cost_vs_first']:>7}{max(r['peak_mb_per_worker']):>16}"  # type: ignore[type-var]
            f"{r['client_peak_mb']:>10}{int(r['bytes_to_workers']) // 1024:>9}"  # type: ignore[call-overload]
            f"{int(r['bytes_from_workers']) // 1024:>9}  {r['load_before']}→{r['load_after']}"
        )  # type: ignore[call-overload]
        print(f"{'':>6}stages s: " + ", ".join(f"{k} {v}" for k, v in r["stage_s"].items()))  # type: ignore[attr-defined]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"osm": str(args.osm), "runs": rows}, indent=2))
    print(f"wrote {args.json}")


def main() -> None:
    """Command line: growth (default), --tiling, or one measured build (--one, used by growth)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--osm", type=Path, default=HEIDELBERG, help="extract to copy or build (default Heidelberg)")
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 4, 16], help="region sizes (copies)")
    parser.add_argument("--trim", type=float, default=0.01, help="make_region.py --trim (0.25: central Heidelberg)")
    parser.add_argument("--county", type=int, default=1, help="make_region.py --county: copies per county side")
    parser.add_argument("--workers", type=int, default=None, help="local cluster workers (default one per CPU)")
    parser.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    parser.add_argument("--data", type=Path, default=Path("out/bench-region"), help="synthetic regions")
    parser.add_argument("--out", type=Path, default=Path("out/bench-region/out"), help="build outputs")
    parser.add_argument("--json", type=Path, default=ROOT / "out" / "bench_region.json", help="JSON output")
    parser.add_argument("--tiling", action="store_true", help="the tiled-vs-untiled comparison instead")
    parser.add_argument("--one", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.out, args.workers, args.scheduler)))
    elif args.tiling:
        tiling(args)
    else:
        growth(args)


if __name__ == "__main__":
    main()
