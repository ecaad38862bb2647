"""Venue and school search: validated parameters → parameterised SQL over ``site.db`` (FTS5 trigram + LIKE)."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mapgen.sitetext import normalise
from webapp.db import SiteInfo

PAGE_SIZE = 20
MAX_LIMIT = 100
MAX_PAGE = 10_000
MAX_RADIUS_M = 50_000.0
TRIGRAM = 3  # FTS5 trigram needs 3 characters; shorter terms use LIKE on the normalised column
MAX_TERMS = 8  # different words in one search: each is a clause, and no name needs more
VENUE_COLUMNS = (
    "v.venue_id, v.name, v.name_en, v.category, v.category_zh, v.category_en, v.opening_hours, v.fee, v.access,"
    " v.free, v.district, v.address, v.phone, v.website, v.safety, v.source, v.osm_id, v.lon, v.lat, v.map_lon,"
    " v.map_lat, v.hours_known, v.after_school, v.weekend"
)
_LON = r"-?(?:180(?:\.0+)?|(?:1[0-7]\d|\d{1,2})(?:\.\d+)?)"
_LAT = r"-?(?:90(?:\.0+)?|[1-8]?\d(?:\.\d+)?)"
#: ``W,S,E,N`` in degrees (WGS-84); the ranges are in the pattern, so any match is a box.
BBOX_PATTERN = rf"^{_LON},{_LAT},{_LON},{_LAT}$"
#: ``lon,lat`` in degrees (WGS-84).
NEAR_PATTERN = rf"^{_LON},{_LAT}$"
_WGS84_A, _WGS84_E2 = 6_378_137.0, 0.006_694_379_990_14  # semi-major axis (m), first eccentricity squared
_WEB_LINK = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


class BadQueryError(ValueError):
    """Exception for search parameters that are invalid (answered with HTTP 400).

    ``zh`` is the message in Chinese for the site's pages (the English one is ``str(exc)``).
    """

    def __init__(self, message: str, zh: str | None = None) -> None:
        super().__init__(message)
        self.zh = zh or f"参数有误：{message}"


class PastLastPageError(LookupError):
    """Exception for a result page beyond the last one (answered with HTTP 404)."""

    def __init__(self, page: int, pages: int) -> None:
        super().__init__(f"page {page}: past the last page ({pages})")
        self.zh = f"第 {page} 页不存在：共 {pages} 页"


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
    bbox: str | None = Field(None, pattern=BBOX_PATTERN, description="Only venues in the box west,south,east,north.")
    near: str | None = Field(None, pattern=NEAR_PATTERN, description="Only venues within radius_m of lon,lat.")
    radius_m: float = Field(1000.0, gt=0, le=MAX_RADIUS_M, description="Radius around `near`, metres.")
    limit: int = Field(PAGE_SIZE, ge=1, le=MAX_LIMIT, description="Results per page.")
    page: int = Field(1, ge=1, le=MAX_PAGE, description="Result page.")
    format: Literal["json", "geojson"] = Field("json", description="Answer as JSON or as a GeoJSON FeatureCollection.")

    @field_validator("q", "district")
    @classmethod
    def _printable(cls, v: str) -> str:
        return printable(v)

    @property
    def box(self) -> tuple[float, float, float, float] | None:
        """``bbox`` as numbers (west, south, east, north)."""
        return None if self.bbox is None else tuple(float(x) for x in self.bbox.split(","))  # type: ignore[return-value]

    @property
    def point(self) -> tuple[float, float] | None:
        """``near`` as numbers (lon, lat)."""
        return None if self.near is None else tuple(float(x) for x in self.near.split(","))  # type: ignore[return-value]

    @property
    def warnings(self) -> list[str]:
        """Parameters that were given but have no effect, and why (shown, never silently dropped)."""
        notes = []
        if self.max_minutes is not None and not self.school:
            notes.append("max_minutes: ignored without `school` (travel times are from a school)")
        if "radius_m" in self.model_fields_set and self.near is None:
            notes.append("radius_m: ignored without `near`")
        box = self.box
        if box is not None and box[1] > box[3]:
            notes.append(f"bbox: south {box[1]:g} is north of north {box[3]:g}, so the box holds nothing")
        return notes

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
        return bool(self.q or self.category or self.district or self.free or self.school or self.open
                    or self.bbox or self.near)


class Page(BaseModel):
    """One page of results, with what the data cannot say about the filters that were asked for."""

    total: int
    page: int
    pages: int
    per_page: int = PAGE_SIZE
    next: int | None = None
    prev: int | None = None
    unknown_hours: int | None = None  # with `open`: venues that pass the other filters but have no known hours
    unknown_free: int | None = None  # with `free`: venues that pass the other filters but have no known fee
    warnings: list[str] = []
    results: list[dict[str, object]]


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
        order.append("(" + " OR ".join(
            f"instr(lower(v.category_zh || ' ' || v.category_en || ' ' || v.category), :term{i}) > 0"
            for i in range(len(terms))) + ") DESC")
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
        open_clause = ("v.id IN (SELECT venue FROM opening WHERE weekday = :weekday"
                       " AND open_min <= :minute AND close_min > :minute)")
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
            f"SELECT count(*) {body(free_clause if query.free else '', 'v.hours_known = 0')}", params).fetchone()[0]
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
    return Page(total=total, page=query.page, pages=pages, per_page=query.limit,
                next=query.page + 1 if query.page < pages else None, prev=query.page - 1 if query.page > 1 else None,
                unknown_hours=unknown_hours, unknown_free=unknown_free, warnings=query.warnings, results=results)


def page_geojson(page: Page) -> dict[str, object]:
    """Return a page of venues as a GeoJSON FeatureCollection (WGS-84 points), with the page's counts as members.

    Parameters
    ----------
    page
        A page from :func:`search_venues`.
    """
    meta = page.model_dump(exclude={"results"})
    features = [{"type": "Feature", "id": v["venue_id"], "geometry": {"type": "Point", "coordinates": [v["lon"], v["lat"]]},
                 "properties": v} for v in page.results]
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
    params.update(near_lon=lon, near_lat=lat, kx=kx, ky=ky, r2=radius_m * radius_m,
                  dlon=radius_m / kx, dlat=radius_m / ky)
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


def venue_json(row: sqlite3.Row) -> dict[str, object]:
    """Return the public JSON form of a venue row (booleans as true/false/null)."""
    v = dict(row)
    flag = lambda x: None if x is None else bool(x)  # noqa: E731
    return {
        "venue_id": v["venue_id"], "name": v["name"], "name_en": v["name_en"], "category": v["category"],
        "category_zh": v["category_zh"], "category_en": v["category_en"], "opening_hours": v["opening_hours"],
        "hours_known": bool(v["hours_known"]), "open_after_school": flag(v["after_school"]),
        "open_weekend": flag(v["weekend"]), "fee": v["fee"], "free": flag(v["free"]), "access": v["access"],
        "district": v["district"], "address": v["address"], "phone": v["phone"], "website": web_link(v["website"]),
        "safety": v["safety"], "source": v["source"], "osm_id": v["osm_id"],
        "lon": v["lon"], "lat": v["lat"], "map_lon": v["map_lon"], "map_lat": v["map_lat"],
        "minutes": v.get("minutes"),
    }


def web_link(text: object) -> str:
    """Return the first http(s) address in `text` (``""`` if none): never a ``javascript:`` or other link."""
    found = _WEB_LINK.search(str(text or ""))
    return found.group(0) if found else ""


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
        (json.dumps(venue_ids),))
    for venue_id, weekday, start, end in rows:
        days[venue_id][weekday].append((start, end))
    return days


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
