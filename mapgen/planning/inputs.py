"""A built city read for planning: its contract tables, the OSM extract with planning keys and both street graphs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from mapgen.config import MODES, CityConfig, Mode, Settings
from mapgen.contract import SUMMARY_FILE, BuildFolder
from mapgen.errors import InputFileError
from mapgen.network import StreetGraph, street_graph
from mapgen.osm_extract import OsmExtract
from mapgen.progress import stage
from mapgen.taxonomy import Taxonomy, load_taxonomy

# OSM keys the planner reads beyond the venue taxonomy: candidate sites and homes.
PLANNING_KEYS = frozenset({"amenity", "building", "landuse"})


@dataclass(frozen=True)
class PlanningInputs:
    """A built city ready for planning: its contract tables, the OSM extract and both street graphs."""

    city: CityConfig
    build_dir: Path
    settings: Settings  # as used by the build (from summary.json)
    taxonomy: Taxonomy
    schools: gpd.GeoDataFrame  # contract columns, point geometry, ``footprint`` (campus) column
    venues: gpd.GeoDataFrame  # contract columns, point geometry, ``footprint`` (outline) column
    pairs: pd.DataFrame  # reachability.csv without the pairs on a school's own grounds
    extract: OsmExtract  # features include buildings, landuse and amenities
    graphs: dict[Mode, StreetGraph]


def ensure_build(city: CityConfig, out_dir: str | Path, quiet: bool = True) -> Path:
    """Return `out_dir` holding a build of `city`, building it first when ``summary.json`` is missing.

    Parameters
    ----------
    city
        The city configuration.
    out_dir
        Output folder of the build (created when needed).
    quiet
        No progress output.

    Returns
    -------
    pathlib.Path
    """
    from mapgen.pipeline import build_city

    out = Path(out_dir)
    if not (out / SUMMARY_FILE).is_file():
        build_city(city, out, quiet=quiet)
    return out


def load_inputs(build_dir: str | Path, city: CityConfig, quiet: bool = True) -> PlanningInputs:
    """Read a build's contract files, the city's OSM extract and its walk and bike graphs.

    Schools and venues come from the build (``schools.geojson``, ``venues.geojson``, read
    through :class:`mapgen.contract.BuildFolder`) and get their full OSM footprints back
    from the extract, so campuses and parks are entered from their outline exactly as in
    the build.

    Parameters
    ----------
    build_dir
        Output folder of ``mapgen build``.
    city
        The configuration the build was made from (extract, taxonomy, tiles, ``[planning]``).
    quiet
        No progress output.

    Returns
    -------
    PlanningInputs

    Raises
    ------
    InputFileError
        When a contract file is missing or unreadable, or the build is of another city.
    """
    from mapgen.places import load_extract

    build = BuildFolder(build_dir)
    summary = build.summary
    if summary.city != city.name:
        raise InputFileError(f"{build.path(SUMMARY_FILE)}: a build of {summary.city!r}, not of {city.name!r}")
    settings = summary.settings
    taxonomy = load_taxonomy(city.categories)
    extract, _ = load_extract(city, set(taxonomy.tag_keys) | PLANNING_KEYS, quiet)
    schools = build.schools.copy()
    venues = build.venues
    if "public" in venues and not settings.include_non_public_venues:  # school grounds are no one's outing
        venues = venues[venues["public"].astype(str).str.lower() != "false"]
    venues = venues.reset_index(drop=True)
    schools["footprint"] = restore_footprints(schools, extract.features)
    venues["footprint"] = restore_footprints(venues, extract.features)
    pairs = build.pairs
    pairs = pairs[~pairs["on_campus"]].reset_index(drop=True)
    graphs: dict[Mode, StreetGraph] = {}
    for mode in MODES:
        with stage(f"Building {mode} network", quiet=quiet):
            graphs[mode] = street_graph(extract, mode, settings)
    return PlanningInputs(city, build.folder, settings, taxonomy, schools, venues, pairs, extract, graphs)


def restore_footprints(places: gpd.GeoDataFrame, features: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Full OSM geometry (campus, park outline) of each place by its ``osm_id``; its point where none is found.

    Parameters
    ----------
    places
        Schools or venues of a build, with ``osm_id`` (``way/123``) and point geometry.
    features
        OSM features of the extract (``element``, ``osm_id``, geometry).

    Returns
    -------
    geopandas.GeoSeries
        WGS-84 footprints aligned with `places`.
    """
    key = features["element"].astype(str) + "/" + features["osm_id"].astype(str)
    lookup = pd.Series(features.geometry.values, index=key.values)
    lookup = lookup[~lookup.index.duplicated()]
    found = places["osm_id"].map(lookup)
    return gpd.GeoSeries(np.where(found.isna(), places.geometry.values, found.values), index=places.index, crs=4326)
