"""Read catalogue files (CSV in any common encoding, XLSX, JSON, GeoJSON) into a table of strings with clean headers."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import shapely
from charset_normalizer import from_bytes

from mapgen.errors import InputFileError

_LIST_KEYS = ("rows", "data", "items", "records", "venues", "list", "result", "results")


@dataclass(frozen=True)
class RawTable:
    """A catalogue file as read: its headers and one row of strings per record, numbered as a person counts them."""

    path: Path
    headers: list[str]
    rows: pd.DataFrame  # one column per header, plus _row (line / record number), _lon, _lat (GeoJSON geometry)
    encoding: str = ""


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
        raise InputFileError(f'{path}: expected a list of objects, or an object holding one (e.g. under "rows")')
    headers = _headers(list(dict.fromkeys(k for rec in data if isinstance(rec, dict) for k in rec)))
    rows = [
        (i, [_cell(rec.get(h)) for h in headers] if isinstance(rec, dict) else [])
        for i, rec in enumerate(data, start=1)
    ]
    invalid = ["" if isinstance(rec, dict) else f"not an object (a JSON {type(rec).__name__})" for rec in data]
    return RawTable(path, headers, _frame(headers, rows, invalid), "json")


def _read_features(path: Path, features: object) -> RawTable:
    if not isinstance(features, list):
        raise InputFileError(f'{path}: "features" is not a list of GeoJSON features')
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
        if not (
            isinstance(coords, list)
            and len(coords) >= 2
            and all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords[:2])
        ):
            return "", "", f"malformed feature: Point coordinates {_cell(coords)[:80]!r} are not [lon, lat] numbers"
        return _cell(coords[0]), _cell(coords[1]), ""
    try:
        point = shapely.geometry.shape(geometry).representative_point()
    except Exception:
        return "", "", f"malformed feature: {str(geometry.get('type'))[:40]!r} geometry cannot be read"
    return repr(point.x), repr(point.y), ""


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) > 1e6:
        return str(int(value))
    return (
        value
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False)
        if isinstance(value, dict | list)
        else str(value)
    )


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
