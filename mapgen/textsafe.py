"""Text from outside (OSM names, catalogue fields, headers, file names) made inert for each output it reaches."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from rich.markup import escape as _rich_escape

if TYPE_CHECKING:  # pandas is imported where a table is written, so the CLI starts fast
    import pandas as pd

# HTML's special characters, and those that start template syntax for Jinja ({{ }}, {% %}, {# #}) and for JS
# template literals (` ${ \), as HTML character references: a browser shows the character, neither Jinja nor
# JavaScript ever sees it. One pass, so the references themselves are never escaped again.
_INERT = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#39;",
    "{": "&#123;",
    "}": "&#125;",
    "%": "&#37;",
    "#": "&#35;",
    "`": "&#96;",
    "$": "&#36;",
    "\\": "&#92;",
}
_INERT_RE = re.compile("[&<>\"'{}%#`$\\\\]")
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def html_text(text: object) -> str:
    """Escape `text` for HTML element content or a quoted attribute value (``& < > " '``).

    Parameters
    ----------
    text
        Any value; ``str()`` of it is escaped.

    Returns
    -------
    str
        Text that an HTML parser shows literally.
    """
    return html.escape(str(text), quote=True)


def folium_text(text: object) -> str:
    r"""Escape data for any text handed to folium (popup, tooltip, layer name, title): HTML-escaped and Jinja-inert.

    folium puts popups inside JavaScript template literals and compiles the rendered text
    of every ``Element``, ``Popup`` and ``Tooltip`` as a Jinja template when the page is
    saved (branca's ``MacroElement.render`` wraps it in a new ``Element``); the result
    holds none of ``< > & " '``, ``{ } % #``, `` ` $ \`` as such, only character references.

    Parameters
    ----------
    text
        Any value; ``str()`` of it is escaped.

    Returns
    -------
    str
        HTML text that shows `text` literally.
    """
    return _INERT_RE.sub(lambda m: _INERT[m.group(0)], str(text))


def json_script(data: object) -> str:
    r"""Encode `data` as JSON for a ``<script type="application/json">`` block of a page.

    ``<``, ``>`` and ``&`` are written as ``\u003c``... (so ``</script>`` or ``<!--`` in a name
    cannot end the block), as are U+2028/U+2029; ``JSON.parse`` reads the same text back.

    Parameters
    ----------
    data
        JSON-serialisable data (NaN is written as null).

    Returns
    -------
    str
        JSON text safe between ``<script>`` tags.
    """
    try:  # NaN is rare: the data is walked for it (and for keys to make text) only when the dump fails
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError):
        text = json.dumps(_no_nan(data), ensure_ascii=False, separators=(",", ":"))
    for char, code in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, code)
    return text


def _no_nan(data: object) -> object:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {str(k): _no_nan(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_no_nan(v) for v in data]
    return data


def url_path(*segments: object) -> str:
    """Join data values into a relative URL path, each segment percent-encoded (no scheme, no ``..`` trick).

    Parameters
    ----------
    segments
        Path parts such as an area name and ``schools/<id>.html``'s id; ``/`` inside a part is encoded.

    Returns
    -------
    str
        A relative URL: ``javascript:x`` becomes ``javascript%3Ax``, a path, never a scheme.
    """
    parts = [quote(str(s), safe="") for s in segments]
    return "/".join(p.replace(".", "%2E") if p in (".", "..") else p for p in parts)


def csv_cell(value: object) -> object:
    """Neutralise a spreadsheet formula: a text starting with ``= + - @`` tab or CR gets a leading ``'``.

    Numbers (and texts that are plain numbers, such as ``-3.5``) stay as they are, so they
    stay numbers in the spreadsheet.

    Parameters
    ----------
    value
        One cell.

    Returns
    -------
    object
        The cell, prefixed with ``'`` when a spreadsheet would run it.
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS) or _NUMBER_RE.fullmatch(value):
        return value
    return "'" + value


def person_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of `frame` with every text cell (and header) passed through :func:`csv_cell`."""
    import pandas as pd

    safe = frame.copy()
    safe.columns = [csv_cell(str(c)) for c in safe.columns]
    for i, dtype in enumerate(safe.dtypes):
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            safe.iloc[:, i] = safe.iloc[:, i].map(csv_cell)
    return safe


def write_person_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a CSV that a person opens in a spreadsheet (UTF-8, no index), formulas neutralised by :func:`csv_cell`.

    Parameters
    ----------
    frame
        The table.
    path
        File to write.

    Returns
    -------
    pathlib.Path
        `path`.
    """
    path = Path(path)
    person_csv_frame(frame).to_csv(path, index=False, encoding="utf-8")
    return path


def console_text(text: object) -> str:
    """Escape `text` for rich console markup: ``[bold]`` in a name shows literally, ``foo[/red]`` cannot raise.

    Parameters
    ----------
    text
        A file name, header, place name or error message.

    Returns
    -------
    str
        Markup that prints `text` as it is.
    """
    return _rich_escape(str(text))
