"""The places of one build: its extract read once (file or download), its schools and venues selected and named."""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import pandas as pd

from mapgen import osm_extract
from mapgen.basemap import BASEMAP_KEYS
from mapgen.cache import cached, file_digest
from mapgen.catalog import add_catalogues
from mapgen.config import CityConfig, Settings
from mapgen.contract import (
    ReviewLog,
)
from mapgen.errors import ConfigError, InputFileError
from mapgen.naming import SCHOOL_WORDS, city_language, generated_names, place_title
from mapgen.progress import say, stage
from mapgen.school_list import reconcile_school_list
from mapgen.schools import schools_from_csv, schools_from_osm
from mapgen.taxonomy import Taxonomy
from mapgen.textsafe import console_text
from mapgen.venues import settle_venues, venues_from_osm


def load_extract(city: CityConfig, feature_keys: set[str], quiet: bool = False) -> tuple[osm_extract.OsmExtract, bool]:
    """Read the city's OSM extract, or download the same area with osmnx when the file is absent.

    Returns
    -------
    tuple
        The extract and whether it was downloaded.
    """
    if city.osm is not None and city.osm.exists():
        osm = city.osm
        with stage(f"Reading {osm.name}", quiet=quiet):
            key = {"osm": file_digest(osm), "feature_keys": sorted(feature_keys), "way_tags": osm_extract.WAY_TAGS}
            extract = cached(
                "extract",
                key,
                lambda: osm_extract.read_osm(osm, feature_keys),
                city.settings,
                osm_extract.extract_arrays,
                osm_extract.extract_from_arrays,
            )
            return dataclasses.replace(extract, source=str(osm)), False
    if city.download_bbox is None:
        if city.osm is None:
            raise ConfigError(f"{city.name}: no `osm` extract and no `download_bbox` configured")
        raise InputFileError(f"{city.osm}: OSM file not found, and no download_bbox to download the area instead")
    say(
        f"[yellow]OSM extract {console_text(city.osm)} not found (is ../shared/data beside the project?). "
        f"Downloading the same area, bbox {list(city.download_bbox)}, from OpenStreetMap's Overpass API "
        "with osmnx; this needs internet access.[/yellow]",
        quiet,
    )
    with stage("Downloading with osmnx", quiet=quiet):
        return osm_extract.download_extract(city.download_bbox, feature_keys), True


def feature_keys(city: CityConfig, taxonomy: Taxonomy) -> set[str]:
    """OSM tag keys a build reads as features: the taxonomy's, schools', and named places when geocoding catalogues."""
    gazetteer_keys = {"name", "addr:housenumber"} if city.catalogues or city.school_list else set()  # named places
    return set(taxonomy.tag_keys) | {"amenity", "place", "boundary"} | gazetteer_keys | BASEMAP_KEYS


def with_language(city: CityConfig, extract: osm_extract.OsmExtract) -> CityConfig:
    """The city with its language decided (:func:`mapgen.naming.city_language`) and a title.

    The title is the city file's, else the name of the extract's main place (``place=city``…),
    else the city's short name.
    """
    language = city_language(extract.features, extract.bounds, city.settings)
    title = city.title or place_title(extract.features, extract.bounds, language)
    return city.model_copy(update={"title": title, "settings": city.settings.model_copy(update={"language": language})})


def select_venues(
    extract: osm_extract.OsmExtract,
    city: CityConfig,
    taxonomy: Taxonomy,
    review: ReviewLog,
    quiet: bool = False,
    report: dict[str, object] | None = None,
) -> tuple[gpd.GeoDataFrame, dict[str, object]]:
    """Venues of a city: OSM features classified by the taxonomy, one per place, named, merged with catalogues.

    `report`, when given, receives what :func:`mapgen.venues.settle_venues` merged and named.

    Returns
    -------
    tuple
        The venues and, per catalogue, its import summary (empty without catalogues).
    """
    settings = with_language(city, extract).settings if city.settings.language is None else city.settings
    venues, settled = settle_venues(
        venues_from_osm(extract.features, taxonomy, settings), extract.features, extract.highways, taxonomy, settings
    )
    if report is not None:
        report.update(settled)
    if not city.catalogues:
        return venues, {}
    return add_catalogues(city, extract.features, extract.bounds, taxonomy, venues, review, quiet)


def select_schools(features: gpd.GeoDataFrame, city: CityConfig, review: ReviewLog) -> gpd.GeoDataFrame:
    """Schools of a city: OSM schools in `features` (reconciled with its official list), plus or instead of its CSV.

    Parameters
    ----------
    features
        Tagged OSM features (WGS-84).
    city
        The city configuration (school settings, ``school_list``, ``schools_csv``, ``schools_csv_mode``).
    review
        Collects rejected CSV rows and official schools not found.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`~mapgen.schools.SCHOOL_COLUMNS`, ``geometry``, ``footprint`` and ``from_osm`` (bool);
        ``attrs["school_list"]`` is the official list's summary (``{}`` without one).
    """
    osm_schools = schools_from_osm(features, city.settings).assign(from_osm=True)
    official = None
    if city.school_list is not None:  # the official list's names and ids on OSM's positions and campuses
        official = reconcile_school_list(city.school_list, osm_schools, features, city.catalogue)
        osm_schools = official.schools.drop(columns=["match_name", "match_confidence", "match_method"])
        review.extend(official.review)
    schools = osm_schools
    if city.schools_csv is not None:
        listed = schools_from_csv(city.schools_csv, review, city.catalogue).assign(from_osm=False)
        schools = listed if city.schools_csv_mode == "replace" else pd.concat([osm_schools, listed], ignore_index=True)
    result = gpd.GeoDataFrame(schools, geometry="geometry", crs=4326)
    result.attrs["school_list"] = official.summary if official is not None else {}
    return result


def name_unnamed_schools(
    schools: gpd.GeoDataFrame, extract: osm_extract.OsmExtract, settings: Settings
) -> gpd.GeoDataFrame:
    """Schools mapped without a name, named by place in the build's language (``珠江路旁学校``, ``School, Hauptstraße``)."""
    unnamed = (
        ~schools["named"].fillna(True).astype(bool) if "named" in schools else pd.Series(False, index=schools.index)
    )
    if not unnamed.any():
        return schools
    language = settings.language or "en"
    word = pd.Series(SCHOOL_WORDS.get(language, SCHOOL_WORDS["en"]), index=schools.index[unnamed])
    named = generated_names(schools[unnamed], word, extract.features, extract.highways, language, settings)
    return schools.assign(name=schools["name"].where(~unnamed, named))
