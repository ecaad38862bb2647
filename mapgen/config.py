"""Typed configuration: one city's settings, loaded from its TOML file or built from defaults."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mapgen.errors import ConfigError
from mapgen.hours import minutes_of_day

Mode = Literal["walk", "bike"]
Language = Literal["zh", "en", "de"]
MODES: tuple[Mode, ...] = ("walk", "bike")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The default taxonomy ships inside the package (also in an installed wheel), located through importlib.resources.
DEFAULT_CATEGORIES = Path(str(resources.files("mapgen") / "data" / "categories.toml"))
OSM_ATTRIBUTION = "© OpenStreetMap contributors"


def _bbox_in_order(v: tuple[float, float, float, float], info: ValidationInfo) -> tuple[float, float, float, float]:
    if not (v[0] < v[2] and v[1] < v[3]):
        raise ValueError(f"{info.field_name} must be [west, south, east, north] with west < east, south < north")
    return v


BBox = Annotated[tuple[float, float, float, float], AfterValidator(_bbox_in_order)]
"""west, south, east, north in WGS-84 degrees, checked to be in that order."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Settings(_Model):
    """Travel and geometry settings shared by every stage.

    Defaults are for school children: walking 4 km/h, cycling 12 km/h, 15 minutes.
    """

    walk_kmh: float = Field(4.0, gt=0, le=30, description="Walking speed in km/h.")
    bike_kmh: float = Field(12.0, gt=0, le=40, description="Cycling speed in km/h.")
    minutes: float = Field(15.0, gt=0, le=120, description="Travel-time limit of a circle, in minutes.")
    max_snap_m: float = Field(
        300.0, gt=0, le=5000, description="Schools/venues farther than this from any street are reported, not snapped."
    )
    access_buffer_m: float = Field(
        25.0,
        ge=0,
        le=500,
        description="Street nodes within this distance of a campus or park outline are its entrances.",
    )
    isochrone_buffer_m: float = Field(
        25.0, ge=1, le=500, description="Half-width of the band drawn around every reached street segment."
    )
    isochrone_cell_m: float | None = Field(
        None,
        ge=1,
        le=200,
        description="Smallest grid cell on which isochrone outlines are traced (default: the band / 2.5).",
    )
    isochrone_max_cells: int = Field(
        65536,
        ge=1024,
        le=16_777_216,
        description="Most grid cells of one isochrone: the cell grows with the reached extent.",
    )
    isochrone_fill_m2: float = Field(
        20000.0,
        ge=0,
        description="Holes smaller than this (m²) ringed by reached streets, with no street node not reached in them, are filled; 0: none.",
    )
    reach_workers: int = Field(
        1, ge=0, le=256, description="Processes for routing and isochrones (parts of 64 schools); 0 = one per CPU core."
    )
    graph_cache: bool = Field(
        True, description="Keep parsed extracts, street graphs and the PDF sheets' font in cache_dir for later runs."
    )
    cache_dir: Path | None = Field(
        None, description="Cache folder (default: $MAPGEN_CACHE_DIR, else $XDG_CACHE_HOME/mapgen or ~/.cache/mapgen)."
    )
    min_component_nodes: int = Field(
        50,
        ge=1,
        le=1_000_000,
        description="Street islands smaller than this (clipped fragments, closed campuses) are dropped.",
    )
    include_kindergartens: bool = Field(False, description="Treat amenity=kindergarten as schools too.")
    kindergarten_names: tuple[str, ...] = Field(
        ("幼儿园", "托儿所", "Kindergarten", "Kita\\b", "maternelle"),
        description="Regular expressions: schools named like this are kindergartens (kept only with include_kindergartens).",
    )
    exclude_school_names: tuple[str, ...] = Field(
        ("党校", "进修学校", "学院$", "大学$", "高等师范", "驾校", "驾驶学校", "Fahrschule"),
        description=(
            "Regular expressions: amenity=school features whose name matches are not schools for pupils "
            "(party schools, teacher training, vocational colleges, driving schools)."
        ),
    )

    after_school_start: str = Field(
        "16:00", description="Start (HH:MM) of the after-school window behind the open_after_school flag."
    )
    after_school_end: str = Field(
        "18:00", description="End (HH:MM) of the after-school window: a venue must be open all of it on a weekday."
    )
    main_roads: tuple[str, ...] = Field(
        ("trunk", "trunk_link", "primary", "primary_link", "secondary", "secondary_link"),
        description="highway=* classes that the route safety notes (routes.csv, PDF sheets) count as main roads.",
    )
    site_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+",
        max_length=200,
        description="Base URL of the search site (e.g. https://example.org/circles): PDF sheets then carry a QR "
        "code and link to the school's page there.",
    )
    sheet_workers: int = Field(
        0,
        ge=0,
        description="Processes (forked) rendering the PDF sheets; 0 = one per CPU core, 1 = none.",
    )
    parallel_modes: bool = Field(
        True,
        description="Build and route bike in a forked process while walk is built and routed, and find the "
        "data's area in another (with graph_cache, a third builds both graphs into the cache meanwhile; with more "
        "than one CPU core; the outputs are the same).",
    )

    @field_validator("kindergarten_names", "exclude_school_names")
    @classmethod
    def _regular_expressions(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression ({exc})") from None
        return v

    language: Language | None = Field(
        None,
        description="Language of generated venue names, the title and the pages: zh, en or de "
        "(default: zh for extracts in China, by addr:country or position; en otherwise).",
    )
    campus_amenities: tuple[str, ...] = Field(
        ("school", "kindergarten"),
        description="amenity=* areas that are school grounds: venues inside are that school's own (on campus).",
    )
    closed_access: tuple[str, ...] = Field(
        ("private", "customers", "no"), description="access=* values of venues not open to the public."
    )
    include_non_public_venues: bool = Field(
        False,
        description="Also list venues on other schools' grounds or with closed access as outings "
        "(venues.geojson marks them public = false).",
    )
    same_place_m: float = Field(
        150.0,
        ge=0,
        description="Venues sharing a name (name, name:zh, name:en) or wikidata this close are one venue.",
    )
    category_priority: tuple[str, ...] = Field(
        ("science", "museum", "library", "culture", "heritage", "study", "sports", "park"),
        description="Category kept when one place is mapped as several venues: the first listed wins.",
    )
    facility_parents: tuple[str, ...] = Field(
        ("park", "sports_centre", "stadium", "recreation_ground"),
        description="leisure=* of named venues whose small facilities (courts, pitches, playgrounds) are "
        "listed as their facilities instead of venues of their own.",
    )
    name_street_m: float = Field(
        300.0,
        ge=0,
        description="An unnamed venue outside any named place is named after the nearest street this close.",
    )
    data_edge_m: float = Field(
        100.0,
        ge=0,
        description="An isochrone this close to the edge of the extract's street network reaches_data_edge.",
    )
    inner_schools_only: bool = Field(
        False, description="Build only the schools none of whose circles reaches the edge of the data."
    )

    @model_validator(mode="after")
    def _after_school_window(self) -> Settings:
        try:
            start, end = minutes_of_day(self.after_school_start), minutes_of_day(self.after_school_end)
        except ValueError as exc:
            raise ValueError(f"after_school_start/after_school_end: {exc}") from exc
        if start >= end:
            raise ValueError("after_school_start must be earlier than after_school_end")
        return self

    def speed_kmh(self, mode: Mode) -> float:
        """Return the travel speed of `mode` in km/h."""
        return self.walk_kmh if mode == "walk" else self.bike_kmh


class TileProvider(_Model):
    """Base-map tiles for the Leaflet maps (the only thing a published page loads from a server)."""

    name: str = "OpenStreetMap"
    url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    attribution: str = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
    datum: Literal["wgs84", "gcj02"] = Field(
        "wgs84", description="Datum of the tiles; gcj02 (AMap, Tencent) shifts every drawn coordinate to match."
    )


class PlanningSettings(_Model):
    """Settings of the planner notebooks (coverage audit, siting of study stations): ``[planning]`` in the city TOML."""

    hex_resolution: int = Field(
        9, ge=6, le=11, description="H3 resolution of the residential demand grid (9: hexagons ~350 m across)."
    )
    residential_buildings: tuple[str, ...] = Field(
        ("residential", "apartments", "house", "detached", "semidetached_house", "terrace", "dormitory", "bungalow"),
        description="building=* values that count as homes.",
    )
    residential_landuse: tuple[str, ...] = Field(("residential",), description="landuse=* values that count as homes.")
    residential_streets: tuple[str, ...] = Field(
        ("residential", "living_street"),
        description="highway=* values of streets lined with homes (the demand proxy where buildings are not mapped).",
    )
    min_street_m: float = Field(
        100.0, ge=0, description="A hexagon is residential by its streets alone from this length of residential street."
    )
    nearest_limit_minutes: float = Field(
        60.0, gt=0, le=240, description="Search bound for the nearest venue of each category from every school."
    )
    study_categories: tuple[str, ...] = Field(
        ("study", "library"), description="Venue categories where pupils can already study (demand they cover is met)."
    )
    candidate_amenities: tuple[str, ...] = Field(
        (
            "community_centre",
            "social_centre",
            "library",
            "school",
            "townhall",
            "arts_centre",
            "social_facility",
            "youth_centre",
            "university",
            "college",
        ),
        description="amenity=* values of candidate sites for new community study stations.",
    )
    candidate_buildings: tuple[str, ...] = Field(
        ("public", "civic", "government", "community_centre"),
        description="building=* values of other public buildings that are candidate sites.",
    )


class OnlineGeocoder(_Model):
    """An online geocoder asked only for rows the offline gazetteer cannot place (off unless configured)."""

    provider: Literal["nominatim", "amap"] = Field(
        description="nominatim (OpenStreetMap, WGS-84) or amap (AMap web API, GCJ-02, converted to WGS-84)."
    )
    user_agent: str = Field("mapgen", description="User-Agent sent to Nominatim (its usage policy requires one).")
    api_key_env: str | None = Field(None, description="Environment variable holding the API key (AMap).")
    min_delay_s: float = Field(1.0, ge=0, description="At least this many seconds between two requests.")
    cache: Path = Field(Path(".mapgen-geocode-cache.json"), description="On-disk cache of answers (JSON).")


class CatalogueSettings(_Model):
    """How catalogue rows are checked, geocoded, merged with OSM and compared with a previous version."""

    min_confidence: float = Field(
        0.85, gt=0, le=1, description="Geocoded rows below this confidence go to review.csv, never to a guess."
    )
    area_buffer_m: float = Field(
        2000.0,
        ge=0,
        le=100_000,
        description="Rows farther than this outside the mapped area (streets or gazetteer) are rejected.",
    )
    duplicate_m: float = Field(50.0, ge=0, le=10_000, description="Rows with the same name this close are duplicates.")
    max_name_chars: int = Field(
        200, ge=10, le=10_000, description="Rows whose name (or English name) is longer than this go to review."
    )
    max_text_chars: int = Field(
        2000, ge=10, le=100_000, description="Rows with a longer address, opening hours or other text go to review."
    )
    merge_m: float = Field(
        150.0,
        ge=0,
        le=10_000,
        description="A catalogue venue this close to an OSM venue with a similar name is the same venue.",
    )
    merge_min_score: float = Field(0.85, gt=0, le=1, description="Name similarity needed to merge two venues.")
    moved_m: float = Field(
        50.0, ge=0, le=100_000, description="changes.csv reports a venue as moved beyond this distance."
    )
    place_prefixes: tuple[str, ...] = Field(
        ("中国", "上海", "北京", "天津", "重庆", "深圳", "广州", "南京", "杭州"),
        description="Place names stripped from the start of names (besides any ...省/市/区/县).",
    )
    noise_suffixes: tuple[str, ...] = Field(
        ("旅游景区", "风景名胜区", "风景区", "旅游区", "景区", "景点"),
        description="Name endings that carry no identity (removed before matching).",
    )
    kind_suffixes: tuple[str, ...] = Field(
        (
            "博物馆",
            "纪念馆",
            "美术馆",
            "艺术馆",
            "图书馆",
            "科技馆",
            "科普馆",
            "展示馆",
            "展览馆",
            "陈列馆",
            "文化馆",
            "体育馆",
            "体育场",
            "体育中心",
            "游泳馆",
            "少年宫",
            "公园",
            "乐园",
            "植物园",
            "动物园",
            "广场",
            "馆",
            "园",
            "museum",
            "gallery",
            "library",
            "park",
        ),
        description="Venue-kind endings: a name is matched on the part before them (its distinctive part).",
    )
    branch_words: tuple[str, ...] = Field(
        (
            "分馆",
            "分院",
            "分部",
            "分店",
            "分中心",
            "分园",
            "东馆",
            "西馆",
            "南馆",
            "北馆",
            "新馆",
            "旧馆",
            "旧址",
            "校区",
            "检票口",
            "售票处",
            "入口",
            "出口",
            "停车场",
        ),
        description="Words that make a different place of a name (a branch, an old site, a gate): never ignored.",
    )
    district_aliases: dict[str, str] = Field(
        {
            "卢湾": "黄浦",
            "南市": "黄浦",
            "闸北": "静安",
            "南汇": "浦东",
            "川沙": "浦东",
            "宣武": "西城",
            "崇文": "东城",
        },
        description="Old district names → current ones (compared without 区/县/新区).",
    )
    online: OnlineGeocoder | None = Field(None, description="Optional online geocoder for rows left unplaced.")
    category_min_confidence: float = Field(
        0.7,
        ge=0,
        le=1,
        description="Rows whose category was recognised (name word, matched place's tags) with less confidence "
        "go to review.csv.",
    )


class CatalogueConfig(_Model):
    """One venue list (CSV, XLSX, JSON or GeoJSON) imported into a build."""

    file: Path = Field(description="The catalogue file; relative to the city TOML.")
    name: str | None = Field(None, description="Short name used in venue ids and sources [default: file stem].")
    crs: Literal["wgs84", "gcj02", "bd09"] = Field("wgs84", description="Datum of the file's coordinates.")
    category: str | None = Field(
        None, description="Category for rows without a category value (overrides names and matched places' tags)."
    )
    district: str | None = Field(None, description="District of every row, when the file has no district column.")
    columns: dict[str, str] = Field(
        {}, description='Field → header of this file, e.g. {name = "NAME", opening_hours = "T_TIME"}.'
    )
    gazetteers: tuple[Path, ...] = Field((), description="Extra GeoJSON gazetteers for geocoding this file.")

    @property
    def label(self) -> str:
        """Name used in venue ids, sources and review rows."""
        return self.name or self.file.name.split(".")[0]


class SchoolListConfig(_Model):
    """An official school list (names, addresses, ids; no coordinates) matched to the extract's schools."""

    file: Path = Field(description="The list (CSV, XLSX or JSON); relative to the city TOML.")
    name: str | None = Field(None, description="Short name used in school ids [default: file stem].")
    complete: bool = Field(
        False, description="The list names every school: OSM schools not on it are left out (listed in summary.json)."
    )
    columns: dict[str, str] = Field({}, description="Field (id, name, address, district) → header of this file.")
    min_confidence: float = Field(0.85, gt=0, le=1, description="Name similarity that matches a school on its own.")
    address_min_confidence: float = Field(
        0.6,
        gt=0,
        le=1,
        description="Lower name similarity that matches when the row's address geocodes near the same school.",
    )
    address_m: float = Field(
        300.0, ge=0, description="An address this close to a school (or inside its campus) confirms it."
    )
    branch_words: tuple[str, ...] = Field(
        (
            "分校",
            "校区",
            "分部",
            "本部",
            "分院",
            "campus",
            "außenstelle",
            "aussenstelle",
            "zweigstelle",
            "standort",
            "annexe",
            "annex",
        ),
        description="Words that make another school of a name (a branch, a campus): never matched across.",
    )
    generic_words: tuple[str, ...] = Field(
        (
            "schule",
            "schulen",
            "grundschule",
            "realschule",
            "werkrealschule",
            "gymnasium",
            "gesamtschule",
            "gemeinschaftsschule",
            "hauptschule",
            "berufsschule",
            "förderschule",
            "sonderschule",
            "school",
            "primary",
            "secondary",
            "high",
            "middle",
            "elementary",
            "international",
            "college",
            "école",
            "lycée",
            "collège",
            "primaire",
            "élémentaire",
            "maternelle",
            "privé",
            "privée",
            "public",
            "publique",
            "polyvalent",
            "institution",
            "der",
            "die",
            "das",
            "von",
            "st",
            "saint",
            "sainte",
            "the",
            "of",
            "de",
            "la",
            "le",
            "les",
            "des",
            "du",
        ),
        description="Words in Latin-letter school names that do not identify a school on their own.",
    )

    @property
    def label(self) -> str:
        """Name used in school ids."""
        return self.name or self.file.name.split(".")[0]


class CityConfig(_Model):
    """One city (district) to build: where its data is and how to route in it."""

    name: str = Field(description="Short name used in titles and file names.")
    title: str | None = Field(None, description="Display title (e.g. Chinese district name).")
    osm: Path | None = Field(None, description="OSM extract (.osm XML or .osm.pbf); relative to the TOML file.")
    download_bbox: BBox | None = Field(
        None, description="west, south, east, north: downloaded with osmnx when the `osm` file is absent."
    )
    schools_csv: Path | None = Field(None, description="CSV of schools (name, lon, lat) to add or use instead.")
    schools_csv_mode: Literal["add", "replace"] = "add"
    school_list: SchoolListConfig | None = Field(
        None, description="Official school list matched to the OSM schools (keeps its names and ids)."
    )
    categories: Path = Field(DEFAULT_CATEGORIES, description="Venue category taxonomy (TOML).")
    settings: Settings = Settings()
    tiles: TileProvider = TileProvider()
    planning: PlanningSettings = PlanningSettings()
    catalogues: tuple[CatalogueConfig, ...] = Field((), description="Venue lists merged with the OSM venues.")
    catalogue: CatalogueSettings = CatalogueSettings()

    @property
    def display_title(self) -> str:
        """Title for pages and sheets."""
        return self.title or self.name


def load_city(path: str | Path, **overrides: object) -> CityConfig:
    """Load a city configuration from TOML.

    Parameters
    ----------
    path
        The city TOML file; relative paths inside it are resolved against its folder.
    **overrides
        Settings fields (e.g. ``walk_kmh=5``) that replace the file's values.

    Returns
    -------
    CityConfig
    """
    path = Path(path)
    return _validated(_city_table(path), overrides, source=str(path))


def _resolve(base: Path, value: object) -> object:
    return str(base / value) if isinstance(value, str) and not Path(value).is_absolute() else value


def city_from_osm(osm: str | Path, **overrides: object) -> CityConfig:
    """Build a configuration with defaults for any OSM extract (no city file).

    Parameters
    ----------
    osm
        Path to an ``.osm`` or ``.osm.pbf`` extract.
    **overrides
        Settings fields that replace the defaults.

    Returns
    -------
    CityConfig
    """
    osm = Path(osm)
    name = osm.name.split(".")[0]
    return _validated({"name": name, "osm": str(osm)}, overrides, source=str(osm))


def _validated(raw: dict[str, object], overrides: Mapping[str, object], source: str) -> CityConfig:
    raw = {**raw, "settings": _merged_settings([raw.get("settings")], overrides)}
    try:
        return CityConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid configuration: {_problems(exc)}") from exc


class AreaConfig(CityConfig):
    """One area (county, district) of a region: a city configuration plus the part of its OSM source it owns.

    Areas that share one OSM extract and own neighbouring ``bbox`` parts of it are routed on
    buffered cuts of that extract, so a school near a border sees the venues across it.
    """

    bbox: BBox | None = Field(
        None,
        description="west, south, east, north of the part of the OSM source this area owns (its schools); "
        "streets and venues within the buffer around it are still used. Default: the whole extract.",
    )
    grid: tuple[int, int] = Field(
        (1, 1), description="Split the area into columns × rows tiles, each routed on its own buffered cut."
    )

    @field_validator("grid")
    @classmethod
    def _grid_positive(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < 1:
            raise ValueError("grid must be [columns, rows], both at least 1")
        return v

    @property
    def tiled(self) -> bool:
        """Whether the area is routed on buffered cuts (a bbox or more than one tile)."""
        return self.bbox is not None or self.grid != (1, 1)


class RegionConfig(_Model):
    """A region (league, city, province): several areas built in one run, each with its own outputs."""

    name: str = Field(description="Short name used in titles and file names.")
    title: str | None = Field(None, description="Display title of the region index map.")
    areas: list[AreaConfig] = Field(min_length=1, description="The areas (counties, districts) to build.")
    buffer_margin_m: float = Field(
        1000.0,
        ge=0,
        description="Metres added to the cut buffer beyond the farthest trip (speed × minutes + snapping distances).",
    )
    precut_margin_m: float = Field(
        1500.0,
        ge=0,
        description="Metres added to the buffer when a shared extract is pre-cut per tile (room for campus and "
        "venue outlines reaching beyond the buffer; a tile needing more reads the whole file).",
    )
    tiles: TileProvider = TileProvider()

    @field_validator("areas")
    @classmethod
    def _unique_names(cls, v: list[AreaConfig]) -> list[AreaConfig]:
        names = [a.name for a in v]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"area names must be unique (twice: {', '.join(twice)})")
        return v

    @property
    def display_title(self) -> str:
        """Title for the region index map."""
        return self.title or self.name

    def buffer_m(self, area: AreaConfig) -> float:
        """Buffer (metres) around an area's own part: no trip from a school inside can leave it.

        The farthest trip is the faster mode for the whole limit; the access legs of the place
        snapped to a street (``max_snap_m``) and of campus entrances (``access_buffer_m``) and
        :attr:`buffer_margin_m` are added.
        """
        s = area.settings
        trip = max(s.walk_kmh, s.bike_kmh) * 1000.0 / 60.0 * s.minutes
        return trip + s.max_snap_m + s.access_buffer_m + self.buffer_margin_m


_AREA_PATH_KEYS = ("osm", "schools_csv", "categories")
_REGION_DEFAULT_KEYS = (
    "osm",
    "download_bbox",
    "categories",
    "settings",
    "tiles",
    "schools_csv_mode",
    "catalogue",
    "planning",
)


def load_region(path: str | Path, **overrides: object) -> RegionConfig:
    """Load a region configuration from TOML.

    Top-level ``osm``, ``download_bbox``, ``categories``, ``[settings]`` and ``[tiles]``
    are defaults for every ``[[areas]]`` entry; an area may start from a city file
    (``city = "heidelberg.toml"``) and override its keys. Relative paths are resolved
    against the file that contains them.

    Parameters
    ----------
    path
        The region TOML file.
    **overrides
        Settings fields (e.g. ``walk_kmh=5``) that replace every area's values.

    Returns
    -------
    RegionConfig
    """
    path = Path(path)
    raw = _read_toml(path, "region configuration")
    base = path.resolve().parent
    _resolve_paths(raw, base)
    defaults = {k: raw.pop(k) for k in _REGION_DEFAULT_KEYS if k in raw}
    areas = []
    listed = raw.get("areas") or []
    if not isinstance(listed, list):
        raise ConfigError(f"{path}: areas must be an array of tables ([[areas]])")
    for i, area in enumerate(listed):
        if not isinstance(area, dict):
            raise ConfigError(f"{path}: areas[{i}] must be a table")
        area = dict(area)
        _resolve_paths(area, base)
        merged: dict[str, object] = {**defaults}
        if "city" in area:
            merged.update(_city_table((base / str(area.pop("city"))).resolve()))
        merged.update(area)
        merged["settings"] = _merged_settings([defaults.get("settings"), merged.get("settings")], overrides)
        areas.append(merged)
    raw["areas"] = areas
    if "tiles" in defaults:
        raw["tiles"] = defaults["tiles"]
    raw.setdefault("name", path.stem)
    try:
        return RegionConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid region configuration: {_problems(exc)}") from exc


def _read_toml(path: Path, what: str) -> dict[str, object]:
    if not path.is_file():
        raise ConfigError(f"{path}: {what} file not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _city_table(path: Path) -> dict[str, object]:
    """Read a city TOML: its file paths made absolute against its folder, its name defaulting to the file stem."""
    raw = _read_toml(path, "city configuration")
    _resolve_paths(raw, path.resolve().parent)
    raw.setdefault("name", path.stem)
    return raw


def _merged_settings(tables: Iterable[object], overrides: Mapping[str, object]) -> object:
    """``[settings]`` tables merged (later ones win, absent ones are None), the given (not None) overrides on top.

    A value that is not a table is returned as it is, so validation reports it.
    """
    merged: dict[str, object] = {}
    for table in tables:
        if table is None:
            continue
        if not isinstance(table, Mapping):
            return table
        merged.update(table)
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return merged


def _problems(exc: ValidationError) -> str:
    """Each validation error as ``field.path: message``, joined by ``; ``."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def _resolve_paths(raw: dict[str, object], base: Path) -> None:
    """Make the file paths of a city (or area) table absolute, relative to `base`."""
    for key in _AREA_PATH_KEYS:
        if key in raw and not Path(str(raw[key])).is_absolute():
            raw[key] = str((base / str(raw[key])).resolve())
    school_list = raw.get("school_list")
    if isinstance(school_list, dict) and "file" in school_list:
        school_list["file"] = _resolve(base, school_list["file"])
    catalogues = raw.get("catalogues")
    for entry in catalogues if isinstance(catalogues, list) else []:
        if isinstance(entry, dict):
            for key in ("file", "gazetteers"):
                if key in entry:
                    value = entry[key]
                    entry[key] = (
                        [_resolve(base, v) for v in value] if isinstance(value, list) else _resolve(base, value)
                    )
