"""Schools from OSM (nodes, campus ways and multipolygons) and from a user's CSV list."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from mapgen.catalog import CONTROL_CHARS, wide_csv_fields
from mapgen.config import CatalogueSettings, Settings
from mapgen.contract import SCHOOL_COLUMNS, ReviewLog
from mapgen.errors import InputFileError

_CSV_ALIASES = {
    "name": ("name", "名称", "学校", "学校名称"),
    "lon": ("lon", "lng", "longitude", "经度", "x"),
    "lat": ("lat", "latitude", "纬度", "y"),
    "school_id": ("school_id", "id", "编号"),
}


def schools_from_osm(features: gpd.GeoDataFrame, settings: Settings) -> gpd.GeoDataFrame:
    """Select the schools pupils attend from OSM features.

    ``amenity=school`` (and ``amenity=kindergarten`` when enabled) as nodes,
    ways or multipolygons; universities and colleges are other amenities and so
    never selected; names matching ``settings.exclude_school_names`` (party
    schools, teacher training, driving schools) are dropped; a school node lying
    inside a school campus is the same school and is dropped too.

    Parameters
    ----------
    features
        Tagged OSM features in WGS-84.
    settings
        Which kinds of school to keep.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`SCHOOL_COLUMNS`, ``geometry`` (a point on the school),
        ``footprint`` (the campus polygon, or the point) and ``named`` (false: the name is a placeholder).
    """
    kinds = {"school", "kindergarten"} if settings.include_kindergartens else {"school"}
    if "amenity" not in features:
        return _empty()
    chosen = features[features["amenity"].isin(kinds)].copy()
    names = _column(chosen, "name")
    patterns = [
        *settings.exclude_school_names,
        *([] if settings.include_kindergartens else settings.kindergarten_names),
    ]
    if patterns:
        chosen = chosen[~names.str.contains(re.compile("|".join(patterns)), na=False)]
    # a school mapped twice, as a node inside its own campus
    campuses = chosen[chosen.geom_type.isin(["Polygon", "MultiPolygon"])]
    points = chosen[chosen.geom_type == "Point"]
    if len(campuses) and len(points):
        inside = shapely.STRtree(campuses.geometry.values).query(points.geometry.values, predicate="within")
        chosen = chosen.drop(index=points.index[inside[0]])
    chosen = chosen.sort_values(["element", "osm_id"])
    frame = pd.DataFrame(
        {
            "school_id": [f"osm-{e[0]}{i}" for e, i in zip(chosen["element"], chosen["osm_id"])],
            "name": [
                n if isinstance(n, str) and n.strip() else f"未命名学校 unnamed school ({e} {i})"
                for n, e, i in zip(_column(chosen, "name"), chosen["element"], chosen["osm_id"])
            ],
            "name_en": _column(chosen, "name:en").fillna("").values,
            "source": "OpenStreetMap",
            "osm_id": [f"{e}/{i}" for e, i in zip(chosen["element"], chosen["osm_id"])],
            "footprint": chosen.geometry.values,
            "named": [isinstance(n, str) and bool(n.strip()) for n in _column(chosen, "name")],
        }
    )
    return _with_points(frame, features.crs)


def schools_from_csv(path: str | Path, review: ReviewLog, limits: CatalogueSettings | None = None) -> gpd.GeoDataFrame:
    """Read a user's school list (columns name, lon, lat; Chinese headers accepted).

    Rows that cannot be used are appended to `review` with file, row and
    reason (a repeated ``school_id`` among them); the good rows are returned.

    Parameters
    ----------
    path
        UTF-8 (optionally with BOM) CSV file with WGS-84 coordinates.
    review
        List that collects rejected rows.
    limits
        ``max_name_chars`` / ``max_text_chars`` of the ``[catalogue]`` settings (default: their defaults).

    Returns
    -------
    geopandas.GeoDataFrame
        Same columns as :func:`schools_from_osm`.
    """
    path = Path(path)
    rows = []
    seen: dict[str, int] = {}
    for line, fields, lon, lat in read_csv_points(
        path, _CSV_ALIASES, ("name", "lon", "lat"), "school list", review, review_field="name", limits=limits
    ):
        name = fields["name"]
        given = fields["school_id"]
        school_id = "csv-" + (re.sub(r"[^0-9A-Za-z_-]", "_", given) if given else str(line))
        reason = "name missing" if not name else bad_lonlat(lon, lat)
        column = "name" if not name else "lon/lat"
        if not reason and school_id in seen:
            reason, column = f"school_id {given or school_id!r} repeated (also row {seen[school_id]})", "school_id"
        if reason:
            review.add(path, line, column, reason, name)
            continue
        seen[school_id] = line
        rows.append(
            {
                "school_id": school_id,
                "name": name,
                "name_en": "",
                "source": path.name,
                "osm_id": "",
                "footprint": shapely.Point(lon, lat),
            }
        )
    return _with_points(pd.DataFrame(rows, columns=[*SCHOOL_COLUMNS, "footprint"]), "EPSG:4326")


def read_csv_points(
    path: Path,
    aliases: Mapping[str, Sequence[str]],
    required: Sequence[str],
    what: str,
    review: ReviewLog,
    review_field: str | None = None,
    limits: CatalogueSettings | None = None,
) -> Iterator[tuple[int, dict[str, str], float, float]]:
    """Rows of a UTF-8 CSV of points (a BOM is allowed) whose ``lon`` and ``lat`` are numbers.

    Rows whose coordinates are missing or not numbers, with control characters (NUL…),
    with a name longer than ``max_name_chars`` or another field longer than ``max_text_chars``,
    or on which reading fails unexpectedly go to `review` (file, row, column, reason);
    checking the rest is the caller's. Fields of any length are read (no csv field limit).

    Parameters
    ----------
    path
        The CSV file.
    aliases
        Field → header names it may have (lower case; headers are compared stripped and lower-cased),
        ``lon`` and ``lat`` among them.
    required
        Fields whose column must be present.
    what
        What the file is, for error messages (``school list``).
    review
        Collects rejected rows.
    review_field
        A field whose value names the row in its review entry (``name``).
    limits
        Length limits (default: :class:`~mapgen.config.CatalogueSettings` defaults).

    Yields
    ------
    tuple of (int, dict, float, float)
        Line in the file (the header is line 1); every field but lon/lat, stripped (``""`` when empty or
        its column is absent); lon; lat.

    Raises
    ------
    InputFileError
        When the file is missing or lacks a `required` column.
    """
    if not path.is_file():
        raise InputFileError(f"{path}: {what} not found")
    limits = limits or CatalogueSettings()
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh, wide_csv_fields():
            reader = csv.DictReader(fh)
            header = {h.strip().lower(): h for h in (reader.fieldnames or [])}
            column = {k: next((header[a] for a in names if a in header), None) for k, names in aliases.items()}
            missing = [k for k in required if column[k] is None]
            if missing:
                raise InputFileError(
                    f"{path}: {what} lacks column(s) {', '.join(missing)} (header: {reader.fieldnames})"
                )
            for line, row in enumerate(reader, start=2):
                fields = {
                    k: str(row.get(c) or "").strip() if c else "" for k, c in column.items() if k not in ("lon", "lat")
                }
                note = fields[review_field][: limits.max_name_chars] if review_field else ""
                try:
                    problem = _field_problem(row, column, limits)
                    lon, lat = (float(row[column["lon"]]), float(row[column["lat"]])) if not problem else (0.0, 0.0)
                except (TypeError, ValueError):
                    problem = ("lon/lat", "coordinates missing or not numbers")
                except Exception as exc:
                    problem = ("", f"unexpected error while reading this row ({type(exc).__name__}: {exc})")
                if problem:
                    review.add(path, line, problem[0], problem[1], note)
                    continue
                yield line, fields, lon, lat
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: not a readable UTF-8 CSV {what} ({exc})") from exc


def _field_problem(
    row: Mapping[str | None, object], column: Mapping[str, str | None], limits: CatalogueSettings
) -> tuple[str, str] | None:
    """(column, reason) of the first field with control characters or over its length limit, else None."""
    for key, header in column.items():
        value = row.get(header) if header else None
        if not isinstance(value, str):
            continue
        if CONTROL_CHARS.search(value):
            return header, f"{key} contains control characters (NUL bytes and the like are not text)"  # type: ignore[return-value]
        limit = limits.max_name_chars if key == "name" else limits.max_text_chars
        if len(value) > limit:
            return header, f"{key} is {len(value):,} characters long (limit {limit:,})"  # type: ignore[return-value]
    return None


def bad_lonlat(lon: float, lat: float) -> str:
    """Why WGS-84 `lon`, `lat` cannot be a place ("" when they can), naming a likely swap of the two.

    Parameters
    ----------
    lon, lat
        Longitude and latitude in degrees.

    Returns
    -------
    str
        The reason for the review file, or ``""``.
    """
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        if -90 <= lon <= 90 and -180 <= lat <= 180:
            return "lat/lon swapped? longitude and latitude out of range in this order"
        return "coordinates out of range"
    return ""


def _column(frame: pd.DataFrame, key: str) -> pd.Series:
    return frame[key] if key in frame else pd.Series(pd.NA, index=frame.index, dtype="object")


def _with_points(frame: pd.DataFrame, crs: object) -> gpd.GeoDataFrame:
    footprint = gpd.GeoSeries(frame["footprint"], crs=crs)
    points = footprint.representative_point() if len(frame) else footprint
    return gpd.GeoDataFrame(frame.assign(footprint=footprint), geometry=points, crs=crs)


def _empty() -> gpd.GeoDataFrame:
    return _with_points(pd.DataFrame(columns=[*SCHOOL_COLUMNS, "footprint"]), "EPSG:4326")
