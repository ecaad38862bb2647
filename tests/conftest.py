"""Shared fixtures: the real extracts in ../shared/data, and cities built once per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OSM = SHARED / "osm"
VENUES = SHARED / "venues"
CITIES = ROOT / "data" / "venues"


def shared_file(*parts: str) -> Path:
    """Path of a shared data file; skips the test with a clear message when ../shared is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} missing: CI must have ../shared/data beside the project")
        pytest.skip(f"{path} not found: these tests need ../shared/data beside the project root")
    return path


@pytest.fixture(scope="session")
def shenzhen_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shenzhen Longgang built with its city file (the `make demo` city)."""
    from mapgen.config import load_city
    from mapgen.pipeline import build_city

    shared_file("osm", "shenzhen-longgang.osm")
    out = tmp_path_factory.mktemp("shenzhen")
    build_city(load_city(CITIES / "shenzhen-longgang.toml"), out, quiet=True)
    return out


@pytest.fixture(scope="session")
def heidelberg_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Heidelberg built from the bare extract with defaults (no city file), as `mapgen build --osm`."""
    from mapgen.config import city_from_osm
    from mapgen.pipeline import build_city

    osm = shared_file("osm", "heidelberg.osm.pbf")
    out = tmp_path_factory.mktemp("heidelberg")
    build_city(city_from_osm(osm), out, quiet=True)
    return out


def chromium_path() -> str:
    """Debian's Chromium for the browser tests (installed by .ci/run)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("chromium not installed: .ci/run must install Debian's chromium")
    pytest.skip("chromium not installed (apt-get install chromium); browser tests need it")
    raise AssertionError  # unreachable
