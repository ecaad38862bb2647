"""Venue and school search: validated parameters → parameterised SQL over ``site.db`` (FTS5 trigram + LIKE)."""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mapgen.sitetext import normalise
from webapp.db import SiteInfo

PAGE_SIZE = 20
MAX_PAGE = 10_000
TRIGRAM = 3  # FTS5 trigram needs 3 characters; shorter terms use LIKE on the normalised column
MAX_TERMS = 8  # different words in one search: each is a clause, and no name needs more
VENUE_COLUMNS = (
    "v.venue_id, v.name, v.name_en, v.category, v.category_zh, v.category_en, v.opening_hours, v.fee, v.access,"
    " v.free, v.district, v.address, v.source, v.osm_id, v.lon, v.lat, v.map_lon, v.map_lat, v.hours_known,"
    " v.after_school, v.weekend"
)


class BadQueryError(ValueError):
    """Exception for search parameters that are invalid (answered with HTTP 400)."""


class VenueQuery(BaseModel):
    """Parameters of a venue search (``/search`` and ``/api/venues``)."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    q: str = Field("", max_length=200, description="Words to find in names, addresses and categories.")
    category: str | None = Field(None, max_length=64, description="Category key (see /api/schools).")
    district: str = Field("", max_length=100, description="District, as in the venue data.")
    free: bool = Field(False, description="Only venues known to be free.")
    school: str | None = Field(None, max_length=100, description="school_id: only venues this school reaches.")
    mode: Literal["walk", "bike"] = Field("walk", description="Travel mode for `school`.")
    max_minutes: float | None = Field(None, gt=0, le=1440, description="Time limit for `school`, minutes.")
    open: Literal["now", "after_school", "weekend"] | None = Field(None, description="Opening-hours filter.")
    page: int = Field(1, ge=1, le=MAX_PAGE, description="Result page, 20 per page.")

    @field_validator("q", "district")
    @classmethod
    def _printable(cls, v: str) -> str:
        return printable(v)

    @classmethod
    def parse(cls, args: dict[str, str], info: SiteInfo) -> VenueQuery:
        """Validate query-string arguments against the model and the site's data.

        An empty value is an error where the model wants a number, boolean or one of a
        list (the HTML form leaves empty fields out before it gets here).

        Raises
        ------
        BadQueryError
            With a message naming the parameter and the reason.
        """
        try:
            query = cls.model_validate(args)
        except ValidationError as exc:
            raise BadQueryError(_message(exc)) from None
        if query.category is not None and query.category not in {c["key"] for c in info.categories}:
            raise BadQueryError(f"category: unknown category {query.category!r}")
        if query.school is not None and query.school not in {s["school_id"] for s in info.schools}:
            raise BadQueryError(f"school: unknown school_id {query.school!r}")
        if query.max_minutes is not None and query.max_minutes > info.minutes:
            raise BadQueryError(f"max_minutes: at most {info.minutes:g} (the build's limit)")
        return query

    @property
    def filtered(self) -> bool:
        """Whether any search term or filter is set."""
        return bool(self.q or self.category or self.district or self.free or self.school or self.open)


class Page(BaseModel):
    """One page of results."""

    total: int
    page: int
    pages: int
    per_page: int = PAGE_SIZE
    results: list[dict[str, object]]


def search_venues(con: sqlite3.Connection, query: VenueQuery, info: SiteInfo, now: datetime) -> Page:
    """Return one page of venues matching `query`.

    Ranking: exact name or address first, then names starting with the words, then
    FTS5 bm25 rank (or travel time when a school is chosen), then name.

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
    """
    joins: list[str] = []
    where: list[str] = []
    order: list[str] = []
    params: dict[str, object] = {}
    terms = search_terms(query.q)
    ranked = _text_match(terms, "venues", "v", joins, where, params)
    if terms:
        params["exact"] = " ".join(terms)
        params["prefix"] = _like_escape(" ".join(terms)) + "%"
        order.append("(v.name_norm = :exact OR v.address_norm = :exact) DESC")
        order.append("v.name_norm LIKE :prefix ESCAPE '\\' DESC")
    if query.school:
        joins.append(
            "JOIN reach r ON r.venue = v.id AND r.mode = :mode AND r.minutes <= :max"
            " AND r.school = (SELECT id FROM schools WHERE school_id = :school)"
        )
        params.update(mode=query.mode, max=query.max_minutes or info.minutes, school=query.school)
        order.append("r.minutes")
    if ranked:
        order.append("venues_fts.rank")
    if query.category:
        where.append("v.category = :category")
        params["category"] = query.category
    if query.district:
        where.append("v.district = :district")
        params["district"] = query.district
    if query.free:
        where.append("v.free = 1")
    if query.open == "now":
        where.append(
            "v.id IN (SELECT venue FROM opening WHERE weekday = :weekday"
            " AND open_min <= :minute AND close_min > :minute)"
        )
        params.update(weekday=now.weekday(), minute=now.hour * 60 + now.minute)
    elif query.open == "after_school":
        where.append("v.after_school = 1")
    elif query.open == "weekend":
        where.append("v.weekend = 1")
    order.append("v.name_norm, v.venue_id")

    body = "FROM venues v " + " ".join(joins) + (" WHERE " + " AND ".join(where) if where else "")
    total = con.execute(f"SELECT count(*) {body}", params).fetchone()[0]  # clauses are ours; values are bound
    minutes = ", r.minutes AS minutes" if query.school else ", NULL AS minutes"
    rows = con.execute(
        f"SELECT {VENUE_COLUMNS}{minutes} {body} ORDER BY {', '.join(order)} LIMIT :limit OFFSET :offset",
        {**params, "limit": PAGE_SIZE, "offset": (query.page - 1) * PAGE_SIZE},
    ).fetchall()
    return Page(total=total, page=query.page, pages=max(1, math.ceil(total / PAGE_SIZE)),
                results=[venue_json(r) for r in rows])


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


def venue_json(row: sqlite3.Row) -> dict[str, object]:
    """Return the public JSON form of a venue row (booleans as true/false/null)."""
    v = dict(row)
    flag = lambda x: None if x is None else bool(x)  # noqa: E731
    return {
        "venue_id": v["venue_id"], "name": v["name"], "name_en": v["name_en"], "category": v["category"],
        "category_zh": v["category_zh"], "category_en": v["category_en"], "opening_hours": v["opening_hours"],
        "hours_known": bool(v["hours_known"]), "open_after_school": flag(v["after_school"]),
        "open_weekend": flag(v["weekend"]), "fee": v["fee"], "free": flag(v["free"]), "access": v["access"],
        "district": v["district"], "address": v["address"], "source": v["source"], "osm_id": v["osm_id"],
        "lon": v["lon"], "lat": v["lat"], "map_lon": v["map_lon"], "map_lat": v["map_lat"],
        "minutes": v.get("minutes"),
    }


def school_json(s: dict[str, object]) -> dict[str, object]:
    """Return the public JSON form of a school with its walk/bike reach counts."""
    return {
        "school_id": s["school_id"], "name": s["name"], "name_en": s["name_en"], "lon": s["lon"], "lat": s["lat"],
        "venues_walk": s["walk"], "venues_bike": s["bike"],
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


def venue_detail(con: sqlite3.Connection, venue_id: str) -> dict[str, object] | None:
    """Return a venue with its weekly opening intervals and the schools that reach it (None if unknown)."""
    row = con.execute(f"SELECT v.id, {VENUE_COLUMNS}, NULL AS minutes FROM venues v WHERE v.venue_id = ?",
                      (venue_id,)).fetchone()
    if row is None:
        return None
    opening = [list(r) for r in con.execute(
        "SELECT weekday, open_min, close_min FROM opening WHERE venue = ? ORDER BY weekday, open_min", (row["id"],))]
    schools = [dict(r) for r in con.execute(
        "SELECT s.school_id, s.name, s.name_en,"
        " max(CASE WHEN r.mode = 'walk' THEN r.minutes END) AS walk,"
        " max(CASE WHEN r.mode = 'bike' THEN r.minutes END) AS bike"
        " FROM reach r JOIN schools s ON s.id = r.school WHERE r.venue = ?"
        " GROUP BY s.id ORDER BY min(r.minutes), s.name", (row["id"],))]
    return {**venue_json(row), "opening": opening, "schools": schools}


def school_detail(con: sqlite3.Connection, school_id: str) -> dict[str, object] | None:
    """Return a school's row, or None if unknown."""
    row = con.execute(
        "SELECT id, school_id, name, name_en, source, osm_id, lon, lat, map_lon, map_lat FROM schools"
        " WHERE school_id = ?", (school_id,)).fetchone()
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
        '{"type":"Feature","properties":' + json.dumps({"mode": r["mode"], "minutes": r["minutes"]})
        + ',"geometry":' + r["geojson"] + "}"
        for r in con.execute("SELECT mode, minutes, geojson FROM isochrones WHERE school = ? ORDER BY mode DESC",
                             (row["id"],))
    ]
    return '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"


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


def printable(text: str) -> str:
    """Return `text` with control characters (NUL, escapes…) turned into spaces: they never match anything."""
    return "".join(" " if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in text)


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'query'}: {e['msg']}" for e in exc.errors())
