"""Run a whole city build: OSM → schools + venues → walk/bike reach → published files and maps."""

from __future__ import annotations

import dataclasses
import time
from datetime import date
from functools import partial
from pathlib import Path

import geopandas as gpd
import shapely

from mapgen import osm_extract
from mapgen.atomic import staged_folder
from mapgen.basemap import basemap_layers
from mapgen.cache import file_digest
from mapgen.config import MODES, OSM_ATTRIBUTION, CityConfig, Settings
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
from mapgen.modes import ModesReach, graphs_beside, reach_by_mode
from mapgen.network import street_graph
from mapgen.places import feature_keys, load_extract, name_unnamed_schools, select_schools, select_venues, with_language
from mapgen.prefetch import ExtractGetter
from mapgen.processes import beside
from mapgen.progress import stage
from mapgen.publish import write_contract
from mapgen.publish.files import write_summary
from mapgen.publish.finish import finish_build
from mapgen.publish.sheetdata import write_sheet_inputs
from mapgen.publish.sheetproc import sheet_process
from mapgen.taxonomy import Taxonomy, load_taxonomy
from mapgen.textsafe import write_person_csv

# Margin around the schools' bike circles kept in basemap.parquet, as a share of their extent
# (a sheet's map widens one circle to the A4 picture's aspect ratio).
BASEMAP_MARGIN = 0.3


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
    from mapgen.publish.maps import write_maps  # folium, imported once the PDF sheets' workers are forked

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
    extract: ExtractGetter | None = None,
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
    extract
        The city's extract being loaded already (:func:`mapgen.prefetch.load_extract_beside`),
        else it is loaded here.

    Returns
    -------
    Summary
        The build summary (also written to ``summary.json``).
    """
    with staged_folder(out_dir, SUMMARY_FILE) as work:
        summary = _build_into(city, work, bbox, quiet, final=Path(out_dir), early=extract)
        summary.outputs = {k: v.replace(str(work), str(Path(out_dir)), 1) for k, v in summary.outputs.items()}
        write_summary(work, summary)
    return summary


def _build_into(
    city: CityConfig,
    out: Path,
    bbox: tuple[float, float, float, float] | None,
    quiet: bool,
    final: Path,
    early: ExtractGetter | None,
) -> Summary:
    """Build every output of `city` into the (staging) folder `out`, to become `final`; return the summary.

    The extract comes from `early` where it is being loaded already.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    # the process that will render the PDF sheets, forked first: it loads the renderer on the second core
    # while this one reads the extract (on one core)
    with sheet_process(city.settings) as sheets_by:
        taxonomy = load_taxonomy(city.categories)
        extract, downloaded = early() if early else load_extract(city, feature_keys(city, taxonomy), quiet)
        data_date = date.today().isoformat() if downloaded else extract.data_date
        if bbox is not None:
            extract = osm_extract.clip_extract(extract, bbox)
        city = with_language(city, extract)
        timings["read"] = time.perf_counter() - started
        graph_key = None if downloaded or city.osm is None else f"{file_digest(city.osm)} bbox={bbox}"
        graph_builder = partial(street_graph, cache_key=graph_key)
        cached = graph_key is not None and city.settings.graph_cache
        # the area the data covers and the graphs (into the cache), found by forked processes while this one
        # selects places (and routes)
        with (
            beside(partial(data_area, extract), fork=city.settings.parallel_modes) as area,
            graphs_beside(extract, city.settings, graph_builder, cached) as graphs_cached,
        ):
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
            graphs_cached()
            reached = reach_by_mode(
                extract,
                schools,
                venues,
                city.settings,
                review,
                quiet,
                graph_builder=graph_builder,
                parallel=city.settings.parallel_modes,
            )
            timings.update(reached.seconds)
            schools, reached = mark_data_edge(extract.source, area(), schools, reached, city.settings, truth)

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
        # the sheets with most venues first, so that the last ones to finish are short and no core waits long
        rows = reached.pairs.loc[~reached.pairs["on_campus"], "school_id"].value_counts()
        school_ids = sorted(schools["school_id"], key=lambda school_id: -rows.get(school_id, 0))
        finish_build(
            out,
            summary,
            timings,
            started,
            len(schools),
            quiet,
            final=final,
            meanwhile=maps,
            sheets_by=sheets_by,
            school_ids=school_ids,
        )
    return summary


def mark_data_edge(
    source: str,
    area: shapely.Geometry,
    schools: gpd.GeoDataFrame,
    reached: ModesReach,
    settings: Settings,
    report: dict[str, object],
) -> tuple[gpd.GeoDataFrame, ModesReach]:
    """Flag the isochrones that reach the edge of the data `area` (``reaches_data_edge``); count them in `report`.

    `area` is :func:`mapgen.edge.data_area` of the extract named `source` (a region build
    gets it for the whole shared extract from its cut plan).

    With ``settings.inner_schools_only`` the schools with a flagged isochrone are left out
    (their pairs, routes and isochrones too).

    Raises
    ------
    NoSchoolsError
        When every school's circles reach the edge of the data and only inner schools are wanted.
    """
    iso = reached.isochrones
    iso["reaches_data_edge"] = reaches_data_edge(iso, area, settings.data_edge_m)
    report["isochrones_at_data_edge"] = {m: int(iso.loc[iso["mode"] == m, "reaches_data_edge"].sum()) for m in MODES}
    if not settings.inner_schools_only:
        return schools, reached
    edge = set(iso.loc[iso["reaches_data_edge"], "school_id"])
    report["schools_left_out_at_data_edge"] = sorted(edge)
    if edge >= set(schools["school_id"]):
        raise NoSchoolsError(f"{source}: every school's circles reach the edge of the data (inner_schools_only)")
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
