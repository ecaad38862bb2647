"""Shared fixtures: the real extracts in ../shared/data, and cities built once per session."""

from __future__ import annotations

import fcntl
import inspect
import ipaddress
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OSM = SHARED / "osm"
VENUES = SHARED / "venues"
CITIES = ROOT / "data" / "venues"


# Markers of the fast tier (`make test-fast` deselects them): a test that needs the Heidelberg or Nanjing
# build, runs region builds on a Dask cluster, or reads the large extract (as a parameter or in its body) is
# slow; so is a test that runs a whole build of its own (marked where it is written).
SLOW_FIXTURES = frozenset({"heidelberg_build", "nanjing_build", "dask_client"})
LARGE_EXTRACTS = ("heidelberg.osm.pbf",)
LARGE_CITIES = frozenset(name.split(".")[0] for name in LARGE_EXTRACTS)


def _reads_large_extract(item: pytest.Item) -> bool:
    """Whether the test or one of its fixtures names a large extract (parameters and source code)."""
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec else {}
    if any(str(v) in LARGE_CITIES for v in params.values()):  # a parameter naming the extract by its city
        return True
    texts = [str(v) for v in params.values()]
    fixtures = getattr(item, "_fixtureinfo", None)
    # a parametrized fixture's parameter (above) says which extract it reads, not its source listing them all
    defs = [d for name, ds in fixtures.name2fixturedefs.items() if name not in params for d in ds] if fixtures else []
    for function in [getattr(item, "function", None), *(d.func for d in defs)]:
        try:
            texts.append(inspect.getsource(function))  # type: ignore[arg-type]
        except (OSError, TypeError):
            pass
    return any(name in text for name in LARGE_EXTRACTS for text in texts)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a large build (:data:`SLOW_FIXTURES`) or extract as ``slow``."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or _reads_large_extract(item):
            item.add_marker(pytest.mark.slow)


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of this test run that every pytest-xdist worker shares (the session folder without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> Path:
    """Folder `name` of this run, made by ``build(folder)`` the first time any worker asks for it.

    The other pytest-xdist workers wait on a lock file meanwhile, so a city is built once per
    run however many workers test it.
    """
    folder = run_folder(tmp_path_factory) / name
    with open(folder.parent / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = folder.parent / f"{name}.done"
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # a worker that failed half-way
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session", autouse=True)
def _session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test, and every ``mapgen`` a test starts, caches in this run's folder, never in ``~/.cache``."""
    folder = run_folder(tmp_path_factory) / "mapgen-cache"
    folder.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAPGEN_CACHE_DIR", str(folder))
        yield folder


def _local(address: object) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost", ""):
        return True
    try:
        ip = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:  # a host name other than localhost
        return False
    return ip.is_loopback or ip.is_unspecified  # 0.0.0.0 / :: reach this machine too


@pytest.fixture(scope="session", autouse=True)
def _no_internet() -> Iterator[None]:
    """No test reaches the internet: a connection to anything but this machine fails at once, naming itself."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _local(address):
            raise ConnectionRefusedError(f"tests must not reach the internet (connect to {address!r})")

    def connect(sock: socket.socket, address: object) -> None:
        check(sock, address)
        real_connect(sock, address)  # type: ignore[arg-type]

    def connect_ex(sock: socket.socket, address: object) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        yield


@pytest.fixture(scope="module")
def dask_client() -> Iterator[object]:
    """A small Dask cluster for one test file (region tests): two single-thread workers in this process.

    Closed with the file, so its threads (event loop, heartbeats, memory monitors) do not run on
    beside the other files' tests in the same pytest worker.
    """
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


def shared_file(*parts: str) -> Path:
    """Path of a shared data file; skips the test with a clear message when ../shared is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} missing: CI must have ../shared/data beside the project")
        pytest.skip(f"{path} not found: these tests need ../shared/data beside the project root")
    return path


def _city_build(tmp_path_factory: pytest.TempPathFactory, city_file: str, extract: str) -> Path:
    """The city of `city_file` (``data/venues/``) built once per run from the shared `extract`."""
    from mapgen.config import load_city
    from mapgen.pipeline import build_city

    shared_file("osm", extract)
    return built_once(
        tmp_path_factory,
        city_file.removesuffix(".toml"),
        lambda out: build_city(load_city(CITIES / city_file), out, quiet=True),
    )


@pytest.fixture(scope="session")
def shenzhen_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shenzhen Longgang built with its city file (the `make demo` city)."""
    return _city_build(tmp_path_factory, "shenzhen-longgang.toml", "shenzhen-longgang.osm")


@pytest.fixture(scope="session")
def nanjing_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nanjing Xinjiekou built with its city file (dense downtown: museums, galleries, many schools)."""
    return _city_build(tmp_path_factory, "nanjing-xinjiekou.toml", "nanjing-xinjiekou.osm")


@pytest.fixture(scope="session")
def heidelberg_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Heidelberg built from the bare extract with defaults (no city file), as `mapgen build --osm`."""
    from mapgen.config import city_from_osm
    from mapgen.pipeline import build_city

    osm = shared_file("osm", "heidelberg.osm.pbf")
    return built_once(tmp_path_factory, "heidelberg", lambda out: build_city(city_from_osm(osm), out, quiet=True))


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


XSS_NAME = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="session")
def site_data(shenzhen_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the Shenzhen build with one hostile venue added, published to ``site.db``.

    The venue is named ``<img src=x onerror=alert(1)>``, has a script tag as address,
    real opening hours, ``fee=no``, a district, and is reached by the first school
    (walk 5 min, bike 2 min): it then shows up on every kind of page.
    """
    import geopandas as gpd
    import pandas as pd
    import shapely

    from mapgen.contract import BuildFolder
    from mapgen.publish.sitedb import write_site_db
    from mapgen.venues import hours_flags

    out = tmp_path_factory.mktemp("site")
    shutil.copytree(shenzhen_build, out, dirs_exist_ok=True)
    venues = gpd.read_file(out / "venues.geojson")
    schools = gpd.read_file(out / "schools.geojson")
    school = schools.iloc[0]
    hostile = {
        "venue_id": "test-xss",
        "name": XSS_NAME,
        "name_en": "<b>bold</b>",
        "category": "library",
        "category_zh": "图书馆",
        "category_en": "Libraries",
        "opening_hours": "Mo-Fr 08:00-20:00; Sa 09:00-12:00",
        "fee": "no",
        "access": "",
        "source": "test <script>alert(3)</script>",
        "osm_id": "",
        "district": "龙岗区",
        "address": "<script>alert(2)</script>",
        "geometry": shapely.Point(school.geometry.x + 0.001, school.geometry.y),
    }
    # a whole contract row: the hours flags as the build reads them, with the build's after-school window
    flags = hours_flags(pd.Series([hostile["opening_hours"]]), BuildFolder(out).summary.settings)
    hostile.update({k: (None if pd.isna(v) else bool(v)) for k, v in flags.iloc[0].items()})
    venues = pd.concat([venues, gpd.GeoDataFrame([hostile], crs=4326)], ignore_index=True)
    (out / "venues.geojson").unlink()
    venues.to_file(out / "venues.geojson", driver="GeoJSON", engine="pyogrio")
    pairs = pd.read_csv(out / "reachability.csv", dtype=str)
    extra = pd.DataFrame(
        {
            "school_id": [school.school_id] * 2,
            "venue_id": ["test-xss"] * 2,
            "mode": ["walk", "bike"],
            "minutes": ["5.00", "2.00"],
        }
    )
    pd.concat([pairs, extra]).to_csv(out / "reachability.csv", index=False)
    write_site_db(out)
    return out
