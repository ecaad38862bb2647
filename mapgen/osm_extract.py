"""Read OSM extracts (XML or PBF) into street ways and tagged features, in one pass."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely

from mapgen.cache import array_text, text_array
from mapgen.errors import EmptyNetworkError, InputFileError

if TYPE_CHECKING:
    import networkx as nx

_EPOCH = datetime.fromtimestamp(0, tz=UTC)
OSM_SUFFIXES = (".osm", ".osm.pbf", ".pbf", ".osm.bz2", ".osm.gz", ".o5m")

# OpenStreetMap's own limit on a tag value (its API refuses longer ones): a longer value only comes from a crafted
# file, and is cut here so that one megabyte-long name cannot turn a build into hundreds of PDF pages.
MAX_TAG_CHARS = 255

# The way tags the mode rules in network.py read; everything else is dropped to keep memory small.
WAY_TAGS = (
    "highway",
    "name",
    "oneway",
    "junction",
    "access",
    "foot",
    "bicycle",
    "motorroad",
    "service",
    "area",
    "oneway:bicycle",
    "cycleway",
    "cycleway:left",
    "cycleway:right",
    "cycleway:both",
    "sidewalk",
    "crossing",
    "footway",
)
_WAY_TAG_SET = frozenset(WAY_TAGS)
# A line's WKB as libosmium writes it (little-endian): byte order, geometry type and point count, then the points.
_WKB_LINE_HEADER = 9


@dataclass(frozen=True)
class HighwayWay:
    """One OSM way carrying a ``highway`` tag, with its node ids and coordinates."""

    way_id: int
    tags: dict[str, str]
    node_ids: np.ndarray  # int64, in way order
    lonlat: np.ndarray  # (n, 2) float64


@dataclass(frozen=True)
class OsmExtract:
    """What the pipeline needs of an OSM extract: street ways and tagged features (WGS-84)."""

    source: str
    highways: list[HighwayWay]
    features: gpd.GeoDataFrame  # columns: element, osm_id, geometry, one column per tag key
    box: tuple[float, float, float, float] | None = None  # the file's own bounds (west, south, east, north)
    data_date: str | None = None  # YYYY-MM-DD: header timestamp, else the newest edit in the file

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) of the street nodes."""
        coords = np.vstack([w.lonlat for w in self.highways]) if self.highways else np.zeros((1, 2))
        (west, south), (east, north) = coords.min(axis=0), coords.max(axis=0)
        return float(west), float(south), float(east), float(north)


def read_osm(path: str | Path, feature_keys: Collection[str]) -> OsmExtract:
    """Read an OSM XML or PBF file.

    Parameters
    ----------
    path
        The extract: ``.osm`` (XML, optionally compressed) or ``.osm.pbf``.
    feature_keys
        Tag keys (e.g. ``amenity``, ``leisure``) that make a node, way or area a feature.

    Returns
    -------
    OsmExtract
        Highway ways (for network building) and features with point, line or
        (multi)polygon geometry.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: OSM file not found")
    if not path.name.lower().endswith(OSM_SUFFIXES):
        raise InputFileError(f"{path}: not an OSM extract (expected one of {', '.join(OSM_SUFFIXES)})")
    keys = frozenset(feature_keys)
    try:
        header = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING).header()
        stamp = header.get("osmosis_replication_timestamp") or header.get("timestamp")
        highways, records, newest = _read(path, keys, find_date=not stamp)
    except (RuntimeError, ValueError) as exc:  # libosmium refuses e.g. a tag value over 1,024 bytes with ValueError
        raise InputFileError(f"{path}: cannot be read as OSM data: {exc}") from exc
    features = _features_frame(list(records.values()))
    if not highways and features.empty:
        raise InputFileError(f"{path}: contains no OSM ways or tagged features (is it an OSM extract?)")
    when = stamp[:10] if stamp else newest.date().isoformat() if newest.year >= 2000 else None
    return OsmExtract(source=str(path), highways=highways, features=features, box=header_box(header), data_date=when)


def _read(
    path: Path, keys: frozenset[str], find_date: bool
) -> tuple[list[HighwayWay], dict[tuple[str, int], dict[str, object]], datetime]:
    """One pass over `path`: its street ways, its features by (element, id), its newest edit.

    The newest edit date is looked for only with `find_date` (else it is the epoch).
    """
    wkb = osmium.geom.WKBFactory()
    highways: list[HighwayWay] = []
    records: dict[tuple[str, int], dict[str, object]] = {}
    newest = _EPOCH
    for obj in _processor(path, keys, find_date):
        if find_date and isinstance(obj, osmium.osm.OSMObject) and obj.timestamp > newest:
            newest = obj.timestamp
        tags = dict(obj.tags)  # read once: each look-up in an osmium tag list is a call into the library
        if isinstance(obj, osmium.osm.Node):
            if not keys.isdisjoint(tags) and obj.location.valid():
                records[("node", obj.id)] = _record("node", obj.id, tags, wkb.create_point(obj))
        elif isinstance(obj, osmium.osm.Way):
            if "highway" in tags:
                highways.extend(_highway_runs(obj, tags, wkb))
            if not keys.isdisjoint(tags) and not obj.is_closed():
                try:
                    records[("way", obj.id)] = _record("way", obj.id, tags, wkb.create_linestring(obj))
                except (RuntimeError, osmium.InvalidLocationError):  # fewer than two located nodes, or missing
                    pass
        elif isinstance(obj, osmium.osm.Area) and not keys.isdisjoint(tags):
            element = "way" if obj.from_way() else "relation"
            try:
                geom = wkb.create_multipolygon(obj)
            except (RuntimeError, osmium.InvalidLocationError):
                continue
            records[(element, obj.orig_id())] = _record(element, obj.orig_id(), tags, geom)
    return highways, records, newest


def _processor(path: Path, keys: frozenset[str], find_date: bool) -> osmium.FileProcessor:
    """The objects of `path` that :func:`_read` uses, with node locations (and areas, with `keys`).

    Unless the date is to be found from the objects (`find_date`: every object comes),
    libosmium's filters keep what the build never uses out of Python: nodes and areas without
    a feature key, and relations; with no feature keys, every way without a ``highway`` tag too.
    """
    processor = osmium.FileProcessor(str(path)).with_locations()
    if find_date:
        return processor.with_areas()
    if not keys:  # the street network only
        return processor.with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)).with_filter(
            osmium.filter.KeyFilter("highway")
        )
    for kinds in (osmium.osm.NODE, osmium.osm.AREA):
        keyed = osmium.filter.KeyFilter(*sorted(keys))
        keyed.enable_for(kinds)
        processor.with_filter(keyed)
    # every way comes, even one without a key, and every multipolygon is assembled: the areas come
    # after the way that completes them, and the order of the features must not change with a filter
    return processor.with_areas().with_filter(
        osmium.filter.EntityFilter(osmium.osm.NODE | osmium.osm.WAY | osmium.osm.AREA)
    )


def header_box(header: osmium.io.Header) -> tuple[float, float, float, float] | None:
    """The bounds a file declares, unless missing or the whole world."""
    box = header.box()
    if not box.valid():
        return None
    west, south, east, north = box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat
    if east - west >= 359 or north - south >= 179:
        return None
    return west, south, east, north


def _record(element: str, osm_id: int, tags: Mapping[str, str], geom_wkb: str) -> dict[str, object]:
    geom = shapely.from_wkb(geom_wkb)
    if isinstance(geom, shapely.MultiPolygon) and len(geom.geoms) == 1:
        geom = geom.geoms[0]
    return {"element": element, "osm_id": int(osm_id), "geometry": geom, **{k: _tag_value(v) for k, v in tags.items()}}


def _tag_value(value: str) -> str:
    """The value as OSM allows it: at most :data:`MAX_TAG_CHARS` characters (cut with "…")."""
    return value if len(value) <= MAX_TAG_CHARS else value[: MAX_TAG_CHARS - 1] + "…"


def _highway_runs(way: osmium.osm.Way, all_tags: Mapping[str, str], wkb: osmium.geom.WKBFactory) -> list[HighwayWay]:
    """Split a way at nodes missing from the extract so no edge jumps across the gap."""
    tags = {k: _tag_value(v) for k, v in all_tags.items() if k in _WAY_TAG_SET}
    try:  # every node located (the common case): the coordinates from libosmium at once
        line = bytearray.fromhex(wkb.create_linestring(way, osmium.geom.use_nodes.ALL))
    except (RuntimeError, osmium.InvalidLocationError):  # a node missing, or a way of one node
        pass
    else:
        lonlat = np.frombuffer(line, dtype="<f8", offset=_WKB_LINE_HEADER).reshape(-1, 2)
        return [HighwayWay(way.id, tags, np.array([node.ref for node in way.nodes], dtype=np.int64), lonlat)]
    runs: list[HighwayWay] = []
    ids: list[int] = []
    coords: list[tuple[float, float]] = []
    for ref in [*way.nodes, None]:
        location = None if ref is None else ref.location
        if ref is not None and location is not None and location.valid():
            ids.append(ref.ref)
            coords.append((location.lon, location.lat))
            continue
        if len(ids) >= 2:
            runs.append(HighwayWay(way.id, tags, np.array(ids, dtype=np.int64), np.array(coords)))
        ids, coords = [], []
    return runs


def _features_frame(records: list[dict[str, object]]) -> gpd.GeoDataFrame:
    if not records:
        return gpd.GeoDataFrame({"element": [], "osm_id": []}, geometry=[], crs="EPSG:4326")
    frame = pd.DataFrame.from_records(records)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")


def feature_tags(features: pd.DataFrame) -> list[dict[str, str]]:
    """Each feature's tags: its string cells other than ``element``, keyed by column, in column order.

    Read column by column over the cells present, not row by row: a feature table is wide and
    sparse (Monaco's has 427 columns, a few set per feature), so a row-by-row read costs seconds.

    Parameters
    ----------
    features
        Tagged OSM features, as in :attr:`OsmExtract.features`.

    Returns
    -------
    list of dict
        One dict per row of `features`, in their order.
    """
    tags: list[dict[str, str]] = [{} for _ in range(len(features))]
    for key in features.columns:
        if key in ("element", "geometry"):
            continue
        column = features[key]
        present = column.notna().to_numpy()
        for row, value in zip(np.flatnonzero(present).tolist(), column[present].tolist(), strict=True):
            if isinstance(value, str):
                tags[row][key] = value
    return tags


def clip_extract(extract: OsmExtract, bbox: tuple[float, float, float, float]) -> OsmExtract:
    """Keep the street ways and features of `extract` that touch `bbox` (west, south, east, north)."""
    west, south, east, north = bbox
    box = shapely.box(west, south, east, north)
    ways = [
        w
        for w in extract.highways
        if (
            (w.lonlat[:, 0] >= west) & (w.lonlat[:, 0] <= east) & (w.lonlat[:, 1] >= south) & (w.lonlat[:, 1] <= north)
        ).any()
    ]
    if not ways:
        raise EmptyNetworkError(f"{extract.source}: no streets in bbox {west},{south},{east},{north}")
    features = extract.features[extract.features.intersects(box)] if len(extract.features) else extract.features
    if extract.box is not None:
        west, south = max(west, extract.box[0]), max(south, extract.box[1])
        east, north = min(east, extract.box[2]), min(north, extract.box[3])
    return OsmExtract(
        source=f"{extract.source} (bbox {bbox[0]},{bbox[1]},{bbox[2]},{bbox[3]})",
        highways=ways,
        features=features,
        box=(west, south, east, north),
        data_date=extract.data_date,
    )


def extract_from_osmnx(graph: nx.MultiDiGraph, features: gpd.GeoDataFrame, source: str) -> OsmExtract:
    """Turn an unsimplified osmnx graph and osmnx features into an :class:`OsmExtract`.

    This is how data downloaded with osmnx (when no extract file is at hand)
    enters the same pipeline as a file read with :func:`read_osm`. osmnx stores
    a one-way street only in its direction of travel; that direction is kept
    as an explicit ``oneway=yes`` two-node way, so the mode rules apply as for
    a file.

    Parameters
    ----------
    graph
        ``networkx.MultiDiGraph`` from ``osmnx.graph_from_bbox(..., simplify=False)``
        or ``osmnx.graph_from_xml(..., simplify=False)``, with the :data:`WAY_TAGS`
        in ``osmnx.settings.useful_tags_way``.
    features
        GeoDataFrame from ``osmnx.features_from_bbox`` / ``features_from_xml``.
    source
        Description of where the data came from.

    Returns
    -------
    OsmExtract
    """
    nodes = graph.nodes
    # Keyed by way too: osmnx's XML reader also turns landuse outlines into (parallel) edges.
    edges = {
        (u, v, _first(data["osmid"])): data
        for u, v, data in graph.edges(data=True)
        if isinstance(data.get("highway"), str)
    }
    highways = []
    for (u, v, way_id), data in edges.items():
        two_way = (v, u, way_id) in edges
        if two_way and u > v:
            continue  # the pair is emitted once, from its smaller node id
        tags = {k: str(data[k]) for k in WAY_TAGS if k in data and not isinstance(data[k], list)}
        tags.pop("oneway", None)
        if not two_way:
            tags["oneway"] = "yes"
        lonlat = np.array([[nodes[u]["x"], nodes[u]["y"]], [nodes[v]["x"], nodes[v]["y"]]])
        highways.append(HighwayWay(int(way_id), tags, np.array([u, v], dtype=np.int64), lonlat))
    frame = features.reset_index().rename(columns={"id": "osm_id"})
    if "element" not in frame and "element_type" in frame:
        frame = frame.rename(columns={"element_type": "element"})
    frame = frame.drop(columns=[c for c in ("nodes", "ways") if c in frame])
    return OsmExtract(source=source, highways=highways, features=gpd.GeoDataFrame(frame, geometry="geometry", crs=4326))


def download_extract(bbox: tuple[float, float, float, float], feature_keys: Collection[str]) -> OsmExtract:
    """Download streets and features of `bbox` (west, south, east, north) from Overpass with osmnx.

    Parameters
    ----------
    bbox
        Area to download, WGS-84 degrees.
    feature_keys
        Tag keys of the features to download (e.g. ``amenity``, ``leisure``).

    Returns
    -------
    OsmExtract
    """
    from mapgen.errors import DownloadError, MissingExtraError

    try:
        import osmnx as ox
    except ImportError as exc:
        raise MissingExtraError("osmnx", "download", "downloading OSM data") from exc

    ox.settings.useful_tags_way = sorted(set(ox.settings.useful_tags_way) | set(WAY_TAGS))
    try:
        graph = ox.graph_from_bbox(bbox, custom_filter='["highway"]', simplify=False, retain_all=True)
        features = ox.features_from_bbox(bbox, tags={k: True for k in feature_keys})
    except Exception as exc:  # osmnx raises requests, JSON and its own errors alike
        raise DownloadError(
            f"downloading OSM data for bbox {bbox} with osmnx failed ({type(exc).__name__}: {exc}); "
            "check the internet connection, or give an extract file with --osm"
        ) from exc
    return extract_from_osmnx(graph, features, source=f"Overpass API via osmnx, bbox {bbox}")


def _first(osmid: int | list[int]) -> int:
    """Return the way id of an osmnx edge (a list of ids when osmnx merged ways)."""
    return osmid[0] if isinstance(osmid, list) else osmid


def data_date(path: str | Path) -> str | None:
    """Return the date of an OSM extract (``YYYY-MM-DD``), or None when the file carries none.

    The file header's replication timestamp is used when present (PBF files cut
    with osmium or osmconvert); otherwise the latest edit of any object in it
    (XML from the OSM API or Overpass).

    Parameters
    ----------
    path
        An ``.osm`` or ``.osm.pbf`` extract.

    Returns
    -------
    str or None
    """
    path = str(path)
    header = osmium.io.Reader(path, osmium.osm.osm_entity_bits.NOTHING).header()
    stamp = header.get("osmosis_replication_timestamp") or header.get("timestamp")
    if stamp:
        return stamp[:10]
    kinds = osmium.osm.NODE | osmium.osm.WAY | osmium.osm.RELATION
    latest = max((obj.timestamp for obj in osmium.FileProcessor(path, kinds)), default=None)  # type: ignore[union-attr]
    return None if latest is None or latest.year < 2000 else latest.date().isoformat()


def way_arrays(ways: list[HighwayWay]) -> dict[str, np.ndarray]:
    """Return street `ways` as plain arrays: concatenated node ids and coordinates with offsets, tags JSON.

    :func:`ways_from_arrays` reads them back (the cache stores them in :func:`extract_arrays`).
    """
    sizes = np.array([len(w.node_ids) for w in ways], dtype=np.int64)
    return {
        "way_id": np.array([w.way_id for w in ways], dtype=np.int64),
        "way_offsets": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        "node_ids": np.concatenate([w.node_ids for w in ways]).astype(np.int64) if ways else np.zeros(0, np.int64),
        "lonlat": np.concatenate([w.lonlat for w in ways]).astype(np.float64) if ways else np.zeros((0, 2)),
        "way_tags": text_array(json.dumps([w.tags for w in ways], ensure_ascii=False)),
    }


def ways_from_arrays(arrays: Mapping[str, np.ndarray]) -> list[HighwayWay]:
    """Rebuild the street ways of :func:`way_arrays`; raises ``ValueError`` on inconsistent arrays."""
    offsets, node_ids, lonlat = arrays["way_offsets"], arrays["node_ids"], arrays["lonlat"]
    tags = json.loads(array_text(arrays["way_tags"]))
    way_ids = arrays["way_id"]
    if not (
        len(offsets) == len(way_ids) + 1 == len(tags) + 1
        and offsets[-1] == len(node_ids) == len(lonlat)
        and lonlat.ndim == 2
        and np.all(np.diff(offsets) >= 2)
    ):
        raise ValueError("street way arrays do not fit together")
    return [
        HighwayWay(int(w), {str(k): str(v) for k, v in t.items()}, node_ids[a:b], lonlat[a:b])
        for w, t, a, b in zip(way_ids, tags, offsets[:-1], offsets[1:], strict=True)
    ]


def extract_arrays(extract: OsmExtract) -> dict[str, np.ndarray]:
    """Return `extract` as plain arrays for the cache (:func:`extract_from_arrays` reads them back).

    Ways become :func:`way_arrays`; features become WKB geometries with offsets and their other columns as JSON.
    """
    features = extract.features
    wkb = shapely.to_wkb(np.asarray(features.geometry.values, dtype=object)) if len(features) else []
    columns = [c for c in features.columns if c != features.geometry.name]
    table = {}  # column -> (rows with a value, values): most tags are missing on most features
    for c in columns:
        given = features[c].notna().to_numpy()
        table[c] = [np.flatnonzero(given).tolist(), features[c][given].tolist()]
    return {
        "source": text_array(extract.source),
        "about": text_array(json.dumps({"box": extract.box, "data_date": extract.data_date})),
        **way_arrays(extract.highways),
        "feature_wkb": np.frombuffer(b"".join(wkb), dtype=np.uint8),
        "feature_offsets": np.concatenate([[0], np.cumsum([len(g) for g in wkb])]).astype(np.int64),
        "feature_columns": text_array(
            json.dumps({"rows": len(features), "order": list(features.columns), "data": table}, ensure_ascii=False)
        ),
    }


def extract_from_arrays(arrays: Mapping[str, np.ndarray]) -> OsmExtract:
    """Rebuild an :class:`OsmExtract` from :func:`extract_arrays`; raises ``ValueError`` on inconsistent arrays."""
    highways = ways_from_arrays(arrays)
    blob, cuts = arrays["feature_wkb"].tobytes(), arrays["feature_offsets"]
    geoms = shapely.from_wkb([blob[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)])
    table = json.loads(array_text(arrays["feature_columns"]))
    if table["rows"] != len(geoms):
        raise ValueError("feature arrays do not fit together")
    frame = pd.DataFrame(
        {c: _dense(rows, values, len(geoms)) for c, (rows, values) in table["data"].items()},
        index=pd.RangeIndex(len(geoms)),
    )
    if not len(frame):
        features = _features_frame([])
    else:
        features = gpd.GeoDataFrame(frame.assign(geometry=list(geoms)), geometry="geometry", crs="EPSG:4326")
        features = features[table["order"]]
    about = json.loads(array_text(arrays["about"]))  # the file's own bounds and data date
    box = None
    if about["box"] is not None:
        west, south, east, north = (float(v) for v in about["box"])
        box = (west, south, east, north)
    return OsmExtract(
        source=array_text(arrays["source"]), highways=highways, features=features, box=box, data_date=about["data_date"]
    )


def _dense(rows: list[int], values: list[object], n: int) -> pd.Series:
    """A feature column from its given cells (NaN elsewhere, as :func:`read_osm` leaves them)."""
    return pd.Series(values, index=pd.Index(rows, dtype=np.int64)).reindex(pd.RangeIndex(n))
