"""Search parameters: what a venue query may ask, checked into a typed query, and the page it answers with."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from webapp.db import SiteInfo

PAGE_SIZE = 20


MAX_LIMIT = 100


MAX_PAGE = 10_000


MAX_RADIUS_M = 50_000.0


_LON = r"-?(?:180(?:\.0+)?|(?:1[0-7]\d|\d{1,2})(?:\.\d+)?)"


_LAT = r"-?(?:90(?:\.0+)?|[1-8]?\d(?:\.\d+)?)"


#: ``W,S,E,N`` in degrees (WGS-84); the ranges are in the pattern, so any match is a box.
BBOX_PATTERN = rf"^{_LON},{_LAT},{_LON},{_LAT}$"


#: ``lon,lat`` in degrees (WGS-84).
NEAR_PATTERN = rf"^{_LON},{_LAT}$"


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
        return bool(
            self.q or self.category or self.district or self.free or self.school or self.open or self.bbox or self.near
        )


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


def _message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'query'}: {e['msg']}" for e in exc.errors())


def printable(text: str) -> str:
    """Return `text` with control characters (NUL, escapes…) turned into spaces: they never match anything."""
    return "".join(" " if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in text)
