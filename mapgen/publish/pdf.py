"""PDF outing sheets: one A4 sheet per school with an offline map and its venues by travel time."""

from __future__ import annotations

import base64
import functools
import json
import math
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from mapgen.config import OSM_ATTRIBUTION, Settings
from mapgen.errors import ConfigError, FontError, InputFileError, SystemPackageError
from mapgen.look import MODE_COLORS
from mapgen.publish.files import CONTRACT_FILES
from mapgen.publish.staticmap import AREA_STYLE, MAIN_ROAD_COLOR, school_map_jpeg
from mapgen.routes import ROUTE_COLUMNS

SHEET_INPUTS = {"routes": "routes.csv", "basemap": "basemap.parquet"}
SHEETS_DIR = "schools"
# Font families with Chinese glyphs, in order of preference (Debian fonts-noto-cjk first).
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei", "Noto Serif CJK SC", "AR PL UMing CN", "Droid Sans Fallback",
)
# Main-road metres below this are not worth a note.
_NOTE_MIN_M = 10.0
_FEE = {"no": "免费 free", "yes": "收费 fee", "donation": "自愿捐赠 donation"}
_AFTER_SCHOOL = {True: "是 yes", False: "否 no", None: "?"}


@dataclass(frozen=True)
class Build:
    """What the sheets read from a build folder (all WGS-84)."""

    folder: Path
    summary: dict[str, object]
    settings: Settings
    schools: gpd.GeoDataFrame
    venues: gpd.GeoDataFrame  # indexed by venue_id
    isochrones: gpd.GeoDataFrame
    times: pd.DataFrame  # index (school_id, venue_id); columns walk, bike (minutes, NaN when out of reach)
    routes: pd.DataFrame  # index (school_id, venue_id, mode); ROUTE_COLUMNS
    basemap: gpd.GeoDataFrame


def write_sheet_inputs(out_dir: Path, routes: pd.DataFrame, basemap: gpd.GeoDataFrame) -> dict[str, str]:
    """Write the files the sheets need besides the contract: ``routes.csv`` and ``basemap.parquet``.

    Parameters
    ----------
    out_dir
        The build's output folder.
    routes
        :data:`~mapgen.routes.ROUTE_COLUMNS` for both modes.
    basemap
        ``layer``, ``kind``, geometry (WGS-84) from :func:`mapgen.basemap.basemap_layers`.

    Returns
    -------
    dict
        ``routes`` and ``basemap`` → path written.
    """
    paths = {k: out_dir / v for k, v in SHEET_INPUTS.items()}
    routes[ROUTE_COLUMNS].to_csv(paths["routes"], index=False, encoding="utf-8")
    basemap.to_crs(4326).to_parquet(paths["basemap"], index=False, compression="zstd")
    return {k: str(p) for k, p in paths.items()}


def load_build(data_dir: str | Path) -> Build:
    """Read a build folder written by ``mapgen build``.

    Parameters
    ----------
    data_dir
        The folder.

    Returns
    -------
    Build
    """
    folder = Path(data_dir)
    names = {**{k: CONTRACT_FILES[k] for k in ("schools", "venues", "isochrones", "reachability", "summary")},
             **SHEET_INPUTS}
    paths = {k: folder / v for k, v in names.items()}
    for path in paths.values():
        if not path.is_file():
            raise InputFileError(f"{path}: not found; write the folder with `mapgen build` (this version) first")
    summary = json.loads(paths["summary"].read_text(encoding="utf-8"))
    for key in ("settings", "categories", "source"):
        if key not in summary:
            raise InputFileError(f"{paths['summary']}: no `{key}` entry; rebuild the folder with `mapgen build`")
    pairs = pd.read_csv(paths["reachability"], dtype={"school_id": str, "venue_id": str})
    if "on_campus" in pairs:  # a school's own grounds are no outing, nor the nearest venue of a category
        pairs = pairs[pairs["on_campus"].astype(str).str.lower() != "true"]
    routes = pd.read_csv(paths["routes"], dtype={"school_id": str, "venue_id": str})
    venues = gpd.read_file(paths["venues"], engine="pyogrio")
    text = venues.select_dtypes(["object", "string"]).columns
    venues[text] = venues[text].fillna("")
    return Build(
        folder=folder,
        summary=summary,
        settings=Settings.model_validate(summary["settings"]),
        schools=gpd.read_file(paths["schools"], engine="pyogrio"),
        venues=venues.set_index("venue_id"),
        isochrones=gpd.read_file(paths["isochrones"], engine="pyogrio"),
        times=pairs.pivot_table(index=["school_id", "venue_id"], columns="mode", values="minutes", aggfunc="min")
        .reindex(columns=["walk", "bike"]),
        routes=routes.set_index(["school_id", "venue_id", "mode"]),
        basemap=gpd.read_parquet(paths["basemap"]),
    )


@functools.cache
def cjk_font_family() -> str:
    """Return an installed font family with Chinese glyphs (asks fontconfig, as the PDF renderer does).

    Returns
    -------
    str
        The first of :data:`CJK_FAMILIES` installed, else any family fontconfig lists for ``lang=zh``.

    Raises
    ------
    FontError
        When no such font is installed: the sheets would print boxes instead of Chinese text.
    """
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        raise FontError("fc-list (fontconfig) not found: install Debian packages fontconfig and fonts-noto-cjk")
    listed = subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    families = {name.strip() for line in listed.splitlines() for name in line.split(",") if name.strip()}
    for family in CJK_FAMILIES:
        if family in families:
            return family
    if families:
        return sorted(families)[0]
    raise FontError(
        "no font with Chinese glyphs installed (fontconfig lists none for lang=zh), so the PDF sheets would "
        "print boxes instead of Chinese names; install one, e.g. `apt-get install fonts-noto-cjk`"
    )


def check_pango() -> None:
    """Check that WeasyPrint can load pango (Debian ``libpango-1.0-0``, ``libpangoft2-1.0-0``).

    Raises
    ------
    SystemPackageError
        When the libraries cannot be loaded.
    """
    try:
        import weasyprint  # noqa: F401  # loads pango through cffi
    except OSError as exc:
        raise SystemPackageError(
            f"WeasyPrint cannot load pango ({exc}); install Debian packages libpango-1.0-0 and libpangoft2-1.0-0"
        ) from exc


def sheet_table(build: Build, school_id: str) -> pd.DataFrame:
    """The venues of one school's sheet, numbered as on its map.

    Venues reached on foot come first, by walking time (``section`` = ``walk``);
    then those reached only by bike, by cycling time (``bike``). The safety
    columns describe the walking route, or the cycling route for bike-only venues;
    ``after_school`` is the build's ``open_after_school`` flag.

    Parameters
    ----------
    build
        The build folder's contents.
    school_id
        The school.

    Returns
    -------
    pandas.DataFrame
        ``number``, ``section``, ``venue_id``, ``walk``, ``bike``, the venue's contract columns,
        ``main_road_m``, ``main_road_crossings``, ``after_school`` (True/False/None).
    """
    if school_id not in build.times.index.get_level_values(0):
        return pd.DataFrame(columns=["number", "section", "venue_id", "walk", "bike", "main_road_m",
                                     "main_road_crossings", "after_school", "lon", "lat", *build.venues.columns])
    rows = build.times.loc[school_id].join(build.venues, how="inner")
    rows["section"] = rows["walk"].notna().map({True: "walk", False: "bike"})
    rows["order"] = rows["walk"].fillna(rows["bike"])
    rows = rows.rename_axis("venue_id").reset_index()
    rows["bike_only"] = rows["section"] == "bike"
    rows = rows.sort_values(["bike_only", "order", "name"], ignore_index=True)
    routes = build.routes.reindex(pd.MultiIndex.from_arrays(
        [[school_id] * len(rows), rows["venue_id"], rows["section"]]
    ))
    rows["main_road_m"] = routes["main_road_m"].to_numpy()
    rows["main_road_crossings"] = routes["main_road_crossings"].to_numpy()
    # the build's flag (venues.geojson; GeoJSON readers give booleans or 1.0/0.0), empty when the hours are unknown
    rows["after_school"] = [None if v == "" or pd.isna(v) else bool(v) for v in rows["open_after_school"]]
    points = gpd.GeoSeries(rows["geometry"], crs=4326)
    rows["lon"], rows["lat"] = points.x.to_numpy(), points.y.to_numpy()
    rows.insert(0, "number", range(1, len(rows) + 1))
    return rows.drop(columns=["order", "bike_only"])


def safety_note(main_road_m: float, crossings: int) -> str:
    """One line on a route's main roads, e.g. ``过主路 2 次 crosses 2× · 沿主路 350 m along``.

    Parameters
    ----------
    main_road_m
        Metres along main roads.
    crossings
        Main-road crossings.

    Returns
    -------
    str
    """
    if pd.isna(main_road_m):
        return "?"
    parts = []
    if crossings:
        parts.append(f"过主路 {int(crossings)} 次 crosses {int(crossings)}×")
    if main_road_m >= _NOTE_MIN_M:
        parts.append(f"沿主路 {round(main_road_m, -1):.0f} m along")
    return " · ".join(parts) or "无主路 no main roads"


def render_sheet(build: Build, school_id: str, font_family: str) -> bytes:
    """Render one school's sheet as PDF.

    Parameters
    ----------
    build
        The build folder's contents.
    school_id
        The school.
    font_family
        A font family with Chinese glyphs (:func:`cjk_font_family`).

    Returns
    -------
    bytes
        The PDF.
    """
    from weasyprint import HTML  # imported here: it loads pango, needed only for sheets

    school = build.schools.set_index("school_id").loc[school_id]
    table = sheet_table(build, school_id)
    categories: list[dict[str, str]] = build.summary["categories"]  # type: ignore[assignment]
    colors = {c["key"]: c["color"] for c in categories}
    markers = table.assign(color=table["category"].map(colors).fillna("#555555"))
    jpeg = school_map_jpeg(
        build.basemap, school.geometry, build.isochrones[build.isochrones["school_id"] == school_id],
        markers[["number", "lon", "lat", "color", "section"]], build.settings.main_roads,
    )
    limit = f"{build.settings.minutes:g}"
    html = _template().render(
        font=font_family,
        attribution=OSM_ATTRIBUTION,
        school={"name": school["name"], "name_en": school["name_en"] or ""},
        title=build.summary.get("title", ""),
        data_date=build.summary["source"].get("data_date") or "未知 unknown",  # type: ignore[attr-defined]
        settings=build.settings,
        map_jpeg=base64.b64encode(jpeg).decode("ascii"),
        data_edge=bool(build.isochrones.loc[build.isochrones["school_id"] == school_id]
                       .get("reaches_data_edge", pd.Series(dtype=bool)).fillna(False).astype(bool).any()),
        modes={mode: {"color": color} for mode, color in MODE_COLORS.items()},
        main_road_color=MAIN_ROAD_COLOR,
        areas=AREA_STYLE,
        used_categories=[c for c in categories if c["key"] in set(table["category"])],
        sections=[
            ("walk", f"步行 {limit} 分钟内 Within {limit} min on foot", _rows(table[table["section"] == "walk"])),
            ("bike", f"仅骑行可达（{limit} 分钟内） Only by bike within {limit} min",
             _rows(table[table["section"] == "bike"])),
        ],
        overview=_overview(table, categories),
    )
    return HTML(string=html).write_pdf()


def write_sheets(
    build: Build,
    school_ids: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write ``schools/<school_id>.pdf`` for every school (or the given ones) of a build folder.

    Parameters
    ----------
    build
        A build folder's contents (:func:`load_build`: only the folder's files are read).
    school_ids
        Only these schools (default: all).
    progress
        Called with 1 after each sheet.

    Returns
    -------
    list of pathlib.Path
        The sheets written.
    """
    font = cjk_font_family()
    check_pango()
    known = list(build.schools["school_id"])
    wanted = list(school_ids) if school_ids else known
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ConfigError(
            f"{build.folder / CONTRACT_FILES['schools']}: no school with school_id {', '.join(unknown)}"
        )
    out = build.folder / SHEETS_DIR
    out.mkdir(exist_ok=True)
    written = []
    for school_id in wanted:
        path = out / f"{school_id}.pdf"
        path.write_bytes(render_sheet(build, school_id, font))
        written.append(path)
        if progress:
            progress(1)
    return written


@functools.cache
def _template() -> Template:
    env = Environment(
        loader=PackageLoader("mapgen.publish", "templates"), autoescape=True, undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    return env.get_template("sheet.html.j2")


def _minutes(value: float) -> str:
    """Whole minutes, rounded up (a 14.2-minute walk is planned as 15)."""
    return "—" if pd.isna(value) else str(max(1, math.ceil(value - 1e-9)))


def _rows(table: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {
            "number": r.number, "name": r.name, "name_en": r.name_en if r.name_en != r.name else "",
            "category": r.category_zh, "category_en": r.category_en,
            "walk": _minutes(r.walk), "bike": _minutes(r.bike),
            "hours": r.opening_hours, "after_school": _AFTER_SCHOOL[r.after_school],
            "fee": _FEE.get(str(r.fee).strip().lower(), str(r.fee) or "?"),
            "safety": " · ".join(filter(None, [safety_note(r.main_road_m, r.main_road_crossings), r.safety])),
        }
        for r in table.itertuples()
    ]


def _overview(table: pd.DataFrame, categories: list[dict[str, str]]) -> dict[str, list[dict[str, object]]]:
    """Nearest venue of each category, and the categories missing on foot / by bike."""
    nearest, missing_walk, missing_bike = [], [], []
    for c in categories:
        mine = table[table["category"] == c["key"]]
        label = {"zh": c["zh"], "en": c["en"], "color": c["color"]}
        if mine.empty:
            missing_bike.append(label)
        if mine["walk"].isna().all():
            missing_walk.append(label)
        if not mine.empty:
            first = mine.iloc[0]  # the table is sorted: walking first, then by time
            nearest.append({**label, "number": first["number"], "name": first["name"],
                            "walk": _minutes(first["walk"]), "bike": _minutes(first["bike"])})
    return {"nearest": nearest, "missing_walk": missing_walk, "missing_bike": missing_bike}
