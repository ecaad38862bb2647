"""Publish a build: contract files (GeoJSON, CSV, JSON) and offline Leaflet maps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mapgen.publish.files import write_contract

if TYPE_CHECKING:
    from mapgen.publish.maps import write_maps

__all__ = ["write_contract", "write_maps"]


def __getattr__(name: str) -> object:
    """``write_maps``, imported when first asked for: folium is needed only once the maps are written."""
    if name == "write_maps":
        from mapgen.publish.maps import write_maps

        return write_maps
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
