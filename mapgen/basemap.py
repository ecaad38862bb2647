"""Base-map layers (streets by class, parks, water, buildings) taken from the OSM extract itself."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mapgen.osm_extract import OsmExtract

# Feature keys the OSM reader must keep for the base map (added to the venue keys).
BASEMAP_KEYS = frozenset({"landuse", "leisure", "natural", "waterway", "water", "building"})
BASEMAP_COLUMNS = ["layer", "kind", "geometry"]

# (layer, tag key, values) tried in order; the first match wins. Water before parks before buildings.
_AREA_RULES: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("water", "natural", frozenset({"water", "bay", "wetland"})),
    ("water", "landuse", frozenset({"reservoir", "basin"})),
    ("water", "waterway", frozenset({"riverbank", "dock", "canal", "river"})),
    ("water", "water", frozenset({"river", "lake", "pond", "reservoir", "canal", "basin"})),
    (
        "park",
        "leisure",
        frozenset(
            {
                "park",
                "garden",
                "playground",
                "pitch",
                "sports_centre",
                "stadium",
                "track",
                "nature_reserve",
                "recreation_ground",
                "golf_course",
                "dog_park",
            }
        ),
    ),
    (
        "park",
        "landuse",
        frozenset(
            {
                "grass",
                "forest",
                "meadow",
                "recreation_ground",
                "village_green",
                "cemetery",
                "orchard",
                "vineyard",
                "allotments",
                "park",
            }
        ),
    ),
    ("park", "natural", frozenset({"wood", "scrub", "grassland", "heath"})),
)
_WATER_LINES = frozenset({"river", "stream", "canal", "drain", "ditch"})
_NOT_STREETS = frozenset({"proposed", "construction", "abandoned", "disused", "razed", "planned"})


def basemap_layers(extract: OsmExtract, bbox: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """Cut the drawable base map out of an OSM extract.

    Parameters
    ----------
    extract
        The extract, read with :data:`BASEMAP_KEYS` among its feature keys.
    bbox
        (west, south, east, north) in degrees; geometries are clipped to it.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`BASEMAP_COLUMNS` in WGS-84: ``layer`` is ``street`` (``kind`` =
        the ``highway`` class), ``park``, ``water`` (areas and waterway lines)
        or ``building``; ``kind`` is the tag value that put it there.
    """
    west, south, east, north = bbox
    inside = [
        w
        for w in extract.highways
        if w.tags["highway"] not in _NOT_STREETS
        and (
            (w.lonlat[:, 0] >= west) & (w.lonlat[:, 0] <= east) & (w.lonlat[:, 1] >= south) & (w.lonlat[:, 1] <= north)
        ).any()
    ]
    streets = pd.DataFrame(
        {
            "layer": "street",
            "kind": [w.tags["highway"] for w in inside],
            "geometry": shapely.linestrings(
                np.concatenate([w.lonlat for w in inside]),
                indices=np.repeat(np.arange(len(inside)), [len(w.lonlat) for w in inside]),
            )
            if inside
            else np.empty(0, dtype=object),
        }
    )
    frames = [streets, _areas(extract.features)]
    layers = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=4326)
    layers["geometry"] = shapely.clip_by_rect(layers.geometry.values, west, south, east, north)
    return layers[~layers.geometry.is_empty].reset_index(drop=True)[BASEMAP_COLUMNS]


def _areas(features: gpd.GeoDataFrame) -> pd.DataFrame:
    """Parks, water and buildings (polygons), and waterway lines, from tagged features."""
    if features.empty:
        return pd.DataFrame(columns=BASEMAP_COLUMNS)
    polygon = features.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    layer = pd.Series(None, index=features.index, dtype=object)
    kind = pd.Series(None, index=features.index, dtype=object)
    for name, key, values in _AREA_RULES:
        if key in features:
            hit = polygon & layer.isna().to_numpy() & features[key].isin(values).to_numpy()
            layer[hit], kind[hit] = name, features.loc[hit, key]
    if "building" in features:
        hit = polygon & layer.isna().to_numpy() & features["building"].notna().to_numpy()
        layer[hit], kind[hit] = "building", features.loc[hit, "building"]
    if "waterway" in features:
        hit = (features.geom_type == "LineString").to_numpy() & features["waterway"].isin(_WATER_LINES).to_numpy()
        layer[hit], kind[hit] = "water", features.loc[hit, "waterway"]
    chosen = layer.notna().to_numpy()
    return pd.DataFrame({"layer": layer[chosen], "kind": kind[chosen], "geometry": features.geometry.values[chosen]})
