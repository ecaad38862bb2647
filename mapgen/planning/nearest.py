"""Minutes from schools and hexagons to the nearest venue of each category, and the gaps and shares they give."""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd

from mapgen.config import Settings
from mapgen.network import StreetGraph
from mapgen.planning.inputs import PlanningInputs
from mapgen.reach import attach, iter_shortest_minutes, reach_blocks, to_metric


def nearest_minutes(
    graph: StreetGraph,
    origins: np.ndarray,
    targets: np.ndarray,
    settings: Settings,
    limit: float,
    groups: np.ndarray | None = None,
    n_groups: int | None = None,
) -> np.ndarray:
    """Minutes from every origin to the nearest target of every group, with the reach engine.

    Origins and targets attach to the graph as schools and venues do in a build
    (:func:`mapgen.reach.attach`). When there are fewer groups than origins, one
    bounded Dijkstra runs per group on the transposed graph
    (:func:`mapgen.reach.reach_blocks` with ``reverse=True``), from a virtual source
    joined by the targets' own arrival links to all the group's targets; otherwise
    one runs per origin (:func:`mapgen.reach.iter_shortest_minutes`). Both give
    exactly the minutes of :func:`mapgen.reach.schools_reach`.

    Parameters
    ----------
    graph
        Street graph of one mode.
    origins, targets
        Shapely geometries in the graph's metric CRS (see :func:`mapgen.reach.to_metric`).
    settings
        Snapping settings.
    limit
        Search bound in minutes.
    groups
        Group (0 … n_groups-1) of every target, e.g. its category; default: every target its own group.
    n_groups
        Number of groups (default ``groups.max() + 1``).

    Returns
    -------
    numpy.ndarray
        (n_origins × n_groups) minutes; ``inf`` beyond `limit`, for origins off the network and for empty groups.
    """
    origins = np.asarray(origins, dtype=object)
    targets = np.asarray(targets, dtype=object)
    groups = np.arange(len(targets)) if groups is None else np.asarray(groups, dtype=np.int64)
    if n_groups is None:
        n_groups = int(groups.max()) + 1 if len(groups) else 0
    out = np.full((len(origins), n_groups), np.inf)
    if not len(origins) or not len(targets):
        return out
    sources = attach(graph, origins, leaving=True, settings=settings)
    sinks = attach(graph, targets, leaving=False, settings=settings)
    if n_groups <= len(origins):
        # a group's targets, by their arrival links, are one origin of the transposed graph
        group_links = replace(sinks, place=groups[sinks.place])
        for block in reach_blocks(graph, group_links, n_groups, limit, reverse=True):
            out[:, block.ids] = block.target_minutes(sources, len(origins)).T
        return out
    order = np.argsort(groups, kind="stable")
    present, starts = np.unique(groups[order], return_index=True)
    for ids, _, sink_min in iter_shortest_minutes(graph, sources, len(origins), sinks, len(targets), limit):
        out[np.ix_(ids, present)] = np.minimum.reduceat(sink_min[:, order], starts, axis=1)
    return out


def nearest_by_category(
    graph: StreetGraph,
    origins: gpd.GeoSeries,
    venues: gpd.GeoDataFrame,
    categories: list[str],
    settings: Settings,
    limit: float,
) -> pd.DataFrame:
    """Minutes from every origin to the nearest venue of each category, for one travel mode.

    Parameters
    ----------
    graph
        Street graph of the mode.
    origins
        WGS-84 footprints (school campuses, hexagon centres), indexed by their ids.
    venues
        Venues with ``category`` and a WGS-84 ``footprint`` column.
    categories
        Category keys, in the order of the columns (categories without venues get ``inf``).
    settings
        Snapping settings.
    limit
        Search bound in minutes.

    Returns
    -------
    pandas.DataFrame
        Index of `origins`, one column per category; ``inf`` where none is reached within `limit`.
    """
    known = venues["category"].isin(categories).to_numpy()
    codes = pd.Categorical(venues.loc[known, "category"], categories=categories).codes
    minutes = nearest_minutes(
        graph,
        to_metric(origins, graph.crs),
        to_metric(venues.loc[known, "footprint"], graph.crs),
        settings,
        limit,
        groups=codes,
        n_groups=len(categories),
    )
    return pd.DataFrame(minutes, index=origins.index, columns=pd.Index(categories, name="category"))


def nearest_by_mode(inputs: PlanningInputs, origins: gpd.GeoSeries, limit: float) -> pd.DataFrame:
    """Minutes from every origin to the nearest venue of each category, for every mode of the build.

    Parameters
    ----------
    inputs
        The built city.
    origins
        WGS-84 footprints, indexed by their ids.
    limit
        Search bound in minutes.

    Returns
    -------
    pandas.DataFrame
        Index of `origins`; columns (mode, category); ``inf`` beyond `limit`.
    """
    categories = [c.key for c in inputs.taxonomy.categories]
    return pd.concat(
        {
            mode: nearest_by_category(graph, origins, inputs.venues, categories, inputs.settings, limit)
            for mode, graph in inputs.graphs.items()
        },
        axis=1,
        names=["mode", "category"],
    )


def school_nearest(inputs: PlanningInputs, limit: float | None = None) -> pd.DataFrame:
    """Minutes from every school to the nearest venue of each category, walking and cycling.

    Parameters
    ----------
    inputs
        The built city.
    limit
        Search bound in minutes (default ``[planning] nearest_limit_minutes``).

    Returns
    -------
    pandas.DataFrame
        Index ``school_id``; columns (mode, category); ``inf`` beyond `limit`.
    """
    limit = inputs.city.planning.nearest_limit_minutes if limit is None else limit
    return nearest_by_mode(inputs, inputs.schools.set_index("school_id")["footprint"], limit)


def cells_nearest(inputs: PlanningInputs, cells: gpd.GeoDataFrame) -> pd.DataFrame:
    """Minutes from every residential hexagon's centre to the nearest venue of each category, per mode.

    The search is bounded by the build's time limit, so minutes above it are ``inf``.

    Parameters
    ----------
    inputs
        The built city.
    cells
        Hexagons from :func:`mapgen.planning.demand.residential_cells`.

    Returns
    -------
    pandas.DataFrame
        Index ``cell``; columns (mode, category).
    """
    return nearest_by_mode(inputs, cells["centre"], inputs.settings.minutes)


def gap_counts(nearest: pd.DataFrame, minutes: float) -> pd.DataFrame:
    """Number of origins lacking each category within `minutes`, per mode.

    Parameters
    ----------
    nearest
        Minutes with (mode, category) columns, as from :func:`school_nearest`.
    minutes
        The time limit (15 for the 15-minute circle).

    Returns
    -------
    pandas.DataFrame
        Index category, one column per mode.
    """
    return (nearest > minutes).sum().unstack("mode").reindex(nearest.columns.unique("category"))


def reach_share(nearest: pd.DataFrame, minutes: float) -> pd.DataFrame:
    """Share of origins reaching each category within `minutes` (the 15-minute-city measure).

    Parameters
    ----------
    nearest
        Minutes with (mode, category) columns.
    minutes
        The time limit.

    Returns
    -------
    pandas.DataFrame
        Index category, one column per mode, values in [0, 1].
    """
    return (nearest <= minutes).mean().unstack("mode").reindex(nearest.columns.unique("category"))


def lacking(
    nearest: pd.DataFrame, categories: tuple[str, ...] | list[str], minutes: float, mode: str = "walk"
) -> pd.Series:
    """Origins with no venue of any of `categories` within `minutes` by `mode` (e.g. no place to study).

    Parameters
    ----------
    nearest
        Minutes with (mode, category) columns.
    categories
        Category keys that meet the need (e.g. ``[planning] study_categories``).
    minutes
        The time limit.
    mode
        ``walk`` or ``bike``.

    Returns
    -------
    pandas.Series
        Boolean, indexed like `nearest`.
    """
    columns = [(mode, c) for c in categories if (mode, c) in nearest.columns]
    return (nearest[columns] > minutes).all(axis=1) if columns else pd.Series(True, index=nearest.index)
