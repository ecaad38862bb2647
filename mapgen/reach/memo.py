"""Objects derived from a street graph, built on first use and kept while the graph lives."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TypeVar

from mapgen.network import StreetGraph

Derived = TypeVar("Derived")


def per_graph(
    store: dict[int, tuple[weakref.ref, Derived]], graph: StreetGraph, build: Callable[[StreetGraph], Derived]
) -> Derived:
    """``build(graph)``, kept in `store` while `graph` lives (entries of graphs that are gone are dropped)."""
    entry = store.get(id(graph))
    if entry is None or entry[0]() is not graph:
        for key in [k for k, (ref, _) in store.items() if ref() is None]:
            del store[key]
        entry = (weakref.ref(graph), build(graph))
        store[id(graph)] = entry
    return entry[1]
