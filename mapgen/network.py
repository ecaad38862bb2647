"""Build walk and bike street graphs from OSM ways, with travel times in minutes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pyproj
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from mapgen.config import Mode, Settings
from mapgen.errors import EmptyNetworkError
from mapgen.geo import utm_crs
from mapgen.osm_extract import OsmExtract

if TYPE_CHECKING:
    import networkx as nx

# Minutes used instead of zero so sparse matrices keep zero-length edges as edges.
MIN_EDGE_MINUTES = 1e-9

_NEVER = frozenset(
    {
        "motorway",
        "motorway_link",
        "construction",
        "proposed",
        "planned",
        "abandoned",
        "disused",
        "platform",
        "raceway",
        "bus_guideway",
        "escape",
        "razed",
        "elevator",
        "corridor",
        "busway",
        "rest_area",
        "services",
    }
)
_FOOT_ONLY = frozenset({"footway", "pedestrian", "steps", "path", "bridleway", "corridor"})
_YES = frozenset({"yes", "designated", "permissive", "destination"})
_NO = frozenset({"no", "private", "use_sidepath", "discouraged"})
_ONEWAY = frozenset({"yes", "true", "1"})
_BIKE_CONTRAFLOW = frozenset({"opposite", "opposite_lane", "opposite_track"})


def way_directions(tags: dict[str, str], mode: Mode) -> tuple[bool, bool]:
    """Return whether `mode` may travel a way (forward, backward).

    Walking ignores ``oneway``; cycling respects it unless ``oneway:bicycle=no``
    or a contraflow cycleway says otherwise. Motorways, ``access=private`` and
    ways closed to the mode are not travelled at all. Bikes use footways, paths
    and pedestrian streets only where ``bicycle`` allows it.

    Parameters
    ----------
    tags
        The way's OSM tags.
    mode
        ``"walk"`` or ``"bike"``.

    Returns
    -------
    tuple of bool
        (forward allowed, backward allowed)
    """
    highway = tags.get("highway", "")
    if not highway or highway in _NEVER or tags.get("area") == "yes" and highway != "pedestrian":
        return False, False
    own = tags.get("foot" if mode == "walk" else "bicycle", "")
    if own in _NO or (tags.get("access", "") in _NO and own not in _YES) or tags.get("service") == "private":
        return False, False
    if mode == "walk":
        if highway == "cycleway" and own not in _YES:
            return False, False
        return True, True
    if (highway in _FOOT_ONLY and own not in _YES) or tags.get("motorroad") == "yes":
        return False, False
    oneway = tags.get("oneway", "")
    if tags.get("oneway:bicycle") == "no" or tags.get("cycleway") in _BIKE_CONTRAFLOW:
        return True, True
    if oneway == "-1":
        return False, True
    if oneway in _ONEWAY or (tags.get("junction") in ("roundabout", "circular") and oneway != "no"):
        return True, False
    return True, True


@dataclass(frozen=True)
class StreetGraph:
    """A directed street graph for one travel mode, as arrays.

    Nodes are OSM nodes (unsimplified: every edge is a straight segment);
    coordinates are kept both in WGS-84 and in a local metric CRS. Nodes are
    numbered in a spatial order (:func:`spatial_order`), not by OSM id: look one
    up with :meth:`node_index`.
    """

    mode: Mode
    speed_kmh: float
    crs: pyproj.CRS  # metric (UTM) CRS of `node_xy`
    node_osmid: np.ndarray  # (n,) int64
    node_lonlat: np.ndarray  # (n, 2)
    node_xy: np.ndarray  # (n, 2) metres
    edge_u: np.ndarray  # (m,) int32 node index
    edge_v: np.ndarray  # (m,) int32 node index
    edge_length_m: np.ndarray  # (m,)
    edge_highway: np.ndarray  # (m,) object: highway tag, for route safety notes
    edge_way_id: np.ndarray  # (m,) int64
    # streets of the parts too small to keep (see min_component_nodes): never reached, so isochrones leave them out
    island_xy: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))  # (k, 2) metres
    island_edge: np.ndarray = field(default_factory=lambda: np.empty((0, 2), dtype=np.int32))  # (e, 2) into island_xy

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_osmid)

    def node_index(self, osmid: np.ndarray) -> np.ndarray:
        """Node indices of OSM node ids; raises ``KeyError`` naming an id that is not in the graph."""
        osmid = np.asarray(osmid, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._osmid_sorted, osmid), self.n_nodes - 1)
        index = self._osmid_order[at]
        missing = self.node_osmid[index] != osmid
        if missing.any():
            raise KeyError(f"OSM node {osmid[missing][0]} is not in the {self.mode} graph")
        return index

    @cached_property
    def _osmid_order(self) -> np.ndarray:
        """Node indices sorted by OSM id."""
        return np.argsort(self.node_osmid, kind="stable")

    @cached_property
    def _osmid_sorted(self) -> np.ndarray:
        """OSM ids, sorted."""
        return self.node_osmid[self._osmid_order]

    @cached_property
    def edge_minutes(self) -> np.ndarray:
        """Travel time of every edge in minutes at the mode's speed."""
        return np.maximum(self.edge_length_m / (self.speed_kmh * 1000.0 / 60.0), MIN_EDGE_MINUTES)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """Sparse (n × n) matrix of edge minutes; parallel edges keep the fastest."""
        return edges_matrix(self.edge_u, self.edge_v, self.edge_minutes, self.n_nodes)

    def to_networkx(self) -> nx.DiGraph:
        """Return the graph as a networkx DiGraph with ``minutes`` and ``length`` edge attributes (tests, checks)."""
        import networkx as nx  # not a dependency of the package: the tests and benchmarks install it

        g = nx.DiGraph()
        g.add_nodes_from(range(self.n_nodes))
        order = np.argsort(-self.edge_minutes)  # slowest first, so the fastest parallel edge wins
        g.add_edges_from(
            (int(u), int(v), {"minutes": float(t), "length": float(length)})
            for u, v, t, length in zip(
                self.edge_u[order],
                self.edge_v[order],
                self.edge_minutes[order],
                self.edge_length_m[order],
                strict=True,
            )
        )
        return g


def edges_matrix(u: np.ndarray, v: np.ndarray, weight: np.ndarray, size: int) -> sp.csr_matrix:
    """Return a CSR matrix of `weight` keeping the minimum over duplicate (u, v) pairs.

    Parameters
    ----------
    u, v
        Edge endpoints (node indices).
    weight
        Positive edge weights.
    size
        Matrix size (number of nodes).

    Returns
    -------
    scipy.sparse.csr_matrix
    """
    order = np.lexsort((weight, v, u))
    u, v, weight = u[order], v[order], weight[order]
    first = np.ones(len(u), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    return sp.csr_matrix((weight[first], (u[first], v[first])), shape=(size, size))


def street_graph(extract: OsmExtract, mode: Mode, settings: Settings, cache_key: str | None = None) -> StreetGraph:
    """Build the street graph of one travel mode.

    Parameters
    ----------
    extract
        The OSM extract (see :func:`mapgen.osm_extract.read_osm`).
    mode
        ``"walk"`` or ``"bike"``: selects the access and one-way rules and the speed.
    settings
        Speeds, the minimum size of a street island to keep, and the graph cache.
    cache_key
        Identity of the extract (e.g. its file digest and bbox): when given, the
        graph is kept in the on-disk cache (:func:`mapgen.cache.cached`) under it,
        the mode and the settings that shape the graph.

    Returns
    -------
    StreetGraph
    """
    if cache_key is not None:
        from mapgen.cache import cached

        key = {
            "extract": cache_key,
            "mode": mode,
            "speed_kmh": settings.speed_kmh(mode),
            "min_component_nodes": settings.min_component_nodes,
        }
        return cached(
            "graph", key, lambda: street_graph(extract, mode, settings), settings, graph_arrays, graph_from_arrays
        )
    us: list[np.ndarray] = []
    vs: list[np.ndarray] = []
    highway_of: list[tuple[str, int, int]] = []  # (highway, way id, edge count) per chunk
    all_ids: list[np.ndarray] = []
    all_coords: list[np.ndarray] = []
    for way in extract.highways:
        fwd, back = way_directions(way.tags, mode)
        if not (fwd or back):
            continue
        all_ids.append(way.node_ids)
        all_coords.append(way.lonlat)
        for keep, a, b in ((fwd, way.node_ids[:-1], way.node_ids[1:]), (back, way.node_ids[1:], way.node_ids[:-1])):
            if keep:
                us.append(a)
                vs.append(b)
                highway_of.append((way.tags["highway"], way.way_id, len(a)))
    if not us:
        raise EmptyNetworkError(f"{extract.source}: no streets or paths usable by {mode} in this extract")

    node_osmid, first = np.unique(np.concatenate(all_ids), return_index=True)
    lonlat = np.concatenate(all_coords)[first]
    edge_u = np.searchsorted(node_osmid, np.concatenate(us)).astype(np.int32)
    edge_v = np.searchsorted(node_osmid, np.concatenate(vs)).astype(np.int32)
    highway = np.repeat(np.array([h for h, _, _ in highway_of], dtype=object), [c for _, _, c in highway_of])
    way_id = np.repeat(np.array([w for _, w, _ in highway_of], dtype=np.int64), [c for _, _, c in highway_of])
    loop = edge_u == edge_v
    edge_u, edge_v, highway, way_id = edge_u[~loop], edge_v[~loop], highway[~loop], way_id[~loop]

    crs = utm_crs(lonlat)
    xy = np.column_stack(pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(lonlat[:, 0], lonlat[:, 1]))
    length = np.hypot(*(xy[edge_v] - xy[edge_u]).T)

    keep_node = _large_components(edge_u, edge_v, len(node_osmid), settings.min_component_nodes)
    if not keep_node.any():
        raise EmptyNetworkError(
            f"{extract.source}: the {mode} network has no connected part of at least "
            f"{settings.min_component_nodes} nodes (is the area too small?)"
        )
    kept = np.flatnonzero(keep_node)
    kept = kept[spatial_order(xy[kept])]
    new_index = np.empty(len(node_osmid), dtype=np.int64)
    new_index[kept] = np.arange(len(kept))
    keep_edge = keep_node[edge_u]
    island_index = np.cumsum(~keep_node) - 1
    return StreetGraph(
        mode=mode,
        speed_kmh=settings.speed_kmh(mode),
        crs=crs,
        node_osmid=node_osmid[kept],
        node_lonlat=lonlat[kept],
        node_xy=xy[kept],
        edge_u=new_index[edge_u[keep_edge]].astype(np.int32),
        edge_v=new_index[edge_v[keep_edge]].astype(np.int32),
        edge_length_m=length[keep_edge],
        edge_highway=highway[keep_edge],
        edge_way_id=way_id[keep_edge],
        island_xy=xy[~keep_node],
        island_edge=np.column_stack([island_index[edge_u[~keep_edge]], island_index[edge_v[~keep_edge]]]).astype(
            np.int32
        ),
    )


def spatial_order(xy: np.ndarray, cell_m: float = 100.0) -> np.ndarray:
    """Order of the points `xy` (metres) along a Z-order curve through cells of `cell_m`.

    Nodes numbered so lie near their neighbours in memory: a search or a raster of one
    place reads a few compact runs of the node arrays instead of ids scattered over the
    whole extract (OSM ids follow mapping history, not place), which is what a cache
    rewards (about a tenth off an isochrone, measured on Heidelberg).
    """
    if not len(xy):
        return np.empty(0, dtype=np.int64)
    cells = np.floor((xy - xy.min(axis=0)) / cell_m).astype(np.uint64)
    key = _spread_bits(cells[:, 0]) | (_spread_bits(cells[:, 1]) << np.uint64(1))
    return np.argsort(key, kind="stable")


def _spread_bits(value: np.ndarray) -> np.ndarray:
    """The low 32 bits of `value` (uint64) moved to the even bit positions (one half of a Morton code)."""
    value = value & np.uint64(0xFFFFFFFF)
    for shift, mask in (
        (16, 0x0000FFFF0000FFFF),
        (8, 0x00FF00FF00FF00FF),
        (4, 0x0F0F0F0F0F0F0F0F),
        (2, 0x3333333333333333),
        (1, 0x5555555555555555),
    ):
        value = (value | (value << np.uint64(shift))) & np.uint64(mask)
    return value


def _large_components(u: np.ndarray, v: np.ndarray, n: int, min_nodes: int) -> np.ndarray:
    """Mask of nodes in weakly connected parts with at least `min_nodes` nodes (the largest is always kept)."""
    graph = sp.csr_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    _, labels = connected_components(graph, directed=True, connection="weak")
    sizes = np.bincount(labels)
    big = (sizes >= min_nodes) | (sizes == sizes.max())
    return big[labels]


def graph_arrays(graph: StreetGraph) -> dict[str, np.ndarray]:
    """Return `graph` as plain arrays for the cache (:func:`graph_from_arrays` reads them back)."""
    return {
        "mode": np.array(graph.mode),
        "speed_kmh": np.array(graph.speed_kmh, dtype=np.float64),
        "crs": np.array(graph.crs.to_wkt()),
        "node_osmid": graph.node_osmid,
        "node_lonlat": graph.node_lonlat,
        "node_xy": graph.node_xy,
        "edge_u": graph.edge_u,
        "edge_v": graph.edge_v,
        "edge_length_m": graph.edge_length_m,
        "edge_highway": graph.edge_highway.astype(str),
        "edge_way_id": graph.edge_way_id,
        "island_xy": graph.island_xy,
        "island_edge": graph.island_edge,
    }


def graph_from_arrays(arrays: Mapping[str, np.ndarray]) -> StreetGraph:
    """Rebuild a :class:`StreetGraph` from :func:`graph_arrays`; raises ``ValueError`` on inconsistent arrays."""
    mode = str(arrays["mode"])
    n, m = len(arrays["node_osmid"]), len(arrays["edge_u"])
    u, v = arrays["edge_u"].astype(np.int32), arrays["edge_v"].astype(np.int32)
    sizes_ok = arrays["node_lonlat"].shape == arrays["node_xy"].shape == (n, 2) and all(
        len(arrays[k]) == m for k in ("edge_v", "edge_length_m", "edge_highway", "edge_way_id")
    )
    island_xy, island_edge = arrays["island_xy"], arrays["island_edge"].astype(np.int32)
    islands_ok = island_xy.ndim == island_edge.ndim == 2 and island_xy.shape[1] == island_edge.shape[1] == 2
    if (
        mode not in ("walk", "bike")
        or not sizes_ok
        or not islands_ok
        or (m and not (0 <= min(u.min(), v.min()) and max(u.max(), v.max()) < n))
        or (len(island_edge) and not (0 <= island_edge.min() and island_edge.max() < len(island_xy)))
    ):
        raise ValueError("street graph arrays do not fit together")
    return StreetGraph(
        mode=mode,  # type: ignore[arg-type]
        speed_kmh=float(arrays["speed_kmh"]),
        crs=pyproj.CRS.from_wkt(str(arrays["crs"])),
        node_osmid=arrays["node_osmid"].astype(np.int64),
        node_lonlat=arrays["node_lonlat"].astype(np.float64),
        node_xy=arrays["node_xy"].astype(np.float64),
        edge_u=u,
        edge_v=v,
        edge_length_m=arrays["edge_length_m"].astype(np.float64),
        edge_highway=arrays["edge_highway"].astype(object),
        edge_way_id=arrays["edge_way_id"].astype(np.int64),
        island_xy=island_xy.astype(np.float64),
        island_edge=island_edge,
    )
