"""Human names in the city's language: the city's language and title, names for unnamed venues."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from mapgen.config import Language, Settings
from mapgen.geo import transformers, utm_crs_of_bounds
from mapgen.osm_extract import HighwayWay, feature_tags

#: Time zones of the places whose language is Chinese (mainland, Hong Kong, Macau, Taiwan).
CHINESE_TIME_ZONES = frozenset(
    {
        "Asia/Shanghai",
        "Asia/Urumqi",
        "Asia/Chongqing",
        "Asia/Harbin",
        "Asia/Kashgar",
        "Asia/Hong_Kong",
        "Asia/Macau",
        "Asia/Taipei",
    }
)
CHINESE_COUNTRIES = frozenset({"CN", "HK", "MO", "TW"})
#: ``place=*`` values that can title a build, most important first.
PLACE_RANKS = ("city", "town", "municipality", "borough", "suburb")
#: Highest ``admin_level`` of a boundary that can title a build (a city or district, not a neighbourhood).
TITLE_ADMIN_LEVEL = 8
#: A name that is an OSM tag value (``park``, ``体育场地（basketball）``): what no venue may be called.
RAW_TAG_NAME = re.compile(r"[（(][a-z_;: ]+[)）]|^[a-z_;:]+$")
_CONTAINER_AMENITIES = ("school", "university", "college", "kindergarten")
#: What an unnamed school is called, before its place.
SCHOOL_WORDS = {"zh": "学校", "en": "School", "de": "Schule"}


def city_language(
    features: gpd.GeoDataFrame, bounds: tuple[float, float, float, float], settings: Settings
) -> Language:
    """The language of a build: ``settings.language`` when set, else Chinese for places in China, else English.

    A place is in China when most features with ``addr:country`` say CN (HK, MO, TW), or, without
    such tags, when the extract's centre lies in a Chinese time zone.

    Parameters
    ----------
    features
        Tagged OSM features.
    bounds
        (west, south, east, north) of the extract.
    settings
        ``language`` (None: decide).

    Returns
    -------
    str
        ``zh``, ``en`` or ``de``.
    """
    if settings.language is not None:
        return settings.language
    countries = features["addr:country"].dropna().str.upper() if "addr:country" in features else pd.Series([])
    if len(countries):
        return "zh" if countries.isin(CHINESE_COUNTRIES).mean() > 0.5 else "en"
    from timezonefinder import TimezoneFinder

    west, south, east, north = bounds
    zone = TimezoneFinder().timezone_at(lng=(west + east) / 2, lat=(south + north) / 2)
    return "zh" if zone in CHINESE_TIME_ZONES else "en"


def local_name(tags: Mapping[str, object], language: str) -> str:
    """A feature's name in `language` (``name:<language>``), else its ``name``; ``""`` when unnamed."""
    for key in (f"name:{language}", "name"):
        value = tags.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def place_title(features: gpd.GeoDataFrame, bounds: tuple[float, float, float, float], language: str) -> str | None:
    """The name of the most important place in the extract (``place=city``, else town, …), nearest its centre.

    Without such a place, the most local administrative boundary (``admin_level`` up to
    :data:`TITLE_ADMIN_LEVEL`) that holds the extract's centre.

    Parameters
    ----------
    features
        Tagged OSM features (read with ``place`` among the feature keys).
    bounds
        (west, south, east, north) of the extract.
    language
        Language of the name (``name:<language>`` preferred).

    Returns
    -------
    str or None
        None when the extract names no place.
    """
    if "name" not in features:
        return None
    west, south, east, north = bounds
    centre = shapely.Point((west + east) / 2, (south + north) / 2)
    places = (
        features[features["place"].isin(PLACE_RANKS) & features["name"].notna()]
        if "place" in features
        else features.iloc[:0]
    )
    if places.empty:
        return _boundary_title(features, centre, language)
    rank = places["place"].map({p: i for i, p in enumerate(PLACE_RANKS)})
    order = pd.DataFrame(
        {"rank": rank, "distance": shapely.distance(places.geometry.values, centre)}, index=places.index
    ).sort_values(["rank", "distance"])
    best = places.loc[order.index[0]]
    return local_name({k: v for k, v in best.items() if isinstance(v, str)}, language) or None


def _boundary_title(features: gpd.GeoDataFrame, centre: shapely.Point, language: str) -> str | None:
    if "boundary" not in features or "admin_level" not in features:
        return None
    level = pd.to_numeric(features["admin_level"], errors="coerce")
    areas = features[
        (features["boundary"] == "administrative")
        & (level <= TITLE_ADMIN_LEVEL)
        & features["name"].notna()
        & features.geom_type.isin(["Polygon", "MultiPolygon"])
    ]
    areas = areas[areas.geometry.contains(centre)]
    if areas.empty:
        return None
    best = areas.loc[level[areas.index].idxmax()]
    return local_name({k: v for k, v in best.items() if isinstance(v, str)}, language) or None


def generated_names(
    venues: gpd.GeoDataFrame,
    words: pd.Series,
    features: gpd.GeoDataFrame,
    highways: Sequence[HighwayWay],
    language: str,
    settings: Settings,
) -> pd.Series:
    """Names for unnamed venues: the facility word, made distinct by the place it lies in.

    The place is the smallest named park, sports centre or campus that holds the venue
    (``玄武湖公园篮球场``, ``Basketball court, Hauptstraße``… in the city's language), else the
    nearest named street within ``settings.name_street_m`` (``珠江路旁篮球场``); names still
    shared by several venues are numbered from west to east (``…（2）``, ``… (2)``).

    Parameters
    ----------
    venues
        Venues to name: ``osm_id``, point ``geometry``, ``footprint`` (WGS-84).
    words
        The facility word of each venue in `language`, aligned with `venues`.
    features
        Tagged OSM features: the named containers.
    highways
        Street ways of the extract: the named streets.
    language
        ``zh``, ``en`` or ``de``.
    settings
        ``facility_parents`` (leisure values of containers), ``name_street_m``.

    Returns
    -------
    pandas.Series
        A name per venue, aligned with `venues`.
    """
    if venues.empty:
        return pd.Series([], index=venues.index, dtype=object)
    crs = utm_crs_of_bounds(venues.total_bounds)
    points = venues.geometry.to_crs(crs)
    inside = _container_names(venues, features, language, settings.facility_parents)
    street = _street_names(points, highways, language, settings.name_street_m, crs)
    names = []
    for word, container, road in zip(words, inside, street, strict=True):
        if language == "zh":
            names.append(f"{container}{word}" if container else f"{road}旁{word}" if road else word)
        else:
            names.append(f"{word}, {container}" if container else f"{word}, {road}" if road else word)
    result = pd.Series(names, index=venues.index, dtype=object)
    x = points.x
    for _, same in result.groupby(result):
        if len(same) > 1:
            for i, idx in enumerate(x[same.index].sort_values().index[1:], start=2):
                result[idx] = f"{result[idx]}（{i}）" if language == "zh" else f"{result[idx]} ({i})"
    return result


def _container_names(
    venues: gpd.GeoDataFrame, features: gpd.GeoDataFrame, language: str, parent_leisure: Sequence[str]
) -> list[str]:
    empty = [""] * len(venues)
    if "name" not in features or features.empty:
        return empty
    parents = pd.Series(False, index=features.index)
    if "leisure" in features:
        parents |= features["leisure"].isin(parent_leisure)
    if "amenity" in features:
        parents |= features["amenity"].isin(_CONTAINER_AMENITIES)
    holders = features[parents & features["name"].notna() & features.geom_type.isin(["Polygon", "MultiPolygon"])]
    if holders.empty:
        return empty
    holder_ids = (holders["element"].astype(str) + "/" + holders["osm_id"].astype(str)).to_numpy()
    venue_idx, holder_idx = shapely.STRtree(holders.geometry.values).query(venues.geometry.values, predicate="within")
    area = shapely.area(holders.geometry.values)
    own = shapely.area(venues["footprint"].values)
    ok = (area[holder_idx] >= own[venue_idx]) & (holder_ids[holder_idx] != venues["osm_id"].to_numpy()[venue_idx])
    hits = pd.DataFrame({"venue": venue_idx[ok], "holder": holder_idx[ok], "area": area[holder_idx[ok]]})
    smallest = hits.sort_values("area").drop_duplicates("venue")
    labels = [local_name(tags, language) for tags in feature_tags(holders.iloc[smallest["holder"].to_numpy()])]
    names = list(empty)
    for v, label in zip(smallest["venue"], labels, strict=True):
        names[v] = label
    return names


def _street_names(
    points: gpd.GeoSeries, highways: Sequence[HighwayWay], language: str, max_m: float, crs: pyproj.CRS
) -> list[str]:
    named = [(w.lonlat, label) for w in highways if (label := local_name(w.tags, language))]
    if not named:
        return [""] * len(points)
    # one array of every named street's coordinates, moved and made into lines at once (not a line per way)
    lonlat = np.concatenate([xy for xy, _ in named])
    x, y = transformers(crs.srs)[0].transform(lonlat[:, 0], lonlat[:, 1])
    lines = shapely.linestrings(np.c_[x, y], indices=np.repeat(np.arange(len(named)), [len(xy) for xy, _ in named]))
    point_idx, line_idx = shapely.STRtree(lines).query_nearest(points.values, max_distance=max_m)
    found = [""] * len(points)
    for p, line in zip(point_idx, line_idx, strict=True):
        if not found[p]:
            found[p] = named[line][1]
    return found
