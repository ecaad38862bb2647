"""Leaflet JS/CSS shipped with the package, so published maps never load scripts from a CDN."""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

import xstatic.pkg.jquery as xs_jquery
import xstatic.pkg.leaflet as xs_leaflet
import xstatic.pkg.leaflet_markercluster as xs_cluster

LIB_DIR = "lib"
# the project's own page script and style (search, legend, drawing the data block), copied to lib/mapgen/
OWN_DIR = "mapgen"
MAP_SCRIPT = f"{LIB_DIR}/{OWN_DIR}/map.js"

# (folium resource name, file under lib/)
# folium's popups need jQuery; it comes from its XStatic package like Leaflet.
JS = [
    ("jquery", "jquery/jquery.min.js"),
    ("leaflet", "leaflet/leaflet.js"),
    ("markerclusterjs", "markercluster/leaflet.markercluster.js"),
]
CSS = [
    ("leaflet_css", "leaflet/leaflet.css"),
    ("markerclustercss", "markercluster/MarkerCluster.css"),
    ("markerclusterdefaultcss", "markercluster/MarkerCluster.Default.css"),
    ("mapgen_css", "mapgen/map.css"),
]


def copy_assets(out_dir: Path) -> Path:
    """Copy jQuery, Leaflet, Leaflet.markercluster (XStatic packages) and the project's map script into ``out_dir/lib``.

    Parameters
    ----------
    out_dir
        The build's output folder.

    Returns
    -------
    pathlib.Path
        The ``lib`` folder.
    """
    lib = out_dir / LIB_DIR
    for package, name in ((xs_jquery, "jquery"), (xs_leaflet, "leaflet"), (xs_cluster, "markercluster")):
        target = lib / name
        shutil.copytree(
            package.BASE_DIR, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.map", "*.esm.js", "*slim*")
        )
    own = lib / OWN_DIR
    own.mkdir(parents=True, exist_ok=True)
    for item in files("mapgen.publish").joinpath("lib").iterdir():
        if item.name.endswith((".js", ".css")):
            (own / item.name).write_bytes(item.read_bytes())
    return lib


def asset_links(prefix: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Return folium ``default_js`` / ``default_css`` lists pointing at the local copies.

    Parameters
    ----------
    prefix
        Relative path from the page to the output folder (``""`` or ``"../"``).
    """
    return (
        [(name, f"{prefix}{LIB_DIR}/{path}") for name, path in JS],
        [(name, f"{prefix}{LIB_DIR}/{path}") for name, path in CSS],
    )
