"""A fresh machine: system packages, a build that keeps its work without a CJK font, packaging, test isolation."""

from __future__ import annotations

import fnmatch
import json
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import mapgen
from mapgen.cache import CACHE_SUFFIX
from mapgen.config import DEFAULT_CATEGORIES
from tests.conftest import CITIES, ROOT, shared_file

SCRIPT = ROOT / "scripts" / "system-packages.sh"
PDF_PACKAGES = "fonts-noto-cjk fontconfig libpango-1.0-0 libpangoft2-1.0-0"


def _no_fonts(tmp_path: Path) -> dict[str, str]:
    """Environment whose fontconfig knows no font at all (as on a machine without fonts-noto-cjk)."""
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<cachedir>{tmp_path}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    return {**os.environ, "FONTCONFIG_FILE": str(conf), "COLUMNS": "300"}


def _build(out: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`mapgen build` of the demo city (its parsed extract and graphs are in the session cache)."""
    shared_file("osm", "shenzhen-longgang.osm")
    city = CITIES / "shenzhen-longgang.toml"
    return subprocess.run(
        [sys.executable, "-m", "mapgen.cli", "build", "--city", str(city), "--out", str(out), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


@pytest.mark.slow  # a whole build of its own
def test_build_without_cjk_font_keeps_everything_but_the_sheets(tmp_path: Path, shenzhen_build: Path) -> None:
    env = _no_fonts(tmp_path)
    out = tmp_path / "shenzhen"
    run = _build(out, env, "-q")
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "no font with Chinese glyphs" in warnings[0] and "apt-get install fonts-noto-cjk" in warnings[0]
    assert warnings[0].endswith(f"then run `mapgen pdf --data {out}`")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [s["output"] for s in summary["skipped"]] == ["pdf_sheets"]
    assert "fonts-noto-cjk" in summary["skipped"][0]["reason"]
    assert "pdf_sheets" not in summary["outputs"] and summary["outputs"]["site_db"] == str(out / "site.db")
    for name in (
        "schools.geojson",
        "venues.geojson",
        "isochrones.geojson",
        "reachability.csv",
        "routes.csv",
        "basemap.parquet",
        "index.html",
        "site.db",
    ):
        assert (out / name).stat().st_size > 0, name
    assert summary["counts"] == json.loads((shenzhen_build / "summary.json").read_text(encoding="utf-8"))["counts"]
    assert len(list((out / "schools").glob("*.html"))) == 3 and not list((out / "schools").glob("*.pdf"))

    own = tmp_path / "parks.toml"  # a user's own taxonomy: parks only
    own.write_text('[categories.park]\nzh = "公园"\nen = "Parks"\nrules = [{ leisure = "park" }]\n', encoding="utf-8")
    strict = _build(tmp_path / "strict", env, "-q", "--strict", "--minutes", "5", "--categories", str(own))
    assert strict.returncode == 2 and "Traceback" not in strict.stderr
    assert "error:" in strict.stderr and "--strict and 1 output(s) skipped: pdf_sheets (no font" in strict.stderr
    kept = json.loads((tmp_path / "strict" / "summary.json").read_text(encoding="utf-8"))
    assert (tmp_path / "strict" / "site.db").is_file()  # the work is kept, the run fails
    assert list(kept["counts"]["venues_by_category"]) == ["park"] and [c["key"] for c in kept["categories"]] == ["park"]
    assert kept["counts"]["venues"] > 0


def test_a_build_with_fonts_records_nothing_skipped(shenzhen_build: Path) -> None:
    summary = json.loads((shenzhen_build / "summary.json").read_text(encoding="utf-8"))
    assert summary["skipped"] == []
    assert len(list((shenzhen_build / "schools").glob("*.pdf"))) == summary["counts"]["schools"] == 3


def _fake_debian(tmp_path: Path, uid: int, installed: set[str]) -> tuple[dict[str, str], Path]:
    """PATH with stand-ins for dpkg-query, apt-get and id; apt-get writes its calls to the returned log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    log = tmp_path / "apt.log"
    scripts = {
        "dpkg-query": f'case " {" ".join(sorted(installed))} " in *" $3 "*) printf "install ok installed";; '
        "*) exit 1;; esac",
        "apt-get": f'echo "DEBIAN_FRONTEND=${{DEBIAN_FRONTEND:-}} $*" >> {log}',
        "id": f"echo {uid}",
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
        path.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}, log


@pytest.mark.parametrize(("uid", "skip"), [(1000, "0"), (0, "1")])
def test_system_step_as_user_or_skipped_prints_the_install_line_and_goes_on(
    tmp_path: Path, uid: int, skip: str
) -> None:
    env, log = _fake_debian(tmp_path, uid, installed={"fontconfig", "chromium"})
    run = subprocess.run(
        [str(SCRIPT), "test"], capture_output=True, text=True, check=False, env={**env, "MAPGEN_SKIP_SYSTEM": skip}
    )
    assert run.returncode == 0
    assert run.stderr.strip().splitlines() == [
        "system packages missing: fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 poppler-utils; install them with:  "
        "sudo apt-get install -y --no-install-recommends fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 poppler-utils"
    ]
    assert not log.exists()


def test_system_step_as_root_installs_only_what_is_missing(tmp_path: Path) -> None:
    env, log = _fake_debian(tmp_path, 0, installed={"fontconfig"})
    run = subprocess.run([str(SCRIPT), "pdf"], capture_output=True, text=True, check=False, env=env)
    assert run.returncode == 0, run.stderr
    assert log.read_text(encoding="utf-8").splitlines() == [
        "DEBIAN_FRONTEND= update -qq",
        "DEBIAN_FRONTEND=noninteractive install -y --no-install-recommends fonts-noto-cjk libpango-1.0-0 "
        "libpangoft2-1.0-0 -qq",
    ]
    env, log = _fake_debian(tmp_path / "all", 0, installed=set(PDF_PACKAGES.split()))
    run = subprocess.run([str(SCRIPT), "pdf"], capture_output=True, text=True, check=False, env=env)
    assert run.returncode == 0 and run.stderr == "" and not log.exists()


def test_version_has_one_source_and_the_cli_prints_it() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"] and pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "mapgen.__version__"}
    run = subprocess.run([sys.executable, "-m", "mapgen.cli", "--version"], capture_output=True, text=True, check=False)
    assert run.returncode == 0 and run.stdout == f"mapgen {mapgen.__version__}\n"
    assert mapgen.__version__.count(".") == 2


def test_every_file_the_package_reads_ships_in_the_wheel() -> None:
    """Each non-Python file inside the packages matches a package-data pattern; the taxonomy exists once."""
    package_data: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["package-data"]
    resources = [
        p
        for top in ("mapgen", "webapp")
        for p in (ROOT / top).rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    assert len(resources) >= 14  # taxonomy, sheet template + CSS, 8 site templates, 3 static files
    for path in resources:
        shipped = any(
            path.is_relative_to(ROOT / package.replace(".", "/"))
            and fnmatch.fnmatch(path.relative_to(ROOT / package.replace(".", "/")).as_posix(), pattern)
            for package, patterns in package_data.items()
            for pattern in patterns
        )
        assert shipped, f"{path.relative_to(ROOT)} is not in [tool.setuptools.package-data]"
    assert DEFAULT_CATEGORIES == ROOT / "mapgen" / "data" / "categories.toml" and DEFAULT_CATEGORIES.is_file()
    sources = ("mapgen", "webapp", "data", "docs", "tests", "benchmarks", "notebooks")  # not build/ or .venv/
    assert [p.relative_to(ROOT).as_posix() for top in sources for p in (ROOT / top).rglob("categories.toml")] == [
        "mapgen/data/categories.toml"
    ]


def test_tests_cache_in_a_session_folder_and_stay_offline(shenzhen_build: Path) -> None:
    from mapgen.cache import cache_folder
    from mapgen.config import Settings

    folder = cache_folder(Settings())
    assert folder == Path(os.environ["MAPGEN_CACHE_DIR"]) and not folder.is_relative_to(Path.home() / ".cache")
    assert list(folder.glob(f"graph-*{CACHE_SUFFIX}")) and list(
        folder.glob(f"extract-*{CACHE_SUFFIX}")
    )  # the Shenzhen build's
    with pytest.raises(ConnectionRefusedError, match="tests must not reach the internet"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1: not even tried
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        socket.create_connection(server.getsockname(), timeout=1).close()  # this machine is fine
