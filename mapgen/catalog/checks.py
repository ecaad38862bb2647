"""Row checks of a catalogue: control characters, lengths, coordinates, the city area, repeated rows."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mapgen.catalog.names import normalise_text
from mapgen.config import CatalogueSettings
from mapgen.geo import local_metres, utm_crs_of_bounds

#: ``reject(rows, column, reason)``: send the rows where the mask is true to review, with one reason or one per row.
Reject = Callable[[pd.Series, str, pd.Series | str], None]
#: HTML tags, ``javascript:`` and ``on…=`` handlers: a name holding them is rejected.
MARKUP = re.compile(r"<\s*/?\s*[a-z!][^>]*>|javascript\s*:|\bon[a-z]+\s*=", re.IGNORECASE)
#: C0 control characters and DEL; tab, line feed and carriage return are allowed in text.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?", re.IGNORECASE)


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters (with an ellipsis), for review rows of over-long values."""
    return text if len(text) <= limit else text[:limit] + "…"


def check_text(
    data: pd.DataFrame, columns: dict[str, str], fields: list[str], settings: CatalogueSettings, reject: Reject
) -> None:
    """Reject rows with control characters (NUL…) in any field, or names and other texts over their length limit."""
    for key in fields:
        values = data[key]
        control = values.str.contains(CONTROL_CHARS)
        if control.any():
            first = values[control].str.extract(f"({CONTROL_CHARS.pattern})", expand=False)
            found = first.map(lambda c: f"U+{ord(c):04X}")
            reject(
                control,
                columns[key],
                "contains the control character "
                + found.reindex(data.index, fill_value="")
                + f" in {key} (NUL bytes and the like are not text; fix the file)",
            )
        limit = settings.max_name_chars if key in ("name", "name_en") else settings.max_text_chars
        length = values.str.len()
        long = length > limit
        if long.any():
            reject(
                long,
                columns[key],
                length[long]
                .map(
                    lambda n, k=key, m=limit: (
                        f"{k} is {n:,} characters long (limit {m:,}; see max_name_chars/max_text_chars)"
                    )
                )
                .reindex(data.index, fill_value=""),
            )


def parse_coordinate(text: str) -> float:
    """A coordinate cell as a number, strictly: ``114.05``, ``-33.9``, ``121.47°``; NaN for anything else.

    Python's ``float`` reads ``114_2`` as 1142 and ``nan``/``inf`` as numbers: here they are not.
    """
    value = unicodedata.normalize("NFKC", text).strip().rstrip("°").strip()
    return float(value) if _DECIMAL.fullmatch(value) else np.nan


def check_coordinates(data: pd.DataFrame, columns: dict[str, str], reject: Reject) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of every row (NaN where missing); rows with unusable coordinates go to review."""
    lon = data["lon"].map(parse_coordinate).astype(float)
    lat = data["lat"].map(parse_coordinate).astype(float)
    col = f"{columns.get('lon', 'lon')}/{columns.get('lat', 'lat')}"
    given_lon, given_lat = data["lon"].ne(""), data["lat"].ne("")
    reject(given_lon & lon.isna(), columns.get("lon", "lon"), "longitude is not a number: " + data["lon"].map(repr))
    reject(given_lat & lat.isna(), columns.get("lat", "lat"), "latitude is not a number: " + data["lat"].map(repr))
    reject(given_lon ^ given_lat, col, "only one of longitude/latitude given")
    reject((lon == 0) & (lat == 0), col, "coordinates 0, 0 (a missing value written as zero)")
    swapped_range = (lat.abs() > 90) & (lon.abs() <= 90)
    reject(swapped_range, col, "latitude out of range: latitude and longitude are swapped")
    reject((lat.abs() > 90) | (lon.abs() > 180), col, "coordinates out of range")
    ok = lon.notna() & lat.notna()
    return np.where(ok, lon, np.nan), np.where(ok, lat, np.nan)


def buffered_area(area: shapely.Geometry, metres: float) -> shapely.Geometry:
    """The WGS-84 `area` grown by `metres` (buffered in its UTM zone)."""
    series = gpd.GeoSeries([area], crs=4326)
    utm = utm_crs_of_bounds(shapely.bounds(area))
    return series.to_crs(utm).buffer(metres).to_crs(4326).iloc[0]


def check_area(
    data: pd.DataFrame,
    columns: dict[str, str],
    lon: np.ndarray,
    lat: np.ndarray,
    has_xy: np.ndarray,
    area: shapely.Geometry | None,
    settings: CatalogueSettings,
    reject: Reject,
) -> None:
    """Reject rows placed farther than ``settings.area_buffer_m`` outside `area` (naming swapped coordinates)."""
    if area is None or not has_xy.any():
        return
    zone = buffered_area(area, settings.area_buffer_m)
    x, y = np.nan_to_num(lon), np.nan_to_num(lat)
    outside = has_xy & ~shapely.contains_xy(zone, x, y)
    swapped = outside & shapely.contains_xy(zone, y, x)
    col = f"{columns.get('lon', 'lon')}/{columns.get('lat', 'lat')}"
    reject(
        pd.Series(swapped, index=data.index),
        col,
        "latitude and longitude are swapped (swapped back they fall inside the city area)",
    )
    west, south, east, north = shapely.bounds(zone)
    where = np.flatnonzero(outside)
    reason = pd.Series(
        [
            f"outside the city area ({x[i]:.5f}, {y[i]:.5f} is more than {settings.area_buffer_m:g} m "
            f"beyond the mapped area {west:.3f},{south:.3f},{east:.3f},{north:.3f}: sea, or another place)"
            for i in where
        ],
        index=data.index[where],
    )
    reject(pd.Series(outside, index=data.index), col, reason.reindex(data.index, fill_value=""))


def check_duplicates(
    data: pd.DataFrame,
    located: pd.DataFrame,
    keys: pd.Series,
    alive: pd.Series,
    settings: CatalogueSettings,
    columns: dict[str, str],
    reject: Reject,
) -> None:
    """Reject later rows repeating an earlier one: same id, or same name and address within ``duplicate_m``."""
    dup = pd.Series(False, index=data.index)
    reason = pd.Series("", index=data.index)
    if "id" in columns:
        ids = data.loc[alive & data["id"].ne(""), "id"]
        first_row = data.loc[ids.index, "_row"].groupby(ids.values).transform("first")
        again = ids.duplicated()
        dup[again[again].index] = True
        reason[again[again].index] = [
            f"duplicate id {v!r} (also row {r})" for v, r in zip(ids[again], first_row[again], strict=True)
        ]
    idx = data.index[alive & ~dup & located["lon"].notna()]
    if len(idx) >= 2:
        lat0 = float(np.nanmean(located.loc[idx, "lat"]))
        xy = local_metres(located.loc[idx, "lon"], located.loc[idx, "lat"], lat0)
        addresses = [normalise_text(v) for v in data.loc[idx, "address"]]
        repeats = _repeats(xy, keys.loc[idx].tolist(), addresses, settings.duplicate_m)
        if repeats:
            later, first = idx[list(repeats)], idx[list(repeats.values())]
            dup[later] = True
            reason[later] = [
                f"duplicate of row {r} (same name and address within {settings.duplicate_m:g} m)"
                for r in data.loc[first, "_row"].tolist()
            ]
    reject(dup, columns["name"], reason)


def _repeats(xy: np.ndarray, keys: list[str], addresses: list[str], metres: float) -> dict[int, int]:
    """Rows repeating an earlier kept row (same name key, same or blank address, within `metres`): row → that row.

    Kept rows sit in a grid of `metres` cells per name key (and per address), so each row is
    compared only with kept rows of its name in the nine cells around it: linear in the rows,
    however many share one spot, never a matrix of pairs.
    """
    cell = max(metres, 1.0)
    kept: dict[tuple[str, str | None, int, int], list[int]] = {}
    repeats: dict[int, int] = {}
    for j, ((x, y), key, address) in enumerate(zip(xy.tolist(), keys, addresses, strict=True)):
        cx, cy = int(x // cell), int(y // cell)
        groups: list[str | None] = [None] if address == "" else [address, ""]  # None: kept rows of any address
        match = None
        for group in groups:
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    for i in kept.get((key, group, cx + dx, cy + dy), ()):  # ascending: the first hit is the earliest
                        if match is not None and i >= match:
                            break
                        if np.hypot(xy[i, 0] - x, xy[i, 1] - y) <= metres:
                            match = i
                            break
        if match is not None:
            repeats[j] = match
            continue
        for group in (address, None):
            kept.setdefault((key, group, cx, cy), []).append(j)
    return repeats
