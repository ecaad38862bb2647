"""Words the maps, PDF sheets and site database share: opening hours in words and pinyin search forms."""

from __future__ import annotations

import re

from mapgen.hours import parse_hours
from mapgen.look import hours_words

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def venue_hours(hours: str, language: str = "zh") -> str:
    """Return opening hours in words (:func:`mapgen.look.hours_words`), read by :func:`mapgen.hours.parse_hours`.

    Parameters
    ----------
    hours
        The opening-hours text as in ``venues.geojson`` (OSM syntax or Chinese free text).
    language
        ``zh``, ``en`` or ``de``.

    Returns
    -------
    str
        E.g. ``周二至周日 09:00–17:00``; the text itself when it cannot be read; "unknown" when empty.
    """
    schedule = parse_hours(hours) if hours.strip() else None
    return hours_words(hours, None if schedule is None else schedule.days, language)


def pinyin_forms(name: str) -> str:
    """Return the pinyin a search may type for a Chinese name: syllables run together, then the initials.

    ``金陵中学`` gives ``jinlingzhongxue jlzx``, so ``jinling``, ``zhongxue`` and ``jlzx`` all find
    it (the site's trigram index and the map's search match parts of words). Names without
    Chinese characters give ``""``.

    Parameters
    ----------
    name
        A school or venue name.

    Returns
    -------
    str
        Lower-case ASCII words (other characters of the name kept as they are), or ``""``.
    """
    if not _HAN.search(name):
        return ""
    from pypinyin import Style, lazy_pinyin  # a third of a second to load: only for Chinese names

    full = "".join(lazy_pinyin(name)).replace(" ", "").lower()
    initials = "".join(lazy_pinyin(name, style=Style.FIRST_LETTER)).replace(" ", "").lower()
    return f"{full} {initials}"
