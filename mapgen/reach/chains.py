"""The street graph with its pass-through nodes contracted into chains (for fast exact searches)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mapgen.network import StreetGraph, edges_matrix
from mapgen.reach.kernels import walk_chains
from mapgen.reach.memo import per_graph


@dataclass(frozen=True)
class Chains:
    """A street graph with its pass-through nodes contracted into chains, for exact searches around one origin.

    A pass-through node has two neighbours and either two-way edges to both
    or one edge in from one and one out to the other; every other node is
    kept. A chain runs from a kept node through pass-through nodes to the
    next kept node (one per direction of travel). ``matrix`` joins kept nodes
    by their fastest chain; entries list the chains' inner nodes in order.
    """

    kept: np.ndarray  # (n,) kept index of each graph node, -1 for pass-through nodes
    kept_nodes: np.ndarray  # (k,) graph node of each kept index
    matrix: sp.csr_matrix  # (k, k) minutes along the fastest chain between kept nodes
    entry_ptr: np.ndarray  # (k + 1,) entries of the chains leaving each kept node
    entry_node: np.ndarray  # (e,) graph node of each entry, in order along its chain
    entry_cum: np.ndarray  # (e,) minutes from the chain's start to the entry
    entry_chain: np.ndarray  # (e,) chain of each entry
    chain_entries: np.ndarray  # (c + 1,) entries of each chain
    chain_end: np.ndarray  # (c,) kept index where each chain ends
    chain_minutes: np.ndarray  # (c,) minutes of each chain
    node_entry_ptr: np.ndarray  # (n + 1,) entries of each graph node
    node_entry: np.ndarray  # entries grouped by graph node
    best: np.ndarray  # (n,) scratch minutes of one search, all inf between searches
    kept_best: np.ndarray  # (k,) scratch minutes per kept node, all inf between searches
    kept_dist: np.ndarray  # (k,) scratch distances per kept node, all inf between searches
    kept_slot: np.ndarray  # (k,) scratch heap positions per kept node, all -1 between searches


_CHAINS: dict[int, tuple[weakref.ref, Chains]] = {}


def chains(graph: StreetGraph) -> Chains:
    """The :class:`Chains` of `graph`, built on first use and kept while the graph lives."""
    return per_graph(_CHAINS, graph, _build_chains)


def _build_chains(graph: StreetGraph) -> Chains:
    """Contract the pass-through nodes of `graph` (see :class:`Chains`)."""
    matrix = graph.matrix
    n = graph.n_nodes
    both = (matrix + matrix.T).tocsr()
    degree = np.diff(both.indptr)
    out_degree, in_degree = np.diff(matrix.indptr), np.diff(matrix.T.tocsr().indptr)
    passing = (degree == 2) & (((in_degree == 2) & (out_degree == 2)) | ((in_degree == 1) & (out_degree == 1)))
    while True:
        kept_nodes = np.flatnonzero(~passing)
        starts, ends, total, inner_ptr, entry_node, entry_cum = walk_chains(
            kept_nodes, passing, matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64), matrix.data
        )
        seen = np.zeros(n, dtype=bool)
        seen[entry_node] = True
        loops = passing & ~seen  # rings of pass-through nodes that no kept node reaches: keep their nodes
        if not loops.any():
            break
        passing &= ~loops
    kept = np.full(n, -1, dtype=np.int64)
    kept[kept_nodes] = np.arange(len(kept_nodes))
    tail, head = kept[starts], kept[ends]
    sizes = np.diff(inner_ptr)
    entry_chain = np.repeat(np.arange(len(starts)), sizes)
    loop = tail == head
    by_node = np.argsort(entry_node, kind="stable")
    return Chains(
        kept=kept,
        kept_nodes=kept_nodes,
        matrix=edges_matrix(tail[~loop], head[~loop], total[~loop], len(kept_nodes)),
        entry_ptr=np.searchsorted(np.repeat(tail, sizes), np.arange(len(kept_nodes) + 1)),
        entry_node=entry_node,
        entry_cum=entry_cum,
        entry_chain=entry_chain,
        chain_entries=inner_ptr,
        chain_end=head,
        chain_minutes=total,
        node_entry_ptr=np.searchsorted(entry_node[by_node], np.arange(n + 1)),
        node_entry=by_node,
        best=np.full(n, np.inf),
        kept_best=np.full(len(kept_nodes), np.inf),
        kept_dist=np.full(len(kept_nodes), np.inf),
        kept_slot=np.full(len(kept_nodes), -1, dtype=np.int64),
    )
