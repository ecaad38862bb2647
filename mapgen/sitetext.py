"""What ``site.db``'s writer (``mapgen publish``) and reader (``webapp``) agree on: schema version and text folding.

Standard library only, so the search site starts without the pipeline's GIS stack.
"""

from __future__ import annotations

import math
import unicodedata

SCHEMA_VERSION = "2"


def normalise(text: object) -> str:
    """Return text folded for search: NFKC (full-width → half-width), case-folded, single spaces.

    Parameters
    ----------
    text
        Any value; None and NaN give ``""``.

    Returns
    -------
    str
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    return " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())
