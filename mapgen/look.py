"""One look on every surface (maps, PDF sheets, site): mode colours and labels, the school colour, minute rounding.

Standard library only, so the search site can use it without the pipeline's GIS stack. Category colours and
labels come from the taxonomy (``categories.toml``), carried in ``summary.json`` and ``site.db``.
"""

from __future__ import annotations

import math

LANGUAGES = ("zh", "en", "de")
SCHOOL_COLOR = "#08519c"
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
