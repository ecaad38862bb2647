"""One look on every surface (maps, PDF sheets, site): mode colours and labels, the school colour, minutes, hours.

Standard library only, so the search site can use it without the pipeline's GIS stack. Category colours and
labels come from the taxonomy (``categories.toml``), carried in ``summary.json`` and ``site.db``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

LANGUAGES = ("zh", "en", "de")
SCHOOL_COLOR = "#08519c"
#: The colour of a category the taxonomy does not give one (or does not know).
NO_CATEGORY_COLOR = "#555555"
# Walk and bike are told apart by colour and by line style (a dashed bike outline), so a grey print still shows both.
MODE_COLORS = {"walk": "#2171b5", "bike": "#cb181d"}
MODE_DASH = {"walk": "", "bike": "6 4"}
MODE_LABELS = {
    "zh": {"walk": "步行", "bike": "骑行"},
    "en": {"walk": "Walk", "bike": "Bike"},
    "de": {"walk": "Zu Fuß", "bike": "Fahrrad"},
}
MINUTES_UNIT = {"zh": "分钟", "en": "min", "de": "Min."}


def whole_minutes(value: float | None) -> int | None:
    """Return travel minutes as planned: whole minutes rounded up (14.2 is 15; 0 stays 0).

    Parameters
    ----------
    value
        Minutes, or None / NaN when not reached.

    Returns
    -------
    int or None
        None when `value` is missing.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return max(0, math.ceil(float(value) - 1e-9))


def minutes_text(value: float | None, language: str = "zh") -> str:
    """Return ``"15 分钟"`` / ``"15 min"`` for `value` minutes (rounded by :func:`whole_minutes`), ``"—"`` if missing."""
    rounded = whole_minutes(value)
    return "—" if rounded is None else f"{rounded} {MINUTES_UNIT.get(language, MINUTES_UNIT['en'])}"


def mode_label(mode: str, language: str = "zh") -> str:
    """Return the label of a travel mode (``walk``/``bike``) in `language` (English when unknown)."""
    return MODE_LABELS.get(language, MODE_LABELS["en"])[mode]


# Opening hours in words, the same on maps, PDF sheets and site (days grouped: 周一至周五 09:00–17:00).
HOURS_WORDS = {
    "zh": {
        "days": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
        "range": "{first}至{last}",
        "unknown": "未知",
        "always": "全天开放",
        "closed": "闭馆",
    },
    "en": {
        "days": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
        "range": "{first}–{last}",
        "unknown": "unknown",
        "always": "open 24/7",
        "closed": "closed",
    },
    "de": {
        "days": ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"),
        "range": "{first}–{last}",
        "unknown": "unbekannt",
        "always": "rund um die Uhr",
        "closed": "geschlossen",
    },
}
_WHOLE_DAY = ((0, 1440),)


def hours_words(written: str, days: Sequence[Sequence[tuple[int, int]]] | None, language: str = "zh") -> str:
    """Say opening hours in words, e.g. ``周一至周五 08:00–20:00; 周六 09:00–12:00``.

    Days with the same hours are grouped into ranges; a week open day and night is
    ``全天开放`` / ``open 24/7``; hours that could not be read are returned as written.

    Parameters
    ----------
    written
        The opening-hours text as in the data (OSM syntax or free text).
    days
        Seven sequences (Monday first) of ``(open_minute, close_minute)`` read from `written`
        (``WeeklySchedule.days`` of :func:`mapgen.hours.parse_hours`, or ``site.db``'s ``opening`` rows);
        None when `written` could not be read.
    language
        ``zh``, ``en`` or ``de`` (English for any other).

    Returns
    -------
    str
        The words; the language's "unknown" when `written` is empty.
    """
    words = HOURS_WORDS.get(language, HOURS_WORDS["en"])
    if not written.strip():
        return str(words["unknown"])
    if days is None:
        return written
    spans = [tuple(sorted((int(a), int(b)) for a, b in day)) for day in days]
    if all(day == _WHOLE_DAY for day in spans):
        return str(words["always"])
    groups: list[tuple[int, int, tuple[tuple[int, int], ...]]] = []
    for day, shown in enumerate(spans):
        if groups and groups[-1][2] == shown and groups[-1][1] == day - 1:
            groups[-1] = (groups[-1][0], day, shown)
        else:
            groups.append((day, day, shown))
    names = words["days"]
    parts = [
        (names[a] if a == b else str(words["range"]).format(first=names[a], last=names[b]))
        + " "
        + ", ".join(f"{s // 60:02d}:{s % 60:02d}–{e // 60:02d}:{e % 60:02d}" for s, e in shown)
        for a, b, shown in groups
        if shown
    ]
    return "; ".join(parts) or str(words["closed"])
