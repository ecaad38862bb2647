"""Coverage audit and siting: nearest venues per category, 15-minute gaps, residential hexagons, maximum coverage."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pulp
import pyproj
import shapely

from mapgen._osm import OsmExtract
from mapgen._progress import stage
from mapgen.config import MODES, CityConfig, Mode, PlanningSettings, Settings
from mapgen.contract import CONTRACT_FILES, ReviewLog
from mapgen.errors import InputFileError, SolverError
from mapgen.network import StreetGraph, street_graph
from mapgen.reach import attach, iter_shortest_minutes, to_metric
from mapgen.schools import schools_from_csv
from mapgen.venues import Taxonomy, load_taxonomy

# OSM keys the planner reads beyond the venue taxonomy: candidate sites and homes.
PLANNING_KEYS = frozenset({"amenity", "building", "landuse"})


@dataclass(frozen=True)
class PlanningInputs:
    """A built city ready for planning: its contract tables, the OSM extract and both street graphs."""

    city: CityConfig
    build_dir: Path
    settings: Settings  # as used by the build (from summary.json)
    taxonomy: Taxonomy
    schools: gpd.GeoDataFrame  # contract columns, point geometry, ``footprint`` (campus) column
    venues: gpd.GeoDataFrame  # contract columns, point geometry, ``footprint`` (outline) column
    pairs: pd.DataFrame  # reachability.csv
    extract: OsmExtract  # features include buildings, landuse and amenities
    graphs: dict[Mode, StreetGraph]


def ensure_build(city: CityConfig, out_dir: str | Path, quiet: bool = True) -> Path:
    """Return `out_dir` holding a build of `city`, building it first when ``summary.json`` is missing.

    Parameters
    ----------
    city
        The city configuration.
    out_dir
        Output folder of the build (created when needed).
    quiet
        No progress output.

    Returns
    -------
    pathlib.Path
    """
    from mapgen.pipeline import build_city

    out = Path(out_dir)
    if not (out / CONTRACT_FILES["summary"]).is_file():
        build_city(city, out, quiet=quiet)
    return out


def load_inputs(build_dir: str | Path, city: CityConfig, quiet: bool = True) -> PlanningInputs:
    """Read a build's contract files, the city's OSM extract and its walk and bike graphs.

    Schools and venues come from the build (``schools.geojson``, ``venues.geojson``)
    and get their full OSM footprints back from the extract, so campuses and
    parks are entered from their outline exactly as in the build.

    Parameters
    ----------
    build_dir
        Output folder of ``mapgen build``.
    city
        The configuration the build was made from (extract, taxonomy, tiles, ``[planning]``).
    quiet
        No progress output.

    Returns
    -------
    PlanningInputs
    """
    from mapgen.pipeline import load_extract

    build = Path(build_dir)
    summary_path = build / CONTRACT_FILES["summary"]
    if not summary_path.is_file():
        raise InputFileError(f"{summary_path}: not found; is {build} the output folder of `mapgen build`?")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    if summary.get("city") != city.name:
        raise InputFileError(f"{summary_path}: a build of {summary.get('city')!r}, not of {city.name!r}")
    settings = Settings.model_validate(summary["settings"])
    taxonomy = load_taxonomy(city.categories)
    extract, _ = load_extract(city, set(taxonomy.tag_keys) | PLANNING_KEYS, quiet)
    schools = gpd.read_file(build / CONTRACT_FILES["schools"], engine="pyogrio")
    venues = gpd.read_file(build / CONTRACT_FILES["venues"], engine="pyogrio")
    if "public" in venues and not settings.include_non_public_venues:  # school grounds are no one's outing
        venues = venues[venues["public"].astype(str).str.lower() != "false"].reset_index(drop=True)
    schools["footprint"] = restore_footprints(schools, extract.features)
    venues["footprint"] = restore_footprints(venues, extract.features)
    pairs = pd.read_csv(build / CONTRACT_FILES["reachability"], dtype={"school_id": str, "venue_id": str})
    if "on_campus" in pairs:
        pairs = pairs[pairs["on_campus"].astype(str).str.lower() != "true"].reset_index(drop=True)
    graphs: dict[Mode, StreetGraph] = {}
    for mode in MODES:
        with stage(f"Building {mode} network", quiet=quiet):
            graphs[mode] = street_graph(extract, mode, settings)
    return PlanningInputs(city, build, settings, taxonomy, schools, venues, pairs, extract, graphs)


def restore_footprints(places: gpd.GeoDataFrame, features: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Full OSM geometry (campus, park outline) of each place by its ``osm_id``; its point where none is found.

    Parameters
    ----------
    places
        Schools or venues of a build, with ``osm_id`` (``way/123``) and point geometry.
    features
        OSM features of the extract (``element``, ``osm_id``, geometry).

    Returns
    -------
    geopandas.GeoSeries
        WGS-84 footprints aligned with `places`.
    """
    key = features["element"].astype(str) + "/" + features["osm_id"].astype(str)
    lookup = pd.Series(features.geometry.values, index=key.values)
    lookup = lookup[~lookup.index.duplicated()]
    found = places["osm_id"].map(lookup)
    return gpd.GeoSeries(np.where(found.isna(), places.geometry.values, found.values), index=places.index, crs=4326)


def reversed_graph(graph: StreetGraph) -> StreetGraph:
    """Return `graph` with every edge turned around (routing *to* places instead of *from* them)."""
    return replace(graph, edge_u=graph.edge_v, edge_v=graph.edge_u)


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
    bounded Dijkstra runs per group on the reversed graph, from a virtual source
    joined by the targets' own (reversed) links to all the group's targets;
    otherwise one runs per origin. Both give exactly the minutes of
    :func:`mapgen.reach.schools_reach`.

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
        # the same links read backwards: a target's arrival link leaves the group's virtual source
        group_links = replace(sinks, place=groups[sinks.place])
        for ids, _, origin_min in iter_shortest_minutes(
            reversed_graph(graph), group_links, n_groups, sources, len(origins), limit
        ):
            out[:, ids] = origin_min.T
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
        graph, to_metric(origins, graph.crs), to_metric(venues.loc[known, "footprint"], graph.crs),
        settings, limit, groups=codes, n_groups=len(categories),
    )
    return pd.DataFrame(minutes, index=origins.index, columns=pd.Index(categories, name="category"))


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
    return _nearest_by_mode(inputs, inputs.schools.set_index("school_id")["footprint"], limit)


def _nearest_by_mode(inputs: PlanningInputs, origins: gpd.GeoSeries, limit: float) -> pd.DataFrame:
    """:func:`nearest_by_category` for every mode of the build: columns (mode, category)."""
    categories = [c.key for c in inputs.taxonomy.categories]
    return pd.concat(
        {mode: nearest_by_category(graph, origins, inputs.venues, categories, inputs.settings, limit)
         for mode, graph in inputs.graphs.items()},
        axis=1, names=["mode", "category"],
    )


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


def residential_cells(extract: OsmExtract, planning: PlanningSettings) -> gpd.GeoDataFrame:
    """Residential demand on an H3 hexagon grid: homes, residential land use and residential streets per cell.

    A hexagon is residential when a residential building's point or the centre
    of the hexagon lies in it / in residential land use, or when at least
    ``planning.min_street_m`` of residential streets run through it (the proxy
    where buildings are not mapped).

    Parameters
    ----------
    extract
        OSM extract read with the ``building`` and ``landuse`` keys.
    planning
        Tag values and grid resolution.

    Returns
    -------
    geopandas.GeoDataFrame
        Index ``cell`` (H3 id); ``homes`` (residential buildings), ``landuse`` (bool),
        ``street_m``, ``centre`` (WGS-84 point) and the hexagon as geometry; sorted by cell.
    """
    res = planning.hex_resolution
    features = extract.features
    homes = pd.Series(dtype=np.int64)
    landuse_cells: set[str] = set()
    if "building" in features:
        built = features[features["building"].isin(planning.residential_buildings)]
        points = shapely.get_coordinates(built.representative_point().values)
        homes = pd.Series([h3.latlng_to_cell(lat, lon, res) for lon, lat in points], dtype=object).value_counts()
    if "landuse" in features:
        for geom in features.loc[features["landuse"].isin(planning.residential_landuse), "geometry"]:
            if geom.geom_type in ("Polygon", "MultiPolygon"):
                landuse_cells.update(h3.geo_to_cells(geom, res))
                pt = geom.representative_point()
                landuse_cells.add(h3.latlng_to_cell(pt.y, pt.x, res))
    street = _street_metres(extract, planning.residential_streets, res)
    cells = sorted(set(homes.index) | landuse_cells | set(street.index[street >= planning.min_street_m]))
    frame = pd.DataFrame(index=pd.Index(cells, name="cell"))
    frame["homes"] = homes.reindex(cells, fill_value=0).astype(int).values
    frame["landuse"] = frame.index.isin(list(landuse_cells))
    frame["street_m"] = street.reindex(cells, fill_value=0.0).round(1).values
    centres = [h3.cell_to_latlng(c) for c in cells]
    hexes = [shapely.Polygon([(lon, lat) for lat, lon in h3.cell_to_boundary(c)]) for c in cells]
    frame["centre"] = gpd.GeoSeries(shapely.points([(lon, lat) for lat, lon in centres]), index=frame.index, crs=4326)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(hexes, index=frame.index, crs=4326), crs=4326)


def _street_metres(extract: OsmExtract, highways: tuple[str, ...], res: int) -> pd.Series:
    """Length in metres of the ways tagged with `highways`, summed per H3 cell of each segment's midpoint."""
    parts = [w.lonlat for w in extract.highways if w.tags.get("highway") in highways]
    if not parts:
        return pd.Series(dtype=float)
    a = np.concatenate([p[:-1] for p in parts])
    b = np.concatenate([p[1:] for p in parts])
    _, _, metres = pyproj.Geod(ellps="WGS84").inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    mid = (a + b) / 2
    cells = [h3.latlng_to_cell(lat, lon, res) for lon, lat in mid]
    return pd.Series(metres, index=cells).groupby(level=0).sum()


def cells_nearest(inputs: PlanningInputs, cells: gpd.GeoDataFrame) -> pd.DataFrame:
    """Minutes from every residential hexagon's centre to the nearest venue of each category, per mode.

    The search is bounded by the build's time limit, so minutes above it are ``inf``.

    Parameters
    ----------
    inputs
        The built city.
    cells
        Hexagons from :func:`residential_cells`.

    Returns
    -------
    pandas.DataFrame
        Index ``cell``; columns (mode, category).
    """
    return _nearest_by_mode(inputs, cells["centre"], inputs.settings.minutes)


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


def candidate_sites(features: gpd.GeoDataFrame, planning: PlanningSettings) -> gpd.GeoDataFrame:
    """Candidate sites for new community study stations: community centres, libraries, schools, public buildings.

    Features with ``access=private/no`` are left out; a tagged point inside a
    tagged building or campus is the same site and is dropped.

    Parameters
    ----------
    features
        OSM features read with the ``amenity`` and ``building`` keys.
    planning
        The ``amenity`` / ``building`` values of candidate sites.

    Returns
    -------
    geopandas.GeoDataFrame
        ``site_id``, ``name``, ``kind`` (e.g. ``amenity=library``), ``osm_id``, ``footprint``
        and a point geometry (WGS-84), sorted by ``site_id``.
    """
    kind = pd.Series("", index=features.index)
    for key, values in (("building", planning.candidate_buildings), ("amenity", planning.candidate_amenities)):
        if key in features:
            hit = features[key].isin(values)
            kind[hit] = key + "=" + features.loc[hit, key]
    if "access" in features:
        kind[features["access"].isin(["private", "no"])] = ""
    chosen = features[kind != ""]
    areas = chosen[chosen.geom_type.isin(["Polygon", "MultiPolygon"])]
    points = chosen[chosen.geom_type == "Point"]
    if len(areas) and len(points):
        inside = shapely.STRtree(areas.geometry.values).query(points.geometry.values, predicate="within")
        chosen = chosen.drop(index=points.index[np.unique(inside[0])])
    names = chosen["name"] if "name" in chosen else pd.Series("", index=chosen.index)
    sites = pd.DataFrame({
        "site_id": [f"osm-{e[0]}{i}" for e, i in zip(chosen["element"], chosen["osm_id"], strict=True)],
        "name": [n if isinstance(n, str) and n.strip() else k for n, k in zip(names, kind[chosen.index], strict=True)],
        "kind": kind[chosen.index].values,
        "osm_id": [f"{e}/{i}" for e, i in zip(chosen["element"], chosen["osm_id"], strict=True)],
        "footprint": chosen.geometry.values,
    })
    footprint = gpd.GeoSeries(sites["footprint"], crs=4326)
    points = footprint.representative_point() if len(sites) else footprint
    return gpd.GeoDataFrame(sites.assign(footprint=footprint), geometry=points, crs=4326).sort_values(
        "site_id", ignore_index=True
    )


def candidates_from_csv(path: str | Path, review: ReviewLog) -> gpd.GeoDataFrame:
    """Read candidate sites from a CSV list (``name``, ``lon``, ``lat``, optional ``id``; WGS-84).

    Same format and row checks as a school list (:func:`mapgen.schools.schools_from_csv`):
    bad rows go to `review` with file, row and reason.

    Parameters
    ----------
    path
        The CSV file.
    review
        Collects rejected rows.

    Returns
    -------
    geopandas.GeoDataFrame
        Same columns as :func:`candidate_sites`, ``kind`` ``csv``.
    """
    listed = schools_from_csv(path, review).rename(columns={"school_id": "site_id"})
    return listed.assign(kind="csv")[["site_id", "name", "kind", "osm_id", "footprint", "geometry"]]


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
    return nearest_minutes(
        graph, to_metric(demand, graph.crs), to_metric(sites, graph.crs), settings, minutes, n_groups=len(sites)
    ) <= minutes


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
        rows.append({"k": k, "greedy": got, "optimum": best.covered,
                     "ratio": got / best.covered if best.covered else 1.0, "optimal_sites": best.sites})
    return pd.DataFrame(rows).set_index("k")
