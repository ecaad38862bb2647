"""Rows of ``site.db`` as the pages and the API show them: venues, schools, their hours, links and outlines."""

from __future__ import annotations

import json
import re
import sqlite3

VENUE_COLUMNS = (
    "v.venue_id, v.name, v.name_en, v.category, v.category_zh, v.category_en, v.opening_hours, v.fee, v.access,"
    " v.free, v.district, v.address, v.phone, v.website, v.safety, v.source, v.osm_id, v.lon, v.lat, v.map_lon,"
    " v.map_lat, v.hours_known, v.after_school, v.weekend"
)
_WEB_LINK = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


def venue_json(row: sqlite3.Row) -> dict[str, object]:
    """Return the public JSON form of a venue row (booleans as true/false/null)."""
    v = dict(row)
    flag = lambda x: None if x is None else bool(x)  # noqa: E731
    return {
        "venue_id": v["venue_id"],
        "name": v["name"],
        "name_en": v["name_en"],
        "category": v["category"],
        "category_zh": v["category_zh"],
        "category_en": v["category_en"],
        "opening_hours": v["opening_hours"],
        "hours_known": bool(v["hours_known"]),
        "open_after_school": flag(v["after_school"]),
        "open_weekend": flag(v["weekend"]),
        "fee": v["fee"],
        "free": flag(v["free"]),
        "access": v["access"],
        "district": v["district"],
        "address": v["address"],
        "phone": v["phone"],
        "website": web_link(v["website"]),
        "safety": v["safety"],
        "source": v["source"],
        "osm_id": v["osm_id"],
        "lon": v["lon"],
        "lat": v["lat"],
        "map_lon": v["map_lon"],
        "map_lat": v["map_lat"],
        "minutes": v.get("minutes"),
    }


def web_link(text: object) -> str:
    """Return the first http(s) address in `text` (``""`` if none): never a ``javascript:`` or other link."""
    found = _WEB_LINK.search(str(text or ""))
    return found.group(0) if found else ""


def school_json(s: dict[str, object]) -> dict[str, object]:
    """Return the public JSON form of a school with its walk/bike reach counts."""
    return {
        "school_id": s["school_id"],
        "name": s["name"],
        "name_en": s["name_en"],
        "lon": s["lon"],
        "lat": s["lat"],
        "venues_walk": s["walk"],
        "venues_bike": s["bike"],
    }


def school_venues(con: sqlite3.Connection, school_id: str) -> list[dict[str, object]]:
    """Return every venue a school reaches, with walk and bike minutes (None where not reached).

    Sorted by the shorter of the two times.
    """
    rows = con.execute(
        f"SELECT {VENUE_COLUMNS},"
        " max(CASE WHEN r.mode = 'walk' THEN r.minutes END) AS walk,"
        " max(CASE WHEN r.mode = 'bike' THEN r.minutes END) AS bike"
        " FROM reach r JOIN venues v ON v.id = r.venue"
        " WHERE r.school = (SELECT id FROM schools WHERE school_id = ?)"
        " GROUP BY v.id ORDER BY min(r.minutes), v.name_norm",
        (school_id,),
    ).fetchall()
    return [{**venue_json(r), "walk": r["walk"], "bike": r["bike"]} for r in rows]


def opening_days(con: sqlite3.Connection, venue_ids: list[str]) -> dict[str, list[list[tuple[int, int]]]]:
    """Return each venue's week of opening intervals (Monday first), as ``mapgen.look.hours_words`` reads them.

    Parameters
    ----------
    con
        Read-only connection to ``site.db``.
    venue_ids
        The venues (ids unknown to ``site.db`` are left out; venues without intervals get seven empty days).
    """
    days: dict[str, list[list[tuple[int, int]]]] = {v: [[] for _ in range(7)] for v in venue_ids}
    rows = con.execute(
        "SELECT v.venue_id, o.weekday, o.open_min, o.close_min FROM opening o JOIN venues v ON v.id = o.venue"
        " WHERE v.venue_id IN (SELECT value FROM json_each(?)) ORDER BY o.weekday, o.open_min",
        (json.dumps(venue_ids),),
    )
    for venue_id, weekday, start, end in rows:
        days[venue_id][weekday].append((start, end))
    return days


def venue_detail(con: sqlite3.Connection, venue_id: str) -> dict[str, object] | None:
    """Return a venue with its weekly opening intervals and the schools that reach it (None if unknown)."""
    row = con.execute(
        f"SELECT v.id, {VENUE_COLUMNS}, NULL AS minutes FROM venues v WHERE v.venue_id = ?", (venue_id,)
    ).fetchone()
    if row is None:
        return None
    opening = [
        list(r)
        for r in con.execute(
            "SELECT weekday, open_min, close_min FROM opening WHERE venue = ? ORDER BY weekday, open_min", (row["id"],)
        )
    ]
    schools = [
        dict(r)
        for r in con.execute(
            "SELECT s.school_id, s.name, s.name_en,"
            " max(CASE WHEN r.mode = 'walk' THEN r.minutes END) AS walk,"
            " max(CASE WHEN r.mode = 'bike' THEN r.minutes END) AS bike"
            " FROM reach r JOIN schools s ON s.id = r.school WHERE r.venue = ?"
            " GROUP BY s.id ORDER BY min(r.minutes), s.name",
            (row["id"],),
        )
    ]
    return {**venue_json(row), "opening": opening, "schools": schools}


def school_detail(con: sqlite3.Connection, school_id: str) -> dict[str, object] | None:
    """Return a school's row, or None if unknown."""
    row = con.execute(
        "SELECT id, school_id, name, name_en, source, osm_id, lon, lat, map_lon, map_lat FROM schools"
        " WHERE school_id = ?",
        (school_id,),
    ).fetchone()
    return None if row is None else dict(row)


def isochrones_geojson(con: sqlite3.Connection, school_id: str) -> str | None:
    """Return a school's walk/bike isochrones as a GeoJSON FeatureCollection text (None if the school is unknown).

    The geometries are stored as GeoJSON text by ``mapgen publish`` (numbers only) and
    are joined without being parsed again.
    """
    row = con.execute("SELECT id FROM schools WHERE school_id = ?", (school_id,)).fetchone()
    if row is None:
        return None
    features = [
        '{"type":"Feature","properties":'
        + json.dumps({"mode": r["mode"], "minutes": r["minutes"]})
        + ',"geometry":'
        + r["geojson"]
        + "}"
        for r in con.execute(
            "SELECT mode, minutes, geojson FROM isochrones WHERE school = ? ORDER BY mode DESC", (row["id"],)
        )
    ]
    return '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"
