"""Read-only access to ``site.db``: one connection per request, site metadata cached until the file changes."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, g


@dataclass(frozen=True)
class SiteInfo:
    """What every page needs from the database: metadata, categories, districts, schools."""

    meta: dict[str, str]
    categories: list[dict[str, object]]
    districts: list[str]
    schools: list[dict[str, object]]

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
    """Return this request's read-only connection (opened on first use, closed at teardown)."""
    if "db" not in g:
        g.db = connect(current_app.config["MAPGEN_DB"])
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    """Close the request's connection, if one was opened."""
    con = g.pop("db", None)
    if con is not None:
        con.close()


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
    categories = [dict(r) for r in con.execute("SELECT key, zh, en, n FROM categories ORDER BY position")]
    districts = [r[0] for r in con.execute("SELECT DISTINCT district FROM venues WHERE district != '' ORDER BY 1")]
    schools = [dict(r) for r in con.execute(
        "SELECT s.id, s.school_id, s.name, s.name_en, s.lon, s.lat,"
        " (SELECT count(*) FROM reach r WHERE r.school = s.id AND r.mode = 'walk') AS walk,"
        " (SELECT count(*) FROM reach r WHERE r.school = s.id AND r.mode = 'bike') AS bike"
        " FROM schools s ORDER BY s.name"
    )]
    return SiteInfo(meta, categories, districts, schools)
