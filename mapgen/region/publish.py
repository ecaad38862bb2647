"""Region outputs: the overview map of every area, the venue directory, and the region's search database."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from mapgen.config import MODES, OSM_ATTRIBUTION, RegionConfig
from mapgen.contract import (
    INDEX_FILE,
    SCHOOL_PAGES_DIR,
    SITE_DB_FILE,
    SUMMARY_FILE,
    VENUE_COLUMNS,
    BuildFolder,
    SummaryCounts,
)
from mapgen.look import SCHOOL_COLOR
from mapgen.publish.assets import copy_assets
from mapgen.publish.files import write_contract, write_summary
from mapgen.publish.maps import (
    base_map,
    category_legend,
    display_shift,
    layer,
    page_data,
    point,
    popup,
    save_page,
    shape,
)
from mapgen.publish.sitedb import write_site_db
from mapgen.region.tasks import concat_frames
from mapgen.taxonomy import load_taxonomy
from mapgen.textsafe import url_path, write_person_csv

VENUE_DIRECTORY = "venues.csv"


def region_outputs(region: RegionConfig, out: Path, status: dict[str, dict[str, object]]) -> dict[str, object]:
    """Write the venue directory and the region index map from the areas built or kept."""
    areas = []
    for area in region.areas:
        entry = {"name": area.name, "title": area.display_title, **status[area.name]}
        if entry["status"] != "failed" and (out / area.name / SUMMARY_FILE).is_file():
            summary = BuildFolder(out / area.name).summary
            entry.update(
                {
                    "counts": summary.counts.model_dump(),
                    "reach": {m: summary.reach[m]["pairs"] for m in MODES},
                    "bounds": list(summary.bounds) if summary.bounds else None,
                    "index": f"{area.name}/{INDEX_FILE}",
                }
            )
        areas.append(entry)
    ok = [a for a in areas if "counts" in a]
    directory = write_venue_directory(out, [str(a["name"]) for a in ok])
    index = write_region_map(out, region, ok)
    site = write_region_site_db(out, region, [str(a["name"]) for a in ok]) if ok else None
    return {
        "region": region.name,
        "title": region.display_title,
        "attribution": OSM_ATTRIBUTION,
        "areas": areas,
        "built": sum(a["status"] == "built" for a in areas),
        "skipped": sum(a["status"] == "skipped" for a in areas),
        "failed": [a["name"] for a in areas if a["status"] == "failed"],
        "outputs": {
            "index": str(index),
            "venue_directory": str(directory),
            "areas": str(out),
            "site_db": str(site["path"]) if site else None,
        },
        "site_database": {k: v for k, v in (site or {}).items() if k != "path"},
    }


def write_region_site_db(out: Path, region: RegionConfig, area_names: list[str]) -> dict[str, object]:
    """Write ``site.db`` for the whole region from the areas' contract files.

    The areas' tables are merged (a venue listed by two areas once) into the
    contract files of ``OUT/site/``, from which the search site's database is
    written as for one city. "Open now" uses one time zone, that of the schools.

    Parameters
    ----------
    out
        The region output folder.
    region
        The region (title, tiles).
    area_names
        Areas built or kept.

    Returns
    -------
    dict
        What :func:`mapgen.publish.sitedb.write_site_db` returns (path and counts).
    """
    builds = [BuildFolder(out / name) for name in area_names]

    def merged(table: str, unique: str | None = None) -> gpd.GeoDataFrame:
        frame = concat_frames([getattr(build, table) for build in builds])
        return frame.drop_duplicates(unique, ignore_index=True) if unique else frame

    folder = out / "site"
    pairs = pd.concat([build.pairs for build in builds], ignore_index=True)
    schools, venues = merged("schools", "school_id"), merged("venues", "venue_id")
    write_contract(folder, schools, venues, merged("isochrones"), pairs)
    counts = SummaryCounts(
        schools=len(schools),
        venues=len(venues),
        venues_by_category={k: int(n) for k, n in venues["category"].value_counts().items()},
    )
    write_summary(
        folder,
        builds[0].summary.model_copy(
            update={  # the first area's settings and taxonomy
                "city": region.name,
                "title": region.display_title,
                "tiles": region.tiles,
                "counts": counts,
                "areas": area_names,
                "outputs": {},
                "seconds": {},
                "catalogues": {},
                "school_list": {},
                "truth": {},
                "skipped": [],
                "partition": None,
                "bounds": None,
            }
        ),
    )
    return write_site_db(folder, out / SITE_DB_FILE)


def write_venue_directory(out: Path, area_names: list[str]) -> Path:
    """Write one venue list per area (``venues/<area>.csv``) and the merged list (``venues.csv``).

    Each row is a venue with its position and how many of the area's schools reach
    it within the limit on foot and by bike; the merged list has one row per venue
    with every area that lists it.

    Parameters
    ----------
    out
        The region output folder holding one built folder per area.
    area_names
        Areas to include.

    Returns
    -------
    pathlib.Path
        The merged ``venues.csv``.
    """
    (out / "venues").mkdir(exist_ok=True)
    lists = []
    for name in area_names:
        build = BuildFolder(out / name)
        venues, pairs = build.venues, build.pairs
        counts = pairs.groupby(["venue_id", "mode"])["school_id"].nunique().unstack("mode")
        table = (
            pd.DataFrame(venues[VENUE_COLUMNS])
            .astype(object)
            .fillna("")
            .assign(lon=venues.geometry.x.round(6), lat=venues.geometry.y.round(6))
        )
        for mode in MODES:
            reached = counts[mode] if mode in counts else pd.Series(dtype=int)
            table[f"schools_{mode}"] = table["venue_id"].map(reached).fillna(0).astype(int)
        table.insert(0, "area", name)
        write_person_csv(table, out / "venues" / f"{name}.csv")
        lists.append(table)
    merged = pd.concat(lists, ignore_index=True) if lists else pd.DataFrame(columns=["area", *VENUE_COLUMNS])
    if len(merged):
        areas = merged.groupby("venue_id", sort=False)["area"].agg(";".join)
        sums = merged.groupby("venue_id", sort=False)[[f"schools_{m}" for m in MODES]].sum()
        merged = merged.drop_duplicates("venue_id").set_index("venue_id")
        merged["area"] = areas
        merged[sums.columns] = sums
        merged = merged.reset_index()[["area", *VENUE_COLUMNS, "lon", "lat", *sums.columns]]
    path = out / VENUE_DIRECTORY
    return write_person_csv(merged, path)


def write_region_map(out: Path, region: RegionConfig, areas: list[dict[str, object]]) -> Path:
    """Write ``index.html``: every area's outline with its counts and a link to its map, and all schools.

    Names and titles are page data drawn as text (see :func:`mapgen.publish.maps.save_page`).

    Parameters
    ----------
    out
        The region output folder (``lib/`` with Leaflet is copied there).
    region
        The region (title, base-map tiles).
    areas
        Area entries with ``name``, ``title``, ``counts``, ``reach``, ``bounds``.

    Returns
    -------
    pathlib.Path
    """
    copy_assets(out)
    taxonomy = load_taxonomy(region.areas[0].categories)
    shift = display_shift(region.tiles)
    outlines = (
        gpd.GeoDataFrame(
            [{"name": a["name"], "geometry": shapely.box(*a["bounds"])} for a in areas if a.get("bounds")],  # type: ignore[misc]
            geometry="geometry",
            crs=4326,
        )
        if areas
        else gpd.GeoDataFrame({"name": []}, geometry=[], crs=4326)
    )
    schools = [BuildFolder(out / str(a["name"])).schools.assign(area=a["name"]) for a in areas]
    all_schools = shift(concat_frames(schools)) if schools else gpd.GeoDataFrame(geometry=[], crs=4326)
    outlines = shift(outlines)
    fmap = base_map(
        region.tiles,
        pd.concat([outlines.geometry, all_schools.geometry])
        if len(outlines)
        else gpd.GeoSeries([shapely.box(-180, -60, 180, 75)]),
        prefix="",
    )
    by_name = {a["name"]: a for a in areas}
    area_items = []
    for row in outlines.itertuples():
        a = by_name[row.name]
        counts, reach = a["counts"], a["reach"]
        details = popup(
            a["title"],
            [
                f"学校 schools {counts['schools']} · 场馆 venues {counts['venues']}",  # type: ignore[index]
                f"{region.areas[0].settings.minutes:g} 分钟可达 pairs: 步行 walk {reach['walk']} · "  # type: ignore[index]
                f"骑行 bike {reach['bike']}",  # type: ignore[index]
            ],
            [
                (url_path(a["name"], INDEX_FILE), "打开地区地图 Open area map"),
                (url_path("venues", f"{a['name']}.csv"), "场馆名录 Venue list (CSV)"),
            ],
        )
        area_items.append(shape(row.geometry, "#444", details, tooltip=a["title"], fill_opacity=0.05))
    school_items = [
        point(
            s.geometry,
            SCHOOL_COLOR,
            5,
            popup(
                s.name,
                [],
                [(url_path(s.area, SCHOOL_PAGES_DIR, f"{s.school_id}.html"), "打开学校地图 Open school map")],
            ),
            tooltip=s.name,
        )
        for s in all_schools.itertuples()
    ]
    data = page_data(
        f"{region.display_title} — 区域总览 region overview",
        [layer(f"地区 Areas ({len(areas)})", area_items), layer(f"学校 Schools ({len(all_schools)})", school_items)],
        category_legend(taxonomy),
        links=[(VENUE_DIRECTORY, "全部场馆名录 Region venue directory (CSV)")],
    )
    return save_page(fmap, data, out / INDEX_FILE, prefix="")
