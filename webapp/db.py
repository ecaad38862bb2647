"""Read-only access to ``site.db``: one connection per request, site metadata cached until the file changes."""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

_local = threading.local()  # server threads keep their connection: opening one costs more than a query


@dataclass(frozen=True)
class SiteInfo:
    """What every page needs from the database: metadata, categories, districts, schools."""

    meta: dict[str, str]
    categories: list[dict[str, object]]
    districts: list[str]
    schools: list[dict[str, object]]
    district_counts: dict[str, int]
    venues: int

    @property
    def without_district(self) -> int:
        """Venues whose data names no district (the district filter can never find them)."""
        return self.venues - sum(self.district_counts.values())

    @property
    def minutes(self) -> float:
        """The build's travel-time limit (the largest ``max_minutes`` allowed)."""
        return float(self.meta["minutes"])


def connect(path: Path) -> sqlite3.Connection:
    """Open the database read-only (SQLite URI ``mode=ro``); rows come back as ``sqlite3.Row``.

    Parameters
    ----------
    path
        The ``site.db`` file.
    """
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    con.row_factory = sqlite3.Row
    return con


def db() -> sqlite3.Connection:
    """Return this thread's read-only connection, reopened when ``site.db`` was replaced by a new publish."""
    path: Path = current_app.config["MAPGEN_DB"]
    stamp = os.stat(path).st_mtime_ns
    cached = getattr(_local, "con", None)
    if cached is None or cached[0] != (path, stamp):
        if cached is not None:
            cached[1].close()
        _local.con = ((path, stamp), connect(path))
    return _local.con[1]


def site() -> SiteInfo:
    """Return the cached :class:`SiteInfo`, reloaded when ``site.db`` was replaced by a new publish."""
    path: Path = current_app.config["MAPGEN_DB"]
    stamp = os.stat(path).st_mtime_ns
    cache = current_app.extensions.setdefault("mapgen_site", {})
    if cache.get("stamp") != stamp:
        cache["info"], cache["stamp"] = load_site(db()), stamp
    return cache["info"]


def load_site(con: sqlite3.Connection) -> SiteInfo:
    """Read metadata, categories (in build order), districts and schools with their reach counts.

    Parameters
    ----------
    con
        A connection to ``site.db``.
    """
    meta = {r["key"]: r["value"] for r in con.execute("SELECT key, value FROM meta")}
    categories = [dict(r) for r in con.execute("SELECT key, zh, en, n, color FROM categories ORDER BY position")]
    district_counts = {
        r[0]: r[1]
        for r in con.execute("SELECT district, count(*) FROM venues WHERE district != '' GROUP BY district ORDER BY 1")
    }
    schools = [
        dict(r)
        for r in con.execute(
            "SELECT s.id, s.school_id, s.name, s.name_en, s.lon, s.lat, s.map_lon, s.map_lat,"
            " (SELECT count(*) FROM reach r WHERE r.school = s.id AND r.mode = 'walk') AS walk,"
            " (SELECT count(*) FROM reach r WHERE r.school = s.id AND r.mode = 'bike') AS bike"
            " FROM schools s ORDER BY s.name"
        )
    ]
    venues = con.execute("SELECT count(*) FROM venues").fetchone()[0]
    return SiteInfo(meta, categories, list(district_counts), schools, district_counts, venues)
