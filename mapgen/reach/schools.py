"""The school-facing reach API: school and venue frames in, pair and isochrone frames out, over the points engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from mapgen.config import Settings
from mapgen.contract import ISOCHRONE_COLUMNS, PAIR_COLUMNS
from mapgen.network import StreetGraph
from mapgen.reach.points import PointsReach, points_reach
from mapgen.reach.snap import to_metric

# the contract's columns this stage fills (on_campus and reaches_data_edge are added when published)
_PAIRS = PAIR_COLUMNS[:4]
_ISOCHRONES = [*ISOCHRONE_COLUMNS[:3], "geometry"]


@dataclass(frozen=True)
class Reach:
    """What one travel mode reaches from every school."""

    pairs: pd.DataFrame  # school_id, venue_id, mode, minutes
    isochrones: gpd.GeoDataFrame  # school_id, mode, minutes, geometry (WGS-84)
    unattached_schools: list[str]
    unattached_venues: list[str]

    @classmethod
    def from_points(cls, found: PointsReach, school_ids: np.ndarray, venue_ids: np.ndarray, mode: str) -> Reach:
        """Frames of a :class:`PointsReach`, origins named by `school_ids` and targets by `venue_ids`.

        Parameters
        ----------
        found
            Result of :func:`points_reach`.
        school_ids, venue_ids
            Ids of the origins and targets, in their order.
        mode
            Travel mode written in the ``mode`` columns.

        Returns
        -------
        Reach
            Pairs sorted by school, minutes and venue; isochrones by school and band.
        """
        pairs = pd.DataFrame(
            {
                "school_id": school_ids[found.origin],
                "venue_id": venue_ids[found.target],
                "mode": mode,
                "minutes": found.minutes,
            },
            columns=_PAIRS,
        )
        iso = gpd.GeoDataFrame(
            {
                "school_id": school_ids[found.iso_origin],
                "mode": mode,
                "minutes": found.iso_minutes,
                "geometry": found.iso_geometry,
            },
            columns=_ISOCHRONES,
            geometry="geometry",
            crs=4326,
        )
        return cls(
            pairs=pairs.sort_values(["school_id", "minutes", "venue_id"], ignore_index=True),
            isochrones=iso,
            unattached_schools=list(school_ids[~found.origin_attached]),
            unattached_venues=list(venue_ids[~found.target_attached]),
        )


def schools_reach(
    graph: StreetGraph,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    settings: Settings,
    bands: Sequence[float] | None = None,
    progress: Callable[[int], object] | None = None,
    isochrones: bool = True,
) -> Reach:
    """Travel minutes from every school to every venue within the limit, and isochrones (see :func:`points_reach`).

    Parameters
    ----------
    graph
        Street graph of one mode.
    schools, venues
        GeoDataFrames with ``school_id`` / ``venue_id`` and a ``footprint`` geometry column (WGS-84).
    settings
        Minutes limit, snapping, polygon and worker settings.
    bands
        Isochrone time limits (default: just ``settings.minutes``); the largest bounds the search.
    progress
        Optional callable ``progress(n_done)`` called as schools are done.
    isochrones
        False to skip the polygons (travel times only).

    Returns
    -------
    Reach
    """
    found = points_reach(
        graph,
        to_metric(schools["footprint"], graph.crs),
        to_metric(venues["footprint"], graph.crs),
        settings,
        bands,
        progress,
        isochrones,
    )
    return Reach.from_points(found, schools["school_id"].to_numpy(), venues["venue_id"].to_numpy(), graph.mode)
