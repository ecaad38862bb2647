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
def publish(
    data: Annotated[Path, typer.Option("--data", help="A build's output folder (mapgen build --out).")],
    db: Annotated[Optional[Path], typer.Option("--db", help="Database file to write (default: DATA/site.db).")] = None,
    timezone: Annotated[Optional[str], typer.Option(
        "--timezone", help="IANA time zone for 'open now', e.g. Asia/Shanghai (default: looked up from the map).",
    )] = None,
) -> None:
    """Write site.db (search database of the web site) from a build's contract files."""
    from mapgen.publish.sitedb import write_site_db

    written = write_site_db(data, db, timezone=timezone)
    console.print(
        f"[green]done[/green] {written['path']}: {written['venues']} venues, {written['schools']} schools, "
        f"{written['pairs']} school–venue pairs; opening hours read for {written['hours_parsed']} venues "
        f"({written['hours_unreadable']} unreadable). Serve it with: mapgen serve --data {data}",
        highlight=False,
    )


@app.command()
def serve(
    data: Annotated[Path, typer.Option("--data", help="Folder with site.db (a build's output folder).")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = 5000,
) -> None:
    """Run the search site on site.db (read-only); for production run it under gunicorn (see README)."""
    from webapp import create_app

    application = create_app(data / "site.db")
    console.print(f"Serving {data / 'site.db'} on http://{host}:{port}/ (Ctrl+C stops)", highlight=False)
    application.run(host=host, port=port, threaded=True)


def main() -> None:
    """Entry point: run the CLI, turning user errors into one clear line and exit code 2."""
    try:
        app()
    except MapgenError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
