"""Command-line front door: ``mapgen build`` and friends."""

from __future__ import annotations

import atexit
import gc
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape

from mapgen.config import CityConfig, Settings, city_from_osm, load_city
from mapgen.contract import INDEX_FILE, ReviewLog
from mapgen.errors import ConfigError, MapgenError
from mapgen.progress import console
from mapgen.textsafe import console_text, write_person_csv

if TYPE_CHECKING:  # imported where used, to keep `mapgen --help` fast
    import geopandas as gpd

    from mapgen.network import StreetGraph

app = typer.Typer(
    name="mapgen",
    help="15-minute activity circles: which venues each school's pupils reach on foot or by bike.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from mapgen import __version__

        typer.echo(f"mapgen {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """15-minute activity circles: which venues each school's pupils reach on foot or by bike."""


def _bbox(value: Optional[str]) -> Optional[tuple[float, float, float, float]]:
    if value is None:
        return None
    try:
        west, south, east, north = (float(x) for x in value.split(","))
    except ValueError as exc:
        raise typer.BadParameter("expected west,south,east,north in degrees, e.g. 8.66,49.39,8.72,49.42") from exc
    if not (west < east and south < north):
        raise typer.BadParameter("expected west < east and south < north")
    return west, south, east, north


def _city(city: Optional[Path], osm: Optional[Path], overrides: Mapping[str, object]) -> CityConfig:
    if city is not None and osm is None:
        return load_city(city, **overrides)
    if osm is not None and city is None:
        return city_from_osm(osm, **overrides)
    raise ConfigError("give exactly one of --city (a city TOML) or --osm (an extract)")


@app.command()
def build(
    out: Annotated[Path, typer.Option("--out", help="Output folder (created).")],
    city: Annotated[
        Optional[Path], typer.Option("--city", help="City configuration TOML (data/venues/*.toml).")
    ] = None,
    osm: Annotated[
        Optional[Path], typer.Option("--osm", help="Any OSM extract (.osm or .osm.pbf); defaults for the rest.")
    ] = None,
    bbox: Annotated[
        Optional[str], typer.Option("--bbox", help="Build only west,south,east,north (degrees) of the extract.")
    ] = None,
    walk_kmh: Annotated[Optional[float], typer.Option("--walk-kmh", help="Walking speed, km/h [default 4].")] = None,
    bike_kmh: Annotated[Optional[float], typer.Option("--bike-kmh", help="Cycling speed, km/h [default 12].")] = None,
    minutes: Annotated[
        Optional[float], typer.Option("--minutes", help="Travel-time limit, minutes [default 15].")
    ] = None,
    kindergartens: Annotated[
        Optional[bool],
        typer.Option("--kindergartens/--no-kindergartens", help="Count kindergartens as schools [default no]."),
    ] = None,
    categories: Annotated[
        Optional[Path],
        typer.Option(
            "--categories", help="Your own category taxonomy TOML [default: the city file's, else the packaged one]."
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Fail (exit 2) when an optional output (e.g. the PDF sheets) had to be skipped."),
    ] = False,
    only_inner_schools: Annotated[
        Optional[bool],
        typer.Option(
            "--only-inner-schools/--all-schools",
            help="Leave out schools whose circles reach the edge of the data [default: all schools].",
        ),
    ] = None,
    language: Annotated[
        Optional[str],
        typer.Option(
            "--language", help="zh, en or de: generated venue names, title, pages [default: zh in China, else en]."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Build schools, venues, walk/bike circles and maps for one city into --out."""
    from mapgen.errors import IncompleteBuildError
    from mapgen.prefetch import load_extract_beside

    overrides = {
        "walk_kmh": walk_kmh,
        "bike_kmh": bike_kmh,
        "minutes": minutes,
        "include_kindergartens": kindergartens,
        "inner_schools_only": only_inner_schools,
        "language": language,
    }
    config = _city(city, osm, overrides)
    if categories is not None:
        config = config.model_copy(update={"categories": categories})
    with load_extract_beside(config, quiet) as extract:  # read on the other core while the build is imported
        from mapgen.pipeline import build_city

        summary = build_city(config, out, bbox=_bbox(bbox), quiet=quiet, extract=extract)
    skipped = summary.skipped
    if strict and skipped:
        raise IncompleteBuildError(
            f"{out}: --strict and {len(skipped)} output(s) skipped: "
            + "; ".join(f"{s.output} ({s.reason})" for s in skipped)
        )
    counts, reach = summary.counts, summary.reach
    console.print(
        f"[green]done[/green] {console_text(summary.title)}: {counts.schools} schools, {counts.venues} venues; "
        f"pairs within {summary.settings.minutes:g} min: walk {reach['walk']['pairs']}, "
        f"bike {reach['bike']['pairs']}; {counts.rejected_rows} rejected rows; "
        f"{summary.seconds['total']:.1f} s. Open {console_text(Path(out) / INDEX_FILE)}",
        highlight=False,
    )


region_app = typer.Typer(
    help="Region builds: every area (county, district) of a region in one run, on Dask.", no_args_is_help=True
)
app.add_typer(region_app, name="region")


@region_app.command("build")
def region_build(
    region: Annotated[Path, typer.Argument(help="Region configuration TOML (see docs/region.md).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (created); one sub-folder per area.")],
    scheduler: Annotated[
        Optional[str],
        typer.Option(
            "--scheduler",
            help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 [default: a local cluster].",
        ),
    ] = None,
    workers: Annotated[
        Optional[int],
        typer.Option("--workers", min=1, help="Worker processes of the local cluster [default: one per CPU]."),
    ] = None,
    walk_kmh: Annotated[Optional[float], typer.Option("--walk-kmh", help="Walking speed, km/h (all areas).")] = None,
    bike_kmh: Annotated[Optional[float], typer.Option("--bike-kmh", help="Cycling speed, km/h (all areas).")] = None,
    minutes: Annotated[Optional[float], typer.Option("--minutes", help="Time limit, minutes (all areas).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Build every area of REGION into --out/<area>, skipping unchanged areas, then the region map and venue lists."""
    from mapgen.config import load_region
    from mapgen.region import build_region, region_progress_line

    if scheduler is not None and workers is not None:
        raise ConfigError("--workers sizes the local cluster; it cannot be used with --scheduler")
    config = load_region(region, walk_kmh=walk_kmh, bike_kmh=bike_kmh, minutes=minutes)
    summary = build_region(config, out, scheduler=scheduler, workers=workers, quiet=quiet)
    colour = "red" if summary["failed"] else "green"
    console.print(
        f"[{colour}]done[/{colour}] {console_text(region_progress_line(summary))}. "
        f"Open {console_text(Path(out) / 'index.html')}",
        highlight=False,
    )
    if summary["failed"]:
        raise SystemExit(1)


def _minutes_list(value: str) -> list[float]:
    try:
        bands = sorted({float(x) for x in value.split(",") if x.strip()})
    except ValueError as exc:
        raise typer.BadParameter("expected minutes separated by commas, e.g. 5,10,15") from exc
    if not bands or bands[0] <= 0 or bands[-1] > 120:
        raise typer.BadParameter("expected minutes between 0 and 120, e.g. 5,10,15")
    return bands


def _write_review(out: Path, review: ReviewLog, unattached: list[str], points: Path, max_snap_m: float) -> str:
    """Write the points not used beside `out` (``<stem>.review.csv``); return the closing note on them ("" if none)."""
    for pid in unattached:
        review.add(points, f"id {pid}", "lon/lat", f"farther than {max_snap_m:g} m from any street of the mode", pid)
    path = out.with_name(out.stem + ".review.csv")
    if not len(review):
        path.unlink(missing_ok=True)
        return ""
    write_person_csv(review.frame(), path)
    return f"; {len(review)} rows not used, see {console_text(path)}"


class TravelMode(StrEnum):
    """Travel modes offered on the command line."""

    walk = "walk"
    bike = "bike"


ModeOption = Annotated[TravelMode, typer.Option("--mode", help="Travel mode: walk or bike.")]
OsmOption = Annotated[Path, typer.Option("--osm", help="OSM extract (.osm or .osm.pbf); parsed once, then cached.")]
PointsOption = Annotated[Path, typer.Option("--points", help="CSV of points with columns id,lon,lat (WGS-84).")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress messages.")]
WorkersOption = Annotated[
    int, typer.Option("--workers", min=0, help="Processes for routing and polygons (0: one per CPU core).")
]


def _planner_inputs(
    osm: Path,
    points: Path,
    mode: TravelMode,
    walk_kmh: Optional[float],
    bike_kmh: Optional[float],
    workers: int,
    quiet: bool,
) -> tuple[Settings, ReviewLog, gpd.GeoDataFrame, StreetGraph]:
    """Settings, rejected-row list, points and street graph shared by the planner commands."""
    from mapgen.planning.points import load_graph, read_points
    from mapgen.progress import stage

    settings = city_from_osm(osm, walk_kmh=walk_kmh, bike_kmh=bike_kmh, reach_workers=workers).settings
    review = ReviewLog()
    places = read_points(points, review)
    with stage(f"Loading the {mode.value} network", quiet=quiet):
        graph = load_graph(osm, mode.value, settings)
    return settings, review, places, graph


@app.command()
def isochrones(
    osm: OsmOption,
    points: PointsOption,
    out: Annotated[Path, typer.Option("--out", help="Output GeoJSON of nested isochrone polygons (WGS-84).")],
    mode: ModeOption = TravelMode.walk,
    minutes: Annotated[str, typer.Option("--minutes", help="Bands in minutes, comma-separated.")] = "5,10,15",
    walk_kmh: Annotated[Optional[float], typer.Option("--walk-kmh", help="Walking speed, km/h (default 4).")] = None,
    bike_kmh: Annotated[Optional[float], typer.Option("--bike-kmh", help="Cycling speed, km/h (default 12).")] = None,
    workers: WorkersOption = 1,
    quiet: QuietOption = False,
) -> None:
    """Isochrone polygons (one per band, nested) around every point of --points."""
    from mapgen.planning.points import point_isochrones
    from mapgen.progress import stage

    bands = _minutes_list(minutes)
    settings, review, places, graph = _planner_inputs(osm, points, mode, walk_kmh, bike_kmh, workers, quiet)
    with stage(f"Isochrones for {len(places)} points", quiet=quiet):
        reach = point_isochrones(graph, places, bands, settings)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_isochrones(out, reach.isochrones)
    not_used = _write_review(out, review, reach.unattached_schools, points, settings.max_snap_m)
    console.print(
        f"[green]done[/green] {len(reach.isochrones)} {mode.value} isochrones "
        f"({', '.join(f'{b:g}' for b in bands)} min) "
        f"for {len(places) - len(reach.unattached_schools)} points -> {console_text(out)}{not_used}",
        highlight=False,
    )


def _write_isochrones(out: Path, isochrones: gpd.GeoDataFrame) -> None:
    """Write isochrones (WGS-84) as GeoJSON, atomically: properties id, mode, minutes; coordinates to 7 decimals (~1 cm)."""
    import json

    import numpy as np
    import shapely

    from mapgen.atomic import staged_file

    shapes = shapely.to_geojson(shapely.transform(isochrones.geometry.to_numpy(), lambda xy: np.round(xy, 7)))
    rows = zip(isochrones["school_id"], isochrones["mode"], isochrones["minutes"], shapes, strict=True)
    with staged_file(out) as tmp, tmp.open("w", encoding="utf-8") as fh:
        fh.write('{"type": "FeatureCollection", "features": [\n')
        fh.write(
            ",\n".join(
                f'{{"type": "Feature", "properties": {json.dumps({"id": i, "mode": m, "minutes": float(t)})}, '
                f'"geometry": {shape}}}'
                for i, m, t, shape in rows
            )
        )
        fh.write("\n]}\n")


@app.command()
def matrix(
    osm: OsmOption,
    points: PointsOption,
    targets: Annotated[
        Path, typer.Option("--targets", help="Targets: GeoJSON (or any vector file); id from venue_id or id.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Output CSV: point_id,target_id,minutes.")],
    mode: ModeOption = TravelMode.walk,
    max_minutes: Annotated[
        float, typer.Option("--max-minutes", help="Leave out pairs farther than this.", min=0.1, max=120)
    ] = 30,
    walk_kmh: Annotated[Optional[float], typer.Option("--walk-kmh", help="Walking speed, km/h (default 4).")] = None,
    bike_kmh: Annotated[Optional[float], typer.Option("--bike-kmh", help="Cycling speed, km/h (default 12).")] = None,
    workers: WorkersOption = 1,
    quiet: QuietOption = False,
) -> None:
    """Exact travel minutes from every point to every target within --max-minutes."""
    from mapgen.planning.points import read_targets, travel_matrix
    from mapgen.progress import stage

    settings, review, places, graph = _planner_inputs(osm, points, mode, walk_kmh, bike_kmh, workers, quiet)
    goals = read_targets(targets)
    with stage(f"Routing {len(places)} points to {len(goals)} targets", quiet=quiet):
        reach = travel_matrix(graph, places, goals, max_minutes, settings)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = reach.pairs.rename(columns={"school_id": "point_id", "venue_id": "target_id"})
    write_person_csv(table[["point_id", "target_id", "minutes"]], out)
    not_used = _write_review(out, review, reach.unattached_schools, points, settings.max_snap_m)
    console.print(
        f"[green]done[/green] {len(table)} {mode.value} pairs within {max_minutes:g} min "
        f"({len(places)} points × {len(goals)} targets; "
        f"{len(reach.unattached_venues)} targets off the network) -> {console_text(out)}{not_used}",
        highlight=False,
    )


@app.command()
def publish(
    data: Annotated[Path, typer.Option("--data", help="A build's output folder (mapgen build --out).")],
    db: Annotated[Optional[Path], typer.Option("--db", help="Database file to write (default: DATA/site.db).")] = None,
    timezone: Annotated[
        Optional[str],
        typer.Option(
            "--timezone",
            help="IANA time zone for 'open now', e.g. Asia/Shanghai (default: looked up from the map).",
        ),
    ] = None,
) -> None:
    """Write site.db (search database of the web site) from a build's contract files."""
    from mapgen.publish.sitedb import write_site_db

    written = write_site_db(data, db, timezone=timezone)
    console.print(
        f"[green]done[/green] {console_text(written['path'])}: {written['venues']} venues, {written['schools']} schools, "
        f"{written['pairs']} school–venue pairs; opening hours read for {written['hours_parsed']} venues "
        f"({written['hours_unreadable']} unreadable). Serve it with: mapgen serve --data {console_text(data)}",
        highlight=False,
    )


@app.command()
def pdf(
    data: Annotated[Path, typer.Option("--data", help="A folder written by `mapgen build` (only its files are read).")],
    school: Annotated[
        Optional[list[str]], typer.Option("--school", help="Only this school_id (repeatable) [default: every school].")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Write the PDF outing sheet schools/<school_id>.pdf of every school in a build folder."""
    import time

    from mapgen.progress import stage
    from mapgen.publish.fonts import check_pango
    from mapgen.publish.pdf import write_sheets
    from mapgen.publish.sheetdata import load_build

    started = time.perf_counter()
    check_pango()
    build = load_build(data)
    with stage("Writing PDF sheets", total=len(school) if school else len(build.schools), quiet=quiet) as advance:
        written = write_sheets(build, school, progress=advance)
    seconds = time.perf_counter() - started
    console.print(
        f"[green]done[/green] {len(written)} PDF sheets in {seconds:.1f} s "
        f"({seconds / max(len(written), 1):.2f} s each) in {console_text(Path(data) / 'schools')}",
        highlight=False,
    )


@app.command()
def serve(
    data: Annotated[Path, typer.Option("--data", help="Folder with site.db (a build's output folder).")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = 5000,
    cache_mb: Annotated[
        Optional[float],
        typer.Option(
            "--cache-mb", help="In-memory cache of whole answers, MB per process; 0: none [default: 64].", min=0
        ),
    ] = None,
) -> None:
    """Run the search site on site.db (read-only); for production run it under gunicorn (see README)."""
    from webapp import DEFAULT_CACHE_MB, create_app

    application = create_app(data / "site.db", cache_mb=DEFAULT_CACHE_MB if cache_mb is None else cache_mb)
    console.print(f"Serving {console_text(data / 'site.db')} on http://{host}:{port}/ (Ctrl+C stops)", highlight=False)
    application.run(host=host, port=port, threaded=True)


catalog_app = typer.Typer(
    help="Venue catalogues: import lists, check them row by row, geocode, compare versions.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(help="Catalogue: .csv (UTF-8/BOM/GBK), .xlsx, .json or .geojson.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: venues.geojson, review.csv, changes.csv.")],
    crs: Annotated[str, typer.Option("--crs", help="Datum of the file's coordinates: wgs84, gcj02 or bd09.")] = "wgs84",
    gazetteer: Annotated[
        Optional[list[Path]],
        typer.Option("--gazetteer", help="GeoJSON of named places to geocode rows without coordinates (repeatable)."),
    ] = None,
    category: Annotated[
        Optional[str],
        typer.Option(
            "--category",
            help="Category (key, label or synonym) of every row without a category value; overrides what "
            "names and matched places say.",
        ),
    ] = None,
    district: Annotated[
        Optional[str], typer.Option("--district", help="District of every row, when the file has no district column.")
    ] = None,
    column: Annotated[
        Optional[list[str]],
        typer.Option(
            "--column", help="FIELD=HEADER: the file's header for a field, e.g. --column opening_hours=T_TIME."
        ),
    ] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Short name in venue ids [default: file name].")] = None,
    bbox: Annotated[
        Optional[str],
        typer.Option(
            "--bbox", help="City area west,south,east,north: rows outside are rejected [default: gazetteer area]."
        ),
    ] = None,
    previous: Annotated[
        Optional[Path],
        typer.Option(
            "--previous", help="venues.geojson of an earlier import: changes.csv [default: OUT/venues.geojson]."
        ),
    ] = None,
    min_confidence: Annotated[
        Optional[float],
        typer.Option("--min-confidence", help="Geocoded rows below this go to review.csv [default 0.85]."),
    ] = None,
    categories: Annotated[Optional[Path], typer.Option("--categories", help="Category taxonomy TOML.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Import one venue catalogue: every row becomes a venue or a review row with its reason."""
    from mapgen.api import import_catalogue
    from mapgen.catalog import write_import
    from mapgen.config import CatalogueSettings

    pairs = [c.split("=", 1) for c in column or []]
    if any(len(p) != 2 for p in pairs):
        raise ConfigError("--column expects FIELD=HEADER, e.g. --column name=场馆名称")
    result = import_catalogue(
        file,
        crs=crs,
        columns=dict(pairs),
        category=category,
        district=district,
        name=name,
        gazetteers=gazetteer or [],
        bbox=_bbox(bbox) if bbox else None,
        min_confidence=min_confidence,
        categories=categories,
    )
    settings = CatalogueSettings() if min_confidence is None else CatalogueSettings(min_confidence=min_confidence)
    paths = write_import(result, out, previous if previous is not None else Path(out) / "venues.geojson", settings)
    c = result.counts
    if "warning" in result.datum:
        console.print(f"[yellow]warning:[/yellow] {console_text(result.datum['warning'])}", highlight=False)
    if not quiet:
        console.print(
            f"[green]done[/green] {console_text(file.name)}: {c['rows']} rows → {c['venues']} venues ({c['geocoded']} geocoded), "
            f"{c['rejected']} to review; categories from the column {c['categories_from_column']}, setting "
            f"{c['categories_from_setting']}, matched places' tags {c['categories_from_tags']}, names "
            f"{c['categories_from_name']}, {c['categories_to_review']} to review; "
            f"{c['hours_unparsed']} opening-hours texts kept verbatim (unparsed). "
            f"Wrote {console_text(', '.join(paths.values()))}",
            highlight=False,
        )


def main() -> None:
    """Entry point: run the CLI, turning user errors into one clear line and exit code 2."""
    # A command is one batch of work over large frames and many small objects. The collector looks at young
    # objects after 20,000 allocations, not 700, so it walks a build's objects far less often: 0.7 -> 0.2 s in
    # a Heidelberg build's own process, 0.65 -> 0.35 s in each PDF sheet worker (which inherit the setting).
    gc.set_threshold(20_000, 10, 10)
    # what a command leaves is freed as the process ends without the collector walking it: the interpreter's
    # collections on the way out walked every object of a build several times (0.6 s after Heidelberg's)
    atexit.register(gc.freeze)
    try:
        app()
    except MapgenError as exc:
        console.print(f"[red]error:[/red] {console_text(exc)}", highlight=False)
        raise SystemExit(2) from None
    except OSError as exc:  # a folder that cannot be written (read-only, full disk) while writing outputs
        where = f"{exc.filename}: " if exc.filename else ""
        console.print(f"[red]error:[/red] {escape(where + (exc.strerror or str(exc)))}", highlight=False)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
