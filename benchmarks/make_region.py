"""Make a synthetic region: N translated copies of a real OSM extract joined at their edges, and its region file.

The copies are laid out in a grid (columns × rows, nearly square, so the region stays
in the source's UTM zone), each shifted by the source's width or height plus a small
gap. Node, way and relation ids are offset per copy. Streets that the source extract
cut at its edge end in dangling nodes near that edge; each such end on the east
(north) edge of a copy is joined to the nearest free dangling end on the west (south)
edge of its neighbour by a new short street, so trips cross the borders between copies.
The region TOML (written beside the PBF) cuts the grid into counties of
``--county`` copies each, one area per county with its ``bbox``.

    .venv/bin/python benchmarks/make_region.py --copies 16 --out out/region16
    .venv/bin/mapgen region build out/region16/region.toml --out out/region16/out
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import osmium
from scipy.spatial import cKDTree

from mapgen.geo import degrees_for_metres, local_metres

ROOT = Path(__file__).resolve().parents[1]
HEIDELBERG = ROOT.parent / "shared" / "data" / "osm" / "heidelberg.osm.pbf"
# Highway kinds a join continues: streets and paths both modes may use (no motorways, no platforms).
JOINABLE = frozenset(
    {
        "primary",
        "secondary",
        "tertiary",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "track",
        "path",
        "footway",
        "cycleway",
        "pedestrian",
        "bridleway",
        "primary_link",
        "secondary_link",
        "tertiary_link",
    }
)
JOIN_TAGS = {"highway": "unclassified", "name": "Grenzweg (synthetic join)"}


@dataclass(frozen=True)
class Layout:
    """Where the copies lie: the source's box, the grid and the shift between neighbouring copies (degrees)."""

    bbox: tuple[float, float, float, float]
    columns: int
    rows: int
    step_lon: float
    step_lat: float
    id_offset: int

    def shift(self, copy: int) -> tuple[float, float]:
        """(Δlon, Δlat) of copy number `copy` (row-major from the south-west)."""
        return (copy % self.columns) * self.step_lon, (copy // self.columns) * self.step_lat

    def copy_bbox(self, copy: int) -> tuple[float, float, float, float]:
        """Box of copy `copy` (the source's box, shifted)."""
        dx, dy = self.shift(copy)
        w, s, e, n = self.bbox
        return w + dx, s + dy, e + dx, n + dy


def source_layout(source: Path, copies: int, gap_m: float, trim: float = 0.01, columns: int | None = None) -> Layout:
    """Measure the source and lay `copies` copies out in a near-square grid.

    A city extract holds long ways reaching far beyond the city (ways touching the
    download box are kept whole); the copied part is the box holding all but the
    `trim` share of street nodes on each side.

    Parameters
    ----------
    source
        The real extract.
    copies
        Number of copies.
    gap_m
        Gap between neighbouring copies, metres.
    trim
        Share of street nodes left outside the box on each side.
    columns
        Columns of the grid (default ``ceil(sqrt(copies))``).

    Returns
    -------
    Layout
    """
    streets: set[int] = set()
    top = 0
    for obj in osmium.FileProcessor(str(source), osmium.osm.WAY | osmium.osm.RELATION):
        top = max(top, obj.id)
        if obj.is_way() and "highway" in obj.tags:
            streets.update(n.ref for n in obj.nodes)
    xy = []
    for node in osmium.FileProcessor(str(source), osmium.osm.NODE):
        top = max(top, node.id)
        if node.id in streets and node.location.valid():
            xy.append((node.location.lon, node.location.lat))
    (west, south), (east, north) = np.quantile(np.array(xy), [trim, 1 - trim], axis=0)
    cols = columns or math.ceil(math.sqrt(copies))
    rows = math.ceil(copies / cols)
    gap_lon, gap_lat = degrees_for_metres(gap_m, (south + north) / 2)
    offset = 10 ** math.ceil(math.log10(top + 1))
    return Layout(
        (float(west), float(south), float(east), float(north)),
        cols,
        rows,
        east - west + gap_lon,
        north - south + gap_lat,
        offset,
    )


def _inside(bbox: tuple[float, float, float, float], lon: float, lat: float) -> bool:
    return bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]


def kept_nodes(source: Path, bbox: tuple[float, float, float, float]) -> dict[int, tuple[float, float]]:
    """Location of every node of the source inside `bbox` (what each copy keeps)."""
    return {
        n.id: (n.location.lon, n.location.lat)
        for n in osmium.FileProcessor(str(source), osmium.osm.NODE)
        if n.location.valid() and _inside(bbox, n.location.lon, n.location.lat)
    }


def dangling_ends(
    source: Path, kept: dict[int, tuple[float, float]], edge_m: float, bbox: tuple[float, float, float, float]
) -> dict[str, np.ndarray]:
    """Street ends of the copied part lying within `edge_m` of each side of `bbox`.

    A street way is cut where it leaves the box; a dangling end is the first or last
    kept node of a run of a joinable street that no other street uses (streets the
    box cut, and dead ends near the edge). Returns, per side (``west``, ``east``,
    ``south``, ``north``), rows of (node id, lon, lat).
    """
    uses: Counter[int] = Counter()
    ends: list[int] = []
    for way in osmium.FileProcessor(str(source), osmium.osm.WAY):
        if "highway" not in way.tags:
            continue
        refs = [n.ref for n in way.nodes if n.ref in kept]
        uses.update(refs)
        if way.tags["highway"] in JOINABLE:
            inside = [n.ref in kept for n in way.nodes]
            for i, ref in enumerate(n.ref for n in way.nodes):
                run_end = inside[i] and (i == 0 or not inside[i - 1] or i == len(inside) - 1 or not inside[i + 1])
                if run_end:
                    ends.append(ref)
    table = np.array([(r, *kept[r]) for r in dict.fromkeys(ends) if uses[r] == 1], dtype=float).reshape(-1, 3)
    w, s, e, n = bbox
    dlon, dlat = degrees_for_metres(edge_m, (s + n) / 2)
    lon, lat = table[:, 1], table[:, 2]
    return {
        "west": table[lon <= w + dlon],
        "east": table[lon >= e - dlon],
        "south": table[lat <= s + dlat],
        "north": table[lat >= n - dlat],
    }


def pair_ends(a: np.ndarray, b: np.ndarray, max_m: float, lat: float) -> list[tuple[int, int]]:
    """Pair ends of `a` with the nearest unused end of `b` (both rows of id, lon, lat), closest pairs first."""
    if not len(a) or not len(b):
        return []
    tree = cKDTree(local_metres(b[:, 1], b[:, 2], lat))
    dist, near = tree.query(local_metres(a[:, 1], a[:, 2], lat), k=min(8, len(b)), distance_upper_bound=max_m)
    dist, near = dist.reshape(len(a), -1), near.reshape(len(a), -1)
    candidates = sorted(
        (d, i, j) for i in range(len(a)) for d, j in zip(dist[i], near[i], strict=True) if np.isfinite(d)
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((int(a[i, 0]), int(b[j, 0])))
    return pairs


def make_region(
    source: Path,
    copies: int,
    out: Path,
    county: int = 1,
    gap_m: float = 30.0,
    edge_m: float = 300.0,
    max_join_m: float = 800.0,
    trim: float = 0.01,
    columns: int | None = None,
) -> dict[str, object]:
    """Write ``region.osm.pbf`` (the copies, joined) and ``region.toml`` (one area per county) into `out`.

    Parameters
    ----------
    source
        The real extract copied.
    copies
        Number of copies (laid out as a near-square grid).
    out
        Output folder (created).
    county
        Copies per county side: a county is a `county` × `county` block of copies.
    gap_m, edge_m, max_join_m
        Gap between copies; how close to its edge a dangling street end must lie to be
        joined; longest join (metres).
    trim
        Share of the source's street nodes left outside the copied box on each side
        (:func:`source_layout`); ways leaving the box keep their in-box nodes.
    columns
        Columns of the grid (default ``ceil(sqrt(copies))``).

    Returns
    -------
    dict
        Counts (nodes, ways, relations, joins) and paths, also written to ``region.json``.
    """
    out.mkdir(parents=True, exist_ok=True)
    layout = source_layout(source, copies, gap_m, trim, columns)
    kept = kept_nodes(source, layout.bbox)
    ends = dangling_ends(source, kept, edge_m, layout.bbox)
    pbf = out / "region.osm.pbf"
    counts: Counter[str] = Counter()
    top_way = 0
    with osmium.SimpleWriter(str(pbf), header=_dated_header(source), overwrite=True) as writer:
        for kind in (osmium.osm.NODE, osmium.osm.WAY, osmium.osm.RELATION):
            for k in range(copies):
                dx, dy = layout.shift(k)
                off = k * layout.id_offset
                for obj in osmium.FileProcessor(str(source), kind):
                    if obj.is_node():
                        if obj.id in kept:
                            lon, lat = kept[obj.id]
                            writer.add_node(obj.replace(id=obj.id + off, location=(lon + dx, lat + dy)))
                            counts["nodes"] += 1
                    elif obj.is_way():
                        if not any(n.ref in kept for n in obj.nodes):
                            continue
                        writer.add_way(obj.replace(id=obj.id + off, nodes=[n.ref + off for n in obj.nodes]))
                        top_way = max(top_way, obj.id + off)
                        counts["ways"] += 1
                    else:
                        members = [(m.type, m.ref + off, m.role) for m in obj.members]
                        writer.add_relation(obj.replace(id=obj.id + off, members=members))
                        counts["relations"] += 1
            if kind == osmium.osm.WAY:
                joins = _joins(layout, ends, copies, max_join_m)
                for i, (u, v) in enumerate(joins, start=1):
                    writer.add_way(osmium.osm.mutable.Way(id=top_way + i, nodes=[u, v], tags=JOIN_TAGS))
                counts["joins"] = len(joins)
    toml = out / "region.toml"
    toml.write_text(region_toml(layout, copies, county, f"{copies} copies of {source.name}"), encoding="utf-8")
    info = {
        "source": str(source),
        "copies": copies,
        "grid": [layout.columns, layout.rows],
        "county": county,
        "pbf": str(pbf),
        "toml": str(toml),
        "bytes": pbf.stat().st_size,
        **counts,
    }
    (out / "region.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info


def _dated_header(source: Path) -> osmium.io.Header:
    """A header carrying the source's timestamps (its data date, as every copy's data is the source's)."""
    theirs = osmium.io.Reader(str(source), osmium.osm.osm_entity_bits.NOTHING).header()
    header = osmium.io.Header()
    for key in ("osmosis_replication_timestamp", "timestamp"):
        if theirs.get(key):
            header.set(key, theirs.get(key))
    return header


def _joins(layout: Layout, ends: dict[str, np.ndarray], copies: int, max_m: float) -> list[tuple[int, int]]:
    """Join ways between every pair of neighbouring copies: east edge to west edge, north edge to south edge."""
    lat = (layout.bbox[1] + layout.bbox[3]) / 2
    joins = []
    for k in range(copies):
        col = k % layout.columns
        neighbours = [(k + 1, "east", "west")] if col + 1 < layout.columns and k + 1 < copies else []
        if k + layout.columns < copies:
            neighbours.append((k + layout.columns, "north", "south"))
        for other, side, facing in neighbours:
            a, b = _moved(ends[side], layout, k), _moved(ends[facing], layout, other)
            joins.extend(pair_ends(a, b, max_m, lat))
    return joins


def _moved(table: np.ndarray, layout: Layout, copy: int) -> np.ndarray:
    dx, dy = layout.shift(copy)
    return table + np.array([copy * layout.id_offset, dx, dy])


def region_toml(layout: Layout, copies: int, county: int, title: str) -> str:
    """Region file: one area per `county` × `county` block of copies, each with its bbox.

    County boxes meet half-way across the gaps between copies and reach half a gap
    beyond the outer copies, so every school lies in exactly one county.
    """
    w, s, _, _ = layout.bbox
    half_lon, half_lat = (layout.step_lon - (layout.bbox[2] - w)) / 2, (layout.step_lat - (layout.bbox[3] - s)) / 2
    lines = [
        'name = "synthetic-region"',
        f'title = "{title}"',
        'osm = "region.osm.pbf"',
        "",
        "[settings]",
        "minutes = 15",
        "",
    ]
    rows = math.ceil(copies / layout.columns)
    for row0 in range(0, rows, county):
        for col0 in range(0, layout.columns, county):
            cols = [c for c in range(col0, min(col0 + county, layout.columns))]
            rws = [r for r in range(row0, min(row0 + county, rows))]
            members = [r * layout.columns + c for r in rws for c in cols if r * layout.columns + c < copies]
            if not members:
                continue
            box = (
                w + cols[0] * layout.step_lon - half_lon,
                s + rws[0] * layout.step_lat - half_lat,
                w + (cols[-1] + 1) * layout.step_lon - half_lon,
                s + (rws[-1] + 1) * layout.step_lat - half_lat,
            )
            lines += [
                "[[areas]]",
                f'name = "county-{row0 // county}-{col0 // county}"',
                f"bbox = [{', '.join(f'{v:.6f}' for v in box)}]",
                "",
            ]
    return "\n".join(lines)


def main() -> None:
    """Command line: write the region into --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--osm", type=Path, default=HEIDELBERG, help="real extract to copy (default Heidelberg)")
    parser.add_argument("--copies", type=int, default=4, help="number of copies (default 4)")
    parser.add_argument("--county", type=int, default=1, help="copies per county side (default 1: one per copy)")
    parser.add_argument("--trim", type=float, default=0.01, help="share of street nodes cut off each side")
    parser.add_argument("--out", type=Path, default=Path("out/region"), help="output folder")
    args = parser.parse_args()
    print(json.dumps(make_region(args.osm, args.copies, args.out, county=args.county, trim=args.trim), indent=2))


if __name__ == "__main__":
    main()
