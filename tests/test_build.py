"""A whole build honours the output contract (Shenzhen Longgang with its city file; Heidelberg with defaults)."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pandas as pd
import pytest

from mapgen.contract import SCHOOL_COLUMNS, TRUTH_COLUMNS, VENUE_COLUMNS


def _load(out):
    return (
        gpd.read_file(out / "schools.geojson"),
        gpd.read_file(out / "venues.geojson"),
        gpd.read_file(out / "isochrones.geojson"),
        pd.read_csv(out / "reachability.csv"),
        json.loads((out / "summary.json").read_text(encoding="utf-8")),
    )


def _check_contract(out, n_schools: int) -> None:
    schools, venues, iso, pairs, summary = _load(out)
    assert list(schools.columns) == [*SCHOOL_COLUMNS, "geometry"]
    assert list(venues.columns) == [*VENUE_COLUMNS, *TRUTH_COLUMNS, "geometry"]
    assert list(iso.columns) == ["school_id", "mode", "minutes", "reaches_data_edge", "geometry"]
    assert list(pairs.columns) == ["school_id", "venue_id", "mode", "minutes", "on_campus"]
    for frame in (schools, venues, iso):
        assert frame.crs.to_epsg() == 4326
    assert len(schools) == n_schools and set(schools.geom_type) == {"Point"}
    assert set(venues.geom_type) == {"Point"}
    # one walk and one bike polygon per school
    assert iso.groupby("mode")["school_id"].apply(set).to_dict() == {
        "walk": set(schools["school_id"]),
        "bike": set(schools["school_id"]),
    }
    assert set(iso.geom_type) <= {"Polygon", "MultiPolygon"} and iso.is_valid.all()
    assert set(pairs["school_id"]) <= set(schools["school_id"])
    assert set(pairs["venue_id"]) <= set(venues["venue_id"])
    assert pairs["minutes"].between(0, 15).all()
    assert not pairs.duplicated(["school_id", "venue_id", "mode"]).any()
    # bikes reach more in total (not always a superset: some venues lie on footways bikes may not use)
    assert (pairs["mode"] == "bike").sum() > (pairs["mode"] == "walk").sum()
    assert summary["counts"]["schools"] == n_schools
    assert summary["counts"]["venues"] == len(venues)
    assert summary["reach"]["walk"]["pairs"] == (pairs["mode"] == "walk").sum()
    assert summary["attribution"] == "© OpenStreetMap contributors"
    pages = sorted(p.stem for p in (out / "schools").glob("*.html"))
    assert pages == sorted(schools["school_id"])
    for page in [out / "index.html", *(out / "schools").glob("*.html")]:
        html = page.read_text(encoding="utf-8")
        assert "OpenStreetMap contributors" in html
        # no script or stylesheet from a CDN: only base-map tiles come from a server
        assert not re.search(r'<(script|link)[^>]+(src|href)="(https?:)?//', html), page
    assert (out / "lib" / "leaflet" / "leaflet.js").is_file()


def test_shenzhen_build_honours_the_contract(shenzhen_build) -> None:
    _check_contract(shenzhen_build, n_schools=3)
    _, venues, _, pairs, summary = _load(shenzhen_build)
    assert summary["title"].startswith("深圳市龙岗区")
    assert summary["counts"]["venues_by_category"]["library"] == 4
    # the school sitting next to the Universiade sports centre reaches sports grounds on foot
    dayun = pairs[(pairs["school_id"] == "osm-w533650676") & (pairs["mode"] == "walk")]
    sports = venues.set_index("venue_id").loc[dayun["venue_id"]].query("category == 'sports'")
    # the centre and its stadium, with their unnamed track and pitches listed as their facilities
    assert len(sports) >= 2 and {"田径场", "足球场"} <= set("; ".join(sports["facilities"]).split("; "))


@pytest.mark.slow
def test_heidelberg_build_from_bare_extract(heidelberg_build) -> None:
    _check_contract(heidelberg_build, n_schools=20)
    _, _, _, pairs, summary = _load(heidelberg_build)
    assert summary["counts"]["venues"] > 500
    assert summary["reach"]["walk"]["schools_reaching_a_venue"] == 20
    assert (pairs["mode"] == "bike").sum() > 3 * (pairs["mode"] == "walk").sum()
