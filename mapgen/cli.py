"""Command-line front door: ``mapgen build`` and friends."""

from __future__ import annotations

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

    from mapgen._progress import stage
    from mapgen.publish.pdf import load_build, write_sheets

    started = time.perf_counter()
    build = load_build(data)
    with stage("Writing PDF sheets", total=len(school) if school else len(build.schools), quiet=quiet) as advance:
        written = write_sheets(build, school, progress=advance)
    seconds = time.perf_counter() - started
    console.print(
        f"[green]done[/green] {len(written)} PDF sheets in {seconds:.1f} s "
        f"({seconds / max(len(written), 1):.2f} s each) in {Path(data) / 'schools'}",
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
