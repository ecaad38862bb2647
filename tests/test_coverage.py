"""Planning (mapgen.planning: nearest venues, demand, siting, alliances, maps) on the real Shenzhen and Heidelberg builds."""

from __future__ import annotations

import importlib
import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from mapgen.config import city_from_osm, load_city
from mapgen.contract import ReviewLog
from mapgen.errors import ConfigError, MissingExtraError
from mapgen.planning.alliances import alliance_matrix, shared_venues
from mapgen.planning.candidates import candidate_sites, candidates_from_csv
from mapgen.planning.charts import access_curves
from mapgen.planning.demand import residential_cells
from mapgen.planning.inputs import PlanningInputs, load_inputs
from mapgen.planning.maps import gap_map, save_map
from mapgen.planning.nearest import cells_nearest, gap_counts, nearest_minutes, reach_share, school_nearest
from mapgen.planning.siting import compare_with_optimum, coverage_matrix, greedy_max_coverage, optimal_max_coverage
from mapgen.reach import to_metric
from tests.conftest import CITIES, ROOT, chromium_path, shared_file

MINUTES = 15.0
BOUND = 1 - 1 / math.e


@pytest.fixture(scope="module")
def shenzhen(shenzhen_build: Path) -> PlanningInputs:
    return load_inputs(shenzhen_build, load_city(CITIES / "shenzhen-longgang.toml"))


@pytest.fixture(scope="module")
def heidelberg(heidelberg_build: Path) -> PlanningInputs:
    return load_inputs(heidelberg_build, city_from_osm(shared_file("osm", "heidelberg.osm.pbf")))


@pytest.fixture(scope="module")
def heidelberg_cells(heidelberg: PlanningInputs):
    return residential_cells(heidelberg.extract, heidelberg.city.planning)


@pytest.fixture(scope="module")
def heidelberg_sites(heidelberg: PlanningInputs):
    return candidate_sites(heidelberg.extract.features, heidelberg.city.planning)


def _category_minima(inputs: PlanningInputs) -> pd.Series:
    """Nearest venue of each category within the limit, from the build's reachability.csv."""
    pairs = inputs.pairs.merge(inputs.venues[["venue_id", "category"]], on="venue_id")
    return pairs.groupby(["school_id", "mode", "category"])["minutes"].min()


@pytest.mark.parametrize("city", ["shenzhen", pytest.param("heidelberg", marks=pytest.mark.slow)])
def test_nearest_per_category_equals_the_builds_reachability(city: str, request: pytest.FixtureRequest) -> None:
    inputs = request.getfixturevalue(city)
    nearest = school_nearest(inputs)
    assert nearest.shape == (len(inputs.schools), 2 * len(inputs.taxonomy.categories))
    mine = nearest.melt(ignore_index=False, value_name="minutes").reset_index()
    mine = mine[mine["minutes"] <= MINUTES].set_index(["school_id", "mode", "category"])["minutes"].round(2)
    build = _category_minima(inputs)
    # the same (school, mode, category) cells are within the limit, with the same minutes
    assert sorted(mine.index) == sorted(build.index)
    assert np.abs(mine.sort_index() - build.sort_index()).max() < 0.006
    # farther venues are found up to the planning bound, beyond the 15-minute limit
    values = nearest.to_numpy()
    far = values[(values > MINUTES) & np.isfinite(values)]
    assert len(far) and far.max() <= inputs.city.planning.nearest_limit_minutes


def test_per_venue_routing_reproduces_every_pair(heidelberg: PlanningInputs) -> None:
    # fewer origins (20 schools) than groups (721 venues): one Dijkstra per school, forward
    for mode, graph in heidelberg.graphs.items():
        minutes = nearest_minutes(
            graph,
            to_metric(heidelberg.schools["footprint"], graph.crs),
            to_metric(heidelberg.venues["footprint"], graph.crs),
            heidelberg.settings,
            MINUTES,
        )
        rows, cols = np.nonzero(minutes <= MINUTES)
        mine = pd.Series(
            np.round(minutes[rows, cols], 2),
            index=pd.MultiIndex.from_arrays(
                [heidelberg.schools["school_id"].to_numpy()[rows], heidelberg.venues["venue_id"].to_numpy()[cols]]
            ),
        ).sort_index()
        build = heidelberg.pairs[heidelberg.pairs["mode"] == mode].set_index(["school_id", "venue_id"])["minutes"]
        assert len(mine) == len(build) > 200
        assert np.abs(mine - build.sort_index()).max() < 0.006


def test_heidelberg_gap_counts(heidelberg: PlanningInputs) -> None:
    nearest = school_nearest(heidelberg)
    gaps = gap_counts(nearest, MINUTES)
    build = _category_minima(heidelberg)
    n = len(heidelberg.schools)
    for mode in ("walk", "bike"):
        served = build.xs(mode, level="mode").reset_index().groupby("category")["school_id"].nunique()
        expected = (n - served.reindex(gaps.index, fill_value=0)).astype(int)
        assert gaps[mode].to_dict() == expected.to_dict()
    # Heidelberg's extract has no study rooms: every school lacks one; one library only
    assert gaps.loc["study"].tolist() == [n, n]
    assert (heidelberg.venues["category"] == "library").sum() == 1
    assert gaps.loc["library", "walk"] >= n - 2


def test_residential_cells_shenzhen_counts_homes_landuse_and_streets(shenzhen: PlanningInputs) -> None:
    planning = shenzhen.city.planning
    cells = residential_cells(shenzhen.extract, planning)
    features = shenzhen.extract.features
    homes = features["building"].isin(planning.residential_buildings)
    assert cells["homes"].sum() == homes.sum() > 0  # every mapped home is in exactly one hexagon
    assert cells["landuse"].sum() >= (features["landuse"] == "residential").sum() > 0
    assert ((cells["homes"] > 0) | cells["landuse"] | (cells["street_m"] >= planning.min_street_m)).all()
    assert cells.index.is_unique and cells.index.is_monotonic_increasing
    area = cells.to_crs(shenzhen.graphs["walk"].crs).area
    assert area.between(0.09e6, 0.12e6).all()  # H3 resolution 9: ~0.105 km²


def test_residential_cells_heidelberg_fall_back_on_streets(heidelberg: PlanningInputs, heidelberg_cells) -> None:
    # this extract maps almost no buildings and no land use: residential streets carry the demand
    cells = heidelberg_cells
    assert len(cells) > 500
    assert (cells["street_m"] >= heidelberg.city.planning.min_street_m).mean() > 0.99
    graph = heidelberg.graphs["walk"]
    residential = np.isin(graph.edge_highway, ["residential", "living_street"])
    # walk edges run both ways, so half their length is the street length; the graph drops small
    # islands and the hexagons keep only those with >= 100 m, so the totals agree within a few percent
    ratio = cells["street_m"].sum() / (graph.edge_length_m[residential].sum() / 2)
    assert 0.95 < ratio < 1.05


def test_fifteen_minute_share_of_cells_agrees_with_per_venue_routing(
    heidelberg: PlanningInputs, heidelberg_cells
) -> None:
    near = cells_nearest(heidelberg, heidelberg_cells)
    share = reach_share(near, MINUTES)
    assert share.loc["study"].tolist() == [0.0, 0.0]
    assert (share["bike"] >= share["walk"] - 0.02).all()
    assert share.loc["sports", "walk"] > 0.5
    # cross-check a sample of hexagons against one Dijkstra per hexagon to every park
    sample = heidelberg_cells.iloc[::40]
    parks = heidelberg.venues[heidelberg.venues["category"] == "park"]
    graph = heidelberg.graphs["walk"]
    per_park = nearest_minutes(
        graph,
        to_metric(sample["centre"], graph.crs),
        to_metric(parks["footprint"], graph.crs),
        heidelberg.settings,
        MINUTES,
    )
    assert len(sample) < len(parks)  # so this ran forward from each hexagon
    np.testing.assert_allclose(per_park.min(axis=1), near.loc[sample.index, ("walk", "park")].to_numpy())


def test_candidate_sites_heidelberg(heidelberg: PlanningInputs, heidelberg_sites) -> None:
    sites = heidelberg_sites
    planning = heidelberg.city.planning
    allowed = {f"amenity={v}" for v in planning.candidate_amenities} | {
        f"building={v}" for v in planning.candidate_buildings
    }
    assert set(sites["kind"]) <= allowed
    assert sites["site_id"].is_unique
    assert set(heidelberg.schools["osm_id"]) <= set(sites["osm_id"])  # every school can open a study room
    assert (sites["kind"] == "amenity=community_centre").sum() == (
        heidelberg.extract.features["amenity"] == "community_centre"
    ).sum()
    areas = sites[sites["footprint"].geom_type.isin(["Polygon", "MultiPolygon"])]
    points = sites[sites["footprint"].geom_type == "Point"]
    assert not shapely.STRtree(areas["footprint"].values).query(points["footprint"].values, predicate="within").size


def test_candidates_from_csv_rejects_bad_rows_with_file_and_row(heidelberg_sites, tmp_path: Path) -> None:
    site = heidelberg_sites.iloc[0]
    path = tmp_path / "sites.csv"
    path.write_text(
        "name,lon,lat\n"
        f"{site['name']},{site.geometry.x},{site.geometry.y}\n"
        f"swapped,{site.geometry.y},{site.geometry.x + 100}\n"
        "no coordinates,,\n",
        encoding="utf-8",
    )
    review = ReviewLog()
    listed = candidates_from_csv(path, review)
    assert listed["name"].tolist() == [site["name"]]
    assert listed["kind"].tolist() == ["csv"]
    assert [(r.file, r.row) for r in review] == [(str(path), 3), (str(path), 4)]


def _coverage(inputs: PlanningInputs, cells, sites, mode: str) -> np.ndarray:
    return coverage_matrix(inputs.graphs[mode], cells["centre"], sites["footprint"], inputs.settings, MINUTES)


@pytest.mark.parametrize("mode", ["walk", "bike"])
def test_greedy_within_the_guarantee_of_the_ilp_optimum_heidelberg(
    heidelberg: PlanningInputs, heidelberg_cells, heidelberg_sites, mode: str
) -> None:
    cover = _coverage(heidelberg, heidelberg_cells, heidelberg_sites, mode)
    assert cover.shape == (len(heidelberg_cells), len(heidelberg_sites))
    compare = compare_with_optimum(cover, 8)
    assert (compare["greedy"] <= compare["optimum"] + 1e-9).all()
    assert (compare["greedy"] >= BOUND * compare["optimum"] - 1e-9).all()
    assert compare["optimum"].is_monotonic_increasing and compare["optimum"].iloc[0] > 0
    greedy = greedy_max_coverage(cover, 8)
    # marginal gains never grow (coverage is submodular) and add up to what is covered
    assert greedy["gain"].is_monotonic_decreasing
    assert greedy["gain"].sum() == greedy["covered"].iloc[-1] == cover[:, greedy["site"]].any(axis=1).sum()


def test_ilp_equals_exhaustive_search_on_small_real_instances(
    heidelberg: PlanningInputs, heidelberg_cells, heidelberg_sites, shenzhen: PlanningInputs
) -> None:
    sz_cells = residential_cells(shenzhen.extract, shenzhen.city.planning)
    sz_sites = candidate_sites(shenzhen.extract.features, shenzhen.city.planning)
    for cover in (
        _coverage(heidelberg, heidelberg_cells, heidelberg_sites, "walk"),
        _coverage(shenzhen, sz_cells, sz_sites, "walk"),
        _coverage(shenzhen, sz_cells, sz_sites, "bike"),
    ):
        for k in (1, 2, 3):
            best = max(cover[:, list(c)].any(axis=1).sum() for c in itertools.combinations(range(cover.shape[1]), k))
            optimum = optimal_max_coverage(cover, k)
            assert optimum.covered == best
            assert len(optimum.sites) <= k
            greedy = greedy_max_coverage(cover, k)["covered"].iloc[-1]
            assert BOUND * best <= greedy <= best


def test_greedy_can_be_beaten_and_the_ilp_finds_it() -> None:
    # the textbook case: a big middle set lures greedy; two halves are optimal
    cover = np.zeros((8, 3), dtype=bool)
    cover[[0, 1, 2, 4, 5], 0] = True  # middle: 5
    cover[:4, 1] = True  # left half: 4
    cover[4:, 2] = True  # right half: 4
    greedy = greedy_max_coverage(cover, 2)
    assert greedy["site"].tolist() == [0, 2] and greedy["covered"].iloc[-1] == 7
    assert greedy["gain"].tolist() == [5, 2]
    optimum = optimal_max_coverage(cover, 2)
    assert optimum.sites == [1, 2] and optimum.covered == 8
    weighted = optimal_max_coverage(cover, 1, weights=np.array([1, 1, 1, 1, 1, 1, 10, 10]))
    assert weighted.sites == [2] and weighted.covered == 22


def test_shared_venues_and_alliances_follow_the_pairs(heidelberg: PlanningInputs) -> None:
    pairs = heidelberg.pairs
    for mode in ("walk", "bike"):
        shared = shared_venues(pairs, heidelberg.venues, heidelberg.schools, mode, MINUTES)
        counts = pairs[(pairs["mode"] == mode)].groupby("venue_id")["school_id"].nunique()
        assert sorted(shared["venue_id"]) == sorted(counts[counts >= 2].index)
        assert (shared.set_index("venue_id")["n_schools"] == counts.reindex(shared["venue_id"])).all()
        assert shared["n_schools"].is_monotonic_decreasing
        assert (shared["schools"].str.count(" · ") + 1 == shared["n_schools"]).all()
        matrix = alliance_matrix(pairs, heidelberg.schools, mode, MINUTES)
        assert (matrix.to_numpy() == matrix.to_numpy().T).all()
        own = pairs[pairs["mode"] == mode].groupby("school_id").size().reindex(heidelberg.schools["school_id"])
        assert np.diag(matrix).tolist() == own.fillna(0).astype(int).tolist()
    walk = shared_venues(pairs, heidelberg.venues, heidelberg.schools, "walk", MINUTES)
    bike = shared_venues(pairs, heidelberg.venues, heidelberg.schools, "bike", MINUTES)
    assert len(bike) > len(walk) > 0


def test_gap_map_draws_offline_with_local_leaflet(shenzhen: PlanningInputs, tmp_path: Path) -> None:
    cells = residential_cells(shenzhen.extract, shenzhen.city.planning)
    near = cells_nearest(shenzhen, cells)
    fmap = gap_map(
        shenzhen.city,
        shenzhen.schools,
        school_nearest(shenzhen),
        MINUTES,
        shenzhen.taxonomy,
        cells=cells,
        cells_reached=(near["walk"] <= MINUTES).sum(axis=1),
    )
    page = save_map(fmap, shenzhen.build_dir, "coverage_gaps.html")
    html = page.read_text(encoding="utf-8")
    assert '<script src="../lib/leaflet/leaflet.js">' in html
    assert (shenzhen.build_dir / "lib" / "leaflet" / "leaflet.js").is_file()
    assert "cdn" not in html.lower() and "© OpenStreetMap contributors" in html
    dom = subprocess.run(
        [
            chromium_path(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=4000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    # every hexagon and every school is drawn (a script error would stop the page part-way)
    assert dom.count('class="leaflet-interactive"') == len(cells) + len(shenzhen.schools)


def test_access_curves_one_chart_per_category(heidelberg: PlanningInputs, heidelberg_cells, tmp_path: Path) -> None:
    near = cells_nearest(heidelberg, heidelberg_cells)
    fig = access_curves(near, MINUTES, heidelberg.taxonomy)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == [c.en for c in heidelberg.taxonomy.categories]
    walk_line = shown[0].get_lines()[0]
    assert walk_line.get_ydata()[-1] == pytest.approx(100 * (near[("walk", "sports")] <= MINUTES).mean())
    fig.savefig(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 20_000


def test_notebooks_are_committed_without_outputs_and_take_a_city() -> None:
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        book = json.loads(path.read_text(encoding="utf-8"))
        code = [c for c in book["cells"] if c["cell_type"] == "code"]
        assert all(not c["outputs"] and c["execution_count"] is None for c in code), path.name
        params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(params) == 1 and "MAPGEN_CITY" in "".join(params[0]["source"]), path.name


def test_planning_settings_load_from_the_city_file(tmp_path: Path) -> None:
    osm = shared_file("osm", "heidelberg.osm.pbf")
    path = tmp_path / "city.toml"
    path.write_text(f'name = "hd"\nosm = "{osm}"\n[planning]\nhex_resolution = 8\nstudy_categories = ["study"]\n')
    city = load_city(path)
    assert city.planning.hex_resolution == 8 and city.planning.study_categories == ("study",)
    path.write_text(f'name = "hd"\nosm = "{osm}"\n[planning]\nhex_resolution = 3\n')
    with pytest.raises(ConfigError, match="planning.hex_resolution"):
        load_city(path)


@pytest.mark.parametrize(("module", "package"), [("mapgen.planning.demand", "h3"), ("mapgen.planning.siting", "pulp")])
def test_a_missing_planning_extra_is_one_line_naming_it(
    module: str, package: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(MissingExtraError, match=rf"need the Python package {package}, .*'mapgen\[planning\]'") as err:
        importlib.import_module(module)
    assert "\n" not in str(err.value)
