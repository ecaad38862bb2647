"""Merge venues that two sources list twice (OSM and catalogues), keeping every source on the merged venue."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from mapgen.catalog.names import name_key, name_score
from mapgen.config import CatalogueSettings, Settings
from mapgen.geo import local_metres
from mapgen.venues import hours_flags

#: Fields a merged venue takes from the other source when its own is empty.
FILLED_FIELDS = ("name_en", "opening_hours", "fee", "address", "district", "phone", "safety", "website")
#: Nearest venues whose names are compared with each extra venue (besides every one with the same name key):
#: bounds the work when thousands of venues share one spot.
MERGE_CANDIDATES = 64


def merge_venues(
    base: gpd.GeoDataFrame, extra: gpd.GeoDataFrame, settings: CatalogueSettings, hours: Settings | None = None
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Add `extra` venues to `base`, merging those that are the same place.

    Two venues are the same when the extra one was geocoded onto the base venue's OSM
    feature, or when they lie within ``settings.merge_m`` of each other and their names
    score at least ``settings.merge_min_score`` (:func:`mapgen.catalog.names.name_score`, which
    keeps branches and lookalikes apart). Names are compared with the :data:`MERGE_CANDIDATES`
    nearest base venues and every one with the same name key, never with all of a crowded spot. The merged venue keeps the base venue's id,
    category and geometry (an OSM outline gives better entrances), fills its empty fields
    from the extra venue and lists both in ``sources``.

    Parameters
    ----------
    base
        Venues so far (e.g. from OSM), with ``VENUE_COLUMNS``, ``footprint`` and point geometry.
    extra
        Venues from a catalogue, same columns.
    settings
        Merge distance and name threshold.
    hours
        After-school window for the recomputed hours flags.

    Returns
    -------
    tuple
        The combined venues, and one row per merge (``venue_id``, ``merged_id``, ``name``,
        ``merged_name``, ``distance_m``).
    """
    merged = base.copy()
    log: list[dict[str, object]] = []
    if extra.empty:
        return merged, pd.DataFrame(log, columns=["venue_id", "merged_id", "name", "merged_name", "distance_m"])
    lat0 = float(np.mean(merged.geometry.y)) if len(merged) else float(np.mean(extra.geometry.y))

    def metric(frame: gpd.GeoDataFrame) -> np.ndarray:
        return local_metres(frame.geometry.x, frame.geometry.y, lat0)

    tree = cKDTree(metric(merged)) if len(merged) else None
    by_osm = {v: i for i, v in merged["osm_id"].items() if isinstance(v, str) and v}
    base_keys = merged["name"].map(lambda n: name_key(n, settings))
    same_key: dict[str, list[int]] = {}
    for j, k in enumerate(base_keys):
        same_key.setdefault(k, []).append(j)
    k_nearest = min(MERGE_CANDIDATES, len(merged))
    keep = []
    touched: set[object] = set()
    for (i, venue), xy in zip(extra.iterrows(), metric(extra), strict=True):
        key = name_key(venue["name"], settings)
        target, metres = by_osm.get(venue["osm_id"]) if venue["osm_id"] else None, 0.0
        if target is None and tree is not None:
            metres_to, nearest = tree.query(xy, k=k_nearest, distance_upper_bound=settings.merge_m)
            near = {int(j) for j in np.atleast_1d(nearest)[np.isfinite(np.atleast_1d(metres_to))]}
            near.update(j for j in same_key.get(key, ()) if np.hypot(*(tree.data[j] - xy)) <= settings.merge_m)
            scored = [(name_score(key, base_keys.iloc[j], settings), j) for j in near]
            scored = [(s, j) for s, j in scored if s >= settings.merge_min_score]
            if scored:
                j = max(scored)[1]
                target = merged.index[j]
                metres = float(np.hypot(*(tree.data[j] - xy)))
        if target is None:
            keep.append(i)
            continue
        for f in FILLED_FIELDS:
            if not str(merged.at[target, f] or "") and str(venue[f] or ""):
                merged.at[target, f] = venue[f]
        merged.at[target, "sources"] = f"{merged.at[target, 'sources']}; {venue['sources']}"
        touched.add(target)
        log.append(
            {
                "venue_id": merged.at[target, "venue_id"],
                "merged_id": venue["venue_id"],
                "name": merged.at[target, "name"],
                "merged_name": venue["name"],
                "distance_m": round(metres, 1),
            }
        )
    if touched:
        rows = list(touched)
        flags = hours_flags(merged.loc[rows, "opening_hours"], hours or Settings())
        for column in flags.columns:
            merged[column] = merged[column].astype(flags[column].dtype)
            merged.loc[rows, column] = flags[column]
    combined = pd.concat([merged, extra.loc[keep]], ignore_index=True)
    return gpd.GeoDataFrame(combined, geometry="geometry", crs=base.crs or extra.crs), pd.DataFrame(
        log, columns=["venue_id", "merged_id", "name", "merged_name", "distance_m"]
    )
