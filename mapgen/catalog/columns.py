"""Map a catalogue's headers to venue fields: its own column names first, then known aliases (Chinese, English, traditional)."""

from __future__ import annotations

import unicodedata

import pandas as pd

from mapgen.catalog.read import RawTable
from mapgen.errors import InputFileError

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


def map_columns(
    table: RawTable, overrides: dict[str, str], aliases: dict[str, tuple[str, ...]] | None = None
) -> dict[str, str]:
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
            'name it in the catalogue\'s columns, e.g. columns = {{name = "场馆"}}'
        )
    return mapping


#: Fields holding text: a column of bare numbers there is a code (DISTRICT = 1), not the value.
_TEXT_FIELDS = frozenset({"name", "address", "district"})
#: Traditional → simplified for the characters of the recognised headers (名稱, 地址, 經度, 開放時間…).
_TRADITIONAL = str.maketrans(
    "編號場館稱單標題詳細區縣屬經緯開營時間類別費門電話聯繫係須網項學級碼識絡義務",
    "编号场馆称单标题详细区县属经纬开营时间类别费门电话联系系须网项学级码识络义务",
)


def _fold_header(header: str) -> str:
    return unicodedata.normalize("NFKC", header).strip().casefold().translate(_TRADITIONAL)


def _numeric_column(values: pd.Series) -> bool:
    """Whether every non-empty cell is a bare number (a code column)."""
    cells = values.astype(str).str.strip()
    cells = cells[cells.ne("")]
    return bool(len(cells)) and bool(cells.str.fullmatch(r"[+-]?\d+(?:\.\d+)?").all())
