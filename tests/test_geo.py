"""Datum conversion WGS-84 ⇄ GCJ-02 ⇄ BD-09: published reference pairs, round trips, and real GCJ-02 data."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_file

from mapgen.config import CatalogueConfig, CatalogueSettings, load_city
from mapgen.geo import (
    bd09_to_gcj02,
    convert,
    datum_offsets,
    distance_m,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    utm_crs,
    wgs84_to_gcj02,
)

# (lat, lon) pairs from the eviltransform project's tests (github.com/googollee/eviltransform)
WGS_GCJ = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),  # Shanghai
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),  # Shenzhen
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),  # Beijing
]
# (lon, lat) pairs from the wandergis/coordtransform project's test (the formulas most Chinese tools use)
BD_TO_GCJ = ((116.404, 39.915), (116.39762729119315, 39.90865673957631))
GCJ_TO_BD = ((116.404, 39.915), (116.41036949371029, 39.92133699351021))


@pytest.mark.parametrize("wgs,gcj", WGS_GCJ)
def test_gcj02_matches_published_pairs(wgs, gcj):
    lon, lat = wgs84_to_gcj02(wgs[1], wgs[0])
    assert distance_m(lon, lat, gcj[1], gcj[0]) < 0.01
    back = gcj02_to_wgs84(gcj[1], gcj[0])
    assert distance_m(*back, wgs[1], wgs[0]) < 0.01  # the iterative inverse: ~1 cm


def test_bd09_matches_published_pairs():
    assert distance_m(*bd09_to_gcj02(*BD_TO_GCJ[0]), *BD_TO_GCJ[1]) < 0.01
    assert distance_m(*gcj02_to_bd09(*GCJ_TO_BD[0]), *GCJ_TO_BD[1]) < 0.01


def test_round_trips_over_china():
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(98, 134, 2000), rng.uniform(18, 50, 2000)
    for source in ("gcj02", "bd09"):
        wlon, wlat = convert(lon, lat, "wgs84", source)
        shift = distance_m(lon, lat, wlon, wlat)
        assert 50 < np.median(shift) < 1500  # the datums really are hundreds of metres apart
        back = convert(wlon, wlat, source, "wgs84")
        assert distance_m(*back, lon, lat).max() < (0.01 if source == "gcj02" else 0.25)
    blon, blat = gcj02_to_bd09(lon, lat)
    assert distance_m(*bd09_to_gcj02(blon, blat), lon, lat).max() < 0.25


def test_outside_china_nothing_moves():
    lon, lat = np.array([8.6942, 7.4246]), np.array([49.4077, 43.7384])  # Heidelberg, Monaco
    for target in ("gcj02",):
        out = convert(lon, lat, "wgs84", target)
        assert np.allclose(out, (lon, lat))


def test_gcj02_heritage_buildings_land_on_osm_twins():
    """Acceptance: the 61 heritage buildings sharing an exact name with an OSM feature."""
    import geopandas as gpd

    from mapgen.catalog import import_catalogue
    from mapgen.config import DEFAULT_CATEGORIES
    from mapgen.taxonomy import load_taxonomy

    osm = gpd.read_file(shared_file("venues", "shanghai-osm-culture.geojson"))
    heritage_file = shared_file("venues", "shanghai-heritage-buildings-gcj02.geojson")
    spec = CatalogueConfig(
        file=heritage_file,
        crs="gcj02",
        category="heritage",
        columns={"name": "title", "address": "xian_di_zhi", "id": "_id"},
    )
    imported = import_catalogue(spec, load_taxonomy(DEFAULT_CATEGORIES), CatalogueSettings()).venues
    raw = gpd.read_file(heritage_file)
    assert len(imported) == len(raw) == 663

    twins = osm[osm["name"].isin(set(raw["title"]))]
    points = twins.geometry.representative_point()

    def median_to_twin(names, lon, lat):
        best = []
        for name, x, y in zip(names, lon, lat, strict=True):
            mine = points[twins["name"] == name]
            if len(mine):
                best.append(distance_m(x, y, mine.x, mine.y).min())
        return len(best), float(np.median(best))

    n_raw, before = median_to_twin(raw["title"], raw.geometry.x, raw.geometry.y)
    n_conv, after = median_to_twin(imported["name"], imported.geometry.x, imported.geometry.y)
    assert n_raw == n_conv == 61
    assert 460 < before < 490  # ≈ 480 m as published
    assert after <= 30, after  # measured 19.3 m


def test_wrong_datum_is_reported_as_a_consistent_offset():
    from mapgen.catalog import build_gazetteer, import_catalogue, read_gazetteer
    from mapgen.config import DEFAULT_CATEGORIES
    from mapgen.taxonomy import load_taxonomy

    settings = CatalogueSettings()
    gaz = build_gazetteer(read_gazetteer(shared_file("venues", "shanghai-osm-culture.geojson")), settings)
    base = dict(
        file=shared_file("venues", "shanghai-heritage-buildings-gcj02.geojson"),
        category="heritage",
        columns={"name": "title", "address": "xian_di_zhi", "id": "_id"},
    )
    taxonomy = load_taxonomy(DEFAULT_CATEGORIES)
    wrong = import_catalogue(CatalogueConfig(**base), taxonomy, settings, gazetteer=gaz).datum
    right = import_catalogue(CatalogueConfig(**base, crs="gcj02"), taxonomy, settings, gazetteer=gaz).datum
    assert wrong["twins"] == right["twins"] == 58
    assert wrong["best"] == "gcj02" and "--crs gcj02" in wrong["warning"]
    assert wrong["median_m"]["wgs84"] > 400 and wrong["median_m"]["gcj02"] < 30
    assert "warning" not in right


def test_datum_offsets_on_synthetic_bd09_points():
    lon, lat = np.array([121.47, 121.50, 121.44, 121.52, 121.48]), np.array([31.23, 31.24, 31.21, 31.22, 31.25])
    blon, blat = convert(lon, lat, "wgs84", "bd09")
    offsets = datum_offsets(blon, blat, lon, lat)
    assert offsets["bd09"] < 1 and offsets["wgs84"] > 500


def test_catalogue_datum_in_city_file_is_typed(tmp_path):
    city = tmp_path / "c.toml"
    city.write_text('osm = "x.osm"\n[[catalogues]]\nfile = "list.csv"\ncrs = "gcj2"\n', encoding="utf-8")
    from mapgen.errors import ConfigError

    with pytest.raises(ConfigError, match="crs"):
        load_city(city)


def test_utm_zone_is_the_one_the_projection_database_gives() -> None:
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    rng = np.random.default_rng(7)
    points = [(rng.uniform(-180, 180), rng.uniform(-80, 84)) for _ in range(10)]  # a query takes 0.1 s
    points += [(float(lon), lat) for lon in range(-180, 181, 60) for lat in (-45.0, 0.0, 72.0)]  # zone borders
    points += [(3.0, 60.0), (5.0, 58.0), (9.0, 72.0), (21.0, 75.0), (33.0, 80.0)]  # Norway's and Svalbard's own zones
    points += [(8.69, 49.41), (114.25, 22.72), (116.30, 39.99), (118.78, 32.04), (7.42, 43.74)]  # the shared cities
    for lon, lat in points:
        aoi = AreaOfInterest(west_lon_degree=lon, south_lat_degree=lat, east_lon_degree=lon, north_lat_degree=lat)
        expected = query_utm_crs_info(datum_name="WGS 84", area_of_interest=aoi)[0].code
        assert utm_crs([[lon, lat]]).to_epsg() == int(expected), (lon, lat)
    assert utm_crs([[8.6, 49.3], [8.8, 49.5]]).to_epsg() == 32632  # the centre of the points
