"""Worker tasks of a region build: route one tile on its buffered cut, then merge an area's tiles into its outputs."""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mapgen import osm_extract
from mapgen.atomic import staged_folder
from mapgen.config import MODES, AreaConfig, Mode, Settings
from mapgen.contract import ROUTE_COLUMNS, ReviewLog, Summary
from mapgen.edge import data_area
from mapgen.errors import NoSchoolsError
from mapgen.network import StreetGraph, street_graph
from mapgen.pipeline import ModesReach, city_summary, mark_data_edge, publish_city, reach_by_mode, sheet_basemap
from mapgen.places import feature_keys, load_extract, select_schools, select_venues
from mapgen.publish.files import write_summary
from mapgen.publish.finish import finish_build
from mapgen.region.cuts import cut_key
from mapgen.region.manifest import MANIFEST_FILE, write_manifest
from mapgen.region.tiles import BBox, contains_bbox, cut_graph, expand_bbox, extent_of, tile_bbox, tile_of, union_bbox
from mapgen.taxonomy import Taxonomy, load_taxonomy

PARTS_DIR = "parts"
_ORDER = ["_k0", "_k1", "_k2"]  # sort keys that restore the order of an unpartitioned build's school list
_ELEMENT_RANK = {"node": 0, "relation": 1, "way": 2}  # alphabetical, as schools_from_osm sorts


@dataclass(frozen=True)
class Part:
    """One routing task: tile `index` (row-major over ``area.grid``) of an area, written to `out_dir`."""

    area: AreaConfig
    index: int
    buffer_m: float
    out_dir: Path
    read_box: BBox | None = None  # the tile's pre-cut of a shared extract (see plan_cuts); None: the whole file


@dataclass
class _TilePlan:
    """What a tile routes: its schools, the venues they may reach, the venues it owns, and the graph's cut."""

    schools: gpd.GeoDataFrame
    venues: gpd.GeoDataFrame
    own_venues: gpd.GeoDataFrame
    cut: osm_extract.OsmExtract
    builder: Callable[[osm_extract.OsmExtract, Mode, Settings], StreetGraph]
    graph_box: BBox | None
    catalogues: dict[str, object]
    once: ReviewLog  # rejected rows of the school list and catalogues: reported by tile 0 only
    info: dict[str, object]


def _plan_tile(part: Part, extract: osm_extract.OsmExtract, taxonomy: Taxonomy) -> _TilePlan:
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
        raise NoSchoolsError(
            f"{extract.source}: no schools found in area {area.name}; add a school list with schools_csv"
        )
    extent = area.bbox or extent_of(every_school.geometry)
    core = tile_bbox(extent, area.grid, part.index)
    clamp = area.bbox is None
    schools = every_school[tile_of(every_school.geometry, extent, area.grid, clamp) == part.index]
    reach_box = expand_bbox(
        union_bbox(core, *([tuple(schools.footprint.total_bounds)] if len(schools) else [])), part.buffer_m
    )
    venues = every_venue[every_venue["footprint"].intersects(shapely.box(*reach_box))]
    own_venues = every_venue[tile_of(every_venue.geometry, extent, area.grid, clamp) == part.index]
    graph_box = union_bbox(reach_box, *([tuple(venues.footprint.total_bounds)] if len(venues) else []))
    return _TilePlan(
        schools,
        venues,
        own_venues,
        osm_extract.clip_extract(extract, graph_box),
        partial(cut_graph, bbox=graph_box),
        graph_box,
        catalogues,
        once,
        {"core": core, "graph_bbox": graph_box, **listed},
    )


def _read_and_plan(part: Part, taxonomy: Taxonomy, cuts: dict | None) -> tuple[_TilePlan, dict]:
    """Read the tile's pre-cut (when planned) or the whole extract, and plan the tile on it.

    A pre-cut is used only when the tile's graph box lies inside it, so the cut holds
    every way and feature that box touches; otherwise the whole file is read. Either way
    the date and data area returned are those of the whole extract (a pre-cut's come from
    its cut plan).
    """
    area = part.area
    keys = feature_keys(area, taxonomy)
    started = time.perf_counter()
    if part.read_box is not None and cuts is not None and area.osm is not None:
        cut_file = Path(cuts["files"][cut_key(part.area.name, part.index)])
        extract = dataclasses.replace(osm_extract.read_osm(cut_file, keys), source=str(area.osm))
        read_s = time.perf_counter() - started
        plan = _plan_tile(part, extract, taxonomy)
        if plan.graph_box is not None and contains_bbox(part.read_box, plan.graph_box):
            return plan, {
                "source": str(area.osm),
                "downloaded": False,
                "osm_read": "pre-cut",
                "read_box": part.read_box,
                "data_date": cuts["data_date"],
                "data_area": cuts["data_area"],
                "read_s": read_s,
                "plan_s": time.perf_counter() - started - read_s,
            }
    extract, downloaded = load_extract(area, keys, quiet=True)
    read_s = time.perf_counter() - started
    plan = _plan_tile(part, extract, taxonomy)
    return plan, {
        "source": extract.source,
        "downloaded": downloaded,
        "osm_read": "whole file",
        "data_date": date.today().isoformat() if downloaded else extract.data_date,
        "data_area": data_area(extract),
        "read_s": read_s,
        "plan_s": time.perf_counter() - started - read_s,
    }


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
    info: dict[str, object] = {
        "index": part.index,
        "dir": str(part.out_dir),
        "catalogues": plan.catalogues,
        **plan.info,
        **{k: v for k, v in read.items() if not k.endswith("_s")},
    }
    graph_s: dict[str, float] = {}

    def timed_builder(extract: osm_extract.OsmExtract, mode: Mode, settings: Settings) -> StreetGraph:
        t0 = time.perf_counter()
        graph = plan.builder(extract, mode, settings)
        graph_s[mode] = time.perf_counter() - t0
        return graph

    schools, venues = plan.schools, plan.venues
    if len(schools):
        reached = reach_by_mode(
            plan.cut, schools, venues, area.settings, review, quiet=True, graph_builder=timed_builder
        )
    else:
        reached = _no_reach()
    t_write = time.perf_counter()
    used = venues[
        venues["venue_id"].isin(reached.pairs["venue_id"]) | venues["venue_id"].isin(plan.own_venues["venue_id"])
    ]
    out = part.out_dir
    out.mkdir(parents=True, exist_ok=True)
    schools.drop(columns="footprint").to_parquet(out / "schools.parquet")
    used.drop(columns="footprint").to_parquet(out / "venues.parquet")
    reached.pairs.to_parquet(out / "pairs.parquet")
    reached.isochrones.to_parquet(out / "isochrones.parquet")
    reached.routes.to_parquet(out / "routes.parquet")
    if len(schools):
        sheet_basemap(plan.cut, reached.isochrones).to_parquet(out / "basemap.parquet")
    graph = sum(graph_s.values())
    info.update(
        {
            "schools": len(schools),
            "venues": len(plan.own_venues),
            "network": reached.network,
            "reach": reached.reach,
            "review": review,
            "seconds": {
                **{k: round(v, 2) for k, v in reached.seconds.items()},
                "read": round(float(read["read_s"]), 2),
                "select": round(float(read["plan_s"]), 2),
                "graph": round(graph, 2),
                "routing": round(sum(reached.seconds.values()) - graph, 2),
                "write": round(time.perf_counter() - t_write, 2),
                "total": round(time.perf_counter() - started, 2),
            },
        }
    )
    return info


def merge_area(area: AreaConfig, area_dir: Path, fingerprint: dict[str, object], *parts: dict[str, object]) -> Summary:
    """Merge an area's tiles into its outputs (contract files, maps, summary, manifest); runs on a worker.

    Parameters
    ----------
    area
        The area.
    area_dir
        Its output folder, written beside it and swapped in when complete; the tiles'
        GeoParquet tables are in the folders their results name (removed once merged).
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
    dirs = [Path(str(p["dir"])) for p in parts]
    schools = concat_frames([gpd.read_parquet(d / "schools.parquet") for d in dirs]).sort_values(
        _ORDER, ignore_index=True
    )
    if schools.empty:
        raise NoSchoolsError(
            f"{parts[0]['source']}: no schools found in area {area.name}; add a school list with schools_csv"
        )
    venues = concat_frames([gpd.read_parquet(d / "venues.parquet") for d in dirs]).drop_duplicates("venue_id")
    pairs = pd.concat([pd.read_parquet(d / "pairs.parquet") for d in dirs], ignore_index=True)
    pairs = pd.concat(
        [
            pairs[pairs["mode"] == mode].sort_values(["school_id", "minutes", "venue_id"], ignore_index=True)
            for mode in MODES
        ],
        ignore_index=True,
    )
    isochrones = concat_frames([gpd.read_parquet(d / "isochrones.parquet") for d in dirs])
    position = pd.Series(np.arange(len(schools)), index=schools["school_id"])
    isochrones = (
        isochrones.assign(
            _mode=isochrones["mode"].map({m: i for i, m in enumerate(MODES)}),
            _school=isochrones["school_id"].map(position),
        )
        .sort_values(["_mode", "_school", "minutes"], ignore_index=True)
        .drop(columns=["_mode", "_school"])
    )
    routes = pd.concat([pd.read_parquet(d / "routes.parquet") for d in dirs], ignore_index=True)
    layers = [gpd.read_parquet(d / "basemap.parquet") for d in dirs if (d / "basemap.parquet").is_file()]
    basemap = concat_frames(layers)  # tiles' base maps overlap: keep every feature once
    basemap = basemap[
        ~pd.DataFrame(basemap.drop(columns="geometry")).assign(_wkb=basemap.geometry.to_wkb()).duplicated()
    ]
    review = ReviewLog(row for p in parts for row in p["review"])  # type: ignore[attr-defined]
    schools.attrs["school_list"] = parts[0].get("school_list", {})
    taxonomy = load_taxonomy(area.categories)
    t0 = time.perf_counter()
    reached = ModesReach(pairs, isochrones, routes, _sum_network(parts), _merged_reach(parts, pairs, isochrones), {})
    truth: dict[str, object] = {}  # the data edge is the whole extract's, not a tile's cut
    schools, reached = mark_data_edge(
        str(parts[0]["source"]), parts[0]["data_area"], schools, reached, area.settings, truth
    )
    with staged_folder(area_dir, MANIFEST_FILE) as work:  # a killed merge leaves the area's last build as it was
        outputs = publish_city(work, area, schools, venues, reached, basemap, taxonomy, review, quiet=True)
        seconds: dict[str, float] = {
            "tiles_sum": round(sum(float(p["seconds"]["total"]) for p in parts), 2),  # type: ignore[index,misc]
            "publish": time.perf_counter() - t0,
            "merge": time.perf_counter() - started,
        }
        summary = city_summary(
            area,
            str(parts[0]["source"]),
            bool(parts[0]["downloaded"]),
            cast("str | None", parts[0]["data_date"]),
            schools,
            venues,
            cast("dict[str, object]", parts[0]["catalogues"]),
            reached,
            taxonomy,
            review,
            outputs,
            seconds,
        )
        summary.truth = truth
        summary.partition = {
            "grid": list(area.grid),
            "bbox": area.bbox,
            "buffer_m": round(float(fingerprint["buffer_m"]), 1),  # type: ignore[arg-type]
            "tiles": [
                {k: p[k] for k in ("index", "schools", "venues", "network", "seconds") if k in p}
                | {k: p[k] for k in ("core", "graph_bbox", "osm_read", "read_box") if k in p}
                for p in parts
            ],
        }
        summary.bounds = (
            union_bbox(tuple(schools.total_bounds), tuple(venues.total_bounds))
            if len(venues)
            else tuple(schools.total_bounds)
        )
        finish_build(work, summary, seconds, started, len(schools), quiet=True, final=area_dir)
        summary.outputs = {k: v.replace(str(work), str(area_dir), 1) for k, v in summary.outputs.items()}
        write_summary(work, summary)
        write_manifest(work, fingerprint, "built")
    for folder in {d.parent for d in dirs}:
        shutil.rmtree(folder, ignore_errors=True)  # the tiles' tables, merged
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
            {"school_id": object, "venue_id": object, "mode": object, "minutes": float, "on_campus": bool}
        ),
        isochrones=gpd.GeoDataFrame({"school_id": [], "mode": [], "minutes": []}, geometry=[], crs=4326),
        routes=pd.DataFrame(columns=ROUTE_COLUMNS),
        network={},
        reach={},
        seconds={},
    )


def concat_frames(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """One WGS-84 GeoDataFrame of `frames`, with a fresh index."""
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=4326)


def _sum_network(parts: tuple[dict[str, object], ...]) -> dict[str, dict[str, object]]:
    """Nodes and edges routed over, summed over tiles (the buffers overlap, so more than the area has)."""
    out: dict[str, dict[str, object]] = {}
    for mode in MODES:
        nets = [p["network"][mode] for p in parts if mode in p["network"]]  # type: ignore[operator,index]
        out[mode] = {
            "nodes": sum(n["nodes"] for n in nets),
            "edges": sum(n["edges"] for n in nets),
            "speed_kmh": nets[0]["speed_kmh"] if nets else None,
            "tiles_with_schools": len(nets),
        }
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
