"""Benchmark the reach stage on Heidelberg: routing, polygons, venue join, quality, and the osmnx recipe.

Run: ``.venv/bin/python benchmarks/bench_reach.py`` (prints a table, writes ``benchmarks/results/bench_reach.json``).

1,000 origins (random network nodes, fixed seed) per mode, walk and bike, 15 minutes:
graph load, routing, polygons and venue join timed separately on one core; then the
whole stage (``schools_reach``: snapping, routing, venue join, polygons) once on one
process and once on two, for the wall time; the polygon quality metric on 200 origins;
and, in the same run, the usual osmnx recipe (``networkx.ego_graph(distance="time")`` +
buffered nodes and edges merged, as in the osmnx isochrone example) on a subsample,
reported as the per-isochrone time ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from mapgen import osm_extract
from mapgen.config import DEFAULT_CATEGORIES, MODES, Settings
from mapgen.network import street_graph
from mapgen.planning.points import load_graph
from mapgen.reach import (
    Attachment,
    attach,
    isochrone_quality,
    reach_blocks,
    reached_polygon,
    schools_reach,
    to_metric,
)
from mapgen.reach.edgegrid import edge_grid
from mapgen.reach.nodegrid import node_grid
from mapgen.taxonomy import load_taxonomy
from mapgen.venues import venues_from_osm

ROOT = Path(__file__).resolve().parents[1]
OSM = ROOT.parent / "shared" / "data" / "osm" / "heidelberg.osm.pbf"
LIMIT = 15.0


def osmnx_recipe(g: nx.DiGraph, center: int, trip_time: float, edge_buff: float = 25, node_buff: float = 50):
    """The osmnx isochrone example (make_iso_polys): ego graph by time, buffered nodes and edges, merged."""
    subgraph = nx.ego_graph(g, center, radius=trip_time, distance="time")
    node_points = [shapely.Point((data["x"], data["y"])) for _, data in subgraph.nodes(data=True)]
    nodes_gdf = gpd.GeoDataFrame({"id": list(subgraph.nodes)}, geometry=node_points).set_index("id")
    edge_lines = []
    for n_fr, n_to in subgraph.edges():
        f = nodes_gdf.loc[n_fr].geometry
        t = nodes_gdf.loc[n_to].geometry
        edge_lines.append(g.get_edge_data(n_fr, n_to).get("geometry", shapely.LineString([f, t])))
    n = nodes_gdf.buffer(node_buff).geometry
    e = gpd.GeoSeries(edge_lines).buffer(edge_buff).geometry
    return gpd.GeoSeries(list(n) + list(e)).union_all()


class Laps:
    """Wall-clock and CPU seconds summed per stage between successive ``lap`` calls."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {"route": 0.0, "join": 0.0, "poly": 0.0}
        self.cpu = dict(self.wall)
        self.clock = (time.perf_counter(), time.process_time())

    def lap(self, key: str) -> None:
        """Add the wall and CPU time since the last lap to `key`."""
        now = (time.perf_counter(), time.process_time())
        self.wall[key] += now[0] - self.clock[0]
        self.cpu[key] += now[1] - self.clock[1]
        self.clock = now


def node_origins(graph, nodes: np.ndarray) -> Attachment:
    """Origins sitting exactly on graph nodes (no access leg)."""
    k = len(nodes)
    return Attachment(place=np.arange(k), node=nodes.astype(np.int64), minutes=np.full(k, 1e-9), snap_m=np.zeros(k))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origins", type=int, default=1000)
    parser.add_argument("--quality-origins", type=int, default=200)
    parser.add_argument("--recipe-origins", type=int, default=30, help="osmnx recipe subsample per mode")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_reach.json")
    args = parser.parse_args()
    settings = Settings()
    shape = {"max_cells": settings.isochrone_max_cells, "fill_m2": settings.isochrone_fill_m2}  # as the pipeline
    rng = np.random.default_rng(args.seed)
    result: dict[str, object] = {
        "extract": OSM.name,
        "origins": args.origins,
        "limit_minutes": LIMIT,
        "seed": args.seed,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "settings": {
            "buffer_m": settings.isochrone_buffer_m,
            "walk_kmh": settings.walk_kmh,
            "bike_kmh": settings.bike_kmh,
        },
        "modes": {},
    }

    t0 = time.perf_counter()
    taxonomy = load_taxonomy(DEFAULT_CATEGORIES)
    extract = osm_extract.read_osm(OSM, set(taxonomy.tag_keys) | {"amenity"})
    parse_s = time.perf_counter() - t0
    venues = venues_from_osm(extract.features, taxonomy)
    result["parse_s"] = parse_s
    result["venues"] = len(venues)

    for mode in MODES:
        row: dict[str, object] = {}
        t0 = time.perf_counter()
        graph = street_graph(extract, mode, settings)
        _ = graph.matrix, edge_grid(graph), node_grid(graph)  # the indexes that snapping and isochrones use
        row["graph_s"] = time.perf_counter() - t0
        row["nodes"], row["edges"] = graph.n_nodes, len(graph.edge_u)
        with tempfile.TemporaryDirectory() as cache:
            cache_settings = settings.model_copy(update={"cache_dir": Path(cache)})
            load_graph(OSM, mode, cache_settings)  # parse and fill the cache
            t0 = time.perf_counter()
            load_graph(OSM, mode, cache_settings)
            row["graph_cached_s"] = time.perf_counter() - t0
        nodes = rng.choice(graph.n_nodes, args.origins, replace=False)
        n = len(nodes)

        # one core, stage by stage
        t0 = time.perf_counter()
        targets = attach(graph, to_metric(venues["footprint"], graph.crs), leaving=False, settings=settings)
        row["venue_snap_s"] = time.perf_counter() - t0
        laps = Laps()
        lap, wall, cpu = laps.lap, laps.wall, laps.cpu
        reached = pairs = 0
        for block in reach_blocks(graph, node_origins(graph, nodes), n, LIMIT):
            lap("route")
            minutes = block.target_minutes(targets, len(venues))
            pairs += int((minutes <= LIMIT).sum())
            lap("join")
            for r in range(len(block.ids)):
                got, mins = block.reached(r)
                reached += len(got)
                reached_polygon(graph, got, mins, LIMIT, settings.isochrone_buffer_m, **shape)
            lap("poly")
        row.update(
            route_ms=wall["route"] / n * 1e3,
            polygon_ms=wall["poly"] / n * 1e3,
            join_ms=wall["join"] / n * 1e3,
            route_cpu_ms=cpu["route"] / n * 1e3,
            polygon_cpu_ms=cpu["poly"] / n * 1e3,
            join_cpu_ms=cpu["join"] / n * 1e3,
            reached_nodes_mean=reached / n,
            pairs=pairs,
        )

        # the whole stage as the pipeline runs it, on 1 and 2 processes
        lonlat = gpd.GeoSeries(gpd.points_from_xy(*graph.node_lonlat[nodes].T), crs=4326)
        points = gpd.GeoDataFrame(
            {"school_id": [f"n{i}" for i in nodes], "footprint": lonlat}, geometry="footprint", crs=4326
        )
        for workers in (1, 2):
            t0, c0 = time.perf_counter(), os.times()
            reach = schools_reach(graph, points, venues, settings.model_copy(update={"reach_workers": workers}))
            row[f"stage_wall_s_{workers}proc"] = time.perf_counter() - t0
            c1 = os.times()
            row[f"stage_cpu_s_{workers}proc"] = sum(c1[:4]) - sum(c0[:4])  # self + children, user + system
            row[f"stage_pairs_{workers}proc"] = len(reach.pairs)

        # quality on a subsample: exact minutes to 1.1 × limit, polygon at the limit
        q_nodes = nodes[: args.quality_origins]
        inside = reached_in = over_in = total_in = 0
        covered, overs = [], []
        for block in reach_blocks(graph, node_origins(graph, q_nodes), len(q_nodes), 1.1 * LIMIT):
            for r in range(len(block.ids)):
                full = block.node_minutes(r, graph.n_nodes)
                got, mins = block.reached(r)
                poly = reached_polygon(graph, got, mins, LIMIT, settings.isochrone_buffer_m, **shape)
                c, o = isochrone_quality(graph, full, poly, LIMIT)
                covered.append(c)
                overs.append(o)
                inside_mask = shapely.contains_xy(poly, *graph.node_xy.T)
                reached_in += int((full <= LIMIT).sum())
                inside += int(inside_mask[full <= LIMIT].sum())
                total_in += int(inside_mask.sum())
                over_in += int((full[inside_mask] > 1.1 * LIMIT).sum())
        row.update(
            quality_origins=len(q_nodes),
            reached_inside_pooled=inside / reached_in,
            overreach_pooled=over_in / total_in,
            reached_inside_mean=float(np.mean(covered)),
            overreach_mean=float(np.mean(overs)),
            reached_inside_min=float(np.min(covered)),
        )

        # the osmnx recipe on a subsample, against our routing + polygon for the same origins
        t0 = time.perf_counter()
        g = graph.to_networkx()
        nx.set_node_attributes(g, dict(enumerate(graph.node_xy[:, 0])), "x")
        nx.set_node_attributes(g, dict(enumerate(graph.node_xy[:, 1])), "y")
        nx.set_edge_attributes(g, nx.get_edge_attributes(g, "minutes"), "time")
        row["recipe_graph_s"] = time.perf_counter() - t0
        sample = nodes[: args.recipe_origins]
        recipe_s = ours_s = 0.0
        for center in sample:  # interleaved, so both see the same machine load
            t0 = time.perf_counter()
            osmnx_recipe(g, int(center), LIMIT)
            t1 = time.perf_counter()
            block = next(reach_blocks(graph, node_origins(graph, np.array([center])), 1, LIMIT))
            reached_polygon(graph, *block.reached(0), LIMIT, settings.isochrone_buffer_m, **shape)
            ours_s += time.perf_counter() - t1
            recipe_s += t1 - t0
        recipe_ms, ours_ms = recipe_s / len(sample) * 1e3, ours_s / len(sample) * 1e3
        row.update(
            recipe_origins=len(sample),
            recipe_ms=recipe_ms,
            ours_same_origins_ms=ours_ms,
            ratio=recipe_ms / ours_ms,
            ratio_at_scale=recipe_ms / (row["route_ms"] + row["polygon_ms"]),
        )
        result["modes"][mode] = row  # type: ignore[index]
        del g

    walk, bike = result["modes"]["walk"], result["modes"]["bike"]  # type: ignore[index]
    result["two_modes_wall_s_2proc"] = walk["stage_wall_s_2proc"] + bike["stage_wall_s_2proc"]
    result["two_modes_wall_s_1proc"] = walk["stage_wall_s_1proc"] + bike["stage_wall_s_1proc"]
    result["two_modes_cpu_s_2proc"] = walk["stage_cpu_s_2proc"] + bike["stage_cpu_s_2proc"]
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["peak_rss_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=float))
    print_table(result)
    print(f"written {args.out}")


def print_table(result: dict) -> None:
    """Print the figures as a Markdown table."""
    modes = result["modes"]
    lines = [
        ("graph nodes / edges", lambda m: f"{m['nodes']:,} / {m['edges']:,}"),
        (
            f"graph build from parsed ways (s; parsing the extract: {result['parse_s']:.2f} s)",
            lambda m: f"{m['graph_s']:.2f}",
        ),
        ("graph load from the cache (s)", lambda m: f"{m['graph_cached_s']:.2f}"),
        ("routing per isochrone, wall (CPU) ms", lambda m: f"{m['route_ms']:.2f} ({m['route_cpu_ms']:.2f})"),
        ("polygon per isochrone, wall (CPU) ms", lambda m: f"{m['polygon_ms']:.2f} ({m['polygon_cpu_ms']:.2f})"),
        ("venue join per origin, wall (CPU) ms", lambda m: f"{m['join_ms']:.3f} ({m['join_cpu_ms']:.3f})"),
        ("reached nodes per origin (mean)", lambda m: f"{m['reached_nodes_mean']:.0f}"),
        (
            f"{result['origins']} origins, whole stage, 1 process: wall (CPU) s",
            lambda m: f"{m['stage_wall_s_1proc']:.1f} ({m['stage_cpu_s_1proc']:.1f})",
        ),
        (
            f"{result['origins']} origins, whole stage, 2 processes: wall (CPU) s",
            lambda m: f"{m['stage_wall_s_2proc']:.1f} ({m['stage_cpu_s_2proc']:.1f})",
        ),
        (
            "reachable nodes inside polygon, pooled (mean, min)",
            lambda m: (
                f"{m['reached_inside_pooled']:.2%} ({m['reached_inside_mean']:.2%}, {m['reached_inside_min']:.2%})"
            ),
        ),
        (
            "inside nodes slower than 1.1x limit, pooled (mean)",
            lambda m: f"{m['overreach_pooled']:.2%} ({m['overreach_mean']:.2%})",
        ),
        ("osmnx recipe per isochrone (ms)", lambda m: f"{m['recipe_ms']:.0f}"),
        ("mapgen routing + polygon, same origins one at a time (ms)", lambda m: f"{m['ours_same_origins_ms']:.2f}"),
        ("ratio recipe / mapgen per isochrone, same origins", lambda m: f"{m['ratio']:.0f}x"),
        (
            f"ratio recipe / mapgen per isochrone, mapgen at {result['origins']} origins",
            lambda m: f"{m['ratio_at_scale']:.0f}x",
        ),
    ]
    print(
        f"\nReach benchmark: {result['extract']}, {result['origins']} origins, {result['limit_minutes']:g} min, "
        f"{result['cpus']} CPUs (load average at start {result['load_average'][0]:.1f})\n"
    )
    print("| measure | walk | bike |\n|---|---:|---:|")
    for label, fmt in lines:
        print(f"| {label} | {fmt(modes['walk'])} | {fmt(modes['bike'])} |")
    print(
        f"\nwalk + bike, {result['origins']} origins each, whole stage incl. polygons and venue join: "
        f"{result['two_modes_wall_s_2proc']:.1f} s wall on 2 processes ({result['two_modes_cpu_s_2proc']:.1f} CPU-s, "
        f"i.e. {result['two_modes_cpu_s_2proc'] / 2:.1f} s on 2 idle cores), "
        f"{result['two_modes_wall_s_1proc']:.1f} s wall on 1; "
        f"peak RSS {result['peak_rss_mb']:.0f} MB (children {result['peak_rss_children_mb']:.0f} MB)"
    )


if __name__ == "__main__":
    main()
