"""The catalogue build step: import one catalogue row by row, and merge a city's catalogues with its OSM venues."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mapgen.catalog.categories import CategoryWords, category_counts, place_categories, row_categories
from mapgen.catalog.checks import (
    MARKUP,
    buffered_area,
    check_area,
    check_coordinates,
    check_duplicates,
    check_text,
    clip,
    parse_coordinate,
)
from mapgen.catalog.columns import FIELD_ALIASES, map_columns
from mapgen.catalog.datums import check_datum
from mapgen.catalog.gazetteer import Gazetteer, build_gazetteer, merge_gazetteers, read_gazetteer
from mapgen.catalog.geocode import OnlineLookup, geocode
from mapgen.catalog.merge import merge_venues
from mapgen.catalog.names import name_key, normalise_text
from mapgen.catalog.read import RawTable, read_table
from mapgen.config import CatalogueConfig, CatalogueSettings, CityConfig, Settings
from mapgen.contract import VENUE_COLUMNS, ReviewLog, ReviewRow
from mapgen.errors import InputFileError, MapgenError
from mapgen.geo import convert
from mapgen.progress import say, stage
from mapgen.taxonomy import Taxonomy
from mapgen.textsafe import console_text
from mapgen.venues import hours_flags

_YES = frozenset({"是", "有", "免费", "yes", "y", "true", "1", "free", "✓", "√"})
_NO = frozenset({"否", "无", "收费", "不免费", "no", "n", "false", "0", "×"})


@dataclass
class CatalogueImport:
    """What importing one catalogue produced."""

    venues: gpd.GeoDataFrame
    review: ReviewLog
    counts: dict[str, int] = field(default_factory=dict)
    datum: dict[str, object] = field(default_factory=dict)
    source: Path | None = None  # the catalogue file (write_import never overwrites it)


def import_catalogue(
    spec: CatalogueConfig,
    taxonomy: Taxonomy,
    settings: CatalogueSettings,
    *,
    gazetteer: Gazetteer | None = None,
    area: shapely.Geometry | None = None,
    hours: Settings | None = None,
) -> CatalogueImport:
    """Import one catalogue: every row ends as a venue or as a review row with its reason.

    Parameters
    ----------
    spec
        The file, its datum, default category/district and column names.
    taxonomy
        Categories a row may name (by key, Chinese or English label).
    settings
        Thresholds (geocoding confidence, duplicates, area buffer).
    gazetteer
        Places to geocode rows without coordinates against; without it such rows go to review.
    area
        The city's mapped area (WGS-84); rows farther outside than ``settings.area_buffer_m`` are rejected.
    hours
        Settings with the after-school window (default window 16:00–18:00).

    Returns
    -------
    CatalogueImport
        Venues (``VENUE_COLUMNS``, ``footprint``, point geometry, WGS-84), review rows in
        file order, counts and the datum check.
        A row that makes a step fail unexpectedly (a bug, or input no check foresaw) becomes a
        review row with the error; the other rows are imported.
    """
    table = read_table(spec.file)
    columns = map_columns(table, spec.columns)
    run = partial(_import_rows, spec, table, columns, taxonomy, settings, gazetteer, area, hours or Settings())
    try:
        return run(table.rows)
    except MapgenError:
        raise
    except Exception:
        failed = _failing_rows(run, table.rows)
    rest = table.rows[~table.rows["_row"].isin(failed)]
    try:
        result = run(rest) if len(rest) else run(table.rows.iloc[:0])
    except MapgenError:
        raise
    except Exception as exc:
        raise InputFileError(f"{spec.file}: import failed ({type(exc).__name__}: {exc})") from exc
    names = table.rows.set_index("_row")[columns["name"]]
    extra = [
        ReviewRow(
            table.path.name,
            int(row),
            "",
            f"unexpected error while checking this row ({reason}); the other rows were imported",
            clip(str(names.get(row, "")), settings.max_name_chars),
        )
        for row, reason in failed.items()
    ]
    result.review = _in_file_order([*result.review, *extra])
    result.counts.update(rows=len(table.rows), rejected=len(result.review))
    return result


def _failing_rows(run: Callable[[pd.DataFrame], CatalogueImport], rows: pd.DataFrame) -> dict[int, str]:
    """Rows (by ``_row``) on which `run` fails, with the error, found by halving: a few runs per bad row."""
    try:
        run(rows)
        return {}
    except MapgenError:
        raise
    except Exception as exc:
        if len(rows) == 1:
            return {int(rows["_row"].iloc[0]): f"{type(exc).__name__}: {str(exc)[:200]}"}
    half = len(rows) // 2
    return {**_failing_rows(run, rows.iloc[:half]), **_failing_rows(run, rows.iloc[half:])}


def _import_rows(
    spec: CatalogueConfig,
    table: RawTable,
    columns: dict[str, str],
    taxonomy: Taxonomy,
    settings: CatalogueSettings,
    gazetteer: Gazetteer | None,
    area: shapely.Geometry | None,
    hours: Settings,
    rows: pd.DataFrame,
) -> CatalogueImport:
    """Check, locate and convert `rows` of `table` (all of them, or a part while looking for a failing row)."""
    columns = dict(columns)
    rows = rows.reset_index(drop=True)
    data = pd.DataFrame({"_row": rows["_row"]})
    for key in FIELD_ALIASES:
        data[key] = rows[columns[key]].astype(str).str.strip() if key in columns else ""
    if "_lon" in rows and "lon" not in columns:
        data["lon"], data["lat"] = rows["_lon"], rows["_lat"]
        columns["lon"], columns["lat"] = "geometry", "geometry"
    if spec.district and "district" not in columns:
        data["district"] = spec.district
    review = ReviewLog()
    bad = pd.Series(False, index=data.index)

    def reject(mask: pd.Series, column: str, reasons: pd.Series | str) -> None:
        mask = mask & ~bad
        if not mask.any():
            return
        texts = reasons[mask].tolist() if isinstance(reasons, pd.Series) else [reasons] * int(mask.sum())
        for row, reason, name in zip(
            data.loc[mask, "_row"].tolist(), texts, data.loc[mask, "name"].tolist(), strict=True
        ):
            review.add(table.path.name, int(row), column, reason, clip(name, settings.max_name_chars))
        bad.loc[mask] = True

    text_fields = [k for k in FIELD_ALIASES if k in columns]
    reject(rows["_invalid"].ne(""), "", rows["_invalid"])
    reject(data[text_fields].eq("").all(axis=1) & ~rows["_extra"], "", "empty row")
    reject(rows["_extra"], "", "more cells than header columns (a stray delimiter?)")
    reject(data["name"].eq(""), columns["name"], "missing name")
    check_text(data, columns, text_fields, settings, reject)
    reject(data["name"].str.contains(MARKUP), columns["name"], "name contains HTML/script markup")
    lon, lat = check_coordinates(data, columns, reject)
    lon, lat = convert(lon, lat, spec.crs, "wgs84")
    has_xy = ~np.isnan(lon) & ~bad.values
    check_area(data, columns, lon, lat, has_xy, area, settings, reject)
    words = CategoryWords(taxonomy, settings)
    category = row_categories(data, columns, spec, words, reject)

    # place the rows without coordinates
    located = pd.DataFrame(
        {
            "lon": lon,
            "lat": lat,
            "confidence": np.where(np.isnan(lon), 0.0, 1.0),
            "method": np.where(np.isnan(lon), "", "catalogue"),
            "match_id": "",
        },
        index=data.index,
    )
    todo = ~bad & located["lon"].isna()
    if todo.any():
        if gazetteer is None or not len(gazetteer):
            reject(todo, "lon/lat", "no coordinates, and no gazetteer to geocode the name/address with")
        else:
            lookup = OnlineLookup(settings.online) if settings.online is not None else None
            found = geocode(data.loc[todo, ["name", "address", "district"]], gazetteer, settings, online=lookup)
            unplaced = found["lon"].isna()
            where = "/".join(columns[k] for k in ("name", "address") if k in columns)
            reject(
                todo & unplaced.reindex(data.index, fill_value=False),
                where,
                found["reason"].reindex(data.index).fillna(""),
            )
            placed = found[~unplaced]
            located.loc[placed.index, ["lon", "lat", "confidence", "method", "match_id"]] = placed[
                ["lon", "lat", "confidence", "method", "match_id"]
            ].values
            if area is not None and len(placed):
                inside = shapely.contains_xy(buffered_area(area, settings.area_buffer_m), placed["lon"], placed["lat"])
                reject(
                    pd.Series(~inside, index=placed.index).reindex(data.index, fill_value=False),
                    "address",
                    "geocoded outside the city area",
                )
    category = place_categories(
        category, data, located, gazetteer, words, settings.category_min_confidence, columns, reject
    )
    keys = data["name"].map(lambda n: name_key(n, settings))
    check_duplicates(data, located, keys, ~bad, settings, columns, reject)

    good = data[~bad]
    venues = _venue_rows(
        spec, good, located.loc[good.index], category.loc[good.index], keys.loc[good.index], taxonomy, hours
    )
    review = _in_file_order(review)
    counts = {
        "rows": len(data),
        "venues": len(venues),
        "rejected": len(review),
        "geocoded": int(venues["location_method"].isin(["name", "address", "name+address", "online"]).sum()),
        "hours_unparsed": int((venues["opening_hours"].ne("") & ~venues["hours_parsed"].astype(bool)).sum()),
    }
    counts.update(category_counts(venues, review))
    datum = check_datum(
        data.loc[~np.isnan(lon), "name"],
        np.asarray(data["lon"].map(parse_coordinate), dtype=float),
        np.asarray(data["lat"].map(parse_coordinate), dtype=float),
        spec.crs,
        gazetteer,
        settings,
    )
    return CatalogueImport(venues, review, counts, datum, source=table.path)


def _in_file_order(rows: Iterable[ReviewRow]) -> ReviewLog:
    """Review rows sorted by row number, rows of one number in the order they were rejected."""
    return ReviewLog(sorted(rows, key=lambda r: int(r.row)))


def _venue_ids(good: pd.DataFrame, keys: pd.Series) -> pd.Series:
    """Row ids: the catalogue's own id, else a hash of the name (and district) that no other row's edit changes.

    Two rows without an id and the same name and district are told apart by their address,
    then by ``-2``, ``-3``… in file order.
    """

    def digest(text: str) -> str:
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    given = good["id"].ne("")
    ids = good["id"].where(given, (keys + "|" + good["district"]).map(digest))
    clash = ~given & ids.duplicated(keep=False)
    ids[clash] = (keys + "|" + good["district"] + "|" + good["address"].map(normalise_text))[clash].map(digest)
    again = ids.groupby(ids).cumcount()
    return ids.where(again.eq(0), ids + "-" + (again + 1).astype(str))


def _venue_rows(
    spec: CatalogueConfig,
    good: pd.DataFrame,
    located: pd.DataFrame,
    category: pd.DataFrame,
    keys: pd.Series,
    taxonomy: Taxonomy,
    hours: Settings,
) -> gpd.GeoDataFrame:
    """The checked rows as venues: contract columns, hours flags, point geometry (also kept as ``footprint``)."""
    label = spec.label
    ids = _venue_ids(good, keys)
    fee = np.where(
        good["fee"].ne(""),
        good["fee"].map(lambda v: _flag(v, "yes", "no")),
        good["free"].map(lambda v: _flag(v, "no", "yes")),
    )
    frame = pd.DataFrame(
        {
            "venue_id": f"{label}-" + ids.astype(str),
            "name": good["name"],
            "name_en": good["name_en"],
            "category": category["category"],
            "category_zh": category["category"].map(lambda k: taxonomy[k].zh),
            "category_en": category["category"].map(lambda k: taxonomy[k].en),
            "opening_hours": good["opening_hours"],
            "fee": fee,
            "access": "",
            "source": str(spec.file.name),
            "osm_id": located["match_id"].where(located["match_id"].astype(str).str.contains("/"), ""),
            "address": good["address"],
            "district": good["district"],
            "phone": good["phone"],
            "safety": good["safety"],
            "website": good["website"],
            "location_method": located["method"],
            "location_confidence": located["confidence"].astype(float),
            "sources": spec.file.name + "#" + good["_row"].astype(str),
            "category_source": category["category_source"],
            "category_confidence": category["category_confidence"].astype(float),
        },
        index=good.index,
    )
    frame = frame.join(hours_flags(good["opening_hours"], hours))
    points = gpd.points_from_xy(located["lon"].astype(float), located["lat"].astype(float), crs=4326)
    frame = frame[VENUE_COLUMNS].reset_index(drop=True)
    return gpd.GeoDataFrame(frame.assign(footprint=points), geometry=points, crs=4326)


def _flag(value: str, yes: str, no: str) -> str:
    folded = unicodedata.normalize("NFKC", value).strip().casefold()
    return yes if folded in _YES else no if folded in _NO else value


def add_catalogues(
    city: CityConfig,
    features: gpd.GeoDataFrame,
    streets_bounds: tuple[float, float, float, float],
    taxonomy: Taxonomy,
    venues: gpd.GeoDataFrame,
    review: ReviewLog,
    quiet: bool = False,
) -> tuple[gpd.GeoDataFrame, dict[str, object]]:
    """Import the city's ``[[catalogues]]`` and merge them with the OSM venues (the build's catalogue step).

    Parameters
    ----------
    city
        The city configuration (catalogues, their settings, the after-school window).
    features
        The extract's OSM features: the offline gazetteer.
    streets_bounds
        West, south, east, north of the street network: with the gazetteer, the city area.
    taxonomy
        Category taxonomy.
    venues
        Venues so far (from OSM).
    review
        Rejected rows are appended here.
    quiet
        No messages.

    Returns
    -------
    tuple
        All venues, and per catalogue its counts, merges and datum check (for ``summary.json``).
    """
    settings = city.catalogue
    osm = build_gazetteer(features, settings)
    area = shapely.union_all([shapely.box(*streets_bounds), *([osm.area] if osm.area is not None else [])])
    summary: dict[str, object] = {}
    for spec in city.catalogues:
        with stage(f"Importing catalogue {spec.file.name}", quiet=quiet):
            extra = [build_gazetteer(read_gazetteer(p), settings) for p in spec.gazetteers]
            result = import_catalogue(
                spec, taxonomy, settings, gazetteer=merge_gazetteers([osm, *extra]), area=area, hours=city.settings
            )
            venues, merges = merge_venues(venues, result.venues, settings, city.settings)
        review.extend(result.review)
        summary[spec.label] = {**result.counts, "merged_with_osm": len(merges), "datum": result.datum}
        say(
            f"{console_text(spec.file.name)}: {result.counts['venues']} venues ({result.counts['geocoded']} geocoded, "
            f"{len(merges)} merged with OSM venues), {result.counts['rejected']} rows to review",
            quiet,
        )
        if "warning" in result.datum:
            say(f"[yellow]{console_text(spec.file.name)}: {console_text(result.datum['warning'])}[/yellow]", quiet)
    return venues, summary
