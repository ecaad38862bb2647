"""Colours of the offline base map, the same under the PDF sheets' maps and the Leaflet maps (no matplotlib)."""

from __future__ import annotations

BACKGROUND = "#f5f2ec"
AREA_STYLE = {"park": "#d4e9c9", "water": "#a9d3e6", "building": "#dcd3ca"}
WATER_LINE = "#7fb8d6"
MAIN_ROAD_COLOR = "#e8590c"
