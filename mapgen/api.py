"""The public API: build a city, isochrones and a travel matrix for any points, import a venue catalogue.

Each function is the library form of a command (``mapgen build``, ``mapgen isochrones``,
``mapgen matrix``, ``mapgen catalog import``) and runs the same code; they are exported
from :mod:`mapgen` itself::

    import mapgen

    summary = mapgen.build_city("data/venues/shenzhen-longgang.toml", "out/shenzhen-longgang")
    circles = mapgen.isochrones("heidelberg.osm.pbf", [(8.6934, 49.4093)], minutes=[5, 10, 15])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mapgen.config import DEFAULT_CATEGORIES, CatalogueConfig, CatalogueSettings, CityConfig, Mode, Settings
from mapgen.contract import Summary
from mapgen.errors import ConfigError

if TYPE_CHECKING:
    from mapgen.catalog import CatalogueImport

#: WGS-84 points: a GeoDataFrame, or (lon, lat) pairs.
Points: TypeAlias = "gpd.GeoDataFrame | Sequence[tuple[float, float]] | np.ndarray"


def build_city(
    city: CityConfig | str | Path,
    out_dir: str | Path,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    quiet: bool = True,
) -> Summary:
    """Build every output of the contract for one city (``mapgen build``).

    Parameters
    ----------
    city
        A city configuration, a city TOML file, or an OSM extract (``.osm``/``.osm.pbf``)
        built with the default settings.
    out_dir
        Output folder; swapped in only when complete.
    bbox
        Optional (west, south, east, north) to build only part of the extract.
    quiet
        No progress output (the default for library use).

    Returns
    -------
    Summary
        What ``summary.json`` holds.
    """
    from mapgen.config import city_from_osm, load_city
    from mapgen.pipeline import build_city as build

    if not isinstance(city, CityConfig):
        city = load_city(city) if str(city).endswith(".toml") else city_from_osm(city)
    return build(city, out_dir, bbox=bbox, quiet=quiet)


def isochrones(
    osm: str | Path,
    points: Points,
    *,
    mode: Mode = "walk",
    minutes: Iterable[float] = (15,),
    settings: Settings | None = None,
) -> gpd.GeoDataFrame:
    """Nested isochrones around any points (``mapgen isochrones``).

    Parameters
    ----------
    osm
        OSM extract; parsed once, then cached.
    points
        WGS-84 points: a GeoDataFrame (ids from an ``id`` column, else its index) or
        (lon, lat) pairs (ids ``0``, ``1``…).
    mode
        ``"walk"`` or ``"bike"``.
    minutes
        Time limits, one polygon per point and limit.
    settings
        Speeds, snapping and polygon settings (default :class:`~mapgen.config.Settings`).

    Returns
    -------
    geopandas.GeoDataFrame
        ``point_id``, ``mode``, ``minutes``, polygon geometry (WGS-84); points farther than
        ``max_snap_m`` from any street are left out and listed in ``attrs["unattached"]``.
    """
    from mapgen.planning.points import load_graph, point_isochrones

    settings = settings or Settings()
    reach = point_isochrones(load_graph(osm, mode, settings), _points(points), sorted(minutes), settings)
    result = reach.isochrones.rename(columns={"school_id": "point_id"})
    result.attrs["unattached"] = reach.unattached_schools
    return result


def travel_matrix(
    osm: str | Path,
    points: Points,
    targets: Points,
    *,
    mode: Mode = "walk",
    max_minutes: float = 30,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Exact minutes from every point to every target within `max_minutes` (``mapgen matrix``).

    Parameters
    ----------
    osm
        OSM extract; parsed once, then cached.
    points, targets
        WGS-84 points, as for :func:`isochrones` (targets may be areas: entered from their outline).
    mode
        ``"walk"`` or ``"bike"``.
    max_minutes
        Pairs farther than this are left out.
    settings
        Speeds and snapping (default :class:`~mapgen.config.Settings`).

    Returns
    -------
    pandas.DataFrame
        ``point_id``, ``target_id``, ``minutes`` for every pair within the limit.
    """
    from mapgen.planning.points import load_graph
    from mapgen.planning.points import travel_matrix as matrix

    settings = settings or Settings()
    places = _points(targets).rename(columns={"school_id": "venue_id"})
    reach = matrix(load_graph(osm, mode, settings), _points(points), places, max_minutes, settings)
    pairs = reach.pairs.rename(columns={"school_id": "point_id", "venue_id": "target_id"})
    return pairs[["point_id", "target_id", "minutes"]].reset_index(drop=True)


def import_catalogue(
    file: str | Path,
    *,
    crs: str = "wgs84",
    columns: Mapping[str, str] | None = None,
    category: str | None = None,
    district: str | None = None,
    name: str | None = None,
    gazetteers: Iterable[str | Path] = (),
    bbox: tuple[float, float, float, float] | None = None,
    min_confidence: float | None = None,
    categories: str | Path | None = None,
) -> CatalogueImport:
    """Import one venue catalogue: every row becomes a venue or a review row (``mapgen catalog import``).

    Parameters
    ----------
    file
        CSV (UTF-8, BOM or GBK), XLSX, JSON or GeoJSON.
    crs
        Datum of its coordinates: ``wgs84``, ``gcj02`` or ``bd09`` (checked against the gazetteer).
    columns
        Field → the file's header, e.g. ``{"opening_hours": "T_TIME"}``.
    category, district
        For every row without one.
    name
        Short name in venue ids (default: the file name).
    gazetteers
        GeoJSON files of named places, to geocode rows without coordinates.
    bbox
        The city's area (west, south, east, north); rows outside are rejected (default: the
        gazetteers' area).
    min_confidence
        Geocoded rows below this go to review (default 0.85).
    categories
        A category taxonomy TOML (default: the packaged one).

    Returns
    -------
    CatalogueImport
        ``venues`` (contract columns), ``review`` (a :class:`~mapgen.contract.ReviewLog`),
        ``counts`` and the ``datum`` check; write it with :func:`mapgen.catalog.write_import`.
    """
    from mapgen.catalog import build_gazetteer, merge_gazetteers, read_gazetteer
    from mapgen.catalog import import_catalogue as import_rows
    from mapgen.taxonomy import load_taxonomy

    try:
        spec = CatalogueConfig.model_validate(
            {
                "file": file,
                "name": name,
                "crs": crs,
                "category": category,
                "district": district,
                "columns": dict(columns or {}),
            }
        )
        settings = CatalogueSettings() if min_confidence is None else CatalogueSettings(min_confidence=min_confidence)
    except ValueError as exc:
        raise ConfigError(f"{file}: {exc}") from exc
    gazetteer = merge_gazetteers(build_gazetteer(read_gazetteer(p), settings) for p in gazetteers)
    area = shapely.box(*bbox) if bbox else gazetteer.area
    return import_rows(
        spec,
        load_taxonomy(categories or DEFAULT_CATEGORIES),
        settings,
        gazetteer=gazetteer if len(gazetteer) else None,
        area=area,
    )


def _points(points: Points) -> gpd.GeoDataFrame:
    """Points as the engine takes them: ``school_id`` (the id, as text) and ``footprint`` (WGS-84)."""
    if isinstance(points, gpd.GeoDataFrame):
        ids = points["id"] if "id" in points else pd.Series(points.index, index=points.index)
        footprint = points.geometry.to_crs(4326) if points.crs is not None else points.geometry.set_crs(4326)
        return gpd.GeoDataFrame(
            {"school_id": ids.astype(str).to_numpy(), "footprint": footprint.to_numpy()}, geometry="footprint", crs=4326
        )
    lonlat = np.asarray(points, dtype=float).reshape(-1, 2)
    return gpd.GeoDataFrame(
        {"school_id": [str(i) for i in range(len(lonlat))], "footprint": shapely.points(lonlat)},
        geometry="footprint",
        crs=4326,
    )
