"""Region builds: every area of a region routed on buffered network cuts, in parallel on Dask, then merged."""

from mapgen.region.cuts import can_precut, cut_key, plan_cuts, precut_box, write_cuts
from mapgen.region.driver import REGION_SUMMARY, build_region, dask_client, region_progress_line
from mapgen.region.manifest import MANIFEST_FILE, area_fingerprint, is_unchanged
from mapgen.region.publish import VENUE_DIRECTORY, write_region_map, write_region_site_db, write_venue_directory
from mapgen.region.tasks import PARTS_DIR, Part, build_part, merge_area
from mapgen.region.tiles import BBox, cut_graph, expand_bbox, extent_of, tile_bbox, tile_of

__all__ = [
    "MANIFEST_FILE",
    "PARTS_DIR",
    "REGION_SUMMARY",
    "VENUE_DIRECTORY",
    "BBox",
    "Part",
    "area_fingerprint",
    "build_part",
    "build_region",
    "can_precut",
    "cut_graph",
    "cut_key",
    "dask_client",
    "expand_bbox",
    "extent_of",
    "is_unchanged",
    "merge_area",
    "plan_cuts",
    "precut_box",
    "region_progress_line",
    "tile_bbox",
    "tile_of",
    "write_cuts",
    "write_region_map",
    "write_region_site_db",
    "write_venue_directory",
]
