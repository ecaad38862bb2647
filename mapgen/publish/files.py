"""Write the output contract: schools, venues, isochrones (GeoJSON), reachability (CSV), summary (JSON)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from mapgen.contract import (
    CONTRACT_FILES,
    ISOCHRONE_COLUMNS,
    PAIR_COLUMNS,
    SCHOOL_COLUMNS,
    SUMMARY_FILE,
    TRUTH_COLUMNS,
    TRUTH_DEFAULTS,
    VENUE_COLUMNS,
    Summary,
)


def write_contract(
    out_dir: Path,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    isochrones: gpd.GeoDataFrame,
    pairs: pd.DataFrame,
) -> dict[str, str]:
    """Write the contract files of a build (all WGS-84).

    Parameters
    ----------
    out_dir
        Output folder (created if missing).
    schools, venues
        With :data:`~mapgen.schools.SCHOOL_COLUMNS` / :data:`~mapgen.venues.VENUE_COLUMNS`.
    isochrones
        ``school_id``, ``mode``, ``minutes``, polygon geometry (``reaches_data_edge``: false when absent).
    pairs
        ``school_id``, ``venue_id``, ``mode``, ``minutes`` (``on_campus``: false when absent).

    Returns
    -------
    dict
        Contract name → path written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: out_dir / v for k, v in CONTRACT_FILES.items()}
    venues = venues.assign(**{c: venues[c].fillna(v) if c in venues else v for c, v in TRUTH_DEFAULTS.items()})
    isochrones = isochrones.assign(reaches_data_edge=isochrones.get("reaches_data_edge", False))
    pairs = pairs.assign(on_campus=pairs.get("on_campus", False))
    _geojson(schools[[*SCHOOL_COLUMNS, "geometry"]], paths["schools"])
    _geojson(venues[[*VENUE_COLUMNS, *TRUTH_COLUMNS, "geometry"]], paths["venues"])
    _geojson(isochrones[[*ISOCHRONE_COLUMNS, "geometry"]], paths["isochrones"])
    pairs[PAIR_COLUMNS].to_csv(paths["reachability"], index=False, encoding="utf-8")
    return {k: str(p) for k, p in paths.items() if k != "summary"}


def write_summary(out_dir: Path, summary: Summary) -> Path:
    """Write ``summary.json`` (UTF-8, human-readable)."""
    path = out_dir / SUMMARY_FILE
    path.write_text(summary.to_json(), encoding="utf-8")
    return path


def _geojson(frame: gpd.GeoDataFrame, path: Path) -> None:
    frame = gpd.GeoDataFrame(frame, geometry="geometry").to_crs(4326)
    path.unlink(missing_ok=True)
    frame.to_file(path, driver="GeoJSON", engine="pyogrio")
