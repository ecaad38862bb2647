"""Siting new study stations: which site covers which demand, greedy and exact (PuLP/CBC) maximum coverage."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from mapgen.config import Settings
from mapgen.errors import MissingExtraError, SolverError
from mapgen.network import StreetGraph
from mapgen.planning.nearest import nearest_minutes
from mapgen.reach import to_metric

try:
    import pulp
except ImportError as exc:
    raise MissingExtraError("pulp", "planning", "the planning notebooks (exact siting)") from exc


def coverage_matrix(
    graph: StreetGraph, demand: gpd.GeoSeries, sites: gpd.GeoSeries, settings: Settings, minutes: float
) -> np.ndarray:
    """Which site each demand point (school, hexagon centre) reaches within `minutes`.

    Parameters
    ----------
    graph
        Street graph of the mode (walk for study stations).
    demand, sites
        WGS-84 footprints.
    settings
        Snapping settings.
    minutes
        The time limit.

    Returns
    -------
    numpy.ndarray
        Boolean (n_demand × n_sites).
    """
    return (
        nearest_minutes(
            graph, to_metric(demand, graph.crs), to_metric(sites, graph.crs), settings, minutes, n_groups=len(sites)
        )
        <= minutes
    )


def greedy_max_coverage(cover: np.ndarray, k: int, weights: np.ndarray | None = None) -> pd.DataFrame:
    """Choose up to `k` sites greedily, each covering the most weight not yet covered.

    The greedy choice is within a factor 1 − 1/e of the optimum (Nemhauser,
    Wolsey and Fisher, 1978). Ties go to the lower site index; it stops early
    when no site adds anything.

    Parameters
    ----------
    cover
        Boolean (n_demand × n_sites): demand point i is covered by site j.
    k
        Number of sites to choose.
    weights
        Weight of each demand point (default 1).

    Returns
    -------
    pandas.DataFrame
        One row per pick: ``pick`` (1…), ``site`` (column index), ``gain`` (weight newly covered),
        ``covered`` (total weight covered so far).
    """
    cover = np.asarray(cover, dtype=bool)
    weights = np.ones(cover.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    open_ = np.ones(cover.shape[0], dtype=bool)
    rows, total = [], 0.0
    for pick in range(1, min(k, cover.shape[1]) + 1):
        gains = (weights * open_) @ cover
        site = int(np.argmax(gains))
        if gains[site] <= 0:
            break
        total += gains[site]
        open_ &= ~cover[:, site]
        rows.append({"pick": pick, "site": site, "gain": float(gains[site]), "covered": total})
    return pd.DataFrame(rows, columns=["pick", "site", "gain", "covered"])


@dataclass(frozen=True)
class CoverageOptimum:
    """An optimal choice of sites for maximum coverage."""

    sites: list[int]  # column indices, ascending
    covered: float  # weight covered


def optimal_max_coverage(
    cover: np.ndarray, k: int, weights: np.ndarray | None = None, time_limit: float = 60.0
) -> CoverageOptimum:
    """Choose `k` sites covering the most weight, exactly, as an integer program (PuLP with CBC).

    maximise Σ wᵢ yᵢ subject to yᵢ ≤ Σ_{j covers i} xⱼ, Σ xⱼ ≤ k, x binary, 0 ≤ y ≤ 1.

    Parameters
    ----------
    cover
        Boolean (n_demand × n_sites).
    k
        Number of sites.
    weights
        Weight of each demand point (default 1).
    time_limit
        Solver time limit in seconds.

    Returns
    -------
    CoverageOptimum
    """
    cover = np.asarray(cover, dtype=bool)
    weights = np.ones(cover.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    problem = pulp.LpProblem("max_coverage", pulp.LpMaximize)
    x = [problem.add_variable(f"x{j}", cat=pulp.LpBinary) for j in range(cover.shape[1])]
    coverable = np.flatnonzero(cover.any(axis=1))
    y = {i: problem.add_variable(f"y{i}", lowBound=0, upBound=1) for i in coverable}
    problem += pulp.lpSum(weights[i] * y[i] for i in coverable)
    problem += pulp.lpSum(x) <= k
    for i in coverable:
        problem += y[i] <= pulp.lpSum(x[j] for j in np.flatnonzero(cover[i]))
    with warnings.catch_warnings():
        # PuLP 3 warns that its bundled CBC goes away in PuLP 4; pyproject pins pulp<4 to keep it
        warnings.simplefilter("ignore", DeprecationWarning)
        status = problem.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit))
    if pulp.LpStatus[status] != "Optimal":
        raise SolverError(f"maximum coverage with k={k}: solver ended with status {pulp.LpStatus[status]}")
    chosen = [j for j, var in enumerate(x) if (var.value() or 0) > 0.5]
    return CoverageOptimum(sites=chosen, covered=float(weights[cover[:, chosen].any(axis=1)].sum()))


def describe_picks(picks: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    """Join greedy picks (site column indices) with the sites' ids, names and kinds.

    Parameters
    ----------
    picks
        From :func:`greedy_max_coverage`.
    sites
        The candidate sites the coverage matrix columns refer to, in the same order.

    Returns
    -------
    pandas.DataFrame
        ``pick``, ``site_id``, ``name``, ``kind``, ``gain``, ``covered``.
    """
    chosen = sites.iloc[picks["site"].to_numpy()][["site_id", "name", "kind"]].reset_index(drop=True)
    steps = picks.reset_index(drop=True)
    return pd.concat([steps[["pick"]], chosen, steps[["gain", "covered"]]], axis=1)


def compare_with_optimum(cover: np.ndarray, k_max: int, weights: np.ndarray | None = None) -> pd.DataFrame:
    """Greedy against the exact optimum for k = 1 … `k_max` sites.

    Parameters
    ----------
    cover
        Boolean (n_demand × n_sites).
    k_max
        Largest number of sites.
    weights
        Weight of each demand point (default 1).

    Returns
    -------
    pandas.DataFrame
        Index ``k``; ``greedy``, ``optimum`` (weight covered), ``ratio`` (greedy / optimum, 1 when both are 0),
        ``optimal_sites`` (column indices).
    """
    greedy = greedy_max_coverage(cover, k_max, weights)
    rows = []
    for k in range(1, k_max + 1):
        best = optimal_max_coverage(cover, k, weights)
        got = float(greedy["covered"].iloc[min(k, len(greedy)) - 1]) if len(greedy) else 0.0
        rows.append(
            {
                "k": k,
                "greedy": got,
                "optimum": best.covered,
                "ratio": got / best.covered if best.covered else 1.0,
                "optimal_sites": best.sites,
            }
        )
    return pd.DataFrame(rows).set_index("k")
