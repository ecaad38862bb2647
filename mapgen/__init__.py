"""mapgen: 15-minute activity circles for schools, from an OSM extract to maps, PDF sheets and a search site.

The public API (:mod:`mapgen.api`, loaded on first use so that ``import mapgen.errors`` stays light)::

    import mapgen

    summary = mapgen.build_city("data/venues/shenzhen-longgang.toml", "out/shenzhen-longgang")
    circles = mapgen.isochrones("heidelberg.osm.pbf", [(8.6934, 49.4093)], minutes=[5, 10, 15])
    times = mapgen.travel_matrix("heidelberg.osm.pbf", [(8.6934, 49.4093)], [(8.7, 49.41)], max_minutes=20)
    venues = mapgen.import_catalogue("museums.csv", crs="gcj02").venues
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The one place the version is written: pyproject.toml reads it from here ([tool.setuptools.dynamic]).
__version__ = "0.3.0"
__all__ = ["__version__", "build_city", "import_catalogue", "isochrones", "travel_matrix"]

if TYPE_CHECKING:
    from mapgen.api import build_city, import_catalogue, isochrones, travel_matrix


def __getattr__(name: str) -> Any:
    """Load :mod:`mapgen.api` when one of its functions is first asked for."""
    if name in __all__:
        from mapgen import api

        return getattr(api, name)
    raise AttributeError(f"module 'mapgen' has no attribute {name!r}")
