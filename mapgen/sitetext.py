"""What the build's writers (``mapgen publish``) and the site (``webapp``) agree on: schema version, text folding, files.

Standard library only, so the search site starts without the pipeline's GIS stack.
"""

from __future__ import annotations

import math
import unicodedata

SCHEMA_VERSION = "2"
#: The build's base-map script (streets, parks, water) that the build's maps and the site's maps draw under the tiles.
BASEMAP_SCRIPT = "lib/mapgen/basemap.js"


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
