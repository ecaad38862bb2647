"""Figures of issue 16 for build folders: on-campus outings, raw tag names, duplicate pairs, gathered facilities, edge flags.

    python benchmarks/truth_figures.py OSM_FILE BUILD_DIR [BUILD_DIR ...]

Works on folders of any mapgen version (columns a version lacks count as absent), so a build
made before and one made after the rules can be compared on the same extract.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from mapgen import osm_extract
from mapgen.campus import grounds_of, school_grounds
from mapgen.config import Settings
from mapgen.naming import RAW_TAG_NAME
from mapgen.planning.inputs import restore_footprints
from mapgen.sitetext import normalise


def figures(build: Path, features: gpd.GeoDataFrame, settings: Settings) -> dict[str, object]:
    """The figures of one build folder."""
    schools = gpd.read_file(build / "schools.geojson")
    venues = gpd.read_file(build / "venues.geojson")
    pairs = pd.read_csv(build / "reachability.csv", dtype={"school_id": str, "venue_id": str})
    iso = gpd.read_file(build / "isochrones.geojson")
    summary = json.loads((build / "summary.json").read_text(encoding="utf-8"))
    grounds = school_grounds(features, settings)
    venue_grounds = grounds_of(venues.geometry, restore_footprints(venues, features), grounds)
    school_ground = grounds_of(schools.geometry, restore_footprints(schools, features), grounds)
    own = pairs["school_id"].map(dict(zip(schools["school_id"], school_ground, strict=True)))
    where = pairs["venue_id"].map(dict(zip(venues["venue_id"], venue_grounds, strict=True))).fillna("")
    flagged = pairs["on_campus"].astype(bool) if "on_campus" in pairs else pd.Series(False, index=pairs.index)
    on_own = (where != "") & (where == own)
    truth = summary.get("truth", {})
    return {
        "venues": len(venues),
        "walk_pairs": int((pairs["mode"] == "walk").sum()),
        "bike_pairs": int((pairs["mode"] == "bike").sum()),
        "own_campus_pairs_as_outings": int((on_own & ~flagged).sum()),
        "own_campus_pairs_flagged": int((on_own & flagged).sum()),
        "pairs_to_other_schools_grounds": int(((where != "") & ~on_own).sum()),
        "names_with_raw_tag_values": int(venues["name"].astype(str).str.contains(RAW_TAG_NAME).sum()),
        "duplicate_pairs": duplicate_pairs(venues, pairs, settings.same_place_m),
        "facilities_gathered": int(truth.get("facilities_gathered", 0)),
        "same_place_merged": int(truth.get("same_place", 0)),
        "isochrones_at_data_edge": int(iso["reaches_data_edge"].sum()) if "reaches_data_edge" in iso else 0,
        "isochrones": len(iso),
        "language": summary.get("settings", {}).get("language"),
        "title": summary.get("title"),
        "data_date": summary.get("source", {}).get("data_date"),
    }


def duplicate_pairs(venues: gpd.GeoDataFrame, pairs: pd.DataFrame, within_m: float) -> int:
    """Pairs of a school and mode to a venue that shares a real name with another venue it reaches within `within_m`.

    Made-up names with tag values (``体育场地（basketball）``) are counted as such, not here.
    """
    metric = venues.to_crs(venues.estimate_utm_crs())
    names = {
        v: {
            normalise(n)
            for n in (row["name"], row.get("name_en"))
            if isinstance(n, str) and n.strip() and not RAW_TAG_NAME.search(n)
        }
        for v, row in zip(venues["venue_id"], venues.to_dict("records"), strict=True)
    }
    point = dict(zip(metric["venue_id"], metric.geometry, strict=True))
    extra = 0
    for _, group in pairs.groupby(["school_id", "mode"]):
        ids = [v for v in group["venue_id"] if v in names]
        seen: list[str] = []
        for v in ids:
            if any(names[v] & names[s] and shapely.distance(point[v], point[s]) <= within_m for s in seen):
                extra += 1
            seen.append(v)
    return extra


def main(argv: list[str]) -> None:
    """Print one JSON line of figures per build folder."""
    osm, builds = Path(argv[0]), [Path(b) for b in argv[1:]]
    features = osm_extract.read_osm(
        osm, {"amenity", "leisure", "tourism", "historic", "heritage", "club", "man_made"}
    ).features
    for build in builds:
        print(json.dumps({"build": str(build), **figures(build, features, Settings())}, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
