"""What a PDF sheet shows: the build folder read for the sheets, the venue table, route notes and words."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import geopandas as gpd
import pandas as pd

from mapgen.config import Settings
from mapgen.contract import ROUTE_COLUMNS, SHEET_INPUTS, BuildFolder, Summary

# Main-road metres below this are not worth a note.
_NOTE_MIN_M = 10.0


@dataclass(frozen=True)
class Build:
    """What the sheets read from a build folder (all WGS-84)."""

    folder: Path
    summary: Summary
    settings: Settings
    schools: gpd.GeoDataFrame
    venues: gpd.GeoDataFrame  # indexed by venue_id
    isochrones: gpd.GeoDataFrame
    times: pd.DataFrame  # index (school_id, venue_id); columns walk, bike (minutes, NaN when out of reach)
    routes: pd.DataFrame  # index (school_id, venue_id, mode); ROUTE_COLUMNS
    basemap: gpd.GeoDataFrame


def write_sheet_inputs(out_dir: Path, routes: pd.DataFrame, basemap: gpd.GeoDataFrame) -> dict[str, str]:
    """Write the files the sheets need besides the contract: ``routes.csv`` and ``basemap.parquet``.

    Parameters
    ----------
    out_dir
        The build's output folder.
    routes
        :data:`~mapgen.routes.ROUTE_COLUMNS` for both modes.
    basemap
        ``layer``, ``kind``, geometry (WGS-84) from :func:`mapgen.basemap.basemap_layers`.

    Returns
    -------
    dict
        ``routes`` and ``basemap`` → path written.
    """
    paths = {k: out_dir / v for k, v in SHEET_INPUTS.items()}
    routes[ROUTE_COLUMNS].to_csv(paths["routes"], index=False, encoding="utf-8")
    basemap.to_crs(4326).to_parquet(paths["basemap"], index=False, compression="zstd")
    return {k: str(p) for k, p in paths.items()}


def load_build(data_dir: str | Path) -> Build:
    """Read a build folder written by ``mapgen build``.

    Parameters
    ----------
    data_dir
        The folder.

    Returns
    -------
    Build
    """
    build = BuildFolder(data_dir)
    summary = build.summary
    venues = build.venues
    text = venues.select_dtypes(["object", "string"]).columns
    venues[text] = venues[text].fillna("")
    pairs = build.pairs[
        ~build.pairs["on_campus"]
    ]  # a school's own grounds are no outing, nor the nearest of a category
    return Build(
        folder=build.folder,
        summary=summary,
        settings=summary.settings,
        schools=build.schools,
        venues=venues.set_index("venue_id"),
        isochrones=build.isochrones,
        times=pairs.pivot_table(
            index=["school_id", "venue_id"], columns="mode", values="minutes", aggfunc="min"
        ).reindex(columns=["walk", "bike"]),
        routes=build.routes.set_index(["school_id", "venue_id", "mode"]),
        basemap=build.basemap,
    )


def sheet_table(build: Build, school_id: str) -> pd.DataFrame:
    """The venues of one school's sheet, numbered as on its map.

    Venues reached on foot come first, by walking time (``section`` = ``walk``);
    then those reached only by bike, by cycling time (``bike``). The safety
    columns describe the walking route, or the cycling route for bike-only venues;
    ``after_school`` is the build's ``open_after_school`` flag.

    Parameters
    ----------
    build
        The build folder's contents.
    school_id
        The school.

    Returns
    -------
    pandas.DataFrame
        ``number``, ``section``, ``venue_id``, ``walk``, ``bike``, the venue's contract columns,
        ``main_road_m``, ``main_road_crossings``, ``after_school`` (True/False/None).
    """
    if school_id not in build.times.index.get_level_values(0):
        return pd.DataFrame(
            columns=[
                "number",
                "section",
                "venue_id",
                "walk",
                "bike",
                "main_road_m",
                "main_road_crossings",
                "after_school",
                "lon",
                "lat",
                *build.venues.columns,
            ]
        )
    rows = build.times.loc[school_id].join(build.venues, how="inner")
    rows["section"] = rows["walk"].notna().map({True: "walk", False: "bike"})
    rows["order"] = rows["walk"].fillna(rows["bike"])
    rows = rows.rename_axis("venue_id").reset_index()
    rows["bike_only"] = rows["section"] == "bike"
    rows = rows.sort_values(["bike_only", "order", "name"], ignore_index=True)
    routes = build.routes.reindex(
        pd.MultiIndex.from_arrays([[school_id] * len(rows), rows["venue_id"], rows["section"]])
    )
    rows["main_road_m"] = routes["main_road_m"].to_numpy()
    rows["main_road_crossings"] = routes["main_road_crossings"].to_numpy()
    # the build's flag (venues.geojson; GeoJSON readers give booleans or 1.0/0.0), empty when the hours are unknown
    rows["after_school"] = [None if v == "" or pd.isna(v) else bool(v) for v in rows["open_after_school"]]
    points = gpd.GeoSeries(rows["geometry"], crs=4326)
    rows["lon"], rows["lat"] = points.x.to_numpy(), points.y.to_numpy()
    rows.insert(0, "number", range(1, len(rows) + 1))
    return rows.drop(columns=["order", "bike_only"])


def safety_note(main_road_m: float, crossings: int, words: dict[str, object] | None = None) -> str:
    """One line on a route's main roads, e.g. ``过主路 2 次 · 沿主路 350 m``.

    Parameters
    ----------
    main_road_m
        Metres along main roads.
    crossings
        Main-road crossings.
    words
        The sheet's words (:func:`sheet_words`; default Chinese).

    Returns
    -------
    str
        The note; the language's "unknown" when the route is not known.
    """
    w = words or sheet_words("zh")
    if pd.isna(main_road_m):
        return str(w["unknown"])
    parts = []
    if crossings:
        parts.append(str(w["crosses"]).format(n=int(crossings)))
    if main_road_m >= _NOTE_MIN_M:
        parts.append(str(w["along"]).format(m=f"{round(main_road_m, -1):.0f}"))
    return " · ".join(parts) or str(w["no_main_roads"])


@functools.cache
def sheet_words(language: str) -> dict[str, object]:
    """Return the sheet's words in `language` (``zh``, ``en``, ``de``; others get English).

    Parameters
    ----------
    language
        The build's ``settings.language``.

    Returns
    -------
    dict
        Key → text, from ``templates/sheet_text.toml``.
    """
    texts = tomllib.loads(
        resources.files("mapgen.publish").joinpath("templates", "sheet_text.toml").read_text(encoding="utf-8")
    )
    return texts.get(language, texts["en"])
