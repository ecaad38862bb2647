"""Gazetteers: named places (OSM features, a catalogue's own GeoJSON) indexed by name key and street address."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mapgen.catalog.names import name_key, normalise_district, normalise_text
from mapgen.config import CatalogueSettings
from mapgen.errors import InputFileError

#: Tags whose values name a feature in the gazetteer (old names are left out: they point at former uses).
NAME_TAGS = ("name", "name:zh", "name:zh-Hans", "official_name", "short_name", "alt_name")
#: A house number or a range of them (``12``, ``12-16``).
_NUMBER = re.compile(r"(\d+)(?:\s*-\s*(\d+))?")


@dataclass(frozen=True)
class Gazetteer:
    """Named places to geocode against: one row per (feature, name) in ``entries``.

    ``entries`` columns: ``feature_id``, ``name`` (as written), ``key`` (normalised name),
    ``street``, ``num_lo``, ``num_hi`` (house-number range, -1 when absent), ``district``
    (normalised, "" when unknown), ``lon``, ``lat`` (WGS-84, a point on the feature), ``source``.
    ``area`` is the region the gazetteer covers (hull of its features), or None when empty.
    ``tags`` holds the features' tags (string columns), indexed by ``feature_id``: what a matched
    place is (``tourism=museum``), for the category of a catalogue row placed on it.
    """

    entries: pd.DataFrame
    area: shapely.Geometry | None
    tags: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def feature_tags(self, feature_id: str) -> dict[str, str]:
        """Return the tags of one feature (``{}`` when unknown): its non-empty string values."""
        if self.tags is None or feature_id not in self.tags.index:
            return {}
        row = self.tags.loc[feature_id]
        if isinstance(row, pd.DataFrame):
            row = row.iloc[0]
        return {k: v.strip() for k, v in row.items() if isinstance(v, str) and v.strip()}


def read_gazetteer(path: str | Path) -> gpd.GeoDataFrame:
    """Read a GeoJSON gazetteer (any named points/polygons, WGS-84) into a GeoDataFrame.

    Raises
    ------
    InputFileError
        When the file is missing or not GeoJSON.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: gazetteer file not found")
    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # pyogrio raises its own error classes for every kind of bad file
        raise InputFileError(f"{path}: not a readable GeoJSON gazetteer ({exc})") from exc
    if frame.crs is not None and not frame.crs.equals(4326):
        frame = frame.to_crs(4326)
    id_column = "@id" if "@id" in frame else "id" if "id" in frame else None
    ids = frame[id_column].astype(str) if id_column else pd.Series([f"{path.stem}:{i + 1}" for i in range(len(frame))])
    return frame.assign(feature_id=ids.values, source=path.name)


def build_gazetteer(
    features: gpd.GeoDataFrame, settings: CatalogueSettings, source: str = "OpenStreetMap"
) -> Gazetteer:
    """Index named features (points, lines, polygons) by normalised name and by street address.

    Parameters
    ----------
    features
        WGS-84 features with tag columns (``name``, ``name:zh``, ``alt_name``, ``addr:street``,
        ``addr:housenumber``, ``addr:district``…), e.g. ``OsmExtract.features`` or
        :func:`read_gazetteer`. A ``feature_id`` column (else ``element``/``osm_id``) names them.
        Polygons tagged ``boundary=administrative`` whose name ends in 区/县 give every
        feature inside them a district.
    settings
        Normalisation settings.
    source
        Source name used when ``features`` has no ``source`` column.

    Returns
    -------
    Gazetteer
    """
    features = features[features.geometry.notna() & ~features.geometry.is_empty]
    if "feature_id" in features:
        ids = features["feature_id"].astype(str)
    elif "osm_id" in features:
        ids = features["element"].astype(str) + "/" + features["osm_id"].astype(str)
    else:
        ids = pd.Series([str(i) for i in features.index], index=features.index)
    points = features.geometry.representative_point()
    districts = _districts(features, points, settings)
    sources = features["source"].astype(str) if "source" in features else pd.Series(source, index=features.index)
    street = _tag(features, "addr:street").map(normalise_text)
    numbers = _tag(features, "addr:housenumber").map(_number_range)
    rows = []
    for tag in NAME_TAGS:
        values = _tag(features, tag)
        for idx, value in values[values != ""].items():
            for name in value.split(";") if tag == "alt_name" else [value]:
                key = name_key(name, settings)
                if key:
                    rows.append(
                        (
                            ids[idx],
                            name.strip(),
                            key,
                            street[idx],
                            *numbers[idx],
                            districts[idx],
                            points[idx].x,
                            points[idx].y,
                            sources[idx],
                        )
                    )
    # features with an address but no name can still place a street address
    unnamed = (street != "") & numbers.map(lambda r: r[0] >= 0) & ~ids.isin({r[0] for r in rows})
    for idx in features.index[unnamed]:
        rows.append(
            (ids[idx], "", "", street[idx], *numbers[idx], districts[idx], points[idx].x, points[idx].y, sources[idx])
        )
    columns = ["feature_id", "name", "key", "street", "num_lo", "num_hi", "district", "lon", "lat", "source"]
    entries = pd.DataFrame(rows, columns=columns).drop_duplicates(["feature_id", "key"], ignore_index=True)
    area = shapely.MultiPoint(np.c_[points.x, points.y]).convex_hull if len(points) else None
    kept = ids.isin(set(entries["feature_id"]))
    tags = pd.DataFrame(features.loc[kept].drop(columns=features.geometry.name)).set_index(ids[kept].rename(None))
    text = [c for c in tags.columns if pd.api.types.is_string_dtype(tags[c]) or tags[c].dtype == object]
    return Gazetteer(entries, area, tags.loc[:, text])


def merge_gazetteers(gazetteers: Iterable[Gazetteer]) -> Gazetteer:
    """Combine gazetteers (e.g. the city's OSM features and a catalogue's own GeoJSON)."""
    gazetteers = [g for g in gazetteers if len(g)]
    if not gazetteers:
        return Gazetteer(
            pd.DataFrame(
                columns=["feature_id", "name", "key", "street", "num_lo", "num_hi", "district", "lon", "lat", "source"]
            ),
            None,
        )
    areas = [g.area for g in gazetteers if g.area is not None]
    tags = [g.tags for g in gazetteers if g.tags is not None]
    return Gazetteer(
        pd.concat([g.entries for g in gazetteers], ignore_index=True),
        shapely.union_all(areas).convex_hull if areas else None,
        pd.concat(tags) if tags else None,
    )


def _tag(features: pd.DataFrame, key: str) -> pd.Series:
    if key not in features:
        return pd.Series("", index=features.index)
    return features[key].where(features[key].map(lambda v: isinstance(v, str)), "").astype(str).str.strip()


def _number_range(value: str) -> tuple[int, int]:
    match = _NUMBER.search(unicodedata.normalize("NFKC", value)) if value else None
    if match is None:
        return -1, -1
    lo = int(match.group(1))
    return lo, int(match.group(2)) if match.group(2) else lo


def _districts(features: gpd.GeoDataFrame, points: gpd.GeoSeries, settings: CatalogueSettings) -> pd.Series:
    tagged = _tag(features, "addr:district").map(lambda v: normalise_district(v, settings) if v else "")
    if "boundary" not in features:
        return tagged
    names = _tag(features, "name")
    admin = features[
        (_tag(features, "boundary") == "administrative")
        & names.str.contains(r"(?:区|县)$")
        & features.geom_type.isin(["Polygon", "MultiPolygon"])
    ]
    if admin.empty:
        return tagged
    tree = shapely.STRtree(admin.geometry.values)
    point_idx, poly_idx = tree.query(points.values, predicate="within")
    inside = pd.Series(
        [normalise_district(names[admin.index[j]], settings) for j in poly_idx], index=features.index[point_idx]
    )
    inside = inside[~inside.index.duplicated()]
    return tagged.where(tagged != "", inside.reindex(features.index).fillna(""))
