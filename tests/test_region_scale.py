"""Province scale: synthetic regions of joined copies of a real extract, and tiles that read only their pre-cut."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import ROOT, shared_file

from mapgen import osm_extract
from mapgen.config import AreaConfig, RegionConfig, Settings, load_region
from mapgen.edge import data_area
from mapgen.geo import local_metres
from mapgen.network import street_graph
from mapgen.region import build_region, plan_cuts

sys.path.insert(0, str(ROOT / "benchmarks"))
from make_region import make_region, source_layout

TRIM = 0.25  # central Heidelberg: 6 × 6 km, four schools per copy, two of them near an edge


@pytest.fixture(scope="module")
def two_copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two copies of central Heidelberg side by side, joined across the seam."""
    osm = shared_file("osm", "heidelberg.osm.pbf")
    return make_region(osm, 2, tmp_path_factory.mktemp("two-copies"), trim=TRIM)


def test_copies_keep_every_copys_streets_and_join_them(two_copies: dict[str, object]) -> None:
    osm = shared_file("osm", "heidelberg.osm.pbf")
    layout = source_layout(osm, 2, 30.0, TRIM)
    keys = {"amenity"}
    source = osm_extract.clip_extract(osm_extract.read_osm(osm, keys), layout.bbox)
    region = osm_extract.read_osm(Path(str(two_copies["pbf"])), keys)
    joins = [w for w in region.highways if w.tags.get("name") == "Grenzweg (synthetic join)"]
    # every street segment of the copied box is in both copies, with its node ids offset per copy
    w, s, e, n = layout.bbox
    inside = [(lon >= w) & (lon <= e) & (lat >= s) & (lat <= n) for lon, lat in (x.lonlat.T for x in source.highways)]
    segments = {
        (int(a), int(b))
        for x, ok in zip(source.highways, inside, strict=True)
        for a, b, keep in zip(x.node_ids[:-1], x.node_ids[1:], ok[:-1] & ok[1:], strict=True)
        if keep
    }
    copied = {(int(a), int(b)) for x in region.highways for a, b in zip(x.node_ids[:-1], x.node_ids[1:], strict=True)}
    assert len(segments) > 5_000
    for k in (0, 1):
        off = k * layout.id_offset
        assert {(a + off, b + off) for a, b in segments} <= copied
    assert two_copies["joins"] == len(joins) >= 3
    # each join links an east-edge street end of copy 0 to a west-edge end of copy 1, a short step apart
    for way in joins:
        u, v = way.node_ids // layout.id_offset
        assert (u, v) == (0, 1)
        xy = local_metres(way.lonlat[:, 0], way.lonlat[:, 1], float(way.lonlat[0, 1]))
        assert np.hypot(*(xy[1] - xy[0])) < 800
    # the walk network's main component spans both copies: the seam is crossed
    graph = street_graph(region, "walk", Settings())
    sides = graph.node_osmid // layout.id_offset
    assert set(np.unique(sides)) == {0, 1}
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    _, labels = connected_components(
        csr_matrix((np.ones(len(graph.edge_u)), (graph.edge_u, graph.edge_v)), shape=(graph.n_nodes,) * 2),
        directed=True,
        connection="weak",
    )
    main = labels == np.bincount(labels).argmax()
    assert (sides[main] == 0).sum() > 1000 and (sides[main] == 1).sum() > 1000


def test_pre_cuts_written_in_one_pass_hold_every_way_touching_their_box_whole(
    two_copies: dict[str, object], tmp_path: Path
) -> None:
    pbf = Path(str(two_copies["pbf"]))
    region = load_region(Path(str(two_copies["toml"])))
    boxes = {area.name: area.bbox for area in region.areas}
    assert len(boxes) == 2 and all(box is not None for box in boxes.values())
    plan = plan_cuts(pbf, boxes, tmp_path / "cuts")  # type: ignore[arg-type]
    assert set(plan["files"]) == set(boxes)  # type: ignore[arg-type]
    whole = osm_extract.read_osm(pbf, {"amenity", "leisure"})
    for key, box in boxes.items():
        cut = osm_extract.read_osm(Path(plan["files"][key]), {"amenity", "leisure"})  # type: ignore[index]
        expected = osm_extract.clip_extract(whole, box)  # type: ignore[arg-type]
        got = osm_extract.clip_extract(cut, box)  # type: ignore[arg-type]
        assert sorted((w.way_id, len(w.node_ids)) for w in got.highways) == sorted(
            (w.way_id, len(w.node_ids)) for w in expected.highways
        )
        assert len(got.highways) > 1000
        assert len(cut.highways) < 0.7 * len(whole.highways)  # the cut is the box's part, not the whole file
        assert set(zip(got.features["element"], got.features["osm_id"], strict=True)) == set(
            zip(expected.features["element"], expected.features["osm_id"], strict=True)
        )
        assert cut.data_date == whole.data_date == "2024-09-08"  # each cut's header carries the source's date
    # the plan gives tiles what their cut cannot show: the whole extract's date and data area
    assert plan["data_date"] == whole.data_date
    assert plan["data_area"].equals(data_area(whole))  # type: ignore[attr-defined]


def test_a_dated_cut_reads_the_same_extract_as_an_undated_copy(two_copies: dict[str, object], tmp_path: Path) -> None:
    import osmium

    region = load_region(Path(str(two_copies["toml"])))
    area = region.areas[1]
    assert area.bbox is not None
    plan = plan_cuts(Path(str(two_copies["pbf"])), {"east": area.bbox}, tmp_path / "cuts")
    dated = Path(plan["files"]["east"])  # type: ignore[index]
    undated = tmp_path / "undated.osm.pbf"
    with osmium.SimpleWriter(str(undated)) as writer:  # the same objects, no header date
        for obj in osmium.FileProcessor(str(dated)):
            writer.add(obj)
    keys = {"amenity", "leisure", "building", "natural", "water"}
    # with the header's date the untagged nodes stay in C++; what is read is the same
    fast, full = osm_extract.read_osm(dated, keys), osm_extract.read_osm(undated, keys)
    assert fast.data_date == "2024-09-08" and full.data_date != fast.data_date  # the newest edit, not the header
    assert len(fast.highways) == len(full.highways) > 1000
    for a, b in zip(fast.highways, full.highways, strict=True):
        assert a.way_id == b.way_id and a.tags == b.tags
        assert np.array_equal(a.node_ids, b.node_ids) and np.array_equal(a.lonlat, b.lonlat)
    assert len(fast.features) > 300  # 336 tagged nodes, ways and areas
    pd.testing.assert_frame_equal(pd.DataFrame(fast.features), pd.DataFrame(full.features))


def test_cut_plan_of_a_file_without_header_date_dates_it_by_its_newest_edit(tmp_path: Path) -> None:
    osm = shared_file("osm", "beijing-haidian.osm")  # XML from the OSM API: no header timestamp
    whole = osm_extract.read_osm(osm, {"amenity"})
    west, south, east, north = whole.bounds
    box = (west, south, (west + east) / 2, (south + north) / 2)
    plan = plan_cuts(osm, {"sw": box}, tmp_path / "cuts")
    assert plan["data_date"] == whole.data_date == "2026-03-22"
    assert plan["data_area"].equals(data_area(whole))  # type: ignore[attr-defined]


def test_two_copy_region_tiled_across_the_seam_equals_the_untiled_build(
    two_copies: dict[str, object], tmp_path: Path, dask_client
) -> None:
    region = load_region(Path(str(two_copies["toml"])))
    osm = region.areas[0].osm
    west, east = (a.bbox for a in region.areas)
    assert west is not None and east is not None
    whole = (west[0], west[1], east[2], east[3])
    untiled = RegionConfig(name="r", areas=[AreaConfig(name="a", osm=osm)])
    tiled = RegionConfig(name="r", areas=[AreaConfig(name="a", osm=osm, bbox=whole, grid=(2, 1))])
    for config, folder in ((untiled, tmp_path / "untiled"), (tiled, tmp_path / "tiled")):
        summary = build_region(config, folder, client=dask_client, quiet=True)
        assert summary["failed"] == []
    one = (tmp_path / "untiled" / "a" / "reachability.csv").read_bytes()
    assert (tmp_path / "tiled" / "a" / "reachability.csv").read_bytes() == one
    partition = json.loads((tmp_path / "tiled" / "a" / "summary.json").read_text(encoding="utf-8"))["partition"]
    assert [t["osm_read"] for t in partition["tiles"]] == ["pre-cut", "pre-cut"]
    assert all(t["schools"] > 0 for t in partition["tiles"])
    # borders matter: schools of the west copy reach venues in the east copy across the joins
    pairs = pd.read_csv(tmp_path / "tiled" / "a" / "reachability.csv", dtype=str)
    schools = _lon(tmp_path / "tiled" / "a" / "schools.geojson", "school_id")
    venues = _lon(tmp_path / "tiled" / "a" / "venues.geojson", "venue_id")
    seam = west[2]
    across = (pairs["school_id"].map(schools) < seam) & (pairs["venue_id"].map(venues) > seam)
    assert across.sum() > 0
    assert len(pairs) > 100
    # reaches_data_edge is the shared extract's edge, as in the untiled build; the seam between tiles is no edge
    flags = {
        name: gpd.read_file(tmp_path / name / "a" / "isochrones.geojson").set_index(["school_id", "mode"])
        for name in ("untiled", "tiled")
    }
    edge = flags["untiled"]["reaches_data_edge"]
    pd.testing.assert_series_equal(flags["tiled"]["reaches_data_edge"].loc[edge.index], edge)
    assert 0 < edge.sum() < len(edge)
    crs = flags["tiled"].estimate_utm_crs()
    seam_line = gpd.GeoSeries([shapely.LineString([(seam, west[1]), (seam, west[3])])], crs=4326).to_crs(crs)
    at_seam = flags["tiled"].to_crs(crs).distance(seam_line.iloc[0]) <= 100
    assert at_seam.sum() >= 4 and not flags["tiled"].loc[at_seam, "reaches_data_edge"].all()


def _lon(path: Path, key: str) -> pd.Series:
    frame = gpd.read_file(path)
    return pd.Series(frame.geometry.x.to_numpy(), index=frame[key].astype(str))
