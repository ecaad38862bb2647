"""Benchmark mapgen's isochrones against Valhalla and the osmnx recipe on Heidelberg, interleaved in one run.

Run: ``.venv/bin/python benchmarks/bench_peers.py [--origins 100]`` (prints a table, writes
``benchmarks/results/bench_peers.json``). Installs nothing: Valhalla is measured when its Python
binding is importable (``pip install -e '.[bench]'``), else skipped and said so.

- Origins: random OSM nodes (fixed seed) present in mapgen's walk and bike graphs and in the reference.
- Reference: an exact Dijkstra (scipy) on an independent graph read from the same PBF with pyosmium
  (no mapgen parsing, great-circle edge lengths, no islands dropped; the access and one-way rules are
  ``mapgen.network.way_directions``, so the figures measure routing and polygons, not a policy choice).
- Coverage: share of reference nodes reachable within the limit that lie inside the polygon;
  overreach: share of reference nodes inside the polygon whose time exceeds 1.1 × the limit (the mean
  over origins, and pooled: all too-slow nodes inside over all nodes inside).
- Timing, per isochrone, polygon included, in this warm process: one at a time (one origin per call,
  engines interleaved origin by origin, so both see the same machine load) and in batch (all origins in
  one call for mapgen; Valhalla's binding takes one location per isochrone, so its batch is a loop);
  each pass runs ``--rounds`` times (3) and the fastest is kept, wall and CPU apart.
- Through the CLI: ``mapgen isochrones`` (one band, output written) on the same origins repeated R, 2R,
  3R and 4R times (so its points cost what Valhalla's batch on those origins costs), after a warm-up run
  that fills the caches (so no timed run pays for them); each size runs ``--cli-runs`` times (3) and
  the fastest is kept; the marginal cost per isochrone is the slope of a least-squares line through the four sizes'
  times, with the spread of the runs around it.
- The osmnx isochrone recipe (``ego_graph`` by time, buffered nodes and edges merged) on a subsample.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np
import osmium
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from mapgen.config import MODES, Settings
from mapgen.network import StreetGraph, way_directions
from mapgen.planning.points import load_graph
from mapgen.reach import isochrones_around

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_reach import osmnx_recipe

ROOT = Path(__file__).resolve().parents[1]
OSM = ROOT.parent / "shared" / "data" / "osm" / "heidelberg.osm.pbf"
LIMIT = 15.0
SLACK = 1.1
VALHALLA_COSTING = {"walk": ("pedestrian", "walking_speed"), "bike": ("bicycle", "cycling_speed")}


class Reference:
    """Independent street graph of one mode (pyosmium, great-circle lengths) with an exact Dijkstra."""

    def __init__(self, path: Path, mode: str, speed_kmh: float) -> None:
        us, vs, lengths = [], [], []
        coords: dict[int, tuple[float, float]] = {}
        for way in osmium.FileProcessor(str(path)).with_locations().with_filter(osmium.filter.KeyFilter("highway")):
            if not isinstance(way, osmium.osm.Way):
                continue
            fwd, back = way_directions(dict(way.tags), mode)
            if not (fwd or back):
                continue
            ids = [n.ref for n in way.nodes]
            for n in way.nodes:
                coords[n.ref] = (n.lon, n.lat)
            lon = np.array([coords[i][0] for i in ids])
            lat = np.array([coords[i][1] for i in ids])
            metres = _haversine(lon[:-1], lat[:-1], lon[1:], lat[1:])
            for keep, a, b in ((fwd, ids[:-1], ids[1:]), (back, ids[1:], ids[:-1])):
                if keep:
                    us += a
                    vs += b
                    lengths.append(metres)
        self.osmid = np.array(sorted(coords), dtype=np.int64)
        self.lonlat = np.array([coords[i] for i in self.osmid])
        u, v = np.searchsorted(self.osmid, us), np.searchsorted(self.osmid, vs)
        minutes = np.concatenate(lengths) / (speed_kmh * 1000.0 / 60.0)
        keep = u != v
        n = len(self.osmid)
        self.matrix = sp.coo_matrix((minutes[keep], (u[keep], v[keep])), shape=(n, n)).tocsr()
        self.matrix.sum_duplicates()

    def minutes(self, osmid: int, limit: float) -> np.ndarray:
        """Exact minutes from node `osmid` to every node (``inf`` beyond `limit`)."""
        return dijkstra(self.matrix, directed=True, indices=int(np.searchsorted(self.osmid, osmid)), limit=limit)

    def quality(self, minutes: np.ndarray, polygon: shapely.Geometry) -> tuple[float, float, int, int]:
        """(coverage, overreach, nodes inside, of them too slow) of a WGS-84 polygon against exact `minutes`."""
        inside = shapely.contains_xy(polygon, self.lonlat[:, 0], self.lonlat[:, 1])
        reached = minutes <= LIMIT
        slow = int((minutes[inside] > SLACK * LIMIT).sum())
        n_inside = int(inside.sum())
        return float(inside[reached].mean()), slow / n_inside if n_inside else 0.0, n_inside, slow


def _haversine(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Great-circle metres between points (spherical Earth, radius 6,371,008.8 m)."""
    p1, p2, dl = np.radians(lat1), np.radians(lat2), np.radians(lon2 - lon1)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371008.8 * np.arcsin(np.sqrt(a))


def mapgen_engine(graph: StreetGraph, settings: Settings) -> Callable[[np.ndarray], list[shapely.Geometry]]:
    """Mapgen's Python API: WGS-84 points (k, 2) in, one WGS-84 polygon per point out."""

    def run(lonlat: np.ndarray) -> list[shapely.Geometry]:
        return list(isochrones_around(graph, lonlat, [LIMIT], settings).geometry[:, 0])

    return run


def valhalla_engine(mode: str, speed_kmh: float, workdir: Path) -> tuple[Callable[[np.ndarray], list], dict] | None:
    """Valhalla through pyvalhalla, tiles built from the same PBF (None when the binding is absent)."""
    try:
        import valhalla
        from valhalla._scripts import PYVALHALLA_BIN_DIR
    except ImportError:
        return None
    tiles = workdir / "valhalla_tiles"
    tiles.mkdir(exist_ok=True)
    config = valhalla.get_config(tile_extract="", tile_dir=tiles)
    config_path = workdir / "valhalla.json"
    config_path.write_text(json.dumps(config))
    if not any(tiles.iterdir()):
        t0 = time.perf_counter()
        subprocess.run(
            [str(PYVALHALLA_BIN_DIR / "valhalla_build_tiles"), "-c", str(config_path), str(OSM)],
            check=True,
            capture_output=True,
            cwd=workdir,
        )  # it leaves duplicateways.txt in its folder
        print(f"valhalla tiles built in {time.perf_counter() - t0:.1f} s")
    actor = valhalla.Actor(str(config_path))
    costing, speed_key = VALHALLA_COSTING[mode]

    def request(lon: float, lat: float) -> str:
        return json.dumps(
            {
                "locations": [{"lon": lon, "lat": lat}],
                "costing": costing,
                "costing_options": {costing: {speed_key: speed_kmh}},
                "contours": [{"time": LIMIT}],
                "polygons": True,
            }
        )

    def run(lonlat: np.ndarray) -> list[str]:
        return [actor.isochrone(request(float(lon), float(lat))) for lon, lat in lonlat]

    return run, {"version": valhalla.__version__}


def valhalla_polygon(answer: str) -> shapely.Geometry:
    """The polygon of a Valhalla isochrone answer (JSON text)."""
    features = json.loads(answer)["features"]
    return shapely.union_all([shapely.from_geojson(json.dumps(f["geometry"])) for f in features])


def cli_seconds(points: np.ndarray, mode: str, workdir: Path) -> np.ndarray:
    """Wall and CPU seconds of ``mapgen isochrones`` on `points` (one band, the limit), output written."""
    csv_path = workdir / f"points-{mode}-{len(points)}.csv"
    with csv_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "lon", "lat"])
        writer.writerows([i, f"{lon:.7f}", f"{lat:.7f}"] for i, (lon, lat) in enumerate(points))
    cmd = [
        str(Path(sys.executable).with_name("mapgen")),
        "isochrones",
        "--osm",
        str(OSM),
        "--points",
        str(csv_path),
        "--mode",
        mode,
        "--minutes",
        f"{LIMIT:g}",
        "--out",
        str(workdir / f"iso-{mode}.geojson"),
        "--quiet",
    ]
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return np.array([time.perf_counter() - t0, c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origins", type=int, default=100)
    parser.add_argument(
        "--cli-repeats", type=int, default=10, help="R for the CLI marginal cost (the origins R, 2R, 3R, 4R times)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="times each timed pass runs (the fastest is kept)")
    parser.add_argument(
        "--cli-runs", type=int, default=3, help="runs of `mapgen isochrones` per size (the fastest kept)"
    )
    parser.add_argument("--recipe-origins", type=int, default=5, help="osmnx recipe subsample per mode")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mapgen-bench-peers")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_peers.json")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    rng = np.random.default_rng(args.seed)
    result: dict = {
        "extract": OSM.name,
        "origins": args.origins,
        "limit_minutes": LIMIT,
        "seed": args.seed,
        "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "python": platform.python_version(),
        "modes": {},
    }
    graphs = {mode: load_graph(OSM, mode, settings) for mode in MODES}
    for mode in MODES:
        graph = graphs[mode]
        speed = settings.speed_kmh(mode)
        t0 = time.perf_counter()
        ref = Reference(OSM, mode, speed)
        common = np.intersect1d(np.intersect1d(graphs["walk"].node_osmid, graphs["bike"].node_osmid), ref.osmid)
        osmids = rng.choice(common, args.origins, replace=False)
        lonlat = graph.node_lonlat[graph.node_index(osmids)]
        exact = [ref.minutes(o, SLACK * LIMIT) for o in osmids]
        row: dict = {"reference_s": time.perf_counter() - t0, "reference_nodes": len(ref.osmid)}
        engines: dict[str, Callable[[np.ndarray], list]] = {"mapgen": mapgen_engine(graph, settings)}
        to_polygon: dict[str, Callable] = {"mapgen": lambda g: g}
        peer = valhalla_engine(mode, speed, args.workdir)
        if peer is None:
            print("valhalla: the pyvalhalla binding is not installed; Valhalla skipped")
            row["valhalla"] = "skipped: pyvalhalla not installed"
        else:
            engines["valhalla"] = peer[0]
            to_polygon["valhalla"] = valhalla_polygon
            result["valhalla_version"] = peer[1]["version"]
        for run in engines.values():  # warm up on other points than the measured ones
            run(lonlat[:3] + 0.0005)
        # every pass is timed `rounds` times and the fastest kept (wall and CPU apart), as timeit does: other
        # jobs on the machine only ever add time, and they add it unevenly between two engines' passes
        single = {name: np.full(2, np.inf) for name in engines}  # wall, CPU seconds
        batch = {name: np.full(2, np.inf) for name in engines}
        answers: dict[str, list] = {name: [] for name in engines}
        for _ in range(args.rounds):
            spent = {name: np.zeros(2) for name in engines}
            for point in lonlat:  # one at a time, interleaved
                for name, run in engines.items():
                    t0 = np.array([time.perf_counter(), time.process_time()])
                    answer = run(point[None, :])
                    spent[name] += np.array([time.perf_counter(), time.process_time()]) - t0
                    if len(answers[name]) < len(lonlat):
                        answers[name] += answer
            for name, run in engines.items():
                single[name] = np.minimum(single[name], spent[name])
                t0 = np.array([time.perf_counter(), time.process_time()])
                run(lonlat)
                batch[name] = np.minimum(batch[name], np.array([time.perf_counter(), time.process_time()]) - t0)
        for name in engines:
            polygons = [to_polygon[name](a) for a in answers[name]]
            quality = np.array([ref.quality(m, p) for m, p in zip(exact, polygons, strict=True)])
            vertices = shapely.get_num_coordinates(polygons)
            sizes = [len(a) if isinstance(a, str) else len(shapely.to_geojson(a)) for a in answers[name]]
            row[name] = {
                "single_ms": single[name][0] / len(lonlat) * 1e3,
                "batch_ms": batch[name][0] / len(lonlat) * 1e3,
                "single_cpu_ms": single[name][1] / len(lonlat) * 1e3,
                "batch_cpu_ms": batch[name][1] / len(lonlat) * 1e3,
                "coverage_mean": float(quality[:, 0].mean()),
                "coverage_min": float(quality[:, 0].min()),
                "overreach_mean": float(quality[:, 1].mean()),
                "overreach_max": float(quality[:, 1].max()),
                "overreach_pooled": float(quality[:, 3].sum() / max(quality[:, 2].sum(), 1)),
                "vertices_median": float(np.median(vertices)),
                "geojson_bytes_median": float(np.median(sizes)),
            }
        if "valhalla" in engines:
            row["valhalla"]["marginal_ms"] = row["valhalla"]["batch_ms"]  # JSON text out, like a file written
            row["valhalla"]["marginal_cpu_ms"] = row["valhalla"]["batch_cpu_ms"]

        rng.choice(graph.n_nodes, 1000, replace=False)  # the draw of an earlier CLI sample: later origins stay the same
        cli_seconds(lonlat[:10], mode, args.workdir)  # warm-up: the first run fills the caches the timed runs read
        # a process's fixed cost (imports, the graph from the cache, compiled kernels loaded) varies by a second
        # or more on a loaded machine: the slope through four sizes is steadier than a difference of two
        sizes = np.array([k * args.cli_repeats * len(lonlat) for k in (1, 2, 3, 4)])
        # each size `cli_runs` times, up, down, up..., the fastest run of each kept (a burst of other work, or a
        # slow start of the process, only adds time: a process's fixed cost varied by 0.5-1.7 s from run to run)
        up = list(range(len(sizes)))
        order = [k for r in range(args.cli_runs) for k in (up if r % 2 == 0 else up[::-1])]
        runs = np.full((len(sizes), 2), np.inf)
        for k in order:
            runs[k] = np.minimum(
                runs[k], cli_seconds(np.tile(lonlat, (sizes[k] // len(lonlat), 1)), mode, args.workdir)
            )
        fits = [np.polyfit(sizes, runs[:, k], 1) for k in (0, 1)]  # (slope, intercept) for wall, CPU
        spread = [float(np.abs(runs[:, k] - np.polyval(fits[k], sizes)).max()) for k in (0, 1)]
        row["mapgen"].update(
            cli_points=sizes.tolist(),
            cli_wall_s=runs[:, 0].tolist(),
            cli_cpu_s=runs[:, 1].tolist(),
            cli_fixed_s=float(fits[0][1]),
            cli_fit_spread_s=spread[0],
            marginal_ms=float(fits[0][0]) * 1e3,
            marginal_cpu_ms=float(fits[1][0]) * 1e3,
            cli_bytes_per_isochrone=(args.workdir / f"iso-{mode}.geojson").stat().st_size / sizes[order[-1]],
        )

        g = graph.to_networkx()
        nx.set_node_attributes(g, dict(enumerate(graph.node_xy[:, 0])), "x")
        nx.set_node_attributes(g, dict(enumerate(graph.node_xy[:, 1])), "y")
        nx.set_edge_attributes(g, nx.get_edge_attributes(g, "minutes"), "time")
        nodes = graph.node_index(osmids[: args.recipe_origins])
        t0, c0 = time.perf_counter(), time.process_time()
        for center in nodes:
            osmnx_recipe(g, int(center), LIMIT)
        recipe_ms = (time.perf_counter() - t0) / len(nodes) * 1e3
        row["osmnx_recipe_cpu_ms"] = (time.process_time() - c0) / len(nodes) * 1e3
        del g
        row["osmnx_recipe_ms"] = recipe_ms
        row["recipe_ratio_single"] = recipe_ms / row["mapgen"]["single_ms"]
        row["recipe_ratio_cli_marginal"] = recipe_ms / row["mapgen"]["marginal_ms"]
        row["recipe_ratio_cpu_single"] = row["osmnx_recipe_cpu_ms"] / row["mapgen"]["single_cpu_ms"]
        row["recipe_ratio_cpu_cli_marginal"] = row["osmnx_recipe_cpu_ms"] / row["mapgen"]["marginal_cpu_ms"]
        result["modes"][mode] = row
    result["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=float))
    print_table(result)
    print(f"written {args.out}")


def print_table(result: dict) -> None:
    """Print the figures as a Markdown table."""
    print(
        f"\nIsochrones on {result['extract']}, {result['origins']} origins, {result['limit_minutes']:g} min, "
        f"{result['cpus']} CPUs, load average {result['load_average_start'][0]:.1f} at start, "
        f"{result['load_average_end'][0]:.1f} at end\n"
    )
    print(
        "| engine | walk, one at a time | walk, batch | bike, one at a time | bike, batch | walk coverage / "
        "overreach | bike coverage / overreach | median vertices walk / bike | median GeoJSON walk / bike | "
        "CLI marginal walk / bike |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    walk, bike = result["modes"]["walk"], result["modes"]["bike"]
    for name in ("valhalla", "mapgen"):
        w, b = walk.get(name), bike.get(name)
        if not isinstance(w, dict):
            print(f"| {name} | {w} |")
            continue
        print(
            f"| {name} | {w['single_ms']:.2f} ms | {w['batch_ms']:.2f} ms | {b['single_ms']:.2f} ms | "
            f"{b['batch_ms']:.2f} ms | {w['coverage_mean']:.1%} / {w['overreach_mean']:.2%} "
            f"(pooled {w.get('overreach_pooled', float('nan')):.2%}) | {b['coverage_mean']:.1%} / "
            f"{b['overreach_mean']:.2%} (pooled {b.get('overreach_pooled', float('nan')):.2%}) | {w['vertices_median']:,.0f} / "
            f"{b['vertices_median']:,.0f} | {w['geojson_bytes_median'] / 1e3:,.1f} / "
            f"{b['geojson_bytes_median'] / 1e3:,.1f} KB | {w['marginal_ms']:.2f} / {b['marginal_ms']:.2f} ms |"
        )
    print("\nCPU time per isochrone (this process; the CLI's child process), less sensitive to other jobs:\n")
    print(
        "| engine | walk, one at a time | walk, batch | bike, one at a time | bike, batch | CLI marginal walk / bike |"
    )
    print("|---|---|---|---|---|---|")
    for name in ("valhalla", "mapgen"):
        w, b = walk.get(name), bike.get(name)
        if isinstance(w, dict):
            print(
                f"| {name} | {w['single_cpu_ms']:.2f} ms | {w['batch_cpu_ms']:.2f} ms | {b['single_cpu_ms']:.2f} ms | "
                f"{b['batch_cpu_ms']:.2f} ms | {w['marginal_cpu_ms']:.2f} / {b['marginal_cpu_ms']:.2f} ms |"
            )
    print(
        f"\nosmnx recipe CPU per isochrone: walk {walk['osmnx_recipe_cpu_ms']:.0f} ms, bike "
        f"{bike['osmnx_recipe_cpu_ms']:.0f} ms; recipe / mapgen (CPU): one at a time walk "
        f"{walk['recipe_ratio_cpu_single']:.0f}x, bike {bike['recipe_ratio_cpu_single']:.0f}x; CLI marginal walk "
        f"{walk['recipe_ratio_cpu_cli_marginal']:.0f}x, bike {bike['recipe_ratio_cpu_cli_marginal']:.0f}x"
    )
    print(
        f"\nmapgen isochrones output per isochrone: walk {walk['mapgen']['cli_bytes_per_isochrone'] / 1e3:.1f} KB, "
        f"bike {bike['mapgen']['cli_bytes_per_isochrone'] / 1e3:.1f} KB"
    )
    for mode, row in (("walk", walk), ("bike", bike)):
        m = row["mapgen"]
        print(
            f"mapgen isochrones {mode}: {', '.join(f'{n:,}' for n in m['cli_points'])} points in "
            f"{', '.join(f'{t:.1f}' for t in m['cli_wall_s'])} s wall; fixed cost {m['cli_fixed_s']:.1f} s, "
            f"runs within {m['cli_fit_spread_s']:.2f} s of the line"
        )
    print(
        f"\nosmnx recipe per isochrone: walk {walk['osmnx_recipe_ms']:.0f} ms, bike {bike['osmnx_recipe_ms']:.0f} ms; "
        f"recipe / mapgen one at a time: walk {walk['recipe_ratio_single']:.0f}x, bike "
        f"{bike['recipe_ratio_single']:.0f}x; recipe / mapgen CLI marginal: walk "
        f"{walk['recipe_ratio_cli_marginal']:.0f}x, bike {bike['recipe_ratio_cli_marginal']:.0f}x"
    )


if __name__ == "__main__":
    main()
