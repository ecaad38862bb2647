"""The search site: a Flask app that only reads ``site.db`` written by ``mapgen publish``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Flask, Response, g, jsonify, make_response, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask.templating import Environment
from werkzeug.exceptions import HTTPException

from mapgen.errors import InputFileError
from mapgen.sitetext import SCHEMA_VERSION
from webapp.cache import ResponseCache
from webapp.db import connect
from webapp.i18n import LANGUAGES, choose_language, error_key, translate
from webapp.query import BadQueryError, PastLastPageError

log = logging.getLogger(__name__)
LANG_COOKIE = "lang"
DEFAULT_CACHE_MB = 64.0


class _HtmlSafeJSON(DefaultJSONProvider):
    """JSON with readable Chinese, and ``<``, ``>``, ``&``, ``'`` escaped so no response can be read as markup."""

    ensure_ascii = False
    sort_keys = False

    def dumps(self, obj: object, **kwargs: object) -> str:
        text = super().dumps(obj, **kwargs)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("'", "\\u0027")


class _DictFirstEnvironment(Environment):
    """Jinja environment that reads ``row.name`` of a dict as ``row["name"]`` first.

    Jinja tries the attribute first and falls back to the item on ``AttributeError``; the
    site's rows are dicts, and that exception on every field made rendering half as fast.
    """

    def getattr(self, obj: object, attribute: str) -> object:
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


class _SiteFlask(Flask):
    jinja_environment = _DictFirstEnvironment


def create_app(
    db_path: str | Path, clock: Callable[[], datetime] | None = None, cache_mb: float = DEFAULT_CACHE_MB
) -> Flask:
    """Create the site for one ``site.db``.

    Parameters
    ----------
    db_path
        The database written by ``mapgen publish`` (opened read-only, SQLite ``mode=ro``).
        Static maps and PDFs next to it (``schools/<id>.html``, ``schools/<id>.pdf``) are linked and served.
    clock
        Returns the current time for "open now" (default: now, in the city's time zone from ``site.db``).
    cache_mb
        Size of the in-memory cache of whole answers, in MB per process (0: no cache). The
        database is read-only, so answers stay right until ``site.db`` is replaced, which empties it.

    Returns
    -------
    flask.Flask
    """
    path = Path(db_path).absolute()  # send_from_directory reads a relative folder from the package, not the cwd
    if not path.is_file():
        raise InputFileError(f"{path}: not found; write it with `mapgen publish --data DIR`")
    with connect(path) as con:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    con.close()
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise InputFileError(f"{path}: written by another mapgen version; run `mapgen publish` again")
    zone = ZoneInfo(meta.get("timezone") or "UTC")

    app = _SiteFlask(__name__)
    now = clock or (lambda: datetime.now(zone))
    app.config.update(
        MAPGEN_DB=path,
        MAPGEN_DATA=path.parent,
        MAPGEN_CLOCK=now,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        MAX_CONTENT_LENGTH=0,
    )
    if cache_mb < 0:
        raise ValueError(f"cache_mb must be 0 or more, not {cache_mb}")
    app.wsgi_app = ResponseCache(  # type: ignore[method-assign]  # Flask's documented way to add middleware
        app.wsgi_app, [path, path.parent / "schools"], int(cache_mb * 1e6), now, LANG_COOKIE
    )
    app.json = _HtmlSafeJSON(app)
    app.jinja_env.autoescape = True
    app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True
    csp = _content_security_policy(meta.get("tiles_url", ""))

    from webapp.api import api
    from webapp.pages import pages

    app.register_blueprint(pages)
    app.register_blueprint(api)

    @app.before_request
    def _language() -> None:
        g.lang = choose_language(request.args.get("lang"), request.cookies.get(LANG_COOKIE))

    @app.after_request
    def _headers(response: Response) -> Response:
        if request.args.get("lang") in LANGUAGES:
            response.set_cookie(LANG_COOKIE, request.args["lang"], max_age=365 * 86400, samesite="Lax", httponly=True)
        built_page = request.path.startswith("/files/") and response.mimetype == "text/html"
        response.headers.setdefault("Content-Security-Policy", csp[built_page])
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        response.headers["Permissions-Policy"] = "geolocation=(), camera=(), microphone=()"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.vary.add("Cookie")
        return response

    @app.errorhandler(BadQueryError)
    def _bad_query(exc: BadQueryError) -> Response:
        return _error(400, "Bad Request", str(exc), exc.zh)

    @app.errorhandler(PastLastPageError)
    def _past_last_page(exc: PastLastPageError) -> Response:
        return _error(404, "Not Found", str(exc), exc.zh)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = _error(exc.code or 500, exc.name, exc.description or exc.name)
        extra = dict(exc.get_headers())
        for key in ("Allow", "Retry-After"):
            if key in extra:
                response.headers[key] = extra[key]
        return response

    @app.errorhandler(Exception)
    def _server_error(exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.path)
        return _error(500, "Internal Server Error", "the server could not answer this request")

    return app


def _error(code: int, name: str, message: str, message_zh: str | None = None) -> Response:
    """Answer an error as JSON under /api/, as a page elsewhere (in the page's language); never with a traceback.

    Werkzeug's own descriptions are English; Chinese pages show the site's Chinese text for the
    status instead, and `message_zh` where the site wrote one.
    """
    if request.path.startswith("/api/"):
        response = jsonify(error=name, message=message, status=code)
        if request.path.startswith("/api/") and code < 500:
            response.headers["Access-Control-Allow-Origin"] = "*"
    else:
        if g.get("lang", "zh") == "zh":
            message = message_zh or translate(error_key(code) + "_message", "zh")
        response = make_response(render_template("error.html", code=code, name=name, message=message))
    response.status_code = code
    return response


def _content_security_policy(tiles_url: str) -> dict[bool, str]:
    """Return the CSP of the site's pages (False) and of the built static maps under /files/ (True).

    Scripts and styles come only from the site itself; images also from the tile server.
    The static maps written by ``mapgen build`` (folium) need their inline scripts.
    """
    parts = urlsplit(tiles_url.replace("{s}", "*"))
    tiles = f"{parts.scheme}://{parts.netloc.replace('{', '').replace('}', '')}" if parts.netloc else ""
    common = (
        f"default-src 'self'; img-src 'self' data: {tiles}; connect-src 'self'; font-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return {
        False: f"{common}; script-src 'self'; style-src 'self'",
        True: f"{common}; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'",
    }


__all__ = ["create_app"]
