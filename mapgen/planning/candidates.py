"""Candidate sites for new community study stations: from the OSM extract or from a CSV list."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mapgen.config import PlanningSettings
from mapgen.contract import ReviewLog
from mapgen.schools import schools_from_csv

SITE_COLUMNS = ["site_id", "name", "kind", "osm_id", "footprint", "geometry"]


def candidate_sites(features: gpd.GeoDataFrame, planning: PlanningSettings) -> gpd.GeoDataFrame:
    """Candidate sites for new community study stations: community centres, libraries, schools, public buildings.

    Features with ``access=private/no`` are left out; a tagged point inside a
    tagged building or campus is the same site and is dropped.

    Parameters
    ----------
    features
        OSM features read with the ``amenity`` and ``building`` keys.
    planning
        The ``amenity`` / ``building`` values of candidate sites.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`SITE_COLUMNS`: ``site_id``, ``name``, ``kind`` (e.g. ``amenity=library``), ``osm_id``,
        ``footprint`` and a point geometry (WGS-84), sorted by ``site_id``.
    """
    kind = pd.Series("", index=features.index)
    for key, values in (("building", planning.candidate_buildings), ("amenity", planning.candidate_amenities)):
        if key in features:
            hit = features[key].isin(values)
            kind[hit] = key + "=" + features.loc[hit, key]
    if "access" in features:
        kind[features["access"].isin(["private", "no"])] = ""
    chosen = features[kind != ""]
    areas = chosen[chosen.geom_type.isin(["Polygon", "MultiPolygon"])]
    points = chosen[chosen.geom_type == "Point"]
    if len(areas) and len(points):
        inside = shapely.STRtree(areas.geometry.values).query(points.geometry.values, predicate="within")
        chosen = chosen.drop(index=points.index[np.unique(inside[0])])
    names = chosen["name"] if "name" in chosen else pd.Series("", index=chosen.index)
    sites = pd.DataFrame(
        {
            "site_id": [f"osm-{e[0]}{i}" for e, i in zip(chosen["element"], chosen["osm_id"], strict=True)],
            "name": [
                n if isinstance(n, str) and n.strip() else k for n, k in zip(names, kind[chosen.index], strict=True)
            ],
            "kind": kind[chosen.index].values,
            "osm_id": [f"{e}/{i}" for e, i in zip(chosen["element"], chosen["osm_id"], strict=True)],
            "footprint": chosen.geometry.values,
        }
    )
    footprint = gpd.GeoSeries(sites["footprint"], crs=4326)
    points = footprint.representative_point() if len(sites) else footprint
    return gpd.GeoDataFrame(sites.assign(footprint=footprint), geometry=points, crs=4326).sort_values(
        "site_id", ignore_index=True
    )


def candidates_from_csv(path: str | Path, review: ReviewLog) -> gpd.GeoDataFrame:
    """Read candidate sites from a CSV list (``name``, ``lon``, ``lat``, optional ``id``; WGS-84).

    Same format and row checks as a school list (:func:`mapgen.schools.schools_from_csv`):
    bad rows go to `review` with file, row and reason; the good ones are returned.

    Parameters
    ----------
    path
        The CSV file.
    review
        Collects the rejected rows.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`SITE_COLUMNS`, ``kind`` ``csv``.
    """
    listed = schools_from_csv(path, review).rename(columns={"school_id": "site_id"})
    return listed.assign(kind="csv")[SITE_COLUMNS]
