"""Walk and bike reach of a build's schools: each mode's graph, routes and outing pairs, on every core."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial

import geopandas as gpd
import pandas as pd

from mapgen import osm_extract
from mapgen.campus import outing_pairs, school_grounds
from mapgen.config import MODES, Mode, Settings
from mapgen.contract import ReviewLog
from mapgen.errors import MapgenError
from mapgen.network import StreetGraph, street_graph
from mapgen.processes import beside, forks
from mapgen.progress import stage
from mapgen.reach import Reach, schools_reach
from mapgen.routes import routes_summary

GraphBuilder = Callable[[osm_extract.OsmExtract, Mode, Settings], StreetGraph]


@dataclass
class ModesReach:
    """Walk and bike results of one build: pairs, isochrones and per-mode counts and timings."""

    pairs: pd.DataFrame
    isochrones: gpd.GeoDataFrame
    routes: pd.DataFrame  # main-road summary of every school → venue route (mapgen.routes)
    network: dict[str, dict[str, object]]
    reach: dict[str, dict[str, object]]
    seconds: dict[str, float]


def reach_by_mode(
    extract: osm_extract.OsmExtract,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    settings: Settings,
    review: ReviewLog,
    quiet: bool = False,
    graph_builder: GraphBuilder = street_graph,
    parallel: bool = False,
) -> ModesReach:
    """Build the walk and bike graphs and route from every school to every venue.

    Parameters
    ----------
    extract
        The OSM extract the graphs are built from.
    schools, venues
        Places with ``school_id`` / ``venue_id`` and ``footprint``.
    settings
        Speeds, limit and snapping.
    review
        Collects schools that are not on a network.
    quiet
        No progress output.
    graph_builder
        Function building a mode's graph (default :func:`mapgen.network.street_graph`).
    parallel
        Use two cores (when this process may fork and the machine has more than one): bike
        is built and routed by a forked process while this one builds and routes walk. The
        result is the same as one process gives.

    Returns
    -------
    ModesReach
    """
    grounds = school_grounds(extract.features, settings)
    if forks(parallel):
        found = _forked_reach(extract, schools, venues, settings, graph_builder, quiet)
    else:
        found = {
            mode: _one_process_reach(extract, schools, venues, settings, graph_builder, mode, quiet) for mode in MODES
        }
    results = [_mode_result(mode, *found[mode], schools, venues, grounds, settings) for mode in MODES]
    for result in results:
        for school_id in result.unattached_schools:
            review.add(
                extract.source,
                school_id,
                "geometry",
                f"school farther than {settings.max_snap_m:g} m from any {result.mode} street",
            )
    return ModesReach(
        pairs=pd.concat([r.pairs for r in results], ignore_index=True),
        isochrones=gpd.GeoDataFrame(
            pd.concat([r.isochrones for r in results], ignore_index=True), geometry="geometry", crs=4326
        ),
        routes=pd.concat([r.routes for r in results], ignore_index=True),
        network={r.mode: r.network for r in results},
        reach={r.mode: r.reach for r in results},
        seconds={r.mode: r.seconds for r in results},
    )


@contextmanager
def graphs_beside(
    extract: osm_extract.OsmExtract, settings: Settings, graph_builder: GraphBuilder, cached: bool
) -> Iterator[Callable[[], None]]:
    """Build every mode's graph into the on-disk cache in a forked process while this one goes on.

    A build selects its schools and venues meanwhile, on the other core; :func:`reach_by_mode`
    then loads the graphs from the cache instead of building them on its own critical path
    (the bike process too). Nothing is forked where it would not help: `graph_builder` does
    not keep its graphs in the cache (`cached` false), or :func:`mapgen.processes.forks` says
    no for ``settings.parallel_modes``.

    Yields
    ------
    callable
        Waits until the graphs are in the cache (call it before :func:`reach_by_mode`).
    """
    if not (cached and forks(settings.parallel_modes)):
        yield lambda: None
        return
    with beside(partial(_cache_graphs, extract, settings, graph_builder)) as done:
        yield done


def _cache_graphs(extract: osm_extract.OsmExtract, settings: Settings, graph_builder: GraphBuilder) -> None:
    """Build (or load) every mode's graph, for the cache; a mode that fails is left to the reach, which reports it."""
    for mode in MODES:
        try:
            graph_builder(extract, mode, settings)
        except MapgenError:
            pass


@dataclass
class _ModeResult:
    """One mode's part of :class:`ModesReach`."""

    mode: Mode
    pairs: pd.DataFrame
    isochrones: gpd.GeoDataFrame
    routes: pd.DataFrame
    network: dict[str, object]
    reach: dict[str, object]
    unattached_schools: list[str]
    seconds: float


# What one mode's routing gives: its graph's counts, the reach, the route summary and the seconds it took.
_Found = tuple[dict[str, object], Reach, pd.DataFrame, float]


def _mode_result(
    mode: Mode,
    network: dict[str, object],
    reach: Reach,
    routes: pd.DataFrame,
    seconds: float,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    grounds: gpd.GeoDataFrame,
    settings: Settings,
) -> _ModeResult:
    """A mode's outing pairs, routes of those pairs and counts, from its reach and route summary."""
    pairs = outing_pairs(reach.pairs, schools, venues, grounds, settings)
    return _ModeResult(
        mode=mode,
        pairs=pairs,
        isochrones=reach.isochrones,
        # one route per listed pair: pairs to venues not open to the public have none
        routes=routes.merge(pairs[["school_id", "venue_id", "mode"]], on=["school_id", "venue_id", "mode"]),
        network=network,
        reach={
            "pairs": len(pairs),
            "on_campus_pairs": int(pairs["on_campus"].sum()),
            "schools_reaching_a_venue": int(reach.pairs["school_id"].nunique()),
            "isochrones": len(reach.isochrones),
            "schools_not_on_network": reach.unattached_schools,
            "venues_not_on_network": len(reach.unattached_venues),
        },
        unattached_schools=list(reach.unattached_schools),
        seconds=seconds,
    )


def _network(graph: StreetGraph) -> dict[str, object]:
    return {"nodes": graph.n_nodes, "edges": len(graph.edge_u), "speed_kmh": graph.speed_kmh}


def _one_process_reach(
    extract: osm_extract.OsmExtract,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    settings: Settings,
    graph_builder: GraphBuilder,
    mode: Mode,
    quiet: bool,
) -> _Found:
    """Build `mode`'s graph, route from every school to every venue and check the routes for main roads."""
    t0 = time.perf_counter()
    with stage(f"Building {mode} network", quiet=quiet):
        graph = graph_builder(extract, mode, settings)
    with stage(f"Routing {mode} from schools", total=len(schools), quiet=quiet) as advance:
        reach = schools_reach(graph, schools, venues, settings, progress=advance)
    with stage(f"Checking {mode} routes for main roads", total=len(schools), quiet=quiet) as advance:
        routes = routes_summary(graph, schools, venues, settings, progress=advance)
    return _network(graph), reach, routes, time.perf_counter() - t0


def _forked_reach(
    extract: osm_extract.OsmExtract,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    settings: Settings,
    graph_builder: GraphBuilder,
    quiet: bool,
) -> dict[Mode, _Found]:
    """Every mode's reach on two cores: the first mode here, the others each in a forked process meanwhile.

    Each process builds (or loads) its own graph, so no graph is sent between processes and
    none of a graph's indexes is built twice; only the results come back.
    """
    job = partial(_one_process_reach, extract, schools, venues, settings, graph_builder)
    here, *there = MODES
    with ExitStack() as forks:
        others = {mode: forks.enter_context(beside(partial(job, mode, True))) for mode in there}
        found = {here: job(here, quiet)}
        for mode, result in others.items():
            with stage(f"Routing {mode} from schools (in a second process)", quiet=quiet):
                found[mode] = result()
    return found
