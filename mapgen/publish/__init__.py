"""Publish a build: contract files (GeoJSON, CSV, JSON) and offline Leaflet maps."""

from mapgen.publish.files import write_contract
from mapgen.publish.maps import write_maps

__all__ = ["write_contract", "write_maps"]
