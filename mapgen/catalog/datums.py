"""Tell a catalogue's datum (WGS-84, GCJ-02 or BD-09) from its offset to same-named gazetteer places."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mapgen.catalog.gazetteer import Gazetteer
from mapgen.catalog.names import name_key
from mapgen.config import CatalogueSettings
from mapgen.geo import Datum, datum_offsets


def check_datum(
    names: pd.Series,
    lon: np.ndarray,
    lat: np.ndarray,
    declared: Datum,
    gazetteer: Gazetteer | None,
    settings: CatalogueSettings,
) -> dict[str, object]:
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
    best = min(offsets, key=lambda datum: offsets[datum])
    report.update(median_m={k: round(v, 1) for k, v in offsets.items()}, best=best)
    if best != declared and offsets[declared] > 100 and offsets[best] < offsets[declared] / 3:
        report["warning"] = (
            f"coordinates look like {best}, not {declared}: median distance to {len(hits)} same-named places "
            f"{offsets[declared]:.0f} m as {declared}, {offsets[best]:.0f} m as {best}; import with --crs {best}"
        )
    return report
