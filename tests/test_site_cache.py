"""The site's whole-response cache on the real Shenzhen Longgang build: hits, keys, ETags, emptying on publish."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from conftest import XSS_NAME

from webapp import create_app
from webapp.i18n import choose_language

MONDAY_19_59 = datetime.fromisoformat("2026-11-23T19:59:00+08:00")  # the hostile venue closes at 20:00


def test_a_repeated_request_is_answered_from_the_cache(site_data: Path) -> None:
    client = create_app(site_data / "site.db").test_client()
    for url in (
        "/",
        "/search?q=图书馆",
        "/school/osm-w356776832",
        "/venue/test-xss",
        "/api/venues?q=体育",
        "/api/schools",
        "/api/schools/osm-w356776832/venues",
        "/api/schools/osm-w356776832/isochrones",
    ):
        first, second = client.get(url), client.get(url)
        assert (first.status_code, second.status_code) == (200, 200), url
        assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT"), url
        assert first.data == second.data and first.headers["ETag"] == second.headers["ETag"], url
        assert second.headers["Content-Type"] == first.headers["Content-Type"], url
        assert second.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"], url
    assert XSS_NAME not in client.get("/venue/test-xss").text  # a hit is as escaped as the first answer


def test_language_is_part_of_the_key(site_data: Path) -> None:
    client = create_app(site_data / "site.db").test_client()
    chinese = client.get("/school/osm-w356776832").text
    english = client.get("/school/osm-w356776832?lang=en")  # sets the cookie
    assert english.headers["X-Cache"] == "MISS" and "lang=en" in english.headers["Set-Cookie"]
    remembered = client.get("/school/osm-w356776832")  # same URL as the first, English by cookie
    assert remembered.headers["X-Cache"] == "MISS" and remembered.text != chinese
    assert 'lang="en"' in remembered.text and 'lang="zh-CN"' in chinese
    assert choose_language("fr", "en") == "en" and choose_language(None, "xx") == "zh"


def test_open_now_answers_follow_the_clock(site_data: Path) -> None:
    now = [MONDAY_19_59]
    client = create_app(site_data / "site.db", clock=lambda: now[0]).test_client()
    url = "/api/venues?open=now&category=library"
    assert "test-xss" in {v["venue_id"] for v in client.get(url).get_json()["results"]}
    assert client.get(url).headers["X-Cache"] == "HIT"  # the same minute
    now[0] += timedelta(minutes=1)  # 20:00: closed
    later = client.get(url)
    assert later.headers["X-Cache"] == "MISS"
    assert "test-xss" not in {v["venue_id"] for v in later.get_json()["results"]}


def test_etag_revalidation_answers_304(site_data: Path) -> None:
    client = create_app(site_data / "site.db").test_client()
    first = client.get("/venue/test-xss")
    assert first.headers["Cache-Control"] == "no-cache"
    again = client.get("/venue/test-xss", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    other = client.get("/venue/test-xss", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.data == first.data


def test_errors_and_files_are_not_cached(site_data: Path) -> None:
    client = create_app(site_data / "site.db").test_client()
    for url in ("/api/venues?page=0", "/venue/no-such-venue", "/static/site.css", "/files/index.html"):
        answers = [client.get(url) for _ in range(2)]
        assert "X-Cache" not in answers[1].headers, url
        assert answers[0].status_code == answers[1].status_code, url


def test_a_new_publish_empties_the_cache(site_data: Path) -> None:
    client = create_app(site_data / "site.db").test_client()
    assert client.get("/api/schools").headers["X-Cache"] in ("MISS", "HIT")
    assert client.get("/api/schools").headers["X-Cache"] == "HIT"
    db = site_data / "site.db"
    stat = db.stat()
    os.utime(db, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # as if `mapgen publish` replaced it
    assert client.get("/api/schools").headers["X-Cache"] == "MISS"


def test_cache_can_be_turned_off(site_data: Path) -> None:
    client = create_app(site_data / "site.db", cache_mb=0).test_client()
    answers = [client.get("/api/schools") for _ in range(2)]
    assert [a.headers["X-Cache"] for a in answers] == ["MISS", "MISS"]
    assert answers[0].data == answers[1].data


def test_the_store_stays_within_its_size(site_data: Path) -> None:
    app = create_app(site_data / "site.db", cache_mb=0.1)
    client = app.test_client()
    urls = [f"/api/venues?category=sports&n={i}" for i in range(40)]  # unknown parameters are ignored: 40 keys
    sizes = [len(client.get(url).data) for url in urls]
    assert min(sizes) > 5_000  # 40 answers do not fit in 0.1 MB
    store = app.wsgi_app
    assert store._size <= 100_000 and store._size == sum(len(e[2]) for e in store._entries.values())
    assert 0 < len(store._entries) < len(urls)
    assert client.get(urls[-1]).headers["X-Cache"] == "HIT"
    assert client.get(urls[0]).headers["X-Cache"] == "MISS"  # the least recently used went first


def test_gunicorn_serves_the_site_with_the_documented_settings(site_data: Path) -> None:
    """The README's command: gunicorn with webapp/gunicorn_conf.py; answers, caches, and stops cleanly."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [
            str(gunicorn),
            "-c",
            "python:webapp.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--log-level",
            "debug",
            f"webapp:create_app({str(site_data / 'site.db')!r})",
        ],
        cwd=Path(__file__).resolve().parents[1],
        stderr=subprocess.PIPE,
    )
    answers: list[tuple[int, str | None, bytes, str]] = []
    try:
        deadline = time.time() + 60
        while len(answers) < 2 and time.time() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/schools", timeout=10) as answer:
                    answers.append(
                        (
                            answer.status,
                            answer.headers["X-Cache"],
                            answer.read(),
                            answer.headers["Content-Security-Policy"],
                        )
                    )
            except OSError:
                time.sleep(0.2)  # still starting
    finally:
        server.terminate()
        _, log = server.communicate(timeout=20)
    assert len(answers) == 2, log.decode()[-3000:]
    assert [(status, cache) for status, cache, _, _ in answers] == [(200, "MISS"), (200, "HIT")]
    assert answers[0][2] == answers[1][2] and "default-src 'self'" in answers[1][3]
    assert server.returncode == 0 and b"Traceback" not in log, log.decode()[-3000:]


def test_the_site_starts_without_the_gis_stack() -> None:
    """Fewer objects for the garbage collector to walk (GeoPandas & co. tripled them) and a faster start."""
    import subprocess
    import sys

    code = (
        "import sys, webapp, webapp.pages, webapp.api, webapp.search; "
        "print(sorted(m for m in ('geopandas', 'pandas', 'shapely', 'pyproj', 'folium', 'numpy') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_the_site_imports_only_the_light_parts_of_mapgen() -> None:
    """webapp reads site.db; of the pipeline it may use only errors, the site.db agreement and the shared look."""
    import ast

    from conftest import ROOT

    allowed = {"mapgen.errors", "mapgen.sitetext", "mapgen.look"}
    used = set()
    for path in (ROOT / "webapp").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mapgen":
                used.add(node.module)
            elif isinstance(node, ast.Import):
                used |= {a.name for a in node.names if a.name.split(".")[0] == "mapgen"}
    assert used <= allowed and "mapgen.look" in used, used
