"""Typed configuration: one city's settings, loaded from its TOML file or built from defaults."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mapgen.errors import ConfigError

Mode = Literal["walk", "bike"]
MODES: tuple[Mode, ...] = ("walk", "bike")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CATEGORIES = PROJECT_ROOT / "data" / "venues" / "categories.toml"
OSM_ATTRIBUTION = "© OpenStreetMap contributors"


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
        300.0, gt=0, description="Schools/venues farther than this from any street are reported, not snapped."
    )
    access_buffer_m: float = Field(
        25.0, ge=0, description="Street nodes within this distance of a campus or park outline are its entrances."
    )
    isochrone_buffer_m: float = Field(
        35.0, gt=0, description="Half-width of the band drawn around every reached street segment."
    )
    isochrone_cell_m: float | None = Field(
        None, gt=0, description="Grid cell on which isochrone outlines are traced (default: a 3.5th of the band)."
    )
    reach_workers: int = Field(
        1, ge=0, description="Processes for routing and isochrones (parts of 64 schools); 0 = one per CPU core."
    )
    graph_cache: bool = Field(True, description="Keep parsed extracts and street graphs in cache_dir for later runs.")
    cache_dir: Path | None = Field(
        None, description="Cache folder (default: $MAPGEN_CACHE_DIR, else $XDG_CACHE_HOME/mapgen or ~/.cache/mapgen)."
    )
    min_component_nodes: int = Field(
        50, ge=1, description="Street islands smaller than this (clipped fragments, closed campuses) are dropped."
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

    def speed_kmh(self, mode: Mode) -> float:
        """Return the travel speed of `mode` in km/h."""
        return self.walk_kmh if mode == "walk" else self.bike_kmh


class TileProvider(_Model):
    """Base-map tiles for the Leaflet maps (the only thing a published page loads from a server)."""

    name: str = "OpenStreetMap"
    url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    attribution: str = (
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
    )
    datum: Literal["wgs84", "gcj02"] = Field(
        "wgs84", description="Datum of the tiles; gcj02 (AMap, Tencent) shifts every drawn coordinate to match."
    )


class CityConfig(_Model):
    """One city (district) to build: where its data is and how to route in it."""

    name: str = Field(description="Short name used in titles and file names.")
    title: str | None = Field(None, description="Display title (e.g. Chinese district name).")
    osm: Path | None = Field(None, description="OSM extract (.osm XML or .osm.pbf); relative to the TOML file.")
    download_bbox: tuple[float, float, float, float] | None = Field(
        None, description="west, south, east, north: downloaded with osmnx when the `osm` file is absent."
    )
    schools_csv: Path | None = Field(None, description="CSV of schools (name, lon, lat) to add or use instead.")
    schools_csv_mode: Literal["add", "replace"] = "add"
    categories: Path = Field(DEFAULT_CATEGORIES, description="Venue category taxonomy (TOML).")
    settings: Settings = Settings()
    tiles: TileProvider = TileProvider()

    @field_validator("download_bbox")
    @classmethod
    def _bbox_ordered(cls, v: tuple[float, float, float, float] | None) -> tuple[float, float, float, float] | None:
        if v is not None and not (v[0] < v[2] and v[1] < v[3]):
            raise ValueError("download_bbox must be [west, south, east, north] with west < east, south < north")
        return v

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
    if not path.is_file():
        raise ConfigError(f"{path}: city configuration file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    base = path.resolve().parent
    for key in ("osm", "schools_csv", "categories"):
        if key in raw:
            raw[key] = str((base / raw[key]).resolve()) if not Path(raw[key]).is_absolute() else raw[key]
    raw.setdefault("name", path.stem)
    return _validated(raw, overrides, source=str(path))


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


def _validated(raw: dict[str, object], overrides: dict[str, object], source: str) -> CityConfig:
    settings = dict(raw.get("settings", {}) or {})  # type: ignore[call-overload]
    settings.update({k: v for k, v in overrides.items() if v is not None})
    raw = {**raw, "settings": settings}
    try:
        return CityConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{source}: invalid configuration: {problems}") from exc
