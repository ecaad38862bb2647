"""School grounds: which venues lie on a school's own campus, and which pairs are outings."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely

from mapgen.config import Settings

GROUNDS_COLUMNS = ["grounds_id", "name", "geometry"]


def school_grounds(features: gpd.GeoDataFrame, settings: Settings) -> gpd.GeoDataFrame:
    """School grounds mapped as areas: ``amenity`` in ``settings.campus_amenities``.

    Every such area counts, also of schools a build leaves out (a party school's grounds
    are not public either).

    Parameters
    ----------
    features
        Tagged OSM features in WGS-84.
    settings
        ``campus_amenities``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``grounds_id`` (``way/123``), ``name`` (``""`` when unnamed) and the polygon.
    """
    if "amenity" not in features or features.empty:
        return gpd.GeoDataFrame({"grounds_id": [], "name": []}, geometry=[], crs=4326)
    areas = features[
        features["amenity"].isin(settings.campus_amenities) & features.geom_type.isin(["Polygon", "MultiPolygon"])
    ]
    names = areas["name"] if "name" in areas else pd.Series("", index=areas.index)
    return gpd.GeoDataFrame(
        {
            "grounds_id": (areas["element"].astype(str) + "/" + areas["osm_id"].astype(str)).values,
            "name": names.fillna("").astype(str).values,
        },
        geometry=areas.geometry.values,
        crs=features.crs,
    )


def grounds_of(points: gpd.GeoSeries, footprints: gpd.GeoSeries, grounds: gpd.GeoDataFrame) -> pd.Series:
    """The school grounds each place lies in: the smallest that holds its point and is not smaller than it.

    Parameters
    ----------
    points
        A point on every place (WGS-84).
    footprints
        The places' full geometry, aligned with `points`: grounds smaller than a place
        (a school inside a park) do not hold it.
    grounds
        From :func:`school_grounds`.

    Returns
    -------
    pandas.Series
        ``grounds_id`` per place, ``""`` for places on no school's grounds.
    """
    found = pd.Series("", index=points.index, dtype=object)
    if grounds.empty or points.empty:
        return found
    place_idx, ground_idx = shapely.STRtree(grounds.geometry.values).query(points.values, predicate="within")
    if not len(place_idx):
        return found
    area = shapely.area(grounds.geometry.values)
    own = shapely.area(footprints.values)
    fits = area[ground_idx] >= own[place_idx]
    hits = pd.DataFrame({"place": place_idx[fits], "ground": ground_idx[fits], "area": area[ground_idx[fits]]})
    smallest = hits.sort_values("area").drop_duplicates("place")
    found.iloc[smallest["place"].to_numpy()] = grounds["grounds_id"].to_numpy()[smallest["ground"].to_numpy()]
    return found


def outing_pairs(
    pairs: pd.DataFrame,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    grounds: gpd.GeoDataFrame,
    settings: Settings,
) -> pd.DataFrame:
    """Mark the pairs whose venue lies on the school's own grounds; drop pairs to venues not open to the public.

    A school mapped as an area has its area as grounds; a school mapped as a point has the
    school grounds that hold the point.

    Parameters
    ----------
    pairs
        ``school_id``, ``venue_id``, ``mode``, ``minutes``.
    schools
        ``school_id``, point ``geometry`` and ``footprint``.
    venues
        ``venue_id``, ``campus`` (grounds id, ``""`` when none) and ``public``.
    grounds
        From :func:`school_grounds`.
    settings
        ``include_non_public_venues``: keep pairs to venues on other schools' grounds or with
        closed access (their venue says ``public`` = false).

    Returns
    -------
    pandas.DataFrame
        `pairs` with ``on_campus`` (bool), without pairs to non-public venues of other schools.
    """
    school_grounds_id = dict(
        zip(
            schools["school_id"],
            grounds_of(
                gpd.GeoSeries(schools.geometry.values, crs=4326),
                gpd.GeoSeries(schools["footprint"].values, crs=4326),
                grounds,
            ),
            strict=True,
        )
    )
    campus = venues.set_index("venue_id")["campus"]
    public = venues.set_index("venue_id")["public"].astype(bool)
    venue_campus = pairs["venue_id"].map(campus).fillna("")
    on_campus = (venue_campus != "") & (venue_campus == pairs["school_id"].map(school_grounds_id).fillna(""))
    keep = on_campus | pairs["venue_id"].map(public).fillna(True).astype(bool) | settings.include_non_public_venues
    return pairs.assign(on_campus=on_campus.to_numpy())[keep.to_numpy()].reset_index(drop=True)
