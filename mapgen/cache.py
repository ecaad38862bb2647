"""On-disk cache of parsed OSM extracts and street graphs: checksummed numpy arrays, keyed by input hash and settings."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np
from rich.markup import escape

from mapgen.config import Settings
from mapgen.progress import console

T = TypeVar("T")
Arrays = dict[str, np.ndarray]

# Bump when the stored arrays (of OsmExtract, StreetGraph) change shape.
CACHE_FORMAT = 2
#: File suffix of a cache entry: a magic line, the SHA-256 of the rest, then an ``.npz`` archive (no pickles).
CACHE_SUFFIX = ".mapgen-cache"
_MAGIC = b"MAPGEN-CACHE-2\n"
_DIGEST = 32
# The code that shapes what is cached: an edit to it (e.g. a mode rule) makes new keys.
_SHAPING_CODE = ("osm_extract.py", "network.py")


class CorruptCacheError(ValueError):
    """Exception for a cache file whose bytes are not what was written (flipped, truncated, forged)."""


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


def dump_arrays(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Return `arrays` as cache-file bytes: magic line, SHA-256 of the archive, ``.npz`` archive.

    Raises
    ------
    ValueError
        An array holds Python objects (they would need pickle, which the cache never uses).
    """
    buffer = io.BytesIO()
    for name, array in arrays.items():
        if array.dtype.hasobject:
            raise ValueError(f"cache array {name!r} holds Python objects")
    np.savez(buffer, allow_pickle=False, **arrays)
    payload = buffer.getvalue()
    return _MAGIC + hashlib.sha256(payload).digest() + payload


def load_arrays(data: bytes) -> Arrays:
    """Read cache-file bytes written by :func:`dump_arrays`, checking the checksum before anything is parsed.

    Raises
    ------
    CorruptCacheError
        Wrong magic line, checksum mismatch (flipped or missing bytes) or an archive that is not plain arrays.
    """
    if not data.startswith(_MAGIC):
        raise CorruptCacheError("not a mapgen cache file")
    digest, payload = data[len(_MAGIC) : len(_MAGIC) + _DIGEST], data[len(_MAGIC) + _DIGEST :]
    if hashlib.sha256(payload).digest() != digest:
        raise CorruptCacheError("checksum mismatch (flipped or missing bytes)")
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, KeyError, EOFError) as exc:  # pickled objects are refused as ValueError
        raise CorruptCacheError(f"not an archive of plain arrays ({exc})") from exc


def text_array(text: str) -> np.ndarray:
    """Return `text` as a uint8 array (UTF-8), for storing JSON in a cache file."""
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def array_text(array: np.ndarray) -> str:
    """Return the text stored by :func:`text_array`."""
    return np.asarray(array, dtype=np.uint8).tobytes().decode("utf-8")


def cached(
    kind: str,
    key: Mapping[str, object],
    build: Callable[[], T],
    settings: Settings,
    encode: Callable[[T], Mapping[str, np.ndarray]],
    decode: Callable[[Arrays], T],
) -> T:
    """Return the object cached under (`kind`, `key`), or `build` it and cache it.

    Cache files hold plain numpy arrays (no pickles, so a forged file cannot run code)
    behind a SHA-256 checksum verified before the arrays are read; a file that fails the
    check or cannot be decoded is discarded with one warning line and the object rebuilt.

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
    encode, decode
        Turn the object into named arrays and back (e.g. :func:`mapgen.network.graph_arrays`,
        :func:`mapgen.network.graph_from_arrays`); `decode` raises on arrays it cannot use.

    Returns
    -------
    The cached or freshly built object.
    """
    if not settings.graph_cache:
        return build()
    full = {"format": CACHE_FORMAT, "code": _code_digest(), **key}
    name = hashlib.sha256(json.dumps(full, sort_keys=True, default=str).encode()).hexdigest()
    path = cache_folder(settings) / f"{kind}-{name[:24]}{CACHE_SUFFIX}"
    if path.is_file():
        try:
            return decode(load_arrays(path.read_bytes()))
        except OSError:
            pass  # unreadable (permissions): rebuild, and try to replace it below
        except Exception as exc:
            console.print(
                f"[yellow]warning:[/yellow] cache file {escape(str(path))} is damaged "
                f"({escape(str(exc))}); discarded, rebuilding",
                highlight=False,
            )
            path.unlink(missing_ok=True)
    value = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, suffix=".tmp", delete=False) as f:
            f.write(dump_arrays(encode(value)))
        os.replace(f.name, path)  # atomic: concurrent builds never read half a file
    except OSError:
        pass  # a read-only or full disk only costs the next run its speed-up
    return value
