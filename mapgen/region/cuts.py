"""Pre-cuts of a shared extract: which OSM objects each tile needs, chosen in one pass, and each tile's own PBF."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import osmium
import shapely
from osmium.filter import EmptyTagFilter

from mapgen.config import AreaConfig
from mapgen.edge import declared_area
from mapgen.errors import RegionError
from mapgen.osm_extract import header_box
from mapgen.region.tiles import BBox, expand_bbox, tile_bbox


def cut_key(area_name: str, index: int) -> str:
    """Key (and file name) of tile `index` of area `area_name` in a cut plan."""
    return f"{area_name}-{index}"


def can_precut(area: AreaConfig) -> bool:
    """Whether an area's tiles can each read a pre-cut of its extract instead of the whole file.

    Needs the tiles' boxes before reading (the area has a ``bbox``; without one the grid
    spans the area's schools) and no catalogues (they are geocoded on the whole extract).
    """
    return area.bbox is not None and area.osm is not None and area.osm.is_file() and not area.catalogues


def precut_box(area: AreaConfig, index: int, buffer_m: float, margin_m: float) -> BBox:
    """Box of tile `index`'s pre-cut: its core grown by the buffer and `margin_m` (see :func:`plan_cuts`)."""
    if area.bbox is None:
        raise RegionError(f"{area.name}: a pre-cut needs the area's bbox")
    return expand_bbox(tile_bbox(area.bbox, area.grid, index), buffer_m + margin_m)


def plan_cuts(source: Path, boxes: dict[str, BBox], folder: Path, chunk: int = 50_000) -> dict[str, object]:
    """Choose, in one pass over a shared extract, the OSM objects of every tile's pre-cut (runs on a worker).

    A way belongs to a box when its bounding box overlaps it (a superset of the ways
    with a node inside, which is what a cut keeps), with all its nodes; a tagged node
    when it lies inside; a relation when one of its members is chosen, with all its
    members (as ``osmium extract --strategy complete_ways``). A second pass,
    :func:`write_cuts`, then writes every tile's own small extract, ``folder/<key>.osm.pbf``,
    so the shared file is read twice in all, however many tiles it feeds. The same passes
    give what a tile cannot see in its cut: the extract's date (its header's, which each
    cut's header repeats, else the newest edit in the file) and its data area
    (:func:`mapgen.edge.data_area`: the declared bounds, else the convex hull of every street
    node), so tiles date their data and flag ``reaches_data_edge`` as a build of the whole
    extract does. Memory is that of
    the chosen ids and of the relations' member lists, never the extract's geometry
    (libosmium's id sets are not used: on ids spread over the whole OSM range they take
    gigabytes).

    Parameters
    ----------
    source
        The shared OSM extract.
    boxes
        Key (file name) → (west, south, east, north) of every cut.
    folder
        Where the tiles' extracts go (created).
    chunk
        Ways and nodes classified per numpy batch.

    Returns
    -------
    dict
        ``files``: key → path of its extract; ``data_date`` (``YYYY-MM-DD`` or None) and
        ``data_area`` (shapely geometry) of the whole extract; ``seconds`` of the choosing
        pass and ``write_seconds`` of the writing pass.
    """
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    keys = list(boxes)
    box = np.array([boxes[k] for k in keys], dtype=float)
    members: dict[int, tuple[list[int], list[int]]] = {}  # relation → (member nodes, member ways)
    for rel in osmium.FileProcessor(str(source), osmium.osm.RELATION):
        if isinstance(rel, osmium.osm.Relation):
            members[rel.id] = (
                [m.ref for m in rel.members if m.type == "n"],
                [m.ref for m in rel.members if m.type == "w"],
            )
    member_ways = {w for _, ways in members.values() for w in ways}
    member_refs: dict[int, np.ndarray] = {}  # node ids of the ways some relation uses
    chosen: dict[str, list[list[np.ndarray]]] = {kind: [[] for _ in keys] for kind in ("n", "w", "tagged")}
    batch: dict[str, list] = {"n": [], "w": [], "refs": []}
    bounds: dict[str, list] = {"n": [], "w": []}
    wkb = osmium.geom.WKBFactory()
    streets: list[tuple[float, float]] = []  # street nodes, reduced to their convex hull batch by batch

    def flush(kind: str) -> None:
        if kind == "w" and streets:
            streets[:] = shapely.get_coordinates(convex_hull(streets)).tolist()
        if not batch[kind]:
            return
        ids = np.array(batch[kind], dtype=np.int64)
        b = shapely.bounds(shapely.from_wkb(bounds[kind])) if kind == "w" else np.array(bounds[kind])[:, [0, 1, 0, 1]]
        hit = (
            (b[:, None, 0] <= box[None, :, 2])
            & (b[:, None, 2] >= box[None, :, 0])
            & (b[:, None, 1] <= box[None, :, 3])
            & (b[:, None, 3] >= box[None, :, 1])
        )
        for j in range(len(keys)):
            if kind == "n":
                chosen["tagged"][j].append(ids[hit[:, j]])
                continue
            chosen["w"][j].append(ids[hit[:, j]])
            chosen["n"][j].extend(r for r, h in zip(batch["refs"], hit[:, j], strict=True) if h)
        batch[kind], bounds[kind] = [], []
        if kind == "w":
            batch["refs"] = []

    untagged = EmptyTagFilter()
    untagged.enable_for(osmium.osm.NODE)  # untagged nodes matter only as way nodes, taken from the ways
    for obj in (
        osmium.FileProcessor(str(source), osmium.osm.NODE | osmium.osm.WAY).with_locations().with_filter(untagged)
    ):
        if isinstance(obj, osmium.osm.Node):
            if obj.location.valid():
                batch["n"].append(obj.id)
                bounds["n"].append((obj.location.lon, obj.location.lat))
                if len(batch["n"]) >= chunk:
                    flush("n")
        elif isinstance(obj, osmium.osm.Way):
            located = [(n.ref, n.lon, n.lat) for n in obj.nodes if n.location.valid()]
            if not located:
                continue
            refs = np.array([n.ref for n in obj.nodes], dtype=np.int64)
            if obj.id in member_ways:
                member_refs[obj.id] = refs
            batch["w"].append(obj.id)
            bounds["w"].append(
                shapely.to_wkb(shapely.MultiPoint([(x, y) for _, x, y in located]))
                if len(located) < len(obj.nodes)
                else wkb.create_linestring(obj)
            )
            batch["refs"].append(refs)
            if "highway" in obj.tags:
                streets.extend(
                    [(x, y) for _, x, y in located] if len(located) == len(obj.nodes) else street_points(obj.nodes)
                )
            if len(batch["w"]) >= chunk:
                flush("w")
    flush("n")
    flush("w")
    wanted = []
    empty = np.zeros(0, np.int64)
    for j in range(len(keys)):
        ways = np.unique(np.concatenate([empty, *chosen["w"][j]]))
        tagged = np.unique(np.concatenate([empty, *chosen["tagged"][j]]))
        nodes = [tagged, *chosen["n"][j]]
        way_set, node_set = set(ways.tolist()), set(tagged.tolist())
        relations = [
            r for r, (ns, ws) in members.items() if any(w in way_set for w in ws) or any(n in node_set for n in ns)
        ]
        extra = [w for r in relations for w in members[r][1] if w not in way_set and w in member_refs]
        nodes += [np.array(members[r][0], dtype=np.int64) for r in relations] + [member_refs[w] for w in extra]
        wanted.append(
            {
                "n": np.unique(np.concatenate([empty, *nodes])),
                "w": np.union1d(ways, np.array(extra, np.int64)),
                "r": np.array(sorted(relations), dtype=np.int64),
            }
        )
    seconds = time.perf_counter() - started
    header = osmium.io.Reader(str(source), osmium.osm.osm_entity_bits.NOTHING).header()
    stamp = header.get("osmosis_replication_timestamp") or header.get("timestamp")
    cuts = {folder / f"{key}.osm.pbf": ids for key, ids in zip(keys, wanted, strict=True)}
    newest = write_cuts(source, cuts, stamp or None)
    return {
        "files": {key: str(path) for key, path in zip(keys, cuts, strict=True)},
        "data_date": stamp[:10] if stamp else newest,
        "data_area": declared_area(header_box(header), convex_hull(streets)),
        "seconds": round(seconds, 2),
        "write_seconds": round(time.perf_counter() - started - seconds, 2),
    }


def write_cuts(source: Path, wanted: dict[Path, dict[str, np.ndarray]], stamp: str | None = None) -> str | None:
    """Write many extracts of `source` in one pass: each the nodes, ways and relations chosen for it.

    Parameters
    ----------
    source
        The shared extract.
    wanted
        PBF to write → ids to copy into it, by kind (``n``, ``w``, ``r``: int64 arrays).
    stamp
        The source header's timestamp, written into every extract's header (its data date,
        which lets :func:`mapgen.osm_extract.read_osm` skip the untagged nodes). None: the
        source has none, and the pass finds its newest edit instead.

    Returns
    -------
    str or None
        The source's newest edit (``YYYY-MM-DD``) when `stamp` is None and it has one, else None.
    """
    owners = {kind: _owners([ids[kind] for ids in wanted.values()]) for kind in ("n", "w", "r")}
    header = osmium.io.Header()
    if stamp:
        for key in ("osmosis_replication_timestamp", "timestamp"):  # PBF keeps the first
            header.set(key, stamp)
    for out in wanted:
        out.parent.mkdir(parents=True, exist_ok=True)
    writers = [osmium.SimpleWriter(str(out), header=header, overwrite=True) for out in wanted]
    newest = None
    try:
        for obj in osmium.FileProcessor(str(source), osmium.osm.NODE | osmium.osm.WAY | osmium.osm.RELATION):
            if stamp is None and isinstance(obj, osmium.osm.OSMObject) and (newest is None or obj.timestamp > newest):
                newest = obj.timestamp
            for j in owners[obj.type_str()].get(obj.id, ()):
                writers[j].add(obj)
    finally:
        for writer in writers:
            writer.close()
    return None if newest is None or newest.year < 2000 else newest.date().isoformat()


def convex_hull(points: list[tuple[float, float]]) -> shapely.Geometry:
    """Convex hull of (lon, lat) `points` (an empty geometry when there are none)."""
    return shapely.convex_hull(shapely.multipoints(np.asarray(points, dtype=float).reshape(-1, 2)))


def street_points(nodes: osmium.osm.WayNodeList) -> list[tuple[float, float]]:
    """Coordinates of a street's located nodes that have a located neighbour (as the network reader keeps them)."""
    ok = [n.location.valid() for n in nodes]
    return [
        (n.lon, n.lat)
        for i, n in enumerate(nodes)
        if ok[i] and ((i > 0 and ok[i - 1]) or (i + 1 < len(ok) and ok[i + 1]))
    ]


def _owners(per_file: list[np.ndarray]) -> dict[int, tuple[int, ...]]:
    """Id → the numbers of the files (positions in `per_file`) that want it."""
    if not per_file:
        return {}
    ids = np.concatenate(per_file)
    files = np.repeat(np.arange(len(per_file)), [len(a) for a in per_file])
    order = np.argsort(ids, kind="stable")
    ids, files = ids[order], files[order]
    unique, start = np.unique(ids, return_index=True)
    return dict(zip(unique.tolist(), (tuple(g.tolist()) for g in np.split(files, start[1:])), strict=True))
