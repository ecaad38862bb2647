"""Compare two imports of the same catalogue: venues added, removed, moved and changed."""

from __future__ import annotations

import pandas as pd
import shapely

from mapgen.contract import CHANGE_COLUMNS
from mapgen.geo import distance_m


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
        :data:`~mapgen.contract.CHANGE_COLUMNS`: ``change`` (added/removed/moved/changed), ``venue_id``,
        ``name``, ``field``, ``old``, ``new``, ``distance_m`` (moved venues).
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
        moved = distance_m(
            shapely.get_x(a.values), shapely.get_y(a.values), shapely.get_x(b.values), shapely.get_y(b.values)
        )
        for vid, metres, pa, pb in zip(both, moved, a.values, b.values, strict=True):
            if metres > moved_m:
                rows.append(
                    {
                        "change": "moved",
                        "venue_id": vid,
                        "name": new_i.at[vid, "name"],
                        "field": "geometry",
                        "old": f"{pa.x:.6f},{pa.y:.6f}",
                        "new": f"{pb.x:.6f},{pb.y:.6f}",
                        "distance_m": round(float(metres), 1),
                    }
                )
        for f in fields:
            if f not in old_i or f not in new_i:
                continue
            before = old_i.loc[both, f].fillna("").astype(str)
            after = new_i.loc[both, f].fillna("").astype(str)
            for vid in both[(before != after).to_numpy()]:
                rows.append(
                    {
                        "change": "changed",
                        "venue_id": vid,
                        "name": new_i.at[vid, "name"],
                        "field": f,
                        "old": before[vid],
                        "new": after[vid],
                    }
                )
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)
