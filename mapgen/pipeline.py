"""Run a whole city build: OSM → schools + venues → walk/bike reach → published files and maps."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import geopandas as gpd
import pandas as pd

from mapgen import osm_extract
from mapgen.atomic import staged_folder
from mapgen.basemap import basemap_layers
from mapgen.cache import file_digest
from mapgen.campus import outing_pairs, school_grounds
from mapgen.config import MODES, OSM_ATTRIBUTION, CityConfig, Mode, Settings
from mapgen.contract import (
    REVIEW_FILE,
    SUMMARY_FILE,
    ReviewLog,
    Summary,
    SummaryCategory,
    SummaryCounts,
    SummarySource,
)
from mapgen.edge import data_area, reaches_data_edge
from mapgen.errors import NoSchoolsError
from mapgen.network import StreetGraph, street_graph
from mapgen.places import feature_keys, load_extract, name_unnamed_schools, select_schools, select_venues, with_language
from mapgen.progress import stage
from mapgen.publish import write_contract, write_maps
from mapgen.publish.files import write_summary
from mapgen.publish.finish import finish_build
from mapgen.publish.sheetdata import write_sheet_inputs
from mapgen.reach import schools_reach
from mapgen.routes import routes_summary
from mapgen.taxonomy import Taxonomy, load_taxonomy
from mapgen.textsafe import write_person_csv

# Margin around the schools' bike circles kept in basemap.parquet, as a share of their extent
# (a sheet's map widens one circle to the A4 picture's aspect ratio).
BASEMAP_MARGIN = 0.3


@dataclass
class ModesReach:
    """Walk and bike results of one build: pairs, isochrones and per-mode counts and timings."""

    pairs: pd.DataFrame
    isochrones: gpd.GeoDataFrame
    routes: pd.DataFrame  # main-road summary of every school → venue route (mapgen.routes)
    network: dict[str, dict[str, object]]
    reach: dict[str, dict[str, object]]
    seconds: dict[str, float]


def reach_by_mode(
    extract: osm_extract.OsmExtract,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    settings: Settings,
    review: ReviewLog,
    quiet: bool = False,
    graph_builder: Callable[[osm_extract.OsmExtract, Mode, Settings], StreetGraph] = street_graph,
    parallel: bool = False,
) -> ModesReach:
    """Build the walk and bike graphs and route from every school to every venue.

    Parameters
    ----------
    extract
        The OSM extract the graphs are built from.
    schools, venues
        Places with ``school_id`` / ``venue_id`` and ``footprint``.
    settings
        Speeds, limit and snapping.
    review
        Collects schools that are not on a network.
    quiet
        No progress output.
    graph_builder
        Function building a mode's graph (default :func:`mapgen.network.street_graph`).
    parallel
        Build and route bike in a forked process while walk is routed here (when this
        process may fork and the machine has more than one core); the result is the same.

    Returns
    -------
    ModesReach
    """
    grounds = school_grounds(extract.features, settings)
    job = partial(_mode_reach, extract, schools, venues, settings, grounds, graph_builder)
    forked = (
        parallel
        and (os.cpu_count() or 1) > 1
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )
    if forked:
        *here, there = MODES
        global _MODE_JOB
        _MODE_JOB = job
        try:
            with multiprocessing.get_context("fork").Pool(1) as pool:
                other = pool.apply_async(_forked_mode_reach, (there,))
                results = [job(mode, quiet) for mode in here]
                with stage(f"Routing {there} from schools (in a second process)", quiet=quiet):
                    results.append(other.get())
        finally:
            _MODE_JOB = None
    else:
        results = [job(mode, quiet) for mode in MODES]
    for result in results:
        for school_id in result.unattached_schools:
            review.add(
                extract.source,
                school_id,
                "geometry",
                f"school farther than {settings.max_snap_m:g} m from any {result.mode} street",
            )
    return ModesReach(
        pairs=pd.concat([r.pairs for r in results], ignore_index=True),
        isochrones=gpd.GeoDataFrame(
            pd.concat([r.isochrones for r in results], ignore_index=True), geometry="geometry", crs=4326
        ),
        routes=pd.concat([r.routes for r in results], ignore_index=True),
        network={r.mode: r.network for r in results},
        reach={r.mode: r.reach for r in results},
        seconds={r.mode: r.seconds for r in results},
    )


@dataclass
class _ModeResult:
    """One mode's part of :class:`ModesReach` (sent back from a forked process)."""

    mode: Mode
    pairs: pd.DataFrame
    isochrones: gpd.GeoDataFrame
    routes: pd.DataFrame
    network: dict[str, object]
    reach: dict[str, object]
    unattached_schools: list[str]
    seconds: float


_MODE_JOB: Callable[[Mode, bool], _ModeResult] | None = None  # what the forked process of reach_by_mode runs


def _forked_mode_reach(mode: Mode) -> _ModeResult:
    assert _MODE_JOB is not None, "mode process started without its job"
    return _MODE_JOB(mode, True)


def _mode_reach(
    extract: osm_extract.OsmExtract,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    settings: Settings,
    grounds: gpd.GeoDataFrame,
    graph_builder: Callable[[osm_extract.OsmExtract, Mode, Settings], StreetGraph],
    mode: Mode,
    quiet: bool,
) -> _ModeResult:
    """Build `mode`'s graph, route from every school to every venue and check the routes for main roads."""
    t0 = time.perf_counter()
    with stage(f"Building {mode} network", quiet=quiet):
        graph = graph_builder(extract, mode, settings)
    with stage(f"Routing {mode} from schools", total=len(schools), quiet=quiet) as advance:
        reach = schools_reach(graph, schools, venues, settings, progress=advance)
    with stage(f"Checking {mode} routes for main roads", total=len(schools), quiet=quiet) as advance:
        routes = routes_summary(graph, schools, venues, settings, progress=advance)
    pairs = outing_pairs(reach.pairs, schools, venues, grounds, settings)
    return _ModeResult(
        mode=mode,
        pairs=pairs,
        isochrones=reach.isochrones,
        # one route per listed pair: pairs to venues not open to the public have none
        routes=routes.merge(pairs[["school_id", "venue_id", "mode"]], on=["school_id", "venue_id", "mode"]),
        network={"nodes": graph.n_nodes, "edges": len(graph.edge_u), "speed_kmh": graph.speed_kmh},
        reach={
            "pairs": len(pairs),
            "on_campus_pairs": int(pairs["on_campus"].sum()),
            "schools_reaching_a_venue": int(reach.pairs["school_id"].nunique()),
            "isochrones": len(reach.isochrones),
            "schools_not_on_network": reach.unattached_schools,
            "venues_not_on_network": len(reach.unattached_venues),
        },
        unattached_schools=list(reach.unattached_schools),
        seconds=time.perf_counter() - t0,
    )


def publish_city(
    out: Path,
    city: CityConfig,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    reached: ModesReach,
    basemap: gpd.GeoDataFrame,
    taxonomy: Taxonomy,
    review: ReviewLog,
    quiet: bool = False,
) -> dict[str, str]:
    """Write the contract files, the PDF sheets' inputs, the maps and ``review.csv`` (removed when empty).

    Returns
    -------
    dict
        Output name → path.
    """
    outputs = publish_files(out, schools, venues, reached, basemap, review)
    write_city_maps(out, city, schools, venues, reached, taxonomy, quiet)
    return outputs


def publish_files(
    out: Path,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    reached: ModesReach,
    basemap: gpd.GeoDataFrame,
    review: ReviewLog,
) -> dict[str, str]:
    """Write the contract files, the PDF sheets' inputs and ``review.csv`` (removed when empty).

    Returns
    -------
    dict
        Output name → path, the maps' too (:func:`write_city_maps` writes them).
    """
    outputs = write_contract(out, schools, venues, reached.isochrones, reached.pairs)
    outputs.update(write_sheet_inputs(out, reached.routes, basemap))
    outputs.update({"index": str(out / "index.html"), "school_pages": str(out / "schools")})
    review_path = out / REVIEW_FILE
    if review:
        write_person_csv(review.frame(), review_path)
        outputs["review"] = str(review_path)
    else:
        review_path.unlink(missing_ok=True)
    return outputs


def write_city_maps(
    out: Path,
    city: CityConfig,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    reached: ModesReach,
    taxonomy: Taxonomy,
    quiet: bool = False,
) -> None:
    """Write ``index.html`` and the school pages (a school's own grounds apart, other schools' left out)."""
    with stage("Writing maps", total=len(schools), quiet=quiet) as advance:
        write_maps(
            out,
            city,
            schools,
            venues,
            reached.isochrones,
            reached.pairs,
            taxonomy,
            progress=advance,
            language=city.settings.language or "zh",
            routes=reached.routes,
        )


def build_city(
    city: CityConfig,
    out_dir: str | Path,
    bbox: tuple[float, float, float, float] | None = None,
    quiet: bool = False,
) -> Summary:
    """Build every output of the contract for one city.

    Parameters
    ----------
    city
        The city configuration.
    out_dir
        Output folder (created). The build writes a sibling folder and swaps it in when
        complete (:func:`mapgen.atomic.staged_folder`): a killed build leaves the previous
        output as it was.
    bbox
        Optional (west, south, east, north) to build only part of the extract.
    quiet
        No progress output.

    Returns
    -------
    Summary
        The build summary (also written to ``summary.json``).
    """
    with staged_folder(out_dir, SUMMARY_FILE) as work:
        summary = _build_into(city, work, bbox, quiet, final=Path(out_dir))
        summary.outputs = {k: v.replace(str(work), str(Path(out_dir)), 1) for k, v in summary.outputs.items()}
        write_summary(work, summary)
    return summary


def _build_into(
    city: CityConfig, out: Path, bbox: tuple[float, float, float, float] | None, quiet: bool, final: Path
) -> Summary:
    """Build every output of `city` into the (staging) folder `out`, to become `final`; return the summary."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    taxonomy = load_taxonomy(city.categories)
    extract, downloaded = load_extract(city, feature_keys(city, taxonomy), quiet)
    data_date = date.today().isoformat() if downloaded else extract.data_date
    if bbox is not None:
        extract = osm_extract.clip_extract(extract, bbox)
    city = with_language(city, extract)
    timings["read"] = time.perf_counter() - started

    review = ReviewLog()
    schools = name_unnamed_schools(select_schools(extract.features, city, review), extract, city.settings)
    if schools.empty:
        raise NoSchoolsError(
            f"{extract.source}: no schools found "
            f"(amenity=school{', kindergarten' if city.settings.include_kindergartens else ''}); "
            "add a school list with schools_csv in the city file"
        )
    truth: dict[str, object] = {"language": city.settings.language}
    venues, catalogues = select_venues(extract, city, taxonomy, review, quiet, report=truth)
    graph_key = None if downloaded or city.osm is None else f"{file_digest(city.osm)} bbox={bbox}"
    reached = reach_by_mode(
        extract,
        schools,
        venues,
        city.settings,
        review,
        quiet,
        graph_builder=partial(street_graph, cache_key=graph_key),
        parallel=city.settings.parallel_modes,
    )
    timings.update(reached.seconds)
    schools, reached = mark_data_edge(extract, schools, reached, city.settings, truth)

    t0 = time.perf_counter()
    basemap = sheet_basemap(extract, reached.isochrones)
    outputs = publish_files(out, schools, venues, reached, basemap, review)
    timings["publish"] = time.perf_counter() - t0

    def maps() -> None:  # written while forked processes render the PDF sheets
        t0 = time.perf_counter()
        write_city_maps(out, city, schools, venues, reached, taxonomy, quiet)
        timings["publish"] += time.perf_counter() - t0

    summary = city_summary(
        city,
        extract.source,
        downloaded,
        data_date,
        schools,
        venues,
        catalogues,
        reached,
        taxonomy,
        review,
        outputs,
        timings,
    )
    summary.truth = truth
    finish_build(out, summary, timings, started, len(schools), quiet, final=final, meanwhile=maps)
    return summary


def mark_data_edge(
    extract: osm_extract.OsmExtract,
    schools: gpd.GeoDataFrame,
    reached: ModesReach,
    settings: Settings,
    report: dict[str, object],
) -> tuple[gpd.GeoDataFrame, ModesReach]:
    """Flag the isochrones that reach the edge of the data (``reaches_data_edge``); count them in `report`.

    With ``settings.inner_schools_only`` the schools with a flagged isochrone are left out
    (their pairs, routes and isochrones too).

    Raises
    ------
    NoSchoolsError
        When every school's circles reach the edge of the data and only inner schools are wanted.
    """
    iso = reached.isochrones
    iso["reaches_data_edge"] = reaches_data_edge(iso, data_area(extract), settings.data_edge_m)
    report["isochrones_at_data_edge"] = {m: int(iso.loc[iso["mode"] == m, "reaches_data_edge"].sum()) for m in MODES}
    if not settings.inner_schools_only:
        return schools, reached
    edge = set(iso.loc[iso["reaches_data_edge"], "school_id"])
    report["schools_left_out_at_data_edge"] = sorted(edge)
    if edge >= set(schools["school_id"]):
        raise NoSchoolsError(
            f"{extract.source}: every school's circles reach the edge of the data (inner_schools_only)"
        )
    inner = schools[~schools["school_id"].isin(edge)]
    return inner, dataclasses.replace(
        reached,
        pairs=reached.pairs[~reached.pairs["school_id"].isin(edge)].reset_index(drop=True),
        isochrones=iso[~iso["school_id"].isin(edge)].reset_index(drop=True),
        routes=reached.routes[~reached.routes["school_id"].isin(edge)].reset_index(drop=True),
    )


def sheet_basemap(extract: osm_extract.OsmExtract, isochrones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Base-map layers of the PDF sheets: the extract around the schools' bike circles (plus a margin)."""
    west, south, east, north = isochrones[isochrones["mode"] == "bike"].total_bounds
    pad = BASEMAP_MARGIN * max(east - west, north - south)
    return basemap_layers(extract, (west - pad, south - pad, east + pad, north + pad))


def city_summary(
    city: CityConfig,
    source: str,
    downloaded: bool,
    data_date: str | None,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    catalogues: dict[str, object],
    reached: ModesReach,
    taxonomy: Taxonomy,
    review: ReviewLog,
    outputs: dict[str, str],
    timings: dict[str, float],
) -> Summary:
    """Return the ``summary.json`` content of a build (see docs/output-contract.md)."""
    n_osm = int(schools["from_osm"].sum())
    return Summary(
        city=city.name,
        title=city.display_title,
        source=SummarySource(osm=source, downloaded_with_osmnx=downloaded, data_date=data_date),
        attribution=OSM_ATTRIBUTION,
        settings=city.settings,
        tiles=city.tiles,
        counts=SummaryCounts(
            schools=len(schools),
            schools_from_osm=n_osm,
            schools_from_csv=len(schools) - n_osm,
            venues=len(venues),
            public_venues=int(venues["public"].fillna(True).astype(bool).sum()) if "public" in venues else len(venues),
            venues_by_category={k: int(n) for k, n in venues["category"].value_counts().items()},
            rejected_rows=len(review),
        ),
        categories=[SummaryCategory(key=c.key, zh=c.zh, en=c.en, color=c.color) for c in taxonomy.categories],
        catalogues=catalogues,
        school_list=schools.attrs.get("school_list", {}),
        network=reached.network,
        reach=reached.reach,
        outputs=outputs,
        seconds={k: round(v, 2) for k, v in timings.items()},
    )
