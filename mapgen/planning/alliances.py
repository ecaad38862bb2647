"""School alliances: venues several schools reach, and how many venues each pair of schools shares."""

from __future__ import annotations

import pandas as pd


def shared_venues(
    pairs: pd.DataFrame, venues: pd.DataFrame, schools: pd.DataFrame, mode: str, minutes: float, min_schools: int = 2
) -> pd.DataFrame:
    """Venues that two or more schools reach within `minutes`: candidates for school alliances.

    Parameters
    ----------
    pairs
        ``school_id``, ``venue_id``, ``mode``, ``minutes`` (reachability.csv).
    venues, schools
        Contract tables (``venue_id``, ``name``, ``category``; ``school_id``, ``name``).
    mode
        ``walk`` or ``bike``.
    minutes
        The time limit.
    min_schools
        Least number of schools sharing a venue.

    Returns
    -------
    pandas.DataFrame
        ``venue_id``, ``name``, ``category``, ``n_schools``, ``schools`` (names joined by " · "),
        most shared first.
    """
    near = pairs[(pairs["mode"] == mode) & (pairs["minutes"] <= minutes)]
    near = near.merge(schools[["school_id", "name"]].rename(columns={"name": "school"}), on="school_id")
    grouped = near.sort_values("school").groupby("venue_id")["school"].agg(n_schools="nunique", schools=" · ".join)
    shared = grouped[grouped["n_schools"] >= min_schools].reset_index()
    shared = shared.merge(venues[["venue_id", "name", "category"]], on="venue_id")
    return shared[["venue_id", "name", "category", "n_schools", "schools"]].sort_values(
        ["n_schools", "venue_id"], ascending=[False, True], ignore_index=True
    )


def alliance_matrix(pairs: pd.DataFrame, schools: pd.DataFrame, mode: str, minutes: float) -> pd.DataFrame:
    """Number of venues each pair of schools both reach within `minutes`.

    Parameters
    ----------
    pairs
        reachability.csv.
    schools
        ``school_id``, ``name``.
    mode
        ``walk`` or ``bike``.
    minutes
        The time limit.

    Returns
    -------
    pandas.DataFrame
        Square, indexed by school name both ways; the diagonal is each school's own venue count.
    """
    near = pairs[(pairs["mode"] == mode) & (pairs["minutes"] <= minutes)]
    incidence = pd.crosstab(near["school_id"], near["venue_id"]).reindex(schools["school_id"], fill_value=0)
    names = schools.set_index("school_id")["name"].reindex(incidence.index)
    shared = incidence.to_numpy() @ incidence.to_numpy().T
    return pd.DataFrame(shared, index=names.values, columns=names.values)
