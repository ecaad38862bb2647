"""Whole-response cache: ``site.db`` is read-only, so a page or API answer stays right until the next publish.

The cache sits in front of Flask as WSGI middleware. A hit skips routing, the database and
the templates. Views opt in with :func:`cacheable`; only their ``200`` answers to ``GET`` are
kept. The key is the path, the query string and the page language (from ``?lang=`` or the
cookie), plus the current minute of the city's clock when the query asks ``open=now``. The
cache empties when ``site.db`` is replaced or the build's per-school files change. Every
cacheable answer carries an ``ETag``, so browsers revalidate with ``If-None-Match`` and get
``304 Not Modified``, and ``X-Cache: HIT`` or ``MISS``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl

from flask import request
from werkzeug.http import parse_cookie

from webapp.i18n import choose_language

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

CACHEABLE = "mapgen.cacheable"  # environ flag a cacheable view sets for the middleware
F = TypeVar("F", bound=Callable[..., Any])


def cacheable(view: F) -> F:
    """Mark a view whose answer depends only on the URL, the language and ``site.db`` (and the clock for ``open=now``).

    Parameters
    ----------
    view
        A Flask view function.

    Returns
    -------
    The same view, which now flags its request for :class:`ResponseCache`.
    """

    @functools.wraps(view)
    def flagged(*args: Any, **kwargs: Any) -> Any:
        request.environ[CACHEABLE] = True
        return view(*args, **kwargs)

    return flagged  # type: ignore[return-value]


class ResponseCache:
    """WSGI middleware keeping the answers of :func:`cacheable` views in a least-recently-used store.

    Parameters
    ----------
    app
        The WSGI application (Flask's ``app.wsgi_app``).
    watched
        Files and folders whose modification times the answers depend on: ``site.db``, and the
        folder of the build's per-school maps and PDFs (a school page links those that exist).
        When one of them changes, the cache empties.
    max_bytes
        Size limit of the stored bodies (0 turns the cache off; ETags are still sent).
    clock
        Returns the city's current time; the minute is part of the key of ``open=now`` queries.
    cookie
        Name of the language cookie.
    """

    def __init__(
        self, app: WSGIApplication, watched: list[Path], max_bytes: int, clock: Callable[[], datetime], cookie: str
    ) -> None:
        self.app = app
        self.watched = watched
        self.max_bytes = max_bytes
        self.clock = clock
        self.cookie = cookie
        self._entries: OrderedDict[tuple[str, ...], tuple[str, list[tuple[str, str]], bytes, str]] = OrderedDict()
        self._size = 0
        self._stamp: tuple[int, ...] = ()
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer from the store when possible, else from the app (keeping the answer if its view allows)."""
        if environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        key = self._key(environ)
        stamp = tuple(_mtime(p) for p in self.watched)
        with self._lock:
            if stamp != self._stamp:  # a new publish replaced site.db, or the build's files changed
                self._entries.clear()
                self._size, self._stamp = 0, stamp
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        served_from = "HIT" if entry is not None else "MISS"
        if entry is None:
            captured: list[Any] = []

            def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                captured[:] = [status, headers, exc_info]
                return lambda data: None  # the legacy write() callable; Flask never uses it

            answer = self.app(environ, capture)
            status, headers, exc_info = captured
            if not (environ.get(CACHEABLE) and status.startswith("200 ")):
                start_response(status, headers, exc_info)
                return answer  # files stream on, unbuffered
            try:
                body = b"".join(answer)
            finally:
                if hasattr(answer, "close"):
                    answer.close()  # Flask's teardown (returns the request context)
            etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
            entry = (status, [*headers, ("ETag", etag), ("Cache-Control", "no-cache")], body, etag)
            self._store(key, entry, stamp)
        status, headers, body, etag = entry
        headers = [*headers, ("X-Cache", served_from)]
        if etag in environ.get("HTTP_IF_NONE_MATCH", ""):
            start_response("304 Not Modified", [(k, v) for k, v in headers if k.lower() != "content-length"])
            return []
        start_response(status, headers)
        return [body]

    def _key(self, environ: WSGIEnvironment) -> tuple[str, ...]:
        query = environ.get("QUERY_STRING", "")
        # first value wins and blank values count, as in request.args (`?lang=&lang=en` is not English)
        args = dict(reversed(parse_qsl(query, keep_blank_values=True))) if query else {}
        cookies = parse_cookie(environ.get("HTTP_COOKIE", "")) if "HTTP_COOKIE" in environ else {}
        lang = choose_language(args.get("lang"), cookies.get(self.cookie))
        minute = self.clock().strftime("%Y-%m-%dT%H:%M") if args.get("open") == "now" else ""
        return (environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""), query, lang, minute)

    def _store(
        self, key: tuple[str, ...], entry: tuple[str, list[tuple[str, str]], bytes, str], stamp: tuple[int, ...]
    ) -> None:
        size = len(entry[2])
        if size > self.max_bytes // 8:  # one answer may take at most an eighth of the store
            return
        with self._lock:
            if stamp != self._stamp:  # answered from the database that was just replaced
                return
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old[2])
            self._entries[key] = entry
            self._size += size
            while self._size > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped[2])


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return 0
