"""Write ``site.db``, the search site's SQLite database (venues, schools, reach, isochrones, FTS5)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import geopandas as gpd
import pandas as pd
import shapely

from mapgen.atomic import staged_file
from mapgen.config import OSM_ATTRIBUTION, TileProvider
from mapgen.contract import SITE_DB_FILE, BuildFolder, Summary
from mapgen.errors import ConfigError
from mapgen.geo import shift_to_datum
from mapgen.hours import parse_hours
from mapgen.look import NO_CATEGORY_COLOR
from mapgen.publish.words import pinyin_forms
from mapgen.sitetext import SCHEMA_VERSION, normalise

#: Optional venue columns (from catalogues); missing ones are stored empty.
OPTIONAL_VENUE_COLUMNS = ("district", "address", "phone", "website", "safety", "free")
_FREE_WORDS = frozenset({"no", "free", "免费", "0", "false", "否"})
_TRUE_WORDS = frozenset({"1", "true", "yes", "是", "y"})
_ISOCHRONE_TOLERANCE_DEG = 1e-5  # ~1 m: fewer vertices in the pages, no visible change

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE categories (key TEXT PRIMARY KEY, zh TEXT NOT NULL, en TEXT NOT NULL, n INTEGER NOT NULL,
                         position INTEGER NOT NULL, color TEXT NOT NULL);
CREATE TABLE schools (
  id INTEGER PRIMARY KEY, school_id TEXT UNIQUE NOT NULL, name TEXT NOT NULL, name_en TEXT NOT NULL,
  source TEXT NOT NULL, osm_id TEXT NOT NULL, lon REAL NOT NULL, lat REAL NOT NULL,
  map_lon REAL NOT NULL, map_lat REAL NOT NULL, name_norm TEXT NOT NULL, search TEXT NOT NULL);
CREATE TABLE venues (
  id INTEGER PRIMARY KEY, venue_id TEXT UNIQUE NOT NULL, name TEXT NOT NULL, name_en TEXT NOT NULL,
  category TEXT NOT NULL, category_zh TEXT NOT NULL, category_en TEXT NOT NULL, opening_hours TEXT NOT NULL,
  fee TEXT NOT NULL, access TEXT NOT NULL, source TEXT NOT NULL, osm_id TEXT NOT NULL,
  district TEXT NOT NULL, address TEXT NOT NULL, phone TEXT NOT NULL, website TEXT NOT NULL, safety TEXT NOT NULL,
  free INTEGER, hours_known INTEGER NOT NULL,
  after_school INTEGER, weekend INTEGER, lon REAL NOT NULL, lat REAL NOT NULL,
  map_lon REAL NOT NULL, map_lat REAL NOT NULL, name_norm TEXT NOT NULL, address_norm TEXT NOT NULL,
  search TEXT NOT NULL, facilities TEXT NOT NULL DEFAULT '', aliases TEXT NOT NULL DEFAULT '',
  search_terms TEXT NOT NULL DEFAULT '', public INTEGER NOT NULL DEFAULT 1);
CREATE INDEX venues_category ON venues(category);
CREATE INDEX venues_district ON venues(district);
CREATE TABLE opening (venue INTEGER NOT NULL REFERENCES venues(id), weekday INTEGER NOT NULL,
                      open_min INTEGER NOT NULL, close_min INTEGER NOT NULL);
CREATE INDEX opening_when ON opening(weekday, open_min, close_min, venue);
CREATE INDEX opening_venue ON opening(venue);
CREATE TABLE reach (school INTEGER NOT NULL REFERENCES schools(id), venue INTEGER NOT NULL REFERENCES venues(id),
                    mode TEXT NOT NULL, minutes REAL NOT NULL, PRIMARY KEY (school, mode, venue)) WITHOUT ROWID;
CREATE INDEX reach_venue ON reach(venue, mode);
CREATE TABLE isochrones (school INTEGER NOT NULL REFERENCES schools(id), mode TEXT NOT NULL,
                         minutes REAL NOT NULL, geojson TEXT NOT NULL, reaches_data_edge INTEGER NOT NULL DEFAULT 0,
                         PRIMARY KEY (school, mode));
CREATE TABLE campus (school INTEGER NOT NULL REFERENCES schools(id), venue_id TEXT NOT NULL, name TEXT NOT NULL,
                     category_zh TEXT NOT NULL, category_en TEXT NOT NULL, facilities TEXT NOT NULL,
                     PRIMARY KEY (school, venue_id)) WITHOUT ROWID;
CREATE VIRTUAL TABLE venues_fts USING fts5(search, content='venues', content_rowid='id', tokenize='trigram');
CREATE VIRTUAL TABLE schools_fts USING fts5(search, content='schools', content_rowid='id', tokenize='trigram');
"""


def write_site_db(
    data_dir: str | Path, db_path: str | Path | None = None, timezone: str | None = None
) -> dict[str, object]:
    """Write the search site's database from a build's contract files.

    Reads only ``schools.geojson``, ``venues.geojson``, ``isochrones.geojson``,
    ``reachability.csv`` and ``summary.json``. Opening hours are parsed once here
    (:func:`mapgen.hours.parse_hours`) and stored as weekly intervals, so "open now"
    is a SQL query at request time. The file is written to a unique temporary file
    beside it and then renamed into place, so a running site keeps serving the old database
    until the new one is complete, and two publishes at once never collide.

    Parameters
    ----------
    data_dir
        The build's output folder.
    db_path
        Where to write; default ``data_dir/site.db``.
    timezone
        IANA time zone of the city (for "open now"); default: looked up from the
        schools' position with timezonefinder.

    Returns
    -------
    dict
        ``path`` and counts: ``schools``, ``venues``, ``pairs``, ``isochrones``, ``hours_parsed``,
        ``hours_unreadable``.
    """
    data = Path(data_dir)
    if timezone is not None:
        _check_timezone(timezone)
    path = Path(db_path) if db_path is not None else data / SITE_DB_FILE
    build = BuildFolder(data)
    summary = build.summary
    schools, venues, isochrones, pairs = build.schools, build.venues, build.isochrones, build.pairs
    tiles, settings = summary.tiles, summary.settings
    campus_pairs = pairs[pairs["on_campus"]]
    pairs = pairs[~pairs["on_campus"]]  # a school's own grounds are no outing
    own_venues = venues[venues["venue_id"].isin(campus_pairs["venue_id"])]
    if "public" in venues and not settings.include_non_public_venues:
        venues = venues[venues["public"].map(lambda v: _flag(v, default=True)).astype(bool)]

    venue_rows, openings, parsed, unreadable = _venue_rows(venues, tiles)
    school_rows = _school_rows(schools, tiles)
    school_ids = {str(r["school_id"]): i for i, r in enumerate(school_rows, start=1)}
    venue_ids = {str(r["venue_id"]): i for i, r in enumerate(venue_rows, start=1)}
    pairs = pairs[pairs["school_id"].isin(school_ids) & pairs["venue_id"].isin(venue_ids)]
    pairs = pairs.groupby(["school_id", "venue_id", "mode"], as_index=False)["minutes"].min()
    meta = {
        "schema_version": SCHEMA_VERSION,
        "city": summary.city,
        "title": summary.title or summary.city,
        "attribution": OSM_ATTRIBUTION,
        "minutes": f"{settings.minutes:g}",
        "walk_kmh": f"{settings.walk_kmh:g}",
        "bike_kmh": f"{settings.bike_kmh:g}",
        "after_school": f"{settings.after_school_start}-{settings.after_school_end}",
        "timezone": timezone or _timezone(schools, venues),
        "tiles_url": tiles.url,
        "tiles_attribution": tiles.attribution,
        "tiles_name": tiles.name,
        "language": str(settings.language or ""),
    }

    with staged_file(path) as tmp, closing(sqlite3.connect(tmp)) as con, con:
        con.executescript(SCHEMA)
        con.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        con.executemany("INSERT INTO categories VALUES (?, ?, ?, ?, ?, ?)", _category_rows(venues, summary))
        _insert(con, "schools", [{"id": i, **r} for i, r in enumerate(school_rows, start=1)])
        _insert(con, "venues", [{"id": i, **r} for i, r in enumerate(venue_rows, start=1)])
        con.executemany(
            "INSERT INTO opening VALUES (?, ?, ?, ?)",
            ((venue_ids[v], day, start, end) for v, day, start, end in openings),
        )
        con.executemany(
            "INSERT INTO reach VALUES (?, ?, ?, ?)",
            ((school_ids[s], venue_ids[v], m, round(float(t), 2)) for s, v, m, t in pairs.itertuples(index=False)),
        )
        iso_rows = _isochrone_rows(isochrones, school_ids, tiles)
        con.executemany("INSERT INTO isochrones VALUES (?, ?, ?, ?, ?)", iso_rows)
        con.executemany(
            "INSERT INTO campus VALUES (?, ?, ?, ?, ?, ?)", _campus_rows(campus_pairs, own_venues, school_ids)
        )
        con.execute("INSERT INTO venues_fts(venues_fts) VALUES ('rebuild')")
        con.execute("INSERT INTO schools_fts(schools_fts) VALUES ('rebuild')")
        con.execute("ANALYZE")
    return {
        "path": str(path),
        "schools": len(school_rows),
        "venues": len(venue_rows),
        "pairs": len(pairs),
        "isochrones": len(iso_rows),
        "hours_parsed": parsed,
        "hours_unreadable": unreadable,
    }


def free_flag(free: object, fee: object) -> int | None:
    """Return 1 (free), 0 (paid) or None (unknown) from a catalogue ``free`` value or the OSM ``fee`` tag.

    Parameters
    ----------
    free
        A catalogue's ``free`` column (yes/no/true/1/是…), used when not empty.
    fee
        OSM ``fee`` (``no`` means free; ``yes`` or an amount means paid).
    """
    value = normalise(free)
    if value:
        return 1 if value in _TRUE_WORDS else 0 if value in _FREE_WORDS else None
    fee_value = normalise(fee)
    if not fee_value:
        return None
    return 1 if fee_value in _FREE_WORDS else 0


def _text(row: pd.Series, column: str) -> str:
    value = row.get(column, "")
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _display_xy(frame: gpd.GeoDataFrame, tiles: TileProvider) -> tuple[list[float], list[float]]:
    points = shift_to_datum(frame.geometry.values, tiles.datum)
    return [float(x) for x in shapely.get_x(points)], [float(y) for y in shapely.get_y(points)]


def _venue_rows(
    venues: gpd.GeoDataFrame, tiles: TileProvider
) -> tuple[list[dict[str, object]], list[tuple[str, int, int, int]], int, int]:
    rows: list[dict[str, object]] = []
    openings: list[tuple[str, int, int, int]] = []
    parsed = unreadable = 0
    map_lon, map_lat = _display_xy(venues, tiles)
    for i, (_, v) in enumerate(venues.iterrows()):
        text = {
            c: _text(v, c)
            for c in (
                "venue_id",
                "name",
                "name_en",
                "category",
                "category_zh",
                "category_en",
                "opening_hours",
                "fee",
                "access",
                "source",
                "osm_id",
                "district",
                "address",
                "phone",
                "website",
                "safety",
                "facilities",
                "aliases",
                "search_terms",
            )
        }
        schedule = parse_hours(text["opening_hours"]) if text["opening_hours"] else None
        if schedule is not None:
            parsed += 1
            openings.extend((text["venue_id"], day, start, end) for day, start, end in schedule.intervals())
        elif text["opening_hours"]:
            unreadable += 1
        # the build's flags (venues.hours_flags, the after-school window of its settings): one reading of the hours
        after, weekend = _known_flag(v.get("open_after_school")), _known_flag(v.get("open_weekend"))
        rows.append(
            {
                **text,
                "free": free_flag(v.get("free"), text["fee"]),
                "hours_known": int(schedule is not None),
                "after_school": None if after is None else int(after),
                "weekend": None if weekend is None else int(weekend),
                "lon": float(v.geometry.x),
                "lat": float(v.geometry.y),
                "map_lon": map_lon[i],
                "map_lat": map_lat[i],
                "name_norm": normalise(text["name"]),
                "address_norm": normalise(text["address"]),
                "public": int(_flag(v.get("public"), default=True)),
                "search": "\n".join(
                    normalise(t)
                    for t in (
                        *(
                            text[c]
                            for c in (
                                "name",
                                "name_en",
                                "aliases",
                                "address",
                                "district",
                                "category_zh",
                                "category_en",
                                "category",
                                "facilities",
                                "search_terms",
                            )
                        ),
                        pinyin_forms(text["name"]),
                    )
                    if t
                ),
            }
        )
    return rows, openings, parsed, unreadable


def _school_rows(schools: gpd.GeoDataFrame, tiles: TileProvider) -> list[dict[str, object]]:
    map_lon, map_lat = _display_xy(schools, tiles)
    rows = []
    for i, (_, s) in enumerate(schools.iterrows()):
        text = {c: _text(s, c) for c in ("school_id", "name", "name_en", "source", "osm_id")}
        rows.append(
            {
                **text,
                "lon": float(s.geometry.x),
                "lat": float(s.geometry.y),
                "map_lon": map_lon[i],
                "map_lat": map_lat[i],
                "name_norm": normalise(text["name"]),
                "search": "\n".join(
                    normalise(t) for t in (text["name"], text["name_en"], pinyin_forms(text["name"])) if t
                ),
            }
        )
    return rows


def _category_rows(venues: gpd.GeoDataFrame, summary: Summary) -> list[tuple[str, str, str, int, int, str]]:
    """Categories with venues, in the taxonomy's order, with its labels and colours (``summary.json``)."""
    if venues.empty:
        return []
    counts = venues.groupby("category", sort=False).agg(
        zh=("category_zh", "first"), en=("category_en", "first"), n=("venue_id", "size")
    )
    known = {c.key: c.model_dump() for c in summary.categories}
    order = [k for k in known if k in counts.index] + [str(k) for k in counts.index if str(k) not in known]
    rows = []
    for position, key in enumerate(order):
        label = known.get(key, {})
        row = counts.loc[key]
        rows.append(
            (
                key,
                str(label.get("zh") or row.zh),
                str(label.get("en") or row.en),
                int(row.n),
                position,
                str(label.get("color") or NO_CATEGORY_COLOR),
            )
        )
    return rows


def _known_flag(value: object) -> bool | None:
    """A nullable contract flag as read from GeoJSON (bool, 0/1 floats when the column has nulls, or text)."""
    if isinstance(value, str):
        text = value.strip().lower()
        return (text in _TRUE_WORDS) if text else None
    if value is None or pd.isna(value):
        return None
    return bool(value)


def _flag(value: object, default: bool) -> bool:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return default
    return str(value).strip().lower() in _TRUE_WORDS


def _campus_rows(
    pairs: pd.DataFrame, venues: gpd.GeoDataFrame, school_ids: dict[str, int]
) -> list[tuple[int, str, str, str, str, str]]:
    """A school's own facilities (venues on its grounds), once per school and venue."""
    by_id = venues.set_index("venue_id")
    seen = pairs[["school_id", "venue_id"]].drop_duplicates()
    return [
        (
            school_ids[s],
            v,
            _text(by_id.loc[v], "name"),
            _text(by_id.loc[v], "category_zh"),
            _text(by_id.loc[v], "category_en"),
            _text(by_id.loc[v], "facilities"),
        )
        for s, v in seen.itertuples(index=False)
        if s in school_ids and v in by_id.index
    ]


def _isochrone_rows(
    isochrones: gpd.GeoDataFrame, school_ids: dict[str, int], tiles: TileProvider
) -> list[tuple[int, str, float, str, int]]:
    rows = []
    for (school_id, mode), group in isochrones.groupby(["school_id", "mode"]):
        if school_id not in school_ids:
            continue
        shape = shapely.simplify(shapely.union_all(group.geometry.values), _ISOCHRONE_TOLERANCE_DEG)
        shape = shift_to_datum([shape], tiles.datum)[0]
        edge = (
            bool(group["reaches_data_edge"].map(lambda f: _flag(f, default=False)).any())
            if "reaches_data_edge" in group
            else False
        )
        rows.append(
            (school_ids[school_id], str(mode), float(group["minutes"].max()), shapely.to_geojson(shape), int(edge))
        )
    return rows


def _timezone(schools: gpd.GeoDataFrame, venues: gpd.GeoDataFrame) -> str:
    from timezonefinder import TimezoneFinder

    points = pd.concat([schools.geometry, venues.geometry])
    if points.empty:
        return "UTC"
    return TimezoneFinder().timezone_at(lng=float(points.x.mean()), lat=float(points.y.mean())) or "UTC"


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"timezone {name!r}: not an IANA time zone (e.g. Asia/Shanghai, Europe/Berlin)") from exc


def _insert(con: sqlite3.Connection, table: str, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    con.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",  # names are ours
        ([r[c] for c in columns] for r in rows),
    )
