"""Static school maps drawn offline with matplotlib from the build's own base map (no tile server)."""

from __future__ import annotations

import functools
import io
import math
import string
from collections.abc import Collection
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.path import Path as MplPath
from matplotlib.textpath import TextPath
from matplotlib.transforms import Affine2D
from PIL import Image

from mapgen.config import OSM_ATTRIBUTION
from mapgen.look import MODE_COLORS, MODE_DASH, SCHOOL_COLOR
from mapgen.publish.basestyle import AREA_STYLE, BACKGROUND, MAIN_ROAD_COLOR, WATER_LINE

MOTORWAY_COLOR = "#8f2d24"
# highway classes → (colour, line width in points); classes not listed are drawn as paths
_STREET_STYLE = {
    "motorway": (MOTORWAY_COLOR, 2.4),
    "motorway_link": (MOTORWAY_COLOR, 1.4),
    "tertiary": ("#7d7d7d", 1.1),
    "tertiary_link": ("#7d7d7d", 0.9),
    "unclassified": ("#8f8f8f", 0.8),
    "residential": ("#8f8f8f", 0.8),
    "living_street": ("#8f8f8f", 0.7),
    "road": ("#8f8f8f", 0.7),
    "service": ("#ababab", 0.5),
}
_PATH_STYLE = ("#b4b4b4", 0.35)
_MAIN_ROAD_WIDTH = 2.0
_SCALE_STEPS_M = (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000)
_GEOD = pyproj.Geod(ellps="WGS84")
# Markers closer than this to the school (points on the picture) would be hidden by its star; they go onto rings.
_STAR_CLEAR_PT = 12.0
_RING_FIRST_PT, _RING_STEP_PT, _RING_SPACING_PT = 20.0, 11.0, 11.0
NUMBER_FONT = FontProperties(weight="bold")  # the markers' numbers


@dataclass(frozen=True)
class MapPicture:
    """A school's map as drawn for its sheet."""

    jpeg: bytes
    moved: int  # venues drawn on a ring around the school star, with a leader line to their place


def school_map_jpeg(
    basemap: gpd.GeoDataFrame,
    school: shapely.Point,
    isochrones: gpd.GeoDataFrame,
    markers: pd.DataFrame,
    main_roads: Collection[str],
    size_mm: tuple[float, float] = (186.0, 118.0),
    dpi: int = 150,
    quality: int = 65,
) -> MapPicture:
    """Draw one school's map: base map, walk and bike circles, numbered venues, scale bar, north arrow.

    The map is in longitude/latitude stretched by ``1 / cos(latitude)`` (a
    local equirectangular view, north up, true to scale within a district).

    Parameters
    ----------
    basemap
        ``layer``, ``kind``, geometry (WGS-84), as in ``basemap.parquet``.
    school
        The school (WGS-84 point).
    isochrones
        The school's ``mode``/geometry rows (WGS-84).
    markers
        ``number``, ``lon``, ``lat``, ``color`` and ``section`` (``walk`` or ``bike``) of the numbered venues.
    main_roads
        ``highway`` classes drawn as main roads (those the safety notes count).
    size_mm
        Width and height of the picture in millimetres.
    dpi
        Resolution of the image (150: sharp in print, a third of the bytes of 200 dpi).
    quality
        JPEG quality. The PDF renderer embeds a JPEG as it is, where it re-encodes a PNG as RGB
        (a palette PNG of a dense street map ends up larger in the PDF than this JPEG).

    Returns
    -------
    MapPicture
        The JPEG image and how many venues were moved off the school star.

    Notes
    -----
    Venues whose marker would sit under the school star (on-campus pitches, next-door parks)
    are drawn on a ring around it with a leader line to their true place.
    """
    width_mm, height_mm = size_mm
    west, south, east, north = _extent(school, isochrones, markers, width_mm / height_mm)
    fig = Figure(figsize=(width_mm / 25.4, height_mm / 25.4), dpi=dpi, facecolor=BACKGROUND)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    visible = basemap.iloc[basemap.sindex.query(shapely.box(west, south, east, north))]
    _draw_base(ax, visible, frozenset(main_roads))
    for mode in ("bike", "walk"):  # the smaller walk circle on top
        shapes = isochrones[isochrones["mode"] == mode].geometry.values
        if len(shapes):
            color = MODE_COLORS[mode]
            ax.add_collection(
                PathCollection(
                    [_polygon_path(shapely.union_all(shapes))],
                    facecolors=[to_rgba(color, 0.10 if mode == "bike" else 0.16)],
                    edgecolors=color,
                    linewidths=0.9,
                    linestyles=[_dashes(MODE_DASH[mode])],
                    zorder=5,
                ),
                autolim=False,
            )
    placed = clear_of_school(ax, markers, school, dpi)
    _draw_markers(ax, placed)
    ax.scatter([school.x], [school.y], s=260, marker="*", c=SCHOOL_COLOR, edgecolors="white", linewidths=1.0, zorder=9)
    _scale_bar(ax, west, south, east, north)
    ax.annotate(
        "N",
        xy=(0.965, 0.965),
        xytext=(0.965, 0.86),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=9,
        fontweight="bold",
        zorder=12,
        arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.4, "mutation_scale": 14},
    )
    ax.text(
        0.995,
        0.006,
        OSM_ATTRIBUTION,
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=6.5,
        zorder=12,
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5},
    )
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    buffer = io.BytesIO()  # opaque RGB, quickly compressed: the PDF renderer re-encodes it anyway
    Image.fromarray(np.asarray(canvas.buffer_rgba())[:, :, :3]).save(buffer, format="jpeg", quality=quality)
    moved = int(((placed["lon"] != placed["anchor_lon"]) | (placed["lat"] != placed["anchor_lat"])).sum())
    return MapPicture(buffer.getvalue(), moved)


def _dashes(pattern: str) -> str | tuple[float, tuple[float, ...]]:
    """Matplotlib line style of an SVG-like dash pattern (``"6 4"``; ``""`` is a solid line)."""
    return (0.0, tuple(float(x) for x in pattern.split())) if pattern.strip() else "solid"


def scale_bar_metres(west: float, east: float, latitude: float) -> int:
    """Return a round scale-bar length of about a fifth of the map width (metres).

    Parameters
    ----------
    west, east
        Longitudes of the map's edges.
    latitude
        Latitude of the map's centre.

    Returns
    -------
    int
    """
    _, _, width_m = _GEOD.inv(west, latitude, east, latitude)
    return max((s for s in _SCALE_STEPS_M if s <= width_m / 5), default=_SCALE_STEPS_M[0])


def _extent(
    school: shapely.Point, isochrones: gpd.GeoDataFrame, markers: pd.DataFrame, aspect: float
) -> tuple[float, float, float, float]:
    """Bounds holding the circles, the school and its venues, widened to the picture's aspect ratio."""
    points = np.vstack([[school.x, school.y], markers[["lon", "lat"]].to_numpy(dtype=float).reshape(-1, 2)])
    xs, ys = [points[:, 0]], [points[:, 1]]
    if len(isochrones):
        w, s, e, n = isochrones.total_bounds
        xs.append(np.array([w, e]))
        ys.append(np.array([s, n]))
    west, east = float(min(map(np.min, xs))), float(max(map(np.max, xs)))
    south, north = float(min(map(np.min, ys))), float(max(map(np.max, ys)))
    k = math.cos(math.radians((south + north) / 2))
    half_w = max((east - west) * k, 1e-3) / 2 * 1.06
    half_h = max(north - south, 1e-3) / 2 * 1.06
    half_w, half_h = max(half_w, half_h * aspect), max(half_h, half_w / aspect)
    cx, cy = (west + east) / 2, (south + north) / 2
    return cx - half_w / k, cy - half_h, cx + half_w / k, cy + half_h


def _draw_base(ax: Axes, layers: gpd.GeoDataFrame, main_roads: frozenset[str]) -> None:
    for layer, color in AREA_STYLE.items():
        _fill(ax, layers.geometry.values[(layers["layer"] == layer).to_numpy()], color)
    water_lines = layers[(layers["layer"] == "water") & layers.geom_type.isin(["LineString", "MultiLineString"])]
    _lines(ax, water_lines.geometry.values, WATER_LINE, 1.0, zorder=2)
    streets = layers[layers["layer"] == "street"]
    kind = streets["kind"].to_numpy()
    styled = set(_STREET_STYLE) | main_roads
    _lines(ax, streets.geometry.values[~np.isin(kind, list(styled))], *_PATH_STYLE, zorder=2)
    for name, (color, width) in _STREET_STYLE.items():
        if name not in main_roads:
            _lines(ax, streets.geometry.values[kind == name], color, width, zorder=3)
    _lines(ax, streets.geometry.values[np.isin(kind, list(main_roads))], MAIN_ROAD_COLOR, _MAIN_ROAD_WIDTH, zorder=4)


def _lines(ax: Axes, geoms: np.ndarray, color: str, width: float, zorder: int) -> None:
    """Stroke every (multi)line of `geoms` as one path: one call to the rasteriser per style, not one per line."""
    if not len(geoms):
        return
    ax.add_collection(
        PathCollection(
            [_parts_path(shapely.get_parts(geoms))],
            facecolors="none",
            edgecolors=color,
            linewidths=width,
            zorder=zorder,
            capstyle="round",
            joinstyle="round",
        ),
        autolim=False,
    )


def _fill(ax: Axes, polygons: np.ndarray, color: str) -> None:
    """Fill the outer rings of the polygons in `polygons` as one path (holes are left filled, as before)."""
    parts = shapely.get_parts(polygons)
    rings = shapely.get_exterior_ring(parts[shapely.get_type_id(parts) == 3])
    if len(rings):
        # counter-clockwise, all of them: the rasteriser's non-zero rule then fills overlapping rings as one area
        rings = np.where(shapely.is_ccw(rings), rings, shapely.reverse(rings))
        ax.add_collection(
            PathCollection([_parts_path(rings)], facecolors=color, edgecolors="none", zorder=1), autolim=False
        )


def _parts_path(parts: np.ndarray) -> MplPath:
    """One compound path of single lines or rings (a move to the start of each, then straight lines)."""
    coords, index = shapely.get_coordinates(parts, return_index=True)
    if not len(coords):
        return MplPath(np.zeros((0, 2)))
    codes = np.full(len(coords), MplPath.LINETO, dtype=MplPath.code_type)
    codes[np.r_[0, np.flatnonzero(np.diff(index)) + 1]] = MplPath.MOVETO
    return MplPath(coords, codes)


def _polygon_path(geom: shapely.Geometry) -> MplPath:
    """A compound path of a (multi)polygon with holes (exteriors counter-clockwise, holes clockwise)."""
    paths = []
    for part in shapely.get_parts(geom):
        if shapely.get_type_id(part) != 3:
            continue
        part = shapely.geometry.polygon.orient(part, 1.0)
        for ring in (part.exterior, *part.interiors):
            paths.append(MplPath(np.asarray(ring.coords), closed=True))
    return MplPath.make_compound_path(*paths) if paths else MplPath(np.zeros((0, 2)))


def clear_of_school(ax: Axes, markers: pd.DataFrame, school: shapely.Point, dpi: int) -> pd.DataFrame:
    """Move the markers the school star would hide onto rings around it, in their directions from the school.

    Parameters
    ----------
    ax
        The map's matplotlib axes, extent already set (positions are measured on the picture).
    markers
        ``lon``, ``lat`` of the numbered venues.
    school
        The school (WGS-84 point).
    dpi
        Resolution of the picture.

    Returns
    -------
    pandas.DataFrame
        `markers` with ``lon``/``lat`` where they are drawn and ``anchor_lon``/``anchor_lat``
        where they are (a leader line joins the two): every marker ends at least
        ``_STAR_CLEAR_PT`` points from the school and ``_RING_SPACING_PT`` from its ring neighbours.
    """
    markers = markers.assign(anchor_lon=markers["lon"], anchor_lat=markers["lat"])
    if markers.empty:
        return markers
    to_px = ax.transData
    points_per_px = 72.0 / dpi
    centre = to_px.transform([[school.x, school.y]])[0]
    xy = to_px.transform(markers[["lon", "lat"]].to_numpy(dtype=float))
    offset = (xy - centre) * points_per_px
    hidden = np.flatnonzero(np.hypot(offset[:, 0], offset[:, 1]) < _STAR_CLEAR_PT)
    if not len(hidden):
        return markers
    # keep their directions from the school (or their table order where they sit on the very spot)
    angles = np.arctan2(offset[hidden, 1], offset[hidden, 0]) + np.arange(len(hidden)) * 1e-6
    order = hidden[np.argsort(angles)]
    placed = np.empty((len(order), 2))
    start, ring = 0, 0
    while start < len(order):
        radius = _RING_FIRST_PT + ring * _RING_STEP_PT
        fits = max(1, int(2 * math.pi * radius // _RING_SPACING_PT))
        chunk = order[start : start + fits]
        turn = 2 * math.pi * np.arange(len(chunk)) / max(len(chunk), 1) + math.pi / 2
        placed[start : start + len(chunk)] = np.column_stack([np.cos(turn), np.sin(turn)]) * radius
        start, ring = start + len(chunk), ring + 1
    moved = to_px.inverted().transform(centre + placed / points_per_px)
    markers.loc[markers.index[order], ["lon", "lat"]] = moved
    return markers


def _draw_markers(ax: Axes, markers: pd.DataFrame) -> None:
    moved = markers[(markers["lon"] != markers["anchor_lon"]) | (markers["lat"] != markers["anchor_lat"])]
    if not moved.empty:
        ax.add_collection(
            LineCollection(
                [((r.anchor_lon, r.anchor_lat), (r.lon, r.lat)) for r in moved.itertuples()],
                colors="#333333",
                linewidths=0.6,
                zorder=8.9,  # under the star, from its edge
            ),
            autolim=False,
        )
    for section, size, font in (("bike", 70, 4.6), ("walk", 105, 5.6)):
        rows = markers[markers["section"] == section]
        if rows.empty:
            continue
        ax.scatter(
            rows["lon"],
            rows["lat"],
            s=size,
            c=list(rows["color"]),
            edgecolors="white",
            linewidths=0.7,
            zorder=10 if section == "walk" else 8,
        )
        numbers = rows["number"].astype(int)
        ax.add_collection(
            PathCollection(
                [number_outline(n, font if n < 100 else font * 0.8) for n in numbers],
                offsets=rows[["lon", "lat"]].to_numpy(dtype=float),
                offset_transform=ax.transData,
                transform=Affine2D().scale(ax.figure.dpi / 72.0),  # the outlines are in points
                facecolors="white",
                edgecolors="none",
                zorder=11 if section == "walk" else 9,
            ),
            autolim=False,
        )


@functools.cache
def number_outline(number: int, size: float) -> MplPath:
    """The outline of a marker's number in bold, `size` points, centred on (0, 0).

    All the numbers of a map are then filled in one call, where a text artist each lays out
    and rasterises its glyphs one by one (half the time of a whole map). When the font's
    digits all advance by the same width (tabular figures, as DejaVu Sans Bold's), a number
    is its digits' outlines side by side, each digit laid out once per size; otherwise the
    number is laid out whole.

    Parameters
    ----------
    number
        The marker's number (non-negative).
    size
        Font size in points.

    Returns
    -------
    matplotlib.path.Path
    """
    digits = _digit_outlines(size)
    path: MplPath
    if digits is None:
        path = TextPath((0, 0), str(number), size=size, prop=NUMBER_FONT)
        (x0, y0), (x1, y1) = path.get_extents().get_points()
    else:
        outlines, advance = digits
        parts = [outlines[digit] for digit in str(number)]
        path = MplPath(
            np.vstack([np.asarray(glyph.vertices) + (i * advance, 0.0) for i, (glyph, _) in enumerate(parts)]),
            np.concatenate([glyph.codes for glyph, _ in parts]),
        )
        x0, x1 = parts[0][1][0], (len(parts) - 1) * advance + parts[-1][1][2]
        y0, y1 = min(box[1] for _, box in parts), max(box[3] for _, box in parts)
    return path.transformed(Affine2D().translate(-(x0 + x1) / 2, -(y0 + y1) / 2))


_Box = tuple[float, float, float, float]


@functools.cache
def _digit_outlines(size: float) -> tuple[dict[str, tuple[MplPath, _Box]], float] | None:
    """Each digit's outline and extents at `size`, and their common advance (None when the digits' advances differ)."""
    outlines: dict[str, tuple[MplPath, _Box]] = {}
    advances = []
    for digit in string.digits:
        glyph = TextPath((0, 0), digit, size=size, prop=NUMBER_FONT)
        twice = TextPath((0, 0), digit * 2, size=size, prop=NUMBER_FONT).vertices
        shift = twice[len(glyph.vertices) :] - glyph.vertices
        if len(twice) != 2 * len(glyph.vertices) or not np.allclose(shift, shift[0]) or shift[0, 1]:
            return None
        (x0, y0), (x1, y1) = glyph.get_extents().get_points()
        outlines[digit] = glyph, (float(x0), float(y0), float(x1), float(y1))
        advances.append(float(shift[0, 0]))
    return (outlines, advances[0]) if np.allclose(advances, advances[0]) else None


def _scale_bar(ax: Axes, west: float, south: float, east: float, north: float) -> None:
    latitude = south + 0.05 * (north - south)
    metres = scale_bar_metres(west, east, latitude)
    x0 = west + 0.03 * (east - west)
    x1, _, _ = _GEOD.fwd(x0, latitude, 90, metres)
    tick = 0.012 * (north - south)
    ax.plot(
        [x0, x0, x1, x1],
        [latitude + tick, latitude, latitude, latitude + tick],
        color="black",
        linewidth=1.6,
        zorder=12,
        solid_capstyle="butt",
    )
    label = f"{metres // 1000} km" if metres >= 1000 and metres % 1000 == 0 else f"{metres} m"
    ax.text(
        (x0 + x1) / 2,
        latitude + 1.6 * tick,
        label,
        ha="center",
        va="bottom",
        fontsize=7,
        zorder=12,
        bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1.0},
    )
