"""Venue and school search: validated parameters → parameterised SQL over ``site.db`` (FTS5 trigram + LIKE)."""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime

from mapgen.sitetext import normalise
from webapp.db import SiteInfo
from webapp.query import BadQueryError, Page, PastLastPageError, VenueQuery
from webapp.records import VENUE_COLUMNS, school_json, venue_json

TRIGRAM = 3  # FTS5 trigram needs 3 characters; shorter terms use LIKE on the normalised column
MAX_TERMS = 8  # different words in one search: each is a clause, and no name needs more
_WGS84_A, _WGS84_E2 = 6_378_137.0, 0.006_694_379_990_14  # semi-major axis (m), first eccentricity squared


def search_venues(con: sqlite3.Connection, query: VenueQuery, info: SiteInfo, now: datetime) -> Page:
    """Return one page of venues matching `query`.

    Ranking: with a school, by travel time; near a point, by distance; otherwise exact name
    or address first, then names starting with the words, names containing them, venues
    whose category matches too, FTS5 bm25 rank, shorter names, name.

    Parameters
    ----------
    con
        Read-only connection to ``site.db``.
    query
        Validated parameters.
    info
        Site metadata (travel-time limit).
    now
        Local time of the city, for ``open=now``.

    Raises
    ------
    PastLastPageError
        When ``page`` is beyond the last page (page 1 always exists, empty or not).
    """
    joins: list[str] = []
    where: list[str] = []
    order: list[str] = []
    params: dict[str, object] = {}
    terms = search_terms(query.q)
    ranked = _text_match(terms, "venues", "v", joins, where, params)
    distance = "NULL"
    if query.school:
        joins.append(
            "JOIN reach r ON r.venue = v.id AND r.mode = :mode AND r.minutes <= :max"
            " AND r.school = (SELECT id FROM schools WHERE school_id = :school)"
        )
        params.update(mode=query.mode, max=query.max_minutes or info.minutes, school=query.school)
        order.append("r.minutes")
    point = query.point
    if point is not None:
        distance = _near(point, query.radius_m, where, params)
        order.append("distance")
    if terms:
        params["exact"] = " ".join(terms)
        params["prefix"] = _like_escape(" ".join(terms)) + "%"
        order.append("(v.name_norm = :exact OR v.address_norm = :exact) DESC")
        order.append("v.name_norm LIKE :prefix ESCAPE '\\' DESC")
        order.append("(" + " AND ".join(f"instr(v.name_norm, :term{i}) > 0" for i in range(len(terms))) + ") DESC")
        order.append(
            "("
            + " OR ".join(
                f"instr(lower(v.category_zh || ' ' || v.category_en || ' ' || v.category), :term{i}) > 0"
                for i in range(len(terms))
            )
            + ") DESC"
        )
        params.update({f"term{i}": t for i, t in enumerate(terms)})
    if ranked:
        order.append("venues_fts.rank")
    if terms:
        order.append("length(v.name_norm)")
    if query.category:
        where.append("v.category = :category")
        params["category"] = query.category
    if query.district:
        where.append("v.district = :district")
        params["district"] = query.district
    box = query.box
    if box is not None:
        west, south, east, north = box
        where.append("v.lat BETWEEN :south AND :north")
        # west > east: the box crosses the antimeridian (RFC 7946)
        where.append("v.lon BETWEEN :west AND :east" if west <= east else "(v.lon >= :west OR v.lon <= :east)")
        params.update(west=west, south=south, east=east, north=north)
    free_clause = "v.free = 1"
    open_clause = ""
    if query.open == "now":
        open_clause = (
            "v.id IN (SELECT venue FROM opening WHERE weekday = :weekday"
            " AND open_min <= :minute AND close_min > :minute)"
        )
        params.update(weekday=now.weekday(), minute=now.hour * 60 + now.minute)
    elif query.open == "after_school":
        open_clause = "v.after_school = 1"
    elif query.open == "weekend":
        open_clause = "v.weekend = 1"
    order.append("v.name_norm, v.venue_id")

    def body(*extra: str) -> str:
        clauses = [*where, *filter(None, extra)]
        return "FROM venues v " + " ".join(joins) + (" WHERE " + " AND ".join(clauses) if clauses else "")

    chosen = body(free_clause if query.free else "", open_clause)
    total = con.execute(f"SELECT count(*) {chosen}", params).fetchone()[0]  # clauses are ours; values are bound
    pages = max(1, math.ceil(total / query.limit))
    if query.page > pages:
        raise PastLastPageError(query.page, pages)
    unknown_hours = unknown_free = None
    if open_clause:
        unknown_hours = con.execute(
            f"SELECT count(*) {body(free_clause if query.free else '', 'v.hours_known = 0')}", params
        ).fetchone()[0]
    if query.free:
        unknown_free = con.execute(f"SELECT count(*) {body('v.free IS NULL', open_clause)}", params).fetchone()[0]
    minutes = ", r.minutes AS minutes" if query.school else ", NULL AS minutes"
    rows = con.execute(
        f"SELECT {VENUE_COLUMNS}{minutes}, {distance} AS distance {chosen} ORDER BY {', '.join(order)}"
        " LIMIT :limit OFFSET :offset",
        {**params, "limit": query.limit, "offset": (query.page - 1) * query.limit},
    ).fetchall()
    results = []
    for r in rows:
        venue = venue_json(r)
        if point is not None:
            venue["distance_m"] = round(math.sqrt(r["distance"]), 1)
        results.append(venue)
    return Page(
        total=total,
        page=query.page,
        pages=pages,
        per_page=query.limit,
        next=query.page + 1 if query.page < pages else None,
        prev=query.page - 1 if query.page > 1 else None,
        unknown_hours=unknown_hours,
        unknown_free=unknown_free,
        warnings=query.warnings,
        results=results,
    )


def page_geojson(page: Page) -> dict[str, object]:
    """Return a page of venues as a GeoJSON FeatureCollection (WGS-84 points), with the page's counts as members.

    Parameters
    ----------
    page
        A page from :func:`search_venues`.
    """
    meta = page.model_dump(exclude={"results"})
    features = [
        {
            "type": "Feature",
            "id": v["venue_id"],
            "geometry": {"type": "Point", "coordinates": [v["lon"], v["lat"]]},
            "properties": v,
        }
        for v in page.results
    ]
    return {"type": "FeatureCollection", **meta, "features": features}


def _near(point: tuple[float, float], radius_m: float, where: list[str], params: dict[str, object]) -> str:
    """Add the clauses of "within `radius_m` of `point`"; return the SQL of the squared distance in metres.

    Local flat distance with the WGS-84 ellipsoid's radii of curvature at `point` (within a
    metre of the geodesic up to about 10 km); a box around the circle comes first so SQLite
    can skip most rows cheaply.
    """
    lon, lat = point
    e2 = _WGS84_E2
    w = math.sqrt(1 - e2 * math.sin(math.radians(lat)) ** 2)
    ky = math.radians(_WGS84_A * (1 - e2) / w**3)  # metres per degree of latitude
    kx = max(math.radians(_WGS84_A / w) * math.cos(math.radians(lat)), 1e-6)  # … of longitude
    params.update(
        near_lon=lon, near_lat=lat, kx=kx, ky=ky, r2=radius_m * radius_m, dlon=radius_m / kx, dlat=radius_m / ky
    )
    where.append("v.lat BETWEEN :near_lat - :dlat AND :near_lat + :dlat")
    where.append("v.lon BETWEEN :near_lon - :dlon AND :near_lon + :dlon")
    squared = "((v.lon - :near_lon) * :kx * (v.lon - :near_lon) * :kx + (v.lat - :near_lat) * :ky * (v.lat - :near_lat) * :ky)"
    where.append(f"{squared} <= :r2")
    return squared


def search_schools(con: sqlite3.Connection, q: str, info: SiteInfo) -> list[dict[str, object]]:
    """Return schools whose name (Chinese or English) contains every word of `q` (all schools for ``""``).

    Parameters
    ----------
    con
        Read-only connection to ``site.db``.
    q
        Search words.
    info
        Site metadata; its school list carries the walk/bike reach counts.
    """
    terms = search_terms(q)
    if not terms:
        return [school_json(s) for s in info.schools]
    joins: list[str] = []
    where: list[str] = []
    params: dict[str, object] = {}
    _text_match(terms, "schools", "s", joins, where, params)
    sql = f"SELECT s.school_id FROM schools s {' '.join(joins)} {'WHERE ' + ' AND '.join(where) if where else ''}"
    found = {r[0] for r in con.execute(sql, params)}
    return [school_json(s) for s in info.schools if s["school_id"] in found]


def search_terms(q: str) -> list[str]:
    """The different words of a search, folded, in order: a repeated word is one clause, not fifty.

    Raises
    ------
    BadQueryError
        More than :data:`MAX_TERMS` different words.
    """
    terms = list(dict.fromkeys(normalise(q).split()))
    if len(terms) > MAX_TERMS:
        raise BadQueryError(f"q: at most {MAX_TERMS} different words (got {len(terms)})")
    return terms


def _text_match(
    terms: list[str], table: str, alias: str, joins: list[str], where: list[str], params: dict[str, object]
) -> bool:
    """Add the clauses that make every word match `table`'s folded ``search`` text; return whether FTS5 is used.

    Words of 3+ characters go to the FTS5 trigram index (``<table>_fts``, one MATCH of quoted
    phrases joined by AND); shorter words, which a trigram index cannot answer, use LIKE.
    `table` and `alias` are names of ours, never user text.
    """
    long_terms = [t for t in terms if len(t) >= TRIGRAM]
    if long_terms:
        joins.append(f"JOIN {table}_fts ON {table}_fts.rowid = {alias}.id AND {table}_fts MATCH :fts")
        params["fts"] = " AND ".join('"' + t.replace('"', '""') + '"' for t in long_terms)
    for i, term in enumerate(t for t in terms if len(t) < TRIGRAM):
        where.append(f"{alias}.search LIKE :like{i} ESCAPE '\\'")
        params[f"like{i}"] = "%" + _like_escape(term) + "%"
    return bool(long_terms)


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
