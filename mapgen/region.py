"""Region builds: every area of a region routed on buffered network cuts, in parallel on Dask, then merged."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from mapgen import _osm
from mapgen._osm import data_date
from mapgen._progress import say, stage
from mapgen.config import MODES, OSM_ATTRIBUTION, AreaConfig, Mode, RegionConfig, Settings
from mapgen.contract import (
    ISOCHRONES_FILE,
    ROUTE_COLUMNS,
    SCHOOLS_FILE,
    VENUE_COLUMNS,
    VENUES_FILE,
    BuildFolder,
    ReviewLog,
    Summary,
    SummaryCounts,
)
from mapgen.errors import NoSchoolsError, RegionError
from mapgen.look import SCHOOL_COLOR
from mapgen.network import StreetGraph, street_graph
from mapgen.pipeline import (
    ModesReach,
    city_summary,
    feature_keys,
    finish_build,
    load_extract,
    publish_city,
    reach_by_mode,
    select_schools,
    select_venues,
    sheet_basemap,
)
from mapgen.publish._assets import copy_assets
from mapgen.publish.files import write_contract, write_summary
from mapgen.publish.maps import (
    base_map,
    category_legend,
    display_shift,
    layer,
    page_data,
    point,
    popup,
    save_page,
    shape,
)
from mapgen.publish.sitedb import write_site_db
from mapgen.taxonomy import Taxonomy, load_taxonomy
from mapgen.textsafe import console_text, url_path, write_person_csv

if TYPE_CHECKING:
    from dask.distributed import Client, Future

BBox = tuple[float, float, float, float]
MANIFEST_FILE = "manifest.json"
PARTS_DIR = "parts"
REGION_SUMMARY = "region.json"
VENUE_DIRECTORY = "venues.csv"
_M_PER_DEG = 111_320.0
_ORDER = ["_k0", "_k1", "_k2"]  # sort keys that restore the order of an unpartitioned build's school list
_ELEMENT_RANK = {"node": 0, "relation": 1, "way": 2}  # alphabetical, as schools_from_osm sorts
_PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Part:
    """One routing task: tile `index` (row-major over ``area.grid``) of an area, written to `out_dir`."""

    area: AreaConfig
    index: int
    buffer_m: float
    out_dir: Path
    read_box: BBox | None = None  # the tile's pre-cut of a shared extract (see plan_cuts); None: the whole file


# --------------------------------------------------------------------------- geometry of tiles and cuts


def tile_bbox(extent: BBox, grid: tuple[int, int], index: int) -> BBox:
    """Return tile `index` (row-major, from the south-west) of `extent` split into ``grid`` = (columns, rows).

    Parameters
    ----------
    extent
        (west, south, east, north) of the area, degrees.
    grid
        Number of columns and rows.
    index
        Tile number, ``0 .. columns × rows - 1``.

    Returns
    -------
    tuple
        (west, south, east, north) of the tile.
    """
    nx, ny = grid
    col, row = index % nx, index // nx
    west, south, east, north = extent
    dx, dy = (east - west) / nx, (north - south) / ny
    return west + col * dx, south + row * dy, west + (col + 1) * dx, south + (row + 1) * dy


def tile_of(points: gpd.GeoSeries, extent: BBox, grid: tuple[int, int], clamp: bool) -> np.ndarray:
    """Tile number of every point (half-open cells, so each point lies in exactly one tile).

    Parameters
    ----------
    points
        WGS-84 points.
    extent, grid
        As in :func:`tile_bbox`.
    clamp
        True: points outside `extent` go to the nearest edge tile (the area owns its whole
        extract); False: they get -1 (they belong to another area).

    Returns
    -------
    numpy.ndarray
        int tile numbers.
    """
    nx, ny = grid
    west, south, east, north = extent
    x, y = points.x.to_numpy(), points.y.to_numpy()
    col = np.floor((x - west) / (east - west) * nx).astype(int)
    row = np.floor((y - south) / (north - south) * ny).astype(int)
    inside = (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
    tile = np.clip(row, 0, ny - 1) * nx + np.clip(col, 0, nx - 1)
    return tile if clamp else np.where(inside, tile, -1)


def expand_bbox(bbox: BBox, metres: float) -> BBox:
    """Grow `bbox` by at least `metres` on every side (degrees of longitude taken at the pole-ward edge)."""
    west, south, east, north = bbox
    dlat = metres / _M_PER_DEG
    dlon = metres / (_M_PER_DEG * max(np.cos(np.radians(max(abs(south), abs(north)) + dlat)), 1e-6))
    return west - dlon, south - dlat, east + dlon, north + dlat


def extent_of(points: gpd.GeoSeries) -> BBox:
    """Extent tiled when an area has no bbox: the box of its schools, so tiles share the routing work.

    Venues and schools of the extract beyond it belong to the nearest edge tile.
    """
    west, south, east, north = (float(v) for v in points.total_bounds)
    flat = west == east or south == north
    return expand_bbox((west, south, east, north), 1.0) if flat else (west, south, east, north)


def _union(*boxes: BBox) -> BBox:
    arr = np.array(boxes, dtype=float)
    return float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max())


def cut_graph(extract: _osm.OsmExtract, mode: Mode, settings: Settings, bbox: BBox) -> StreetGraph:
    """Street graph of a cut, dropping small islands only when the cut cannot have made them small.

    :func:`~mapgen.network.street_graph` drops street islands smaller than
    ``settings.min_component_nodes``. A cut can split a large network into small
    pieces; each such piece has a node outside `bbox` (it was joined to the rest
    by ways lying wholly outside). Such "open" pieces are kept, so a cut never
    drops what the whole extract keeps; closed small islands are complete and
    dropped exactly as in an unpartitioned build.

    Parameters
    ----------
    extract
        The cut: ways and features touching `bbox` (:func:`mapgen._osm.clip_extract`).
    mode
        ``"walk"`` or ``"bike"``.
    settings
        Speeds and the island size.
    bbox
        The box the cut was made with.

    Returns
    -------
    StreetGraph
    """
    everything = settings.model_copy(update={"min_component_nodes": 1})
    graph = street_graph(extract, mode, everything)
    _, labels = connected_components(
        csr_matrix((np.ones(len(graph.edge_u)), (graph.edge_u, graph.edge_v)), shape=(graph.n_nodes,) * 2),
        directed=True, connection="weak",
    )
    sizes = np.bincount(labels)
    west, south, east, north = bbox
    lon, lat = graph.node_lonlat[:, 0], graph.node_lonlat[:, 1]
    outside = (lon < west) | (lon > east) | (lat < south) | (lat > north)
    keep = sizes >= settings.min_component_nodes
    keep[labels[outside]] = True
    if not keep.any():
        keep[np.argmax(sizes)] = True
    if keep.all():
        return graph
    kept_nodes = graph.node_osmid[keep[labels]]
    first = np.fromiter((w.node_ids[0] for w in extract.highways), dtype=np.int64, count=len(extract.highways))
    ways = [w for w, k in zip(extract.highways, np.isin(first, kept_nodes), strict=True) if k]
    return street_graph(_osm.OsmExtract(extract.source, ways, extract.features), mode, everything)


# --------------------------------------------------------------------------- pre-cutting a shared extract


def can_precut(area: AreaConfig) -> bool:
    """Whether an area's tiles can each read a pre-cut of its extract instead of the whole file.

    Needs the tiles' boxes before reading (the area has a ``bbox``; without one the grid
    spans the area's schools) and no catalogues (they are geocoded on the whole extract).
    """
    return area.bbox is not None and area.osm is not None and area.osm.is_file() and not area.catalogues


def precut_box(area: AreaConfig, index: int, buffer_m: float, margin_m: float) -> BBox:
    """Box of tile `index`'s pre-cut: its core grown by the buffer and `margin_m` (see :func:`plan_cuts`)."""
    if area.bbox is None:
        raise RegionError(f"{area.name}: a pre-cut needs the area's bbox")
    return expand_bbox(tile_bbox(area.bbox, area.grid, index), buffer_m + margin_m)


def plan_cuts(source: Path, boxes: dict[str, BBox], folder: Path, chunk: int = 50_000) -> dict[str, object]:
    """Choose, in one pass over a shared extract, the OSM objects of every tile's pre-cut (runs on a worker).

    A way belongs to a box when its bounding box overlaps it (a superset of the ways
    with a node inside, which is what a cut keeps), with all its nodes; a tagged node
    when it lies inside; a relation when one of its members is chosen, with all its
    members (as ``osmium extract --strategy complete_ways``). The ids go to
    ``folder/<key>.npz`` as sorted numpy arrays; :func:`write_cut` copies them into the
    tile's own small extract. Memory is that of the chosen ids and of the relations'
    member lists, never the extract's geometry (libosmium's id sets are not used: on
    ids spread over the whole OSM range they take gigabytes).

    Parameters
    ----------
    source
        The shared OSM extract.
    boxes
        Key (file name) → (west, south, east, north) of every cut.
    folder
        Where the id files go (created).
    chunk
        Ways and nodes classified per numpy batch.

    Returns
    -------
    dict
        ``files``: key → path of its id file; ``seconds`` of the pass.
    """
    import osmium
    from osmium.filter import EmptyTagFilter

    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    keys = list(boxes)
    box = np.array([boxes[k] for k in keys], dtype=float)
    members: dict[int, tuple[list[int], list[int]]] = {}  # relation → (member nodes, member ways)
    for rel in osmium.FileProcessor(str(source), osmium.osm.RELATION):
        if isinstance(rel, osmium.osm.Relation):
            members[rel.id] = ([m.ref for m in rel.members if m.type == "n"],
                               [m.ref for m in rel.members if m.type == "w"])
    member_ways = {w for _, ways in members.values() for w in ways}
    member_refs: dict[int, np.ndarray] = {}  # node ids of the ways some relation uses
    chosen: dict[str, list[list[np.ndarray]]] = {kind: [[] for _ in keys] for kind in ("n", "w", "tagged")}
    batch: dict[str, list] = {"n": [], "w": [], "refs": []}
    bounds: dict[str, list] = {"n": [], "w": []}
    wkb = osmium.geom.WKBFactory()

    def flush(kind: str) -> None:
        if not batch[kind]:
            return
        ids = np.array(batch[kind], dtype=np.int64)
        b = shapely.bounds(shapely.from_wkb(bounds[kind])) if kind == "w" else np.array(bounds[kind])[:, [0, 1, 0, 1]]
        hit = (b[:, None, 0] <= box[None, :, 2]) & (b[:, None, 2] >= box[None, :, 0]) & \
              (b[:, None, 1] <= box[None, :, 3]) & (b[:, None, 3] >= box[None, :, 1])
        for j in range(len(keys)):
            if kind == "n":
                chosen["tagged"][j].append(ids[hit[:, j]])
                continue
            chosen["w"][j].append(ids[hit[:, j]])
            chosen["n"][j].extend(r for r, h in zip(batch["refs"], hit[:, j], strict=True) if h)
        batch[kind], bounds[kind] = [], []
        if kind == "w":
            batch["refs"] = []

    untagged = EmptyTagFilter()
    untagged.enable_for(osmium.osm.NODE)  # untagged nodes matter only as way nodes, taken from the ways
    for obj in osmium.FileProcessor(str(source), osmium.osm.NODE | osmium.osm.WAY).with_locations().with_filter(
            untagged):
        if isinstance(obj, osmium.osm.Node):
            if obj.location.valid():
                batch["n"].append(obj.id)
                bounds["n"].append((obj.location.lon, obj.location.lat))
                if len(batch["n"]) >= chunk:
                    flush("n")
        elif isinstance(obj, osmium.osm.Way):
            located = [(n.ref, n.lon, n.lat) for n in obj.nodes if n.location.valid()]
            if not located:
                continue
            refs = np.array([n.ref for n in obj.nodes], dtype=np.int64)
            if obj.id in member_ways:
                member_refs[obj.id] = refs
            batch["w"].append(obj.id)
            bounds["w"].append(shapely.to_wkb(shapely.MultiPoint([(x, y) for _, x, y in located])) if
                               len(located) < len(obj.nodes) else wkb.create_linestring(obj))
            batch["refs"].append(refs)
            if len(batch["w"]) >= chunk:
                flush("w")
    flush("n")
    flush("w")
    files = {}
    empty = np.zeros(0, np.int64)
    for j, key in enumerate(keys):
        ways = np.unique(np.concatenate([empty, *chosen["w"][j]]))
        tagged = np.unique(np.concatenate([empty, *chosen["tagged"][j]]))
        nodes = [tagged, *chosen["n"][j]]
        way_set, node_set = set(ways.tolist()), set(tagged.tolist())
        relations = [r for r, (ns, ws) in members.items()
                     if any(w in way_set for w in ws) or any(n in node_set for n in ns)]
        extra = [w for r in relations for w in members[r][1] if w not in way_set and w in member_refs]
        nodes += [np.array(members[r][0], dtype=np.int64) for r in relations] + [member_refs[w] for w in extra]
        path = folder / f"{key}.npz"
        np.savez(path, n=np.unique(np.concatenate([empty, *nodes])), w=np.union1d(ways, np.array(extra, np.int64)),
                 r=np.array(sorted(relations), dtype=np.int64))
        files[key] = str(path)
    return {"files": files, "seconds": round(time.perf_counter() - started, 2)}


def write_cut(source: Path, ids_file: str | Path, out: Path) -> Path:
    """Write a tile's own extract: the nodes, ways and relations :func:`plan_cuts` chose for it.

    Parameters
    ----------
    source
        The shared extract.
    ids_file
        The tile's id file from :func:`plan_cuts`.
    out
        The PBF to write.

    Returns
    -------
    pathlib.Path
        `out`.
    """
    import osmium

    chosen = np.load(ids_file)
    wanted = {kind: set(chosen[kind].tolist()) for kind in ("n", "w", "r")}
    out.parent.mkdir(parents=True, exist_ok=True)
    with osmium.SimpleWriter(str(out), overwrite=True) as writer:
        for obj in osmium.FileProcessor(str(source), osmium.osm.NODE | osmium.osm.WAY | osmium.osm.RELATION):
            if obj.id in wanted[obj.type_str()]:
                writer.add(obj)
    return out


def _contains(outer: BBox, inner: BBox) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


# --------------------------------------------------------------------------- worker tasks


@dataclass
class _TilePlan:
    """What a tile routes: its schools, the venues they may reach, the venues it owns, and the graph's cut."""

    schools: gpd.GeoDataFrame
    venues: gpd.GeoDataFrame
    own_venues: gpd.GeoDataFrame
    cut: _osm.OsmExtract
    builder: Callable[[_osm.OsmExtract, Mode, Settings], StreetGraph]
    graph_box: BBox | None
    catalogues: dict[str, object]
    once: ReviewLog  # rejected rows of the school list and catalogues: reported by tile 0 only
    info: dict[str, object]


def _plan_tile(part: Part, extract: _osm.OsmExtract, taxonomy: Taxonomy) -> _TilePlan:
    """Select the tile's schools and venues on `extract` exactly as an unpartitioned build has them, and its cut."""
    area = part.area
    once = ReviewLog()
    # schools and venues (with catalogues, geocoded on the whole extract) exactly as an unpartitioned build has them
    selected = select_schools(extract.features, area, once)
    listed = {"school_list": selected.attrs.get("school_list", {})}  # the official school list's summary
    every_school = _with_order(selected)
    every_venue, catalogues = select_venues(extract, area, taxonomy, once, quiet=True)
    if not area.tiled:
        return _TilePlan(every_school, every_venue, every_venue, extract, street_graph, None, catalogues, once, listed)
    if every_school.empty:
        raise NoSchoolsError(f"{extract.source}: no schools found in area {area.name}; "
                             "add a school list with schools_csv")
    extent = area.bbox or extent_of(every_school.geometry)
    core = tile_bbox(extent, area.grid, part.index)
    clamp = area.bbox is None
    schools = every_school[tile_of(every_school.geometry, extent, area.grid, clamp) == part.index]
    reach_box = expand_bbox(_union(core, *([tuple(schools.footprint.total_bounds)] if len(schools) else [])),
                            part.buffer_m)
    venues = every_venue[every_venue["footprint"].intersects(shapely.box(*reach_box))]
    own_venues = every_venue[tile_of(every_venue.geometry, extent, area.grid, clamp) == part.index]
    graph_box = _union(reach_box, *([tuple(venues.footprint.total_bounds)] if len(venues) else []))
    return _TilePlan(schools, venues, own_venues, _osm.clip_extract(extract, graph_box),
                     partial(cut_graph, bbox=graph_box), graph_box, catalogues, once,
                     {"core": core, "graph_bbox": graph_box, **listed})


def _cut_key(part: Part) -> str:
    return f"{part.area.name}-{part.index}"


def _read_and_plan(part: Part, taxonomy: Taxonomy, cuts: dict | None) -> tuple[_TilePlan, dict]:
    """Read the tile's pre-cut (when planned) or the whole extract, and plan the tile on it.

    A pre-cut is used only when the tile's graph box lies inside it, so the cut holds
    every way and feature that box touches; otherwise the whole file is read.
    """
    area = part.area
    keys = feature_keys(area, taxonomy)
    started = time.perf_counter()
    if part.read_box is not None and cuts is not None and area.osm is not None:
        cut_file = write_cut(area.osm, cuts["files"][_cut_key(part)], part.out_dir / "cut.osm.pbf")
        extract = dataclasses.replace(_osm.read_osm(cut_file, keys), source=str(area.osm))
        cut_file.unlink()
        read_s = time.perf_counter() - started
        plan = _plan_tile(part, extract, taxonomy)
        if plan.graph_box is not None and _contains(part.read_box, plan.graph_box):
            return plan, {"source": str(area.osm), "downloaded": False, "osm_read": "pre-cut",
                          "read_box": part.read_box, "read_s": read_s, "plan_s": time.perf_counter() - started - read_s}
    extract, downloaded = load_extract(area, keys, quiet=True)
    read_s = time.perf_counter() - started
    plan = _plan_tile(part, extract, taxonomy)
    return plan, {"source": extract.source, "downloaded": downloaded, "osm_read": "whole file", "read_s": read_s,
                  "plan_s": time.perf_counter() - started - read_s}


def build_part(part: Part, cuts: dict | None = None) -> dict[str, object]:
    """Route one tile of an area on its buffered cut and write its tables as GeoParquet (runs on a worker).

    The worker reads the OSM source itself: its own pre-cut of a shared extract when
    `cuts` has one (:func:`plan_cuts`), else the whole file. Schools are those whose point
    lies in the tile; the graph and venues come from the tile (plus the school campuses)
    grown by ``part.buffer_m``, farther than any trip from those schools can go.

    Parameters
    ----------
    part
        Area, tile number, buffer, output folder and pre-cut box.
    cuts
        Result of :func:`plan_cuts` for the tile's extract (None: read the whole file).

    Returns
    -------
    dict
        Counts, timings and the review rows of the tile (the tables are on disk).
    """
    started = time.perf_counter()
    area = part.area
    taxonomy = load_taxonomy(area.categories)
    plan, read = _read_and_plan(part, taxonomy, cuts)
    review = ReviewLog(plan.once if part.index == 0 else ())
    info: dict[str, object] = {"index": part.index, "catalogues": plan.catalogues, **plan.info,
                               **{k: v for k, v in read.items() if not k.endswith("_s")}}
    graph_s: dict[str, float] = {}

    def timed_builder(extract: _osm.OsmExtract, mode: Mode, settings: Settings) -> StreetGraph:
        t0 = time.perf_counter()
        graph = plan.builder(extract, mode, settings)
        graph_s[mode] = time.perf_counter() - t0
        return graph

    schools, venues = plan.schools, plan.venues
    if len(schools):
        reached = reach_by_mode(plan.cut, schools, venues, area.settings, review, quiet=True,
                                graph_builder=timed_builder)
    else:
        reached = _no_reach()
    t_write = time.perf_counter()
    used = venues[venues["venue_id"].isin(reached.pairs["venue_id"]) |
                  venues["venue_id"].isin(plan.own_venues["venue_id"])]
    out = part.out_dir
    out.mkdir(parents=True, exist_ok=True)
    schools.drop(columns="footprint").to_parquet(out / "schools.parquet")
    used.drop(columns="footprint").to_parquet(out / "venues.parquet")
    reached.pairs.to_parquet(out / "pairs.parquet")
    reached.isochrones.to_parquet(out / "isochrones.parquet")
    reached.routes.to_parquet(out / "routes.parquet")
    if len(schools):
        sheet_basemap(plan.cut, reached.isochrones).to_parquet(out / "basemap.parquet")
    downloaded = bool(read["downloaded"])
    info["data_date"] = date.today().isoformat() if downloaded else data_date(area.osm)  # type: ignore[arg-type]
    graph = sum(graph_s.values())
    info.update({
        "schools": len(schools), "venues": len(plan.own_venues), "network": reached.network, "reach": reached.reach,
        "review": review, "seconds": {
            **{k: round(v, 2) for k, v in reached.seconds.items()},
            "read": round(float(read["read_s"]), 2), "select": round(float(read["plan_s"]), 2),
            "graph": round(graph, 2), "routing": round(sum(reached.seconds.values()) - graph, 2),
            "write": round(time.perf_counter() - t_write, 2), "total": round(time.perf_counter() - started, 2)},
    })
    return info


def merge_area(area: AreaConfig, area_dir: Path, fingerprint: dict[str, object], *parts: dict[str, object]) -> Summary:
    """Merge an area's tiles into its outputs (contract files, maps, summary, manifest); runs on a worker.

    Parameters
    ----------
    area
        The area.
    area_dir
        Its output folder; the tiles' GeoParquet tables are in ``parts/<tile>/``.
    fingerprint
        Input hashes, written to ``manifest.json`` so an unchanged area is skipped next time.
    *parts
        The results of :func:`build_part` for every tile.

    Returns
    -------
    dict
        The area's ``summary.json`` content.
    """
    started = time.perf_counter()
    dirs = [area_dir / PARTS_DIR / str(p["index"]) for p in parts]
    schools = _concat([gpd.read_parquet(d / "schools.parquet") for d in dirs]).sort_values(_ORDER, ignore_index=True)
    if schools.empty:
        raise NoSchoolsError(f"{parts[0]['source']}: no schools found in area {area.name}; "
                             "add a school list with schools_csv")
    venues = _concat([gpd.read_parquet(d / "venues.parquet") for d in dirs]).drop_duplicates("venue_id")
    pairs = pd.concat([pd.read_parquet(d / "pairs.parquet") for d in dirs], ignore_index=True)
    pairs = pd.concat([
        pairs[pairs["mode"] == mode].sort_values(["school_id", "minutes", "venue_id"], ignore_index=True)
        for mode in MODES
    ], ignore_index=True)
    isochrones = _concat([gpd.read_parquet(d / "isochrones.parquet") for d in dirs])
    position = pd.Series(np.arange(len(schools)), index=schools["school_id"])
    isochrones = isochrones.assign(
        _mode=isochrones["mode"].map({m: i for i, m in enumerate(MODES)}), _school=isochrones["school_id"].map(position)
    ).sort_values(["_mode", "_school", "minutes"], ignore_index=True).drop(columns=["_mode", "_school"])
    routes = pd.concat([pd.read_parquet(d / "routes.parquet") for d in dirs], ignore_index=True)
    layers = [gpd.read_parquet(d / "basemap.parquet") for d in dirs if (d / "basemap.parquet").is_file()]
    basemap = _concat(layers)  # tiles' base maps overlap: keep every feature once
    basemap = basemap[~pd.DataFrame(basemap.drop(columns="geometry")).assign(
        _wkb=basemap.geometry.to_wkb()).duplicated()]
    review = ReviewLog(row for p in parts for row in p["review"])  # type: ignore[attr-defined]
    schools.attrs["school_list"] = parts[0].get("school_list", {})
    taxonomy = load_taxonomy(area.categories)
    t0 = time.perf_counter()
    reached = ModesReach(pairs, isochrones, routes, _sum_network(parts), _merged_reach(parts, pairs, isochrones), {})
    outputs = publish_city(area_dir, area, schools, venues, reached, basemap, taxonomy, review, quiet=True)
    seconds: dict[str, float] = {
        "tiles_sum": round(sum(float(p["seconds"]["total"]) for p in parts), 2),  # type: ignore[index,misc]
        "publish": time.perf_counter() - t0, "merge": time.perf_counter() - started,
    }
    summary = city_summary(area, str(parts[0]["source"]), bool(parts[0]["downloaded"]), parts[0]["data_date"],  # type: ignore[arg-type]
                           schools, venues, parts[0]["catalogues"], reached, taxonomy, review, outputs,  # type: ignore[arg-type]
                           seconds)
    summary.partition = {
        "grid": list(area.grid), "bbox": area.bbox, "buffer_m": round(float(fingerprint["buffer_m"]), 1),  # type: ignore[arg-type]
        "tiles": [{k: p[k] for k in ("index", "schools", "venues", "network", "seconds") if k in p}
                  | {k: p[k] for k in ("core", "graph_bbox", "osm_read", "read_box") if k in p} for p in parts],
    }
    summary.bounds = _union(tuple(schools.total_bounds), tuple(venues.total_bounds)) if len(venues) else \
        tuple(schools.total_bounds)
    finish_build(area_dir, summary, seconds, started, len(schools), quiet=True)
    _write_manifest(area_dir, fingerprint, "built")
    return summary


def _with_order(schools: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Add sort keys that restore the school order of an unpartitioned build (OSM by element and id, then CSV)."""
    ids = schools["osm_id"].astype(object).astype(str).str.split("/")
    osm = schools["from_osm"].to_numpy(bool)
    number = pd.to_numeric(ids.str[-1], errors="coerce").fillna(0).astype("int64").to_numpy()
    return schools.assign(
        _k0=np.where(osm, 0, 1),
        _k1=[_ELEMENT_RANK.get(e, 3) if o else 0 for e, o in zip(ids.str[0], osm, strict=True)],
        _k2=np.where(osm, number, np.cumsum(~osm) - 1),
    )


def _no_reach() -> ModesReach:
    return ModesReach(
        pairs=pd.DataFrame({"school_id": [], "venue_id": [], "mode": [], "minutes": [], "on_campus": []}).astype(
            {"school_id": object, "venue_id": object, "mode": object, "minutes": float, "on_campus": bool}),
        isochrones=gpd.GeoDataFrame({"school_id": [], "mode": [], "minutes": []}, geometry=[], crs=4326),
        routes=pd.DataFrame(columns=ROUTE_COLUMNS),
        network={}, reach={}, seconds={},
    )


def _concat(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=4326)


def _sum_network(parts: tuple[dict[str, object], ...]) -> dict[str, dict[str, object]]:
    """Nodes and edges routed over, summed over tiles (the buffers overlap, so more than the area has)."""
    out: dict[str, dict[str, object]] = {}
    for mode in MODES:
        nets = [p["network"][mode] for p in parts if mode in p["network"]]  # type: ignore[operator,index]
        out[mode] = {"nodes": sum(n["nodes"] for n in nets), "edges": sum(n["edges"] for n in nets),
                     "speed_kmh": nets[0]["speed_kmh"] if nets else None, "tiles_with_schools": len(nets)}
    return out


def _merged_reach(parts: tuple[dict[str, object], ...], pairs: pd.DataFrame, iso: gpd.GeoDataFrame) -> dict:
    out = {}
    for mode in MODES:
        mine = pairs[pairs["mode"] == mode]
        reach = [p["reach"][mode] for p in parts if mode in p["reach"]]  # type: ignore[operator,index]
        out[mode] = {
            "pairs": len(mine),
            "schools_reaching_a_venue": int(mine["school_id"].nunique()),
            "isochrones": int((iso["mode"] == mode).sum()),
            "schools_not_on_network": [s for r in reach for s in r["schools_not_on_network"]],
            "venues_not_on_network": sum(r["venues_not_on_network"] for r in reach),
        }
    return out


# --------------------------------------------------------------------------- skipping unchanged areas


def area_fingerprint(region: RegionConfig, area: AreaConfig) -> dict[str, object]:
    """Hashes of everything an area's outputs depend on: its configuration, input files and mapgen's code.

    Parameters
    ----------
    region, area
        The region and one of its areas.

    Returns
    -------
    dict
        ``config``, ``files`` (path → sha256), ``code``, ``buffer_m`` and their combined ``digest``.
    """
    inputs = [area.osm, area.schools_csv, area.categories, *(p for c in area.catalogues for p in (c.file, *c.gazetteers)),
              area.school_list.file if area.school_list else None]
    files = {str(p): _sha256(p) for p in inputs if p is not None and p.exists()}
    code = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        code.update(path.read_bytes())
    fp: dict[str, object] = {
        "config": area.model_dump(mode="json"), "files": files, "code": code.hexdigest(),
        "buffer_m": region.buffer_m(area),
    }
    fp["digest"] = hashlib.sha256(json.dumps(fp, sort_keys=True, default=str).encode()).hexdigest()
    return fp


def is_unchanged(area_dir: Path, fingerprint: dict[str, object]) -> bool:
    """Whether `area_dir` holds a complete build made from exactly these inputs."""
    path = area_dir / MANIFEST_FILE
    if not path.is_file():
        return False
    manifest = json.loads(path.read_text(encoding="utf-8"))
    return manifest.get("status") == "built" and manifest.get("digest") == fingerprint["digest"] and \
        (area_dir / "summary.json").is_file()


def _write_manifest(area_dir: Path, fingerprint: dict[str, object], status: str, error: str = "") -> None:
    manifest = {**fingerprint, "status": status, "error": error, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (area_dir / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str),
                                          encoding="utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- the driver


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Client]:
    """A ``dask.distributed.Client``: on an existing scheduler, or on a local cluster sized to the machine.

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``tcp://host:8786``); None starts a ``LocalCluster``.
    workers
        Worker processes of the local cluster (default: one per CPU, one thread each).

    Yields
    ------
    dask.distributed.Client
    """
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise RegionError(f"{scheduler}: cannot reach the Dask scheduler ({exc}); is `dask scheduler` running "
                              "there and the port open?") from exc
        with client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client


def build_region(
    region: RegionConfig,
    out_dir: str | Path,
    scheduler: str | None = None,
    workers: int | None = None,
    client: Client | None = None,
    quiet: bool = False,
) -> dict[str, object]:
    """Build every area of a region on Dask and write the region outputs.

    Each area (or tile of an area) is a task that reads its own OSM source on a
    worker; each area's tiles are merged by one more task into the usual
    output contract in ``OUT/<area>/``. Areas whose inputs did not change since
    their last successful build (``manifest.json``) are skipped; a failed area
    is reported with its error and the others complete. Then ``OUT/index.html``
    (all areas), ``OUT/venues.csv`` and ``OUT/venues/<area>.csv`` (the venue
    directory) and ``OUT/region.json`` are written.

    Parameters
    ----------
    region
        The region configuration.
    out_dir
        Output folder (created); must be on storage the workers share.
    scheduler
        Address of a running Dask scheduler; default a local cluster.
    workers
        Worker processes of the local cluster (default: one per CPU).
    client
        An existing ``dask.distributed.Client`` to use instead (tests, notebooks).
    quiet
        No progress output.

    Returns
    -------
    dict
        The region summary (also written to ``region.json``).
    """
    started = time.perf_counter()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    status: dict[str, dict[str, object]] = {}
    todo = []
    for area in region.areas:
        fp = area_fingerprint(region, area)
        if is_unchanged(out / area.name, fp):
            status[area.name] = {"status": "skipped", "reason": "inputs unchanged since the last build"}
            say(f"[dim]{console_text(area.name)}: unchanged, skipped[/dim]", quiet)
        else:
            todo.append((area, fp))
    traffic: dict[str, object] = {}
    if todo:
        with (nullcontext(client) if client is not None else dask_client(scheduler, workers)) as dask:
            done, traffic = _run_areas(dask, region, todo, out, quiet)
            status.update(done)
    summary = _region_outputs(region, out, status)
    summary["dask"] = traffic
    summary["seconds"] = round(time.perf_counter() - started, 2)
    (out / REGION_SUMMARY).write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return summary


def _run_areas(
    client: Client, region: RegionConfig, todo: list, out: Path, quiet: bool
) -> tuple[dict[str, dict[str, object]], dict[str, object]]:
    """Submit every area's tasks and collect the results; also returns what went over the wire (bytes, tasks)."""
    from dask.distributed import as_completed

    merges, area_of = [], {}
    n_parts = 0
    cuts, sent = _submit_cuts(client, region, todo, out)
    for area, fp in todo:
        area_dir = out / area.name
        area_dir.mkdir(parents=True, exist_ok=True)
        (area_dir / MANIFEST_FILE).unlink(missing_ok=True)
        n = area.grid[0] * area.grid[1]
        buffer = region.buffer_m(area)
        plan = cuts.get(str(area.osm)) if can_precut(area) else None
        tiles = [Part(area, i, buffer, area_dir / PARTS_DIR / str(i),
                      precut_box(area, i, buffer, region.precut_margin_m) if plan else None) for i in range(n)]
        parts = [client.submit(build_part, tile, plan, key=f"tile-{area.name}-{i}-{fp['digest'][:12]}", pure=False)
                 for i, tile in enumerate(tiles)]
        merge = client.submit(merge_area, area, area_dir, fp, *parts, key=f"area-{area.name}-{fp['digest'][:12]}",
                              pure=False)
        sent += sum(len(pickle.dumps(t)) for t in tiles) + len(pickle.dumps((area, area_dir, fp)))
        merges.append(merge)
        area_of[merge.key] = (area, fp)
        n_parts += n
    say(f"Building {len(todo)} area(s), {n_parts} tile(s) on Dask ({console_text(_describe(client))})", quiet)
    status: dict[str, dict[str, object]] = {}
    received = 0
    with stage("Areas", total=len(merges), quiet=quiet) as advance:
        for future in as_completed(merges):
            area, fp = area_of[future.key]
            try:
                summary = future.result()
                received += len(pickle.dumps(summary))
            except Exception as exc:  # any failure of one area is reported; the others go on
                error = f"{type(exc).__name__}: {exc}"
                _write_manifest(out / area.name, fp, "failed", error)
                status[area.name] = {"status": "failed", "error": error,
                                     "traceback": "".join(traceback.format_exception(exc))[-4000:]}
                say(f"[red]{console_text(area.name)}: failed[/red] — {console_text(error)}", quiet)
            else:
                counts, reach = summary.counts, summary.reach
                status[area.name] = {"status": "built", "seconds": summary.seconds}
                say(f"[green]{console_text(area.name)}[/green]: {counts.schools} schools, {counts.venues} venues, "
                    f"pairs walk {reach['walk']['pairs']} / bike {reach['bike']['pairs']}, "
                    f"{len((summary.partition or {}).get('tiles', []))} tile(s)", quiet)
            advance(1)
    plans = [f.result() for f in cuts.values() if f.status == "finished"]
    return status, {"tasks": n_parts + len(merges) + len(cuts), "argument_bytes": sent, "result_bytes": received,
                    "cut_plan_s": sum(p["seconds"] for p in plans)}


def _submit_cuts(client: Client, region: RegionConfig, todo: list, out: Path) -> tuple[dict[str, Future], int]:
    """One :func:`plan_cuts` task per extract shared by the areas to build: source path → its future.

    Each extract is read once for the cut plan; every tile then writes and reads only its own part.
    Also returns the pickled size of the tasks' arguments.
    """
    boxes: dict[str, dict[str, BBox]] = {}
    for area, _ in todo:
        if can_precut(area):
            buffer = region.buffer_m(area)
            for i in range(area.grid[0] * area.grid[1]):
                boxes.setdefault(str(area.osm), {})[f"{area.name}-{i}"] = precut_box(
                    area, i, buffer, region.precut_margin_m)
    futures, sent = {}, 0
    for source, mine in boxes.items():
        digest = hashlib.sha256(json.dumps([source, mine], sort_keys=True).encode()).hexdigest()[:16]
        args = (Path(source), mine, out / "_cuts" / digest)
        futures[source] = client.submit(plan_cuts, *args, key=f"cuts-{digest}", pure=False)
        sent += len(pickle.dumps(args))
    return futures, sent


def _describe(client: Client) -> str:
    info = client.scheduler_info()
    workers = info.get("workers", {})
    threads = sum(w.get("nthreads", 1) for w in workers.values())
    return f"scheduler {info.get('address', '?')}, {len(workers)} worker(s), {threads} thread(s)"


# --------------------------------------------------------------------------- region outputs


def _region_outputs(region: RegionConfig, out: Path, status: dict[str, dict[str, object]]) -> dict[str, object]:
    """Write the venue directory and the region index map from the areas built or kept."""
    areas = []
    for area in region.areas:
        entry = {"name": area.name, "title": area.display_title, **status[area.name]}
        summary_path = out / area.name / "summary.json"
        if entry["status"] != "failed" and summary_path.is_file():
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
            entry.update({"counts": summary["counts"], "reach": {m: summary["reach"][m]["pairs"] for m in MODES},
                          "bounds": summary.get("bounds"), "index": f"{area.name}/index.html"})
        areas.append(entry)
    ok = [a for a in areas if "counts" in a]
    directory = write_venue_directory(out, [str(a["name"]) for a in ok])
    index = write_region_map(out, region, ok)
    site = write_region_site_db(out, region, [str(a["name"]) for a in ok]) if ok else None
    return {
        "region": region.name, "title": region.display_title, "attribution": OSM_ATTRIBUTION,
        "areas": areas,
        "built": sum(a["status"] == "built" for a in areas), "skipped": sum(a["status"] == "skipped" for a in areas),
        "failed": [a["name"] for a in areas if a["status"] == "failed"],
        "outputs": {"index": str(index), "venue_directory": str(directory), "areas": str(out),
                    "site_db": str(site["path"]) if site else None},
        "site_database": {k: v for k, v in (site or {}).items() if k != "path"},
    }


def write_region_site_db(out: Path, region: RegionConfig, area_names: list[str]) -> dict[str, object]:
    """Write ``site.db`` for the whole region from the areas' contract files.

    The areas' tables are merged (a venue listed by two areas once) into the
    contract files of ``OUT/site/``, from which the search site's database is
    written as for one city. "Open now" uses one time zone, that of the schools.

    Parameters
    ----------
    out
        The region output folder.
    region
        The region (title, tiles).
    area_names
        Areas built or kept.

    Returns
    -------
    dict
        What :func:`mapgen.publish.sitedb.write_site_db` returns (path and counts).
    """
    def merged(file: str, unique: str | None = None) -> gpd.GeoDataFrame:
        frame = _concat([gpd.read_file(out / name / file, engine="pyogrio") for name in area_names])
        return frame.drop_duplicates(unique, ignore_index=True) if unique else frame

    folder = out / "site"
    pairs = pd.concat([pd.read_csv(out / name / "reachability.csv", dtype={"school_id": str, "venue_id": str})
                       for name in area_names], ignore_index=True)
    schools, venues = merged(SCHOOLS_FILE, "school_id"), merged(VENUES_FILE, "venue_id")
    write_contract(folder, schools, venues, merged(ISOCHRONES_FILE), pairs)
    first = BuildFolder(out / area_names[0]).summary
    counts = SummaryCounts(schools=len(schools), venues=len(venues),
                           venues_by_category={k: int(n) for k, n in venues["category"].value_counts().items()})
    write_summary(folder, first.model_copy(update={
        "city": region.name, "title": region.display_title, "tiles": region.tiles, "counts": counts, "areas": area_names,
        "outputs": {}, "seconds": {}, "catalogues": {}, "school_list": {}, "truth": {}, "skipped": []}))
    return write_site_db(folder, out / "site.db")


def write_venue_directory(out: Path, area_names: list[str]) -> Path:
    """Write one venue list per area (``venues/<area>.csv``) and the merged list (``venues.csv``).

    Each row is a venue with its position and how many of the area's schools reach
    it within the limit on foot and by bike; the merged list has one row per venue
    with every area that lists it.

    Parameters
    ----------
    out
        The region output folder holding one built folder per area.
    area_names
        Areas to include.

    Returns
    -------
    pathlib.Path
        The merged ``venues.csv``.
    """
    (out / "venues").mkdir(exist_ok=True)
    lists = []
    for name in area_names:
        venues = gpd.read_file(out / name / "venues.geojson", engine="pyogrio")
        pairs = pd.read_csv(out / name / "reachability.csv", dtype={"school_id": str, "venue_id": str})
        counts = pairs.groupby(["venue_id", "mode"])["school_id"].nunique().unstack("mode")
        table = pd.DataFrame(venues[VENUE_COLUMNS]).astype(object).fillna("").assign(
            lon=venues.geometry.x.round(6), lat=venues.geometry.y.round(6))
        for mode in MODES:
            reached = counts[mode] if mode in counts else pd.Series(dtype=int)
            table[f"schools_{mode}"] = table["venue_id"].map(reached).fillna(0).astype(int)
        table.insert(0, "area", name)
        write_person_csv(table, out / "venues" / f"{name}.csv")
        lists.append(table)
    merged = pd.concat(lists, ignore_index=True) if lists else pd.DataFrame(columns=["area", *VENUE_COLUMNS])
    if len(merged):
        areas = merged.groupby("venue_id", sort=False)["area"].agg(";".join)
        sums = merged.groupby("venue_id", sort=False)[[f"schools_{m}" for m in MODES]].sum()
        merged = merged.drop_duplicates("venue_id").set_index("venue_id")
        merged["area"] = areas
        merged[sums.columns] = sums
        merged = merged.reset_index()[["area", *VENUE_COLUMNS, "lon", "lat", *sums.columns]]
    path = out / VENUE_DIRECTORY
    return write_person_csv(merged, path)


def write_region_map(out: Path, region: RegionConfig, areas: list[dict[str, object]]) -> Path:
    """Write ``index.html``: every area's outline with its counts and a link to its map, and all schools.

    Names and titles are page data drawn as text (see :func:`mapgen.publish.maps.save_page`).

    Parameters
    ----------
    out
        The region output folder (``lib/`` with Leaflet is copied there).
    region
        The region (title, base-map tiles).
    areas
        Area entries with ``name``, ``title``, ``counts``, ``reach``, ``bounds``.

    Returns
    -------
    pathlib.Path
    """
    copy_assets(out)
    taxonomy = load_taxonomy(region.areas[0].categories)
    shift = display_shift(region.tiles)
    outlines = gpd.GeoDataFrame(
        [{"name": a["name"], "geometry": shapely.box(*a["bounds"])} for a in areas if a.get("bounds")],  # type: ignore[misc]
        geometry="geometry", crs=4326,
    ) if areas else gpd.GeoDataFrame({"name": []}, geometry=[], crs=4326)
    schools = [gpd.read_file(out / str(a["name"]) / "schools.geojson", engine="pyogrio").assign(area=a["name"])
               for a in areas]
    all_schools = shift(_concat(schools)) if schools else gpd.GeoDataFrame(geometry=[], crs=4326)
    outlines = shift(outlines)
    fmap = base_map(region.tiles, pd.concat([outlines.geometry, all_schools.geometry]) if len(outlines) else
                    gpd.GeoSeries([shapely.box(-180, -60, 180, 75)]), prefix="")
    by_name = {a["name"]: a for a in areas}
    area_items = []
    for row in outlines.itertuples():
        a = by_name[row.name]
        counts, reach = a["counts"], a["reach"]
        details = popup(a["title"], [
            f"学校 schools {counts['schools']} · 场馆 venues {counts['venues']}",  # type: ignore[index]
            f"{region.areas[0].settings.minutes:g} 分钟可达 pairs: 步行 walk {reach['walk']} · "  # type: ignore[index]
            f"骑行 bike {reach['bike']}",  # type: ignore[index]
        ], [(url_path(a["name"], "index.html"), "打开地区地图 Open area map"),
            (url_path("venues", f"{a['name']}.csv"), "场馆名录 Venue list (CSV)")])
        area_items.append(shape(row.geometry, "#444", details, tooltip=a["title"], fill_opacity=0.05))
    school_items = [
        point(s.geometry, SCHOOL_COLOR, 5, popup(s.name, [], [
            (url_path(s.area, "schools", f"{s.school_id}.html"), "打开学校地图 Open school map")]), tooltip=s.name)
        for s in all_schools.itertuples()
    ]
    data = page_data(f"{region.display_title} — 区域总览 region overview",
                     [layer(f"地区 Areas ({len(areas)})", area_items),
                      layer(f"学校 Schools ({len(all_schools)})", school_items)],
                     category_legend(taxonomy), links=[("venues.csv", "全部场馆名录 Region venue directory (CSV)")])
    return save_page(fmap, data, out / "index.html", prefix="")


def region_progress_line(summary: dict[str, object]) -> str:
    """One-line end-of-run summary of :func:`build_region`."""
    failed = summary["failed"]
    return (f"{summary['title']}: {summary['built']} area(s) built, {summary['skipped']} unchanged and skipped, "
            f"{len(failed)} failed{' (' + ', '.join(failed) + ')' if failed else ''}; "  # type: ignore[arg-type]
            f"{summary['seconds']:.1f} s")


__all__ = [
    "Part", "area_fingerprint", "build_part", "build_region", "can_precut", "cut_graph", "dask_client", "expand_bbox",
    "extent_of", "is_unchanged", "merge_area", "plan_cuts", "precut_box", "region_progress_line", "tile_bbox",
    "tile_of", "write_cut",
    "write_region_map", "write_venue_directory",
]
