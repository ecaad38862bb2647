"""Command-line front door: ``mapgen build`` and friends."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer

from mapgen._progress import console
from mapgen.config import CityConfig, city_from_osm, load_city
from mapgen.errors import ConfigError, MapgenError

app = typer.Typer(
    name="mapgen",
    help="15-minute activity circles: which venues each school's pupils reach on foot or by bike.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main() -> None:
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


def _city(city: Optional[Path], osm: Optional[Path], overrides: dict[str, object]) -> CityConfig:
    if (city is None) == (osm is None):
        raise ConfigError("give exactly one of --city (a city TOML) or --osm (an extract)")
    if city is not None:
        return load_city(city, **overrides)
    return city_from_osm(osm, **overrides)  # type: ignore[arg-type]


@app.command()
def build(
    out: Annotated[Path, typer.Option("--out", help="Output folder (created).")],
    city: Annotated[Optional[Path], typer.Option("--city", help="City configuration TOML (data/venues/*.toml).")] = None,
    osm: Annotated[Optional[Path], typer.Option("--osm", help="Any OSM extract (.osm or .osm.pbf); defaults for the rest.")] = None,
    bbox: Annotated[Optional[str], typer.Option("--bbox", help="Build only west,south,east,north (degrees) of the extract.")] = None,
    walk_kmh: Annotated[Optional[float], typer.Option("--walk-kmh", help="Walking speed, km/h [default 4].")] = None,
    bike_kmh: Annotated[Optional[float], typer.Option("--bike-kmh", help="Cycling speed, km/h [default 12].")] = None,
    minutes: Annotated[Optional[float], typer.Option("--minutes", help="Travel-time limit, minutes [default 15].")] = None,
    kindergartens: Annotated[Optional[bool], typer.Option("--kindergartens/--no-kindergartens", help="Count kindergartens as schools [default no].")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Build schools, venues, walk/bike circles and maps for one city into --out."""
    from mapgen.pipeline import build_city

    overrides = {"walk_kmh": walk_kmh, "bike_kmh": bike_kmh, "minutes": minutes, "include_kindergartens": kindergartens}
    summary = build_city(_city(city, osm, overrides), out, bbox=_bbox(bbox), quiet=quiet)
    counts, reach, secs = summary["counts"], summary["reach"], summary["seconds"]  # type: ignore[index]
    console.print(
        f"[green]done[/green] {summary['title']}: {counts['schools']} schools, {counts['venues']} venues; "  # type: ignore[index]
        f"pairs within {summary['settings']['minutes']:g} min: walk {reach['walk']['pairs']}, "  # type: ignore[index]
        f"bike {reach['bike']['pairs']}; {counts['rejected_rows']} rejected rows; "  # type: ignore[index]
        f"{secs['total']:.1f} s. Open {Path(out) / 'index.html'}",  # type: ignore[index]
        highlight=False,
    )


def _minutes_list(value: str) -> list[float]:
    try:
        bands = sorted({float(x) for x in value.split(",") if x.strip()})
    except ValueError as exc:
        raise typer.BadParameter("expected minutes separated by commas, e.g. 5,10,15") from exc
    if not bands or bands[0] <= 0 or bands[-1] > 120:
        raise typer.BadParameter("expected minutes between 0 and 120, e.g. 5,10,15")
    return bands


def _write_review(
    out: Path, review: list[dict[str, object]], unattached: list[str], points: Path, max_snap_m: float
) -> Path | None:
    from mapgen.planner import REVIEW_COLUMNS

    rows = review + [{"file": str(points), "row": f"id {pid}", "column": "lon/lat",
                      "reason": f"farther than {max_snap_m:g} m from any street of the mode"} for pid in unattached]
    path = out.with_name(out.stem + ".review.csv")
    if not rows:
        path.unlink(missing_ok=True)
        return None
    import pandas as pd

    pd.DataFrame(rows, columns=REVIEW_COLUMNS).to_csv(path, index=False, encoding="utf-8")
    return path


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
    from mapgen._progress import stage
    from mapgen.planner import load_graph, point_isochrones, read_points

    bands = _minutes_list(minutes)
    settings = city_from_osm(osm, walk_kmh=walk_kmh, bike_kmh=bike_kmh, reach_workers=workers).settings
    review: list[dict[str, object]] = []
    places = read_points(points, review)
    with stage(f"Loading the {mode.value} network", quiet=quiet):
        graph = load_graph(osm, mode.value, settings)  # type: ignore[arg-type]
    with stage(f"Isochrones for {len(places)} points", quiet=quiet):
        reach = point_isochrones(graph, places, bands, settings)
    out.parent.mkdir(parents=True, exist_ok=True)
    reach.isochrones.rename(columns={"school_id": "id"}).to_file(out, driver="GeoJSON")
    reviewed = _write_review(out, review, reach.unattached_schools, points, settings.max_snap_m)
    console.print(
        f"[green]done[/green] {len(reach.isochrones)} {mode.value} isochrones "
        f"({', '.join(f'{b:g}' for b in bands)} min) "
        f"for {len(places) - len(reach.unattached_schools)} points -> {out}"
        + (f"; {len(review) + len(reach.unattached_schools)} rows not used, see {reviewed}" if reviewed else ""),
        highlight=False,
    )


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
    from mapgen._progress import stage
    from mapgen.planner import load_graph, read_points, read_targets, travel_matrix

    settings = city_from_osm(osm, walk_kmh=walk_kmh, bike_kmh=bike_kmh, reach_workers=workers).settings
    review: list[dict[str, object]] = []
    places = read_points(points, review)
    goals = read_targets(targets)
    with stage(f"Loading the {mode.value} network", quiet=quiet):
        graph = load_graph(osm, mode.value, settings)  # type: ignore[arg-type]
    with stage(f"Routing {len(places)} points to {len(goals)} targets", quiet=quiet):
        reach = travel_matrix(graph, places, goals, max_minutes, settings)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = reach.pairs.rename(columns={"school_id": "point_id", "venue_id": "target_id"})
    table[["point_id", "target_id", "minutes"]].to_csv(out, index=False, encoding="utf-8")
    reviewed = _write_review(out, review, reach.unattached_schools, points, settings.max_snap_m)
    console.print(
        f"[green]done[/green] {len(table)} {mode.value} pairs within {max_minutes:g} min "
        f"({len(places)} points × {len(goals)} targets; "
        f"{len(reach.unattached_venues)} targets off the network) -> {out}"
        + (f"; {len(review) + len(reach.unattached_schools)} rows not used, see {reviewed}" if reviewed else ""),
        highlight=False,
    )


def main() -> None:
    """Entry point: run the CLI, turning user errors into one clear line and exit code 2."""
    try:
        app()
    except MapgenError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
