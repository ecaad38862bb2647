"""Import venue catalogues (CSV, XLSX, JSON, GeoJSON): map columns, check every row, locate, read hours."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from charset_normalizer import from_bytes

from mapgen._progress import say, stage
from mapgen.classify import CategoryWords, Guess
from mapgen.config import CatalogueConfig, CatalogueSettings, CityConfig, Settings
from mapgen.contract import VENUE_COLUMNS, ReviewLog
from mapgen.dedup import merge_venues
from mapgen.errors import InputFileError, MapgenError
from mapgen.geo import Datum, convert, datum_offsets, distance_m
from mapgen.geocode import (
    Gazetteer,
    OnlineLookup,
    build_gazetteer,
    geocode,
    merge_gazetteers,
    name_key,
    normalise_text,
    read_gazetteer,
)
from mapgen.textsafe import console_text, write_person_csv
from mapgen.venues import Taxonomy, hours_flags

#: Field → header aliases (compared case-insensitively, full-width folded). A catalogue's
#: ``columns`` table names its own headers on top of these.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "编号", "序号", "code", "venue_id", "场馆编号"),
    "name": ("name", "名称", "场馆名称", "场所名称", "名字", "单位名称", "venue", "title", "标题"),
    "name_en": ("name_en", "name:en", "英文名", "英文名称", "english name"),
    "address": ("address", "地址", "详细地址", "场馆地址", "addr", "所在地址"),
    "district": ("district", "区", "区县", "所属区", "所在区", "行政区", "county", "dname"),
    "lon": ("lon", "lng", "long", "longitude", "经度", "x"),
    "lat": ("lat", "latitude", "纬度", "y"),
    "opening_hours": ("opening_hours", "开放时间", "营业时间", "开放时段", "hours", "opening hours"),
    "category": ("category", "类别", "类型", "分类", "场馆类型"),
    "free": ("free", "是否免费", "免费"),
    "fee": ("fee", "收费", "是否收费", "门票"),
    "phone": ("phone", "电话", "联系电话", "联络电话", "tel", "telephone"),
    "safety": ("safety", "安全提示", "注意事项", "安全须知"),
    "website": ("website", "网址", "url", "网站"),
}
REVIEW_COLUMNS = ["file", "row", "column", "reason", "name"]
_MARKUP = re.compile(r"<\s*/?\s*[a-z!][^>]*>|javascript\s*:|\bon[a-z]+\s*=", re.IGNORECASE)
_YES = frozenset({"是", "有", "免费", "yes", "y", "true", "1", "free", "✓", "√"})
_NO = frozenset({"否", "无", "收费", "不免费", "no", "n", "false", "0", "×"})
_LIST_KEYS = ("rows", "data", "items", "records", "venues", "list", "result", "results")


@dataclass(frozen=True)
class RawTable:
    """A catalogue file as read: its headers and one row of strings per record, numbered as a person counts them."""

    path: Path
    headers: list[str]
    rows: pd.DataFrame  # one column per header, plus _row (line / record number), _lon, _lat (GeoJSON geometry)
    encoding: str = ""


@dataclass
class CatalogueImport:
    """What importing one catalogue produced."""

    venues: gpd.GeoDataFrame
    review: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    datum: dict[str, object] = field(default_factory=dict)
    source: Path | None = None  # the catalogue file (write_import never overwrites it)


def read_table(path: str | Path) -> RawTable:
    """Read a catalogue file into rows of strings.

    CSV (UTF-8, UTF-8 with BOM, GBK/GB18030 or Big5: detected with charset-normalizer;
    delimiter sniffed), XLSX (first sheet, openpyxl), JSON (a list of objects or an object
    holding one) and GeoJSON (properties; point coordinates — a point on other geometries —
    in ``_lon``/``_lat``).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    RawTable
        ``_row`` is the spreadsheet line (header = line 1) for CSV/XLSX and the record
        number (1-based) for JSON/GeoJSON.

    Raises
    ------
    InputFileError
        Missing, empty, undecodable or unsupported file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: catalogue file not found")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if suffix in (".json", ".geojson"):
        return _read_json(path)
    if suffix in (".csv", ".txt", ".tsv"):
        return _read_csv(path)
    raise InputFileError(f"{path}: unsupported catalogue format {suffix!r} (use .csv, .xlsx, .json or .geojson)")


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(data, cp_isolation=["gb18030", "big5", "utf_16", "cp1252"]).best()
    if best is None:
        raise InputFileError(f"{path}: cannot tell the text encoding (save it as UTF-8)")
    encoding = "gb18030" if best.encoding in ("gbk", "gb2312") else best.encoding
    return data.decode(encoding, errors="replace"), encoding


def _read_csv(path: Path) -> RawTable:
    text, encoding = _decode(path, path.read_bytes())
    if not text.strip():
        raise InputFileError(f"{path}: empty catalogue")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    with wide_csv_fields():
        records = list(csv.reader(io.StringIO(text), dialect))
    headers = _headers(records[0])
    rows = [(line, rec) for line, rec in enumerate(records[1:], start=2)]
    return RawTable(path, headers, _frame(headers, rows), encoding)


def _read_xlsx(path: Path) -> RawTable:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/... for a broken file
        raise InputFileError(f"{path}: not a readable XLSX workbook ({exc})") from exc
    sheet = book.worksheets[0]
    values = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    book.close()
    if not values:
        raise InputFileError(f"{path}: empty workbook")
    headers = _headers(values[0])
    return RawTable(path, headers, _frame(headers, list(enumerate(values[1:], start=2))), "xlsx")


def _read_json(path: Path) -> RawTable:
    try:
        data = json.loads(_decode(path, path.read_bytes())[0])
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{path}: not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise InputFileError(f"{path}: JSON nested too deeply to be a catalogue") from exc
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        return _read_features(path, data.get("features") or [])
    if isinstance(data, dict):
        lists = [data[k] for k in _LIST_KEYS if isinstance(data.get(k), list)]
        lists += [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        data = lists[0] if lists else None
    if not isinstance(data, list):
        raise InputFileError(f"{path}: expected a list of objects, or an object holding one (e.g. under \"rows\")")
    headers = _headers(list(dict.fromkeys(k for rec in data if isinstance(rec, dict) for k in rec)))
    rows = [(i, [_cell(rec.get(h)) for h in headers] if isinstance(rec, dict) else [])
            for i, rec in enumerate(data, start=1)]
    invalid = ["" if isinstance(rec, dict) else f"not an object (a JSON {type(rec).__name__})" for rec in data]
    return RawTable(path, headers, _frame(headers, rows, invalid), "json")


def _read_features(path: Path, features: object) -> RawTable:
    if not isinstance(features, list):
        raise InputFileError(f"{path}: \"features\" is not a list of GeoJSON features")
    props = [f.get("properties") if isinstance(f, dict) else None for f in features]
    headers = _headers(list(dict.fromkeys(k for p in props if isinstance(p, dict) for k in p)))
    rows, lon, lat, invalid = [], [], [], []
    for i, (feature, p) in enumerate(zip(features, props, strict=True), start=1):
        problem = _feature_problem(feature, p)
        rows.append((i, [_cell(p.get(h)) for h in headers] if isinstance(p, dict) else []))
        x, y, bad_geometry = _point(feature.get("geometry") if isinstance(feature, dict) else None)
        invalid.append(problem or bad_geometry)
        lon.append(x)
        lat.append(y)
    frame = _frame(headers, rows, invalid)
    return RawTable(path, headers, frame.assign(_lon=lon, _lat=lat), "geojson")


def _feature_problem(feature: object, properties: object) -> str:
    """Why a GeoJSON feature cannot be read ("" when it can)."""
    if not isinstance(feature, dict):
        return f"not a GeoJSON feature object (a JSON {type(feature).__name__})"
    if properties is not None and not isinstance(properties, dict):
        return f"malformed feature: properties is a JSON {type(properties).__name__}, not an object"
    return ""


def _point(geometry: object) -> tuple[str, str, str]:
    """Longitude and latitude text of a GeoJSON geometry (a point on lines and areas), and what is wrong with it."""
    if geometry is None:
        return "", "", ""
    if not isinstance(geometry, dict):
        return "", "", f"malformed feature: geometry is a JSON {type(geometry).__name__}, not an object"
    coords = geometry.get("coordinates")
    if geometry.get("type") == "Point":
        if not (isinstance(coords, list) and len(coords) >= 2 and all(
                isinstance(c, int | float) and not isinstance(c, bool) for c in coords[:2])):
            return "", "", f"malformed feature: Point coordinates {_cell(coords)[:80]!r} are not [lon, lat] numbers"
        return _cell(coords[0]), _cell(coords[1]), ""
    try:
        point = shapely.geometry.shape(geometry).representative_point()
    except Exception:  # noqa: BLE001 - shapely raises many kinds for malformed geometries
        return "", "", f"malformed feature: {str(geometry.get('type'))[:40]!r} geometry cannot be read"
    return repr(point.x), repr(point.y), ""


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) > 1e6:
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False) if isinstance(
        value, dict | list) else str(value)


#: Columns a RawTable adds to the file's own (a header of that name is renamed, never overwritten).
_INTERNAL_COLUMNS = ("_row", "_extra", "_invalid", "_lon", "_lat")


def _headers(raw: Sequence[object]) -> list[str]:
    """Header names, stripped; a repeated one gets ``'``, then `` (3)``, `` (4)``… (linear in the header's length)."""
    headers, seen, repeats = [], set(_INTERNAL_COLUMNS), dict[str, int]()  # a header "_row" becomes "_row'"
    for i, h in enumerate(raw):
        base = unicodedata.normalize("NFKC", str(h or "")).strip().lstrip("\ufeff") or f"column {i + 1}"
        name = base
        while name in seen:
            repeats[base] = repeats.get(base, 1) + 1
            name = base + "'" if repeats[base] == 2 else f"{base} ({repeats[base]})"
        seen.add(name)
        headers.append(name)
    return headers


def _frame(headers: list[str], rows: list[tuple[int, list[str]]], invalid: Sequence[str] = ()) -> pd.DataFrame:
    width = len(headers)
    cells = [list(rec[:width]) + [""] * (width - len(rec)) for _, rec in rows]
    frame = pd.DataFrame(cells, columns=headers, dtype=object).fillna("")
    frame.insert(0, "_row", [line for line, _ in rows])
    frame["_extra"] = [len(rec) > width and any(str(c).strip() for c in rec[width:]) for _, rec in rows]
    frame["_invalid"] = list(invalid) if invalid else ""
    return frame


@contextmanager
def wide_csv_fields() -> Iterator[None]:
    """Let Python's csv module read fields of any length (its default stops at 131,072 characters).

    Over-long values are then rejected row by row (:data:`~mapgen.config.CatalogueSettings.max_name_chars`
    and ``max_text_chars``) instead of ending the whole import.
    """
    previous = csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def map_columns(table: RawTable, overrides: dict[str, str],
                aliases: dict[str, tuple[str, ...]] | None = None) -> dict[str, str]:
    """Find each field's header: the catalogue's own ``columns`` first, then :data:`FIELD_ALIASES`.

    Headers are compared case-insensitively, full-width and traditional characters folded
    (名稱 = 名称). When several headers fit a text field (``name``, ``address``, ``district``),
    one holding text beats one holding only numbers: the bureau list's ``DNAME`` (黄浦区),
    not its ``DISTRICT`` code (1).

    Parameters
    ----------
    table
        The file as read.
    overrides
        Field → this file's header.
    aliases
        Field → headers recognised (default :data:`FIELD_ALIASES`).

    Returns
    -------
    dict
        Field → header, for the fields found.

    Raises
    ------
    InputFileError
        A configured header is not in the file, or the file has no name column.
    """
    aliases = FIELD_ALIASES if aliases is None else aliases
    folded = {_fold_header(h): h for h in reversed(table.headers)}
    mapping: dict[str, str] = {}
    for key, header in overrides.items():
        if key not in aliases:
            raise InputFileError(f"{table.path}: unknown field {key!r} in columns (fields: {', '.join(aliases)})")
        found = folded.get(_fold_header(header))
        if found is None:
            raise InputFileError(f"{table.path}: column {header!r} (for {key}) not in the header {table.headers}")
        mapping[key] = found
    for key, names in aliases.items():
        if key in mapping:
            continue
        fits = list(dict.fromkeys(folded[f] for f in map(_fold_header, names) if f in folded))
        fits = [h for h in fits if h not in mapping.values()]
        if key in _TEXT_FIELDS:
            fits.sort(key=lambda h: _numeric_column(table.rows[h]))
        if fits:
            mapping[key] = fits[0]
    if "name" not in mapping:
        raise InputFileError(
            f"{table.path}: no name column (looked for {', '.join(aliases['name'])}; header: {table.headers}); "
            "name it in the catalogue's columns, e.g. columns = {{name = \"场馆\"}}"
        )
    return mapping


#: Fields holding text: a column of bare numbers there is a code (DISTRICT = 1), not the value.
_TEXT_FIELDS = frozenset({"name", "address", "district"})
#: Traditional → simplified for the characters of the recognised headers (名稱, 地址, 經度, 開放時間…).
_TRADITIONAL = str.maketrans("編號場館稱單標題詳細區縣屬經緯開營時間類別費門電話聯繫係須網項學級碼識絡義務",
                             "编号场馆称单标题详细区县属经纬开营时间类别费门电话联系系须网项学级码识络义务")


def _fold_header(header: str) -> str:
    return unicodedata.normalize("NFKC", header).strip().casefold().translate(_TRADITIONAL)


def _numeric_column(values: pd.Series) -> bool:
    """Whether every non-empty cell is a bare number (a code column)."""
    cells = values.astype(str).str.strip()
    cells = cells[cells.ne("")]
    return bool(len(cells)) and bool(cells.str.fullmatch(r"[+-]?\d+(?:\.\d+)?").all())


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
        Venues (``VENUE_COLUMNS``, ``footprint``, point geometry, WGS-84), review rows
        (``file``, ``row``, ``column``, ``reason``, ``name``), counts and the datum check.
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
    except Exception:  # noqa: BLE001 - find the rows behind it; they go to review, the rest imports
        failed = _failing_rows(run, table.rows)
    rest = table.rows[~table.rows["_row"].isin(failed)]
    try:
        result = run(rest) if len(rest) else run(table.rows.iloc[:0])
    except MapgenError:
        raise
    except Exception as exc:  # noqa: BLE001 - no single row is to blame: report it as one line
        raise InputFileError(f"{spec.file}: import failed ({type(exc).__name__}: {exc})") from exc
    names = table.rows.set_index("_row")[columns["name"]]
    extra = pd.DataFrame([{"file": table.path.name, "row": int(row), "column": "",
                           "reason": f"unexpected error while checking this row ({reason}); the other rows were imported",
                           "name": _clip(str(names.get(row, "")), settings.max_name_chars)}
                          for row, reason in failed.items()], columns=REVIEW_COLUMNS)
    result.review = pd.concat([result.review, extra], ignore_index=True).sort_values(
        "row", kind="stable", ignore_index=True)
    result.counts.update(rows=len(table.rows), rejected=len(result.review))
    return result


def _failing_rows(run: Callable[[pd.DataFrame], CatalogueImport], rows: pd.DataFrame) -> dict[int, str]:
    """Rows (by ``_row``) on which `run` fails, with the error, found by halving: a few runs per bad row."""
    try:
        run(rows)
        return {}
    except MapgenError:
        raise
    except Exception as exc:  # noqa: BLE001 - what is being looked for
        if len(rows) == 1:
            return {int(rows["_row"].iloc[0]): f"{type(exc).__name__}: {str(exc)[:200]}"}
    half = len(rows) // 2
    return {**_failing_rows(run, rows.iloc[:half]), **_failing_rows(run, rows.iloc[half:])}


def _clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters (with an ellipsis), for review rows of over-long values."""
    return text if len(text) <= limit else text[:limit] + "…"


def _import_rows(spec: CatalogueConfig, table: RawTable, columns: dict[str, str], taxonomy: Taxonomy,
                 settings: CatalogueSettings, gazetteer: Gazetteer | None, area: shapely.Geometry | None,
                 hours: Settings, rows: pd.DataFrame) -> CatalogueImport:
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
    review: list[dict[str, object]] = []
    bad = pd.Series(False, index=data.index)

    def reject(mask: pd.Series, column: str, reasons: pd.Series | str) -> None:
        mask = mask & ~bad
        if not mask.any():
            return
        texts = reasons[mask].tolist() if isinstance(reasons, pd.Series) else [reasons] * int(mask.sum())
        for row, reason, name in zip(data.loc[mask, "_row"].tolist(), texts, data.loc[mask, "name"].tolist(),
                                     strict=True):
            review.append({"file": table.path.name, "row": int(row), "column": column,
                           "reason": reason, "name": _clip(name, settings.max_name_chars)})
        bad.loc[mask] = True

    text_fields = [k for k in FIELD_ALIASES if k in columns]
    reject(rows["_invalid"].ne(""), "", rows["_invalid"])
    reject(data[text_fields].eq("").all(axis=1) & ~rows["_extra"], "", "empty row")
    reject(rows["_extra"], "", "more cells than header columns (a stray delimiter?)")
    reject(data["name"].eq(""), columns["name"], "missing name")
    _check_text(data, columns, text_fields, settings, reject)
    reject(data["name"].str.contains(_MARKUP), columns["name"], "name contains HTML/script markup")
    lon, lat = _coordinates(data, columns, reject)
    lon, lat = convert(lon, lat, spec.crs, "wgs84")
    has_xy = ~np.isnan(lon) & ~bad.values
    _check_area(data, columns, lon, lat, has_xy, area, settings, reject)
    words = CategoryWords(taxonomy, settings)
    category = _categories(data, columns, spec, words, reject)

    # place the rows without coordinates
    located = pd.DataFrame({"lon": lon, "lat": lat, "confidence": np.where(np.isnan(lon), 0.0, 1.0),
                            "method": np.where(np.isnan(lon), "", "catalogue"), "match_id": ""}, index=data.index)
    todo = ~bad & located["lon"].isna()
    if todo.any():
        if gazetteer is None or not len(gazetteer):
            reject(todo, "lon/lat", "no coordinates, and no gazetteer to geocode the name/address with")
        else:
            lookup = OnlineLookup(settings.online) if settings.online is not None else None
            found = geocode(data.loc[todo, ["name", "address", "district"]], gazetteer, settings, online=lookup)
            unplaced = found["lon"].isna()
            where = "/".join(columns[k] for k in ("name", "address") if k in columns)
            reject(todo & unplaced.reindex(data.index, fill_value=False), where,
                   found["reason"].reindex(data.index).fillna(""))
            placed = found[~unplaced]
            located.loc[placed.index, ["lon", "lat", "confidence", "method", "match_id"]] = placed[
                ["lon", "lat", "confidence", "method", "match_id"]].values
            if area is not None and len(placed):
                inside = shapely.contains_xy(_buffered(area, settings.area_buffer_m), placed["lon"], placed["lat"])
                reject(pd.Series(~inside, index=placed.index).reindex(data.index, fill_value=False), "address",
                       "geocoded outside the city area")
    category = _place_categories(category, data, located, gazetteer, words, settings.category_min_confidence,
                                 columns, reject)
    keys = data["name"].map(lambda n: name_key(n, settings))
    _duplicates(data, located, keys, ~bad, settings, columns, reject)

    good = data[~bad]
    venues = _venues(spec, good, located.loc[good.index], category.loc[good.index], keys.loc[good.index],
                     taxonomy, hours or Settings())
    review_frame = pd.DataFrame(review, columns=REVIEW_COLUMNS).sort_values("row", kind="stable", ignore_index=True)
    counts = {"rows": len(data), "venues": len(venues), "rejected": len(review_frame),
              "geocoded": int(venues["location_method"].isin(["name", "address", "name+address", "online"]).sum()),
              "hours_unparsed": int((venues["opening_hours"].ne("") & ~venues["hours_parsed"].astype(bool)).sum())}
    counts.update(_category_counts(venues, review_frame))
    datum = check_datum(data.loc[~np.isnan(lon), "name"], np.asarray(data["lon"].map(_number), dtype=float),
                        np.asarray(data["lat"].map(_number), dtype=float), spec.crs, gazetteer, settings)
    return CatalogueImport(venues, review_frame, counts, datum, source=table.path)


#: C0 control characters and DEL; tab, line feed and carriage return are allowed in text.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _check_text(data, columns, fields, settings, reject) -> None:  # noqa: ANN001
    """Reject rows with control characters (NUL…) in any field, or names and other texts over their length limit."""
    for key in fields:
        values = data[key]
        control = values.str.contains(CONTROL_CHARS)
        if control.any():
            found = values[control].map(lambda v: f"U+{ord(CONTROL_CHARS.search(v).group()):04X}")  # type: ignore[union-attr]
            reject(control, columns[key], "contains the control character " + found.reindex(data.index, fill_value="")
                   + f" in {key} (NUL bytes and the like are not text; fix the file)")
        limit = settings.max_name_chars if key in ("name", "name_en") else settings.max_text_chars
        length = values.str.len()
        long = length > limit
        if long.any():
            reject(long, columns[key], length[long].map(
                lambda n, k=key, m=limit: f"{k} is {n:,} characters long (limit {m:,}; see max_name_chars/max_text_chars)"
            ).reindex(data.index, fill_value=""))


_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?", re.IGNORECASE)


def _number(text: str) -> float:
    """A coordinate cell as a number, strictly: ``114.05``, ``-33.9``, ``121.47°``; NaN for anything else.

    Python's ``float`` reads ``114_2`` as 1142 and ``nan``/``inf`` as numbers: here they are not.
    """
    value = unicodedata.normalize("NFKC", text).strip().rstrip("°").strip()
    return float(value) if _DECIMAL.fullmatch(value) else np.nan


def _coordinates(data: pd.DataFrame, columns: dict[str, str], reject) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    lon = data["lon"].map(_number).astype(float)
    lat = data["lat"].map(_number).astype(float)
    col = f"{columns.get('lon', 'lon')}/{columns.get('lat', 'lat')}"
    given_lon, given_lat = data["lon"].ne(""), data["lat"].ne("")
    reject(given_lon & lon.isna(), columns.get("lon", "lon"), "longitude is not a number: " + data["lon"].map(repr))
    reject(given_lat & lat.isna(), columns.get("lat", "lat"), "latitude is not a number: " + data["lat"].map(repr))
    reject(given_lon ^ given_lat, col, "only one of longitude/latitude given")
    reject((lon == 0) & (lat == 0), col, "coordinates 0, 0 (a missing value written as zero)")
    swapped_range = (lat.abs() > 90) & (lon.abs() <= 90)
    reject(swapped_range, col, "latitude out of range: latitude and longitude are swapped")
    reject((lat.abs() > 90) | (lon.abs() > 180), col, "coordinates out of range")
    ok = lon.notna() & lat.notna()
    return np.where(ok, lon, np.nan), np.where(ok, lat, np.nan)


def _buffered(area: shapely.Geometry, metres: float) -> shapely.Geometry:
    series = gpd.GeoSeries([area], crs=4326)
    utm = series.estimate_utm_crs()
    return series.to_crs(utm).buffer(metres).to_crs(4326).iloc[0]


def _check_area(data, columns, lon, lat, has_xy, area, settings, reject) -> None:  # noqa: ANN001
    if area is None or not has_xy.any():
        return
    zone = _buffered(area, settings.area_buffer_m)
    x, y = np.nan_to_num(lon), np.nan_to_num(lat)
    outside = has_xy & ~shapely.contains_xy(zone, x, y)
    swapped = outside & shapely.contains_xy(zone, y, x)
    col = f"{columns.get('lon', 'lon')}/{columns.get('lat', 'lat')}"
    reject(pd.Series(swapped, index=data.index), col,
           "latitude and longitude are swapped (swapped back they fall inside the city area)")
    west, south, east, north = shapely.bounds(zone)
    where = np.flatnonzero(outside)
    reason = pd.Series([f"outside the city area ({x[i]:.5f}, {y[i]:.5f} is more than {settings.area_buffer_m:g} m "
                        f"beyond the mapped area {west:.3f},{south:.3f},{east:.3f},{north:.3f}: sea, or another place)"
                        for i in where], index=data.index[where])
    reject(pd.Series(outside, index=data.index), col, reason.reindex(data.index, fill_value=""))


def _categories(data, columns, spec, words, reject) -> pd.DataFrame:  # noqa: ANN001
    """Category of every row from its category column, else the catalogue's setting, else its name.

    Unknown category words go to review naming the closest known one; rows with neither a word
    nor a kind word in the name are left open (``category`` None) for :func:`_place_categories`.

    Returns
    -------
    pandas.DataFrame
        ``category``, ``category_source``, ``category_confidence`` per row.
    """
    if spec.category is not None and words.lookup(spec.category) is None:
        raise InputFileError(f"{spec.file}: unknown category {spec.category!r} "
                             f"(one of {', '.join(c.key for c in words.taxonomy.categories)}; "
                             f"{words.closest(spec.category)})")
    default = Guess(words.lookup(spec.category), "setting", 1.0) if spec.category else None
    guesses: list[Guess | None] = []
    for value, name in zip(data["category"], data["name"], strict=True):
        if value:
            key = words.lookup(value)
            guesses.append(Guess(key, "column", 1.0, value) if key else None)
        else:
            guesses.append(default or words.from_name(name))
    column = columns.get("category", "category")
    unknown = data["category"].ne("") & pd.Series([g is None for g in guesses], index=data.index)
    values = data.loc[unknown, "category"]
    reject(unknown, column, ("unknown category " + values.map(repr) + " (" + values.map(words.closest) + ")").reindex(
        data.index, fill_value=""))
    return _guess_frame(guesses, data.index)


def _category_counts(venues: pd.DataFrame, review: pd.DataFrame) -> dict[str, int]:
    """Venues per category source (``categories_from_tags`` counts ``tags`` and ``tags+name``) and rows to review."""
    source = venues["category_source"].str.split(":").str[0].replace({"tags+name": "tags"})
    counts = {f"categories_from_{k}": int((source == k).sum()) for k in ("column", "setting", "tags", "name")}
    reasons = review["reason"].astype(str)
    counts["categories_to_review"] = int(reasons.str.startswith(("no category", "unknown category",
                                                                 "category unsure")).sum())
    return counts


def _guess_frame(guesses: list[Guess | None], index: pd.Index) -> pd.DataFrame:
    return pd.DataFrame({"category": [g.key if g else None for g in guesses],
                         "category_source": [g.reason if g else "" for g in guesses],
                         "category_confidence": [g.confidence if g else 0.0 for g in guesses]}, index=index)


def _place_categories(category, data, located, gazetteer, words, min_confidence, columns,  # noqa: ANN001
                      reject) -> pd.DataFrame:  # noqa: ANN001
    """Rows without a category word take their matched place's category (its tags), else keep the name's.

    Rows still without a category, or below `min_confidence`, go to review with the closest category.
    """
    open_rows = category["category_source"].map(lambda s: s.split(":")[0] in ("", "name"))
    if gazetteer is not None and len(gazetteer):
        for i in data.index[open_rows & located["match_id"].ne("")]:
            match = located.at[i, "match_id"]
            found = words.from_tags(gazetteer.feature_tags(match), words.from_name(data.at[i, "name"]), match)
            if found is not None:
                category.loc[i] = [found.key, found.reason, found.confidence]
    missing = category["category"].isna()
    where = columns.get("category", columns["name"])
    reject(missing, where, "no category: no category column, and neither the name nor a matched place "
           "says what it is (" + data.loc[missing, "name"].map(words.closest).reindex(data.index, fill_value="")
           + "; add a category column or give --category)")
    weak = ~missing & (category["category_confidence"] < min_confidence)
    reject(weak, where, "category unsure: " + category["category"].astype(str) + " from "
           + category["category_source"] + " has confidence " + category["category_confidence"].map("{:.2f}".format)
           + f" < {min_confidence:.2f}")
    return category


def _duplicates(data, located, keys, alive, settings, columns, reject) -> None:  # noqa: ANN001
    """Reject later rows repeating an earlier one: same id, or same name and address within ``duplicate_m``."""
    dup = pd.Series(False, index=data.index)
    reason = pd.Series("", index=data.index)
    if "id" in columns:
        ids = data.loc[alive & data["id"].ne(""), "id"]
        first_row = data.loc[ids.index, "_row"].groupby(ids.values).transform("first")
        again = ids.duplicated()
        dup[again[again].index] = True
        reason[again[again].index] = [f"duplicate id {v!r} (also row {r})" for v, r in
                                      zip(ids[again], first_row[again], strict=True)]
    idx = data.index[alive & ~dup & located["lon"].notna()]
    if len(idx) >= 2:
        lat0 = float(np.nanmean(located.loc[idx, "lat"]))
        xy = np.c_[located.loc[idx, "lon"] * 111_320 * np.cos(np.radians(lat0)), located.loc[idx, "lat"] * 110_574]
        addresses = [normalise_text(v) for v in data.loc[idx, "address"]]
        repeats = _repeats(xy, keys.loc[idx].tolist(), addresses, settings.duplicate_m)
        if repeats:
            later, first = idx[list(repeats)], idx[list(repeats.values())]
            dup[later] = True
            reason[later] = [f"duplicate of row {r} (same name and address within {settings.duplicate_m:g} m)"
                             for r in data.loc[first, "_row"].tolist()]
    reject(dup, columns["name"], reason)


def _repeats(xy: np.ndarray, keys: list[str], addresses: list[str], metres: float) -> dict[int, int]:
    """Rows repeating an earlier kept row (same name key, same or blank address, within `metres`): row → that row.

    Kept rows sit in a grid of `metres` cells per name key (and per address), so each row is
    compared only with kept rows of its name in the nine cells around it: linear in the rows,
    however many share one spot, never a matrix of pairs.
    """
    cell = max(metres, 1.0)
    kept: dict[tuple[str, str | None, int, int], list[int]] = {}
    repeats: dict[int, int] = {}
    for j, ((x, y), key, address) in enumerate(zip(xy.tolist(), keys, addresses, strict=True)):
        cx, cy = int(x // cell), int(y // cell)
        groups: list[str | None] = [None] if address == "" else [address, ""]  # None: kept rows of any address
        match = None
        for group in groups:
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    for i in kept.get((key, group, cx + dx, cy + dy), ()):  # ascending: the first hit is the earliest
                        if match is not None and i >= match:
                            break
                        if np.hypot(xy[i, 0] - x, xy[i, 1] - y) <= metres:
                            match = i
                            break
        if match is not None:
            repeats[j] = match
            continue
        for group in (address, None):
            kept.setdefault((key, group, cx, cy), []).append(j)
    return repeats


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


def _venues(spec, good, located, category, keys, taxonomy, hours) -> gpd.GeoDataFrame:  # noqa: ANN001
    label = spec.label
    ids = _venue_ids(good, keys)
    fee = np.where(good["fee"].ne(""), good["fee"].map(lambda v: _flag(v, "yes", "no")),
                   good["free"].map(lambda v: _flag(v, "no", "yes")))
    frame = pd.DataFrame({
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
    }, index=good.index)
    frame = frame.join(hours_flags(good["opening_hours"], hours))
    points = gpd.points_from_xy(located["lon"].astype(float), located["lat"].astype(float), crs=4326)
    frame = frame[VENUE_COLUMNS].reset_index(drop=True)
    return gpd.GeoDataFrame(frame.assign(footprint=points), geometry=points, crs=4326)


def _flag(value: str, yes: str, no: str) -> str:
    folded = unicodedata.normalize("NFKC", value).strip().casefold()
    return yes if folded in _YES else no if folded in _NO else value


def check_datum(names: pd.Series, lon: np.ndarray, lat: np.ndarray, declared: Datum,
                gazetteer: Gazetteer | None, settings: CatalogueSettings) -> dict[str, object]:
    """Compare the catalogue's coordinates with same-named gazetteer places, for each datum.

    A catalogue in the wrong datum is visible as a consistent offset: the median distance to
    its OSM twins is several hundred metres as declared and a few tens after the right conversion.

    Returns
    -------
    dict
        ``twins`` (rows whose name matches exactly one gazetteer place), ``median_m`` per datum,
        ``declared``, ``best`` and a ``warning`` text when another datum fits much better.
    """
    report: dict[str, object] = {"declared": declared, "twins": 0}
    if gazetteer is None or not len(gazetteer) or names.empty:
        return report
    entries = gazetteer.entries
    unique = entries.drop_duplicates("feature_id").groupby("key").filter(lambda g: len(g) == 1)
    where = dict(zip(unique["key"], zip(unique["lon"], unique["lat"], strict=True), strict=True))
    keys = names.map(lambda n: name_key(n, settings))
    hits = [(i, where[k]) for i, k in keys.items() if k in where and not np.isnan(lon[i])]
    report["twins"] = len(hits)
    if len(hits) < 5:
        return report
    rows = [i for i, _ in hits]
    ref = np.array([p for _, p in hits])
    offsets = datum_offsets(lon[rows], lat[rows], ref[:, 0], ref[:, 1])
    best = min(offsets, key=offsets.get)  # type: ignore[arg-type]
    report.update(median_m={k: round(v, 1) for k, v in offsets.items()}, best=best)
    if best != declared and offsets[declared] > 100 and offsets[best] < offsets[declared] / 3:
        report["warning"] = (
            f"coordinates look like {best}, not {declared}: median distance to {len(hits)} same-named places "
            f"{offsets[declared]:.0f} m as {declared}, {offsets[best]:.0f} m as {best}; import with --crs {best}"
        )
    return report


def diff_venues(old: pd.DataFrame, new: pd.DataFrame, moved_m: float) -> pd.DataFrame:
    """Compare two imports of the same list: added, removed, moved and changed venues.

    Parameters
    ----------
    old, new
        Venue tables (``venue_id``, ``name``, fields, geometry), e.g. two ``venues.geojson``.
    moved_m
        A venue whose point moved farther than this is reported as moved.

    Returns
    -------
    pandas.DataFrame
        ``change`` (added/removed/moved/changed), ``venue_id``, ``name``, ``field``, ``old``, ``new``.
    """
    fields = ["name", "category", "address", "opening_hours", "fee", "phone", "safety", "website", "district"]
    old_i, new_i = old.set_index("venue_id"), new.set_index("venue_id")
    rows: list[dict[str, object]] = []
    for vid in new_i.index.difference(old_i.index, sort=False):
        rows.append({"change": "added", "venue_id": vid, "name": new_i.at[vid, "name"]})
    for vid in old_i.index.difference(new_i.index, sort=False):
        rows.append({"change": "removed", "venue_id": vid, "name": old_i.at[vid, "name"]})
    both = new_i.index.intersection(old_i.index, sort=False)
    if len(both):
        a, b = old_i.loc[both, "geometry"], new_i.loc[both, "geometry"]
        moved = distance_m(shapely.get_x(a.values), shapely.get_y(a.values), shapely.get_x(b.values),
                           shapely.get_y(b.values))
        for vid, metres, pa, pb in zip(both, moved, a.values, b.values, strict=True):
            if metres > moved_m:
                rows.append({"change": "moved", "venue_id": vid, "name": new_i.at[vid, "name"], "field": "geometry",
                             "old": f"{pa.x:.6f},{pa.y:.6f}", "new": f"{pb.x:.6f},{pb.y:.6f}",
                             "distance_m": round(float(metres), 1)})
        for f in fields:
            if f not in old_i or f not in new_i:
                continue
            before = old_i.loc[both, f].fillna("").astype(str)
            after = new_i.loc[both, f].fillna("").astype(str)
            for vid in both[(before != after).to_numpy()]:
                rows.append({"change": "changed", "venue_id": vid, "name": new_i.at[vid, "name"], "field": f,
                             "old": before[vid], "new": after[vid]})
    columns = ["change", "venue_id", "name", "field", "old", "new", "distance_m"]
    return pd.DataFrame(rows, columns=columns)


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
            result = import_catalogue(spec, taxonomy, settings, gazetteer=merge_gazetteers([osm, *extra]),
                                      area=area, hours=city.settings)
            venues, merges = merge_venues(venues, result.venues, settings, city.settings)
        review.extend(ReviewLog.from_frame(result.review))
        summary[spec.label] = {**result.counts, "merged_with_osm": len(merges), "datum": result.datum}
        say(f"{console_text(spec.file.name)}: {result.counts['venues']} venues ({result.counts['geocoded']} geocoded, "
            f"{len(merges)} merged with OSM venues), {result.counts['rejected']} rows to review", quiet)
        if "warning" in result.datum:
            say(f"[yellow]{console_text(spec.file.name)}: {console_text(result.datum['warning'])}[/yellow]", quiet)
    return venues, summary


def write_import(result: CatalogueImport, out_dir: str | Path, previous: str | Path | None,
                 settings: CatalogueSettings) -> dict[str, str]:
    """Write an import: ``venues.geojson``, ``review.csv`` (when rows were rejected), ``changes.csv``.

    Parameters
    ----------
    result
        What :func:`import_catalogue` produced.
    out_dir
        Output folder (created).
    previous
        The ``venues.geojson`` of an earlier import of the same list; ``changes.csv`` lists
        what was added, removed, moved or changed since. Read before being overwritten, so it
        may be ``out_dir/venues.geojson`` itself.
    settings
        ``moved_m`` for the diff.

    Returns
    -------
    dict
        Output name → path.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputFileError(f"{out}: --out is a file, not a folder")
    paths = {"venues": out / "venues.geojson", "review": out / "review.csv", "changes": out / "changes.csv"}
    if result.source is not None and result.source.exists():
        for target in paths.values():
            if target.exists() and target.samefile(result.source):
                raise InputFileError(f"{result.source}: the import would overwrite its own source file "
                                     f"({target.name} in {out}); choose another --out folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"{out}: cannot create the output folder ({exc.strerror})") from exc
    old = gpd.read_file(previous, engine="pyogrio") if previous is not None and Path(previous).is_file() else None
    frame = result.venues.drop(columns="footprint")
    paths["venues"].unlink(missing_ok=True)
    frame.to_file(paths["venues"], driver="GeoJSON", engine="pyogrio")
    if len(result.review):
        write_person_csv(result.review, paths["review"])
    else:
        paths["review"].unlink(missing_ok=True)
        del paths["review"]
    if old is not None:
        write_person_csv(diff_venues(old, frame, settings.moved_m), paths["changes"])
    else:
        paths["changes"].unlink(missing_ok=True)
        del paths["changes"]
    return {k: str(v) for k, v in paths.items()}
