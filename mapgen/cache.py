"""On-disk cache of parsed OSM extracts and street graphs, keyed by the input file's hash and the settings."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from mapgen.config import Settings

T = TypeVar("T")

# Bump when the pickled structures (OsmExtract, StreetGraph) change shape.
CACHE_FORMAT = 1
# The code that shapes what is cached: an edit to it (e.g. a mode rule) makes new keys.
_SHAPING_CODE = ("_osm.py", "network.py")


def cache_folder(settings: Settings) -> Path:
    """Return the cache folder: ``settings.cache_dir``, else ``$MAPGEN_CACHE_DIR``, else the user cache."""
    if settings.cache_dir is not None:
        return Path(settings.cache_dir)
    if os.environ.get("MAPGEN_CACHE_DIR"):
        return Path(os.environ["MAPGEN_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mapgen"


def file_digest(path: str | Path) -> str:
    """Return the BLAKE2b hex digest of a file's bytes."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.cache
def _code_digest() -> str:
    here = Path(__file__).parent
    return "-".join(file_digest(here / name)[:12] for name in _SHAPING_CODE)


def cached(kind: str, key: Mapping[str, object], build: Callable[[], T], settings: Settings) -> T:
    """Return the object cached under (`kind`, `key`), or `build` it and cache it.

    Parameters
    ----------
    kind
        What is cached (``extract``, ``graph``): the file name prefix.
    key
        JSON-serialisable description of everything the object depends on
        (input file digest, settings that shape it).
    build
        Makes the object when it is not cached.
    settings
        ``graph_cache`` (off: always build) and ``cache_dir``.

    Returns
    -------
    The cached or freshly built object.
    """
    if not settings.graph_cache:
        return build()
    full = {"format": CACHE_FORMAT, "code": _code_digest(), **key}
    name = hashlib.sha256(json.dumps(full, sort_keys=True, default=str).encode()).hexdigest()
    path = cache_folder(settings) / f"{kind}-{name[:24]}.pickle"
    if path.is_file():
        try:
            with open(path, "rb") as stored:
                return pickle.load(stored)  # noqa: S301 - our own cache folder
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            path.unlink(missing_ok=True)  # stale or truncated: rebuild
    value = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp", delete=False) as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(f.name, path)  # atomic: concurrent builds never read half a file
    except OSError:
        pass  # a read-only or full disk only costs the next run its speed-up
    return value
