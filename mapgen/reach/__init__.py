"""Exact travel times and isochrone polygons over a street graph: snap, route, trace, for any points or schools."""

from mapgen.reach.chains import Chains, chains
from mapgen.reach.points import PointIsochrones, PointsReach, isochrones_around, points_reach
from mapgen.reach.pool import origin_parts, run_parts
from mapgen.reach.route import ReachBlock, iter_shortest_minutes, nearby_minutes, reach_blocks
from mapgen.reach.schools import Reach, schools_reach
from mapgen.reach.snap import Attachment, attach, to_metric
from mapgen.reach.trace import (
    Outline,
    isochrone_polygon,
    isochrone_quality,
    reached_polygon,
    reached_polygons,
    trace_outlines,
)

__all__ = [
    "Attachment",
    "Chains",
    "Outline",
    "PointIsochrones",
    "PointsReach",
    "Reach",
    "ReachBlock",
    "attach",
    "chains",
    "isochrone_polygon",
    "isochrone_quality",
    "isochrones_around",
    "iter_shortest_minutes",
    "nearby_minutes",
    "origin_parts",
    "points_reach",
    "reach_blocks",
    "reached_polygon",
    "reached_polygons",
    "run_parts",
    "schools_reach",
    "to_metric",
    "trace_outlines",
]
