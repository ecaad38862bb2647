"""The output contract: every file a build writes, its columns, the typed summary, review rows, one folder reader.

Everything that reads or writes a build folder (the pipeline, the PDF sheets, ``site.db``,
the planning notebooks, region builds) takes names and columns from here, so a change to the
contract is made once and ``docs/output-contract.md`` (checked by ``tests/test_docs.py``)
documents exactly these lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from mapgen.config import Settings, TileProvider
from mapgen.errors import InputFileError

#: Version of the files' layout; recorded in ``summary.json`` and raised when a column or file changes meaning.
CONTRACT_VERSION = 2

SCHOOLS_FILE = "schools.geojson"
VENUES_FILE = "venues.geojson"
ISOCHRONES_FILE = "isochrones.geojson"
REACHABILITY_FILE = "reachability.csv"
SUMMARY_FILE = "summary.json"
ROUTES_FILE = "routes.csv"
BASEMAP_FILE = "basemap.parquet"
REVIEW_FILE = "review.csv"
INDEX_FILE = "index.html"
SCHOOL_PAGES_DIR = "schools"  # schools/<school_id>.html and .pdf
SITE_DB_FILE = "site.db"
CHANGES_FILE = "changes.csv"  # `mapgen catalog import`: what changed since the previous import

#: The contract files proper, by the name the summary's ``outputs`` uses.
CONTRACT_FILES = {
    "schools": SCHOOLS_FILE,
    "venues": VENUES_FILE,
    "isochrones": ISOCHRONES_FILE,
    "reachability": REACHABILITY_FILE,
    "summary": SUMMARY_FILE,
}
#: What the PDF sheets read besides the contract files.
SHEET_INPUTS = {"routes": ROUTES_FILE, "basemap": BASEMAP_FILE}

SCHOOL_COLUMNS = ["school_id", "name", "name_en", "source", "osm_id"]
VENUE_COLUMNS = [
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
    "address",
    "district",
    "phone",
    "safety",
    "website",
    "hours_parsed",
    "open_after_school",
    "open_weekend",
    "location_method",
    "location_confidence",
    "sources",
    "category_source",
    "category_confidence",
]
#: What the build adds to every venue (see docs/output-contract.md): the facilities of a park or
#: sports centre, other names of the same place, search words, open to the public, school grounds.
TRUTH_COLUMNS = ["facilities", "aliases", "search_terms", "public", "campus"]
TRUTH_DEFAULTS: dict[str, object] = {"facilities": "", "aliases": "", "search_terms": "", "public": True, "campus": ""}
ISOCHRONE_COLUMNS = ["school_id", "mode", "minutes", "reaches_data_edge"]
PAIR_COLUMNS = ["school_id", "venue_id", "mode", "minutes", "on_campus"]
ROUTE_COLUMNS = ["school_id", "venue_id", "mode", "minutes", "street_m", "main_road_m", "main_road_crossings"]
REVIEW_COLUMNS = ["file", "row", "column", "reason", "name"]
CHANGE_COLUMNS = ["change", "venue_id", "name", "field", "old", "new", "distance_m"]

_TRUE_WORDS = frozenset({"true", "1", "yes"})


@dataclass(frozen=True)
class ReviewRow:
    """One input row that was not used: where it is and why (``name``: what the row names, when known)."""

    file: str
    row: int | str
    column: str
    reason: str
    name: str = ""


class ReviewLog:
    """The rows a run rejects, in the order met; written as ``review.csv`` (:data:`REVIEW_COLUMNS`)."""

    def __init__(self, rows: Iterable[ReviewRow] = ()) -> None:
        self._rows = list(rows)

    def add(self, file: str | Path, row: int | str, column: str, reason: str, name: object = "") -> None:
        """Record that `row` of `file` was not used, and why."""
        self._rows.append(ReviewRow(str(file), row, column, reason, "" if name is None else str(name)))

    def extend(self, rows: Iterable[ReviewRow]) -> None:
        """Record rows another step rejected."""
        self._rows.extend(rows)

    def __iter__(self) -> Iterator[ReviewRow]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def frame(self) -> pd.DataFrame:
        """The rows as a table with :data:`REVIEW_COLUMNS`."""
        return pd.DataFrame([astuple(r) for r in self._rows], columns=[f.name for f in fields(ReviewRow)])


class SummarySource(BaseModel):
    """Where the build's OSM data came from."""

    osm: str
    downloaded_with_osmnx: bool = False
    data_date: str | None = None


class SummaryCounts(BaseModel):
    """What a build holds."""

    schools: int
    schools_from_osm: int = 0
    schools_from_csv: int = 0
    venues: int
    public_venues: int = 0
    venues_by_category: dict[str, int] = {}
    rejected_rows: int = 0


class SummaryCategory(BaseModel):
    """One category of the taxonomy, as the surfaces label and colour it."""

    key: str
    zh: str
    en: str
    color: str


class SkippedOutput(BaseModel):
    """An optional output a missing system package kept from being written."""

    output: str
    reason: str


class Summary(BaseModel):
    """``summary.json``: what a build is of, what it holds and where its outputs are (docs/output-contract.md)."""

    model_config = ConfigDict(extra="forbid")

    contract_version: int = CONTRACT_VERSION
    city: str
    title: str
    source: SummarySource
    attribution: str
    settings: Settings
    tiles: TileProvider
    counts: SummaryCounts
    categories: list[SummaryCategory]
    catalogues: dict[str, Any] = {}
    school_list: dict[str, Any] = {}
    network: dict[str, Any] = {}
    reach: dict[str, dict[str, Any]] = {}
    outputs: dict[str, str] = {}
    seconds: dict[str, float] = {}
    truth: dict[str, Any] = {}
    skipped: list[SkippedOutput] = []
    # Written by region builds: for each area (partition, bounds) and for the region's site folder (areas).
    partition: dict[str, Any] | None = None
    bounds: tuple[float, float, float, float] | None = None
    areas: list[str] | None = None

    def to_json(self) -> str:
        """The summary as ``summary.json`` text (UTF-8, human-readable; region-only entries left out when unset)."""
        unset = {k for k in ("partition", "bounds", "areas") if getattr(self, k) is None}
        return json.dumps(self.model_dump(mode="json", exclude=unset), ensure_ascii=False, indent=2)

    @property
    def language(self) -> str:
        """The language the build's pages speak (``zh``, ``en`` or ``de``)."""
        return self.settings.language or "zh"


class BuildFolder:
    """A build folder written by ``mapgen build``, read lazily: each file is read and checked when first used.

    Every reader of a build (PDF sheets, ``site.db``, planning, region merging) goes through
    this class, so a missing or unreadable file gives the same one-line error everywhere.

    Parameters
    ----------
    folder
        The build's output folder.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        """Path of the file `name` (e.g. :data:`VENUES_FILE`) in the folder, which must exist.

        Raises
        ------
        InputFileError
            When the file is missing.
        """
        path = self.folder / name
        if not path.is_file():
            raise InputFileError(f"{path}: not found; run `mapgen build` into this folder first")
        return path

    @cached_property
    def summary(self) -> Summary:
        """``summary.json``."""
        path = self.path(SUMMARY_FILE)
        try:
            return Summary.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"])) or "the file"
            raise InputFileError(
                f"{path}: {where}: {first['msg']}; rebuild the folder with `mapgen build` "
                f"(this version writes contract version {CONTRACT_VERSION})"
            ) from exc

    @cached_property
    def schools(self) -> gpd.GeoDataFrame:
        """``schools.geojson`` (points, ``school_id`` as text, unique)."""
        return _read_points(self.path(SCHOOLS_FILE), "school_id")

    @cached_property
    def venues(self) -> gpd.GeoDataFrame:
        """``venues.geojson`` (points, ``venue_id`` as text, unique)."""
        return _read_points(self.path(VENUES_FILE), "venue_id")

    @cached_property
    def isochrones(self) -> gpd.GeoDataFrame:
        """``isochrones.geojson``."""
        return _read_geojson(self.path(ISOCHRONES_FILE))

    @cached_property
    def pairs(self) -> pd.DataFrame:
        """``reachability.csv`` with :data:`PAIR_COLUMNS` (``on_campus`` as booleans)."""
        path = self.path(REACHABILITY_FILE)
        pairs = pd.read_csv(path, dtype={"school_id": str, "venue_id": str, "mode": str}, encoding="utf-8")
        missing = set(PAIR_COLUMNS[:4]) - set(pairs.columns)
        if missing:
            raise InputFileError(f"{path}: columns missing: {', '.join(sorted(missing))}")
        on_campus = pairs["on_campus"].astype(str).str.lower().isin(_TRUE_WORDS) if "on_campus" in pairs else False
        return pairs[PAIR_COLUMNS[:4]].assign(on_campus=on_campus)

    @cached_property
    def routes(self) -> pd.DataFrame:
        """``routes.csv`` with :data:`ROUTE_COLUMNS`."""
        return pd.read_csv(self.path(ROUTES_FILE), dtype={"school_id": str, "venue_id": str})

    @cached_property
    def basemap(self) -> gpd.GeoDataFrame:
        """``basemap.parquet``: the PDF sheets' base-map layers."""
        return gpd.read_parquet(self.path(BASEMAP_FILE))


def _read_geojson(path: Path) -> gpd.GeoDataFrame:
    try:
        return gpd.read_file(path, engine="pyogrio").to_crs(4326)
    except Exception as exc:  # pyogrio raises several kinds for unreadable files
        raise InputFileError(f"{path}: not a readable GeoJSON file: {exc}") from exc


def _read_points(path: Path, id_column: str) -> gpd.GeoDataFrame:
    frame = _read_geojson(path)
    if id_column not in frame.columns:
        raise InputFileError(f"{path}: column {id_column!r} missing")
    frame[id_column] = frame[id_column].astype(str)
    dup = frame[id_column].duplicated()
    if dup.any():
        row = int(dup.to_numpy().nonzero()[0][0]) + 1
        raise InputFileError(f"{path}: feature {row}: duplicate {id_column} {frame[id_column][dup].iloc[0]!r}")
    return frame.set_geometry(frame.geometry.representative_point())
