"""JSON API: venue search, schools, a school's reachable venues, and its OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from webapp.cache import cacheable
from webapp.db import db, site
from webapp.openapi import openapi_document
from webapp.query import BadQueryError, VenueQuery, printable
from webapp.records import isochrones_geojson, school_json, school_venues, venue_detail
from webapp.search import page_geojson, search_schools, search_venues

api = Blueprint("api", __name__, url_prefix="/api")


@api.after_request
def _cors(response: Response) -> Response:
    """Let maps on other sites read the API (GET only; nothing here uses cookies or credentials)."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "GET"
    return response


@api.get("/venues")
@cacheable
def venues() -> ResponseReturnValue:
    """Search venues; see the OpenAPI document for the parameters."""
    info = site()
    query = VenueQuery.parse(request.args.to_dict(), info)
    page = search_venues(db(), query, info, current_app.config["MAPGEN_CLOCK"]())
    if query.format == "geojson":
        response = jsonify(page_geojson(page))
        response.mimetype = "application/geo+json"
        return response
    return jsonify(page.model_dump())


@api.get("/venues/<path:venue_id>")  # catalogue ids may hold "/"
@cacheable
def venue(venue_id: str) -> ResponseReturnValue:
    """One venue with its weekly opening intervals and the schools that reach it."""
    found = venue_detail(db(), venue_id)
    if found is None:
        abort(404, f"unknown venue_id {venue_id!r}")
    return jsonify(found)


@api.get("/schools")
@cacheable
def schools() -> ResponseReturnValue:
    """Schools (optionally those whose name contains every word of ``q``) with their reach counts."""
    q = request.args.get("q", "")
    if len(q) > 200:
        raise BadQueryError("q: at most 200 characters")
    q = printable(q)
    info = site()
    return jsonify(
        {
            "schools": search_schools(db(), q, info),
            "minutes": info.minutes,
            "categories": info.categories,
            "districts": info.districts,
        }
    )


@api.get("/schools/<school_id>/venues")
@cacheable
def school_reach(school_id: str) -> ResponseReturnValue:
    """Every venue one school reaches, with walk and bike minutes, sorted by time."""
    info = site()
    school = next((s for s in info.schools if s["school_id"] == school_id), None)
    if school is None:
        abort(404, f"unknown school_id {school_id!r}")
    return jsonify({"school": school_json(school), "minutes": info.minutes, "venues": school_venues(db(), school_id)})


@api.get("/schools/<school_id>/isochrones")
@cacheable
def school_isochrones(school_id: str) -> ResponseReturnValue:
    """The school's walk and bike isochrones, a GeoJSON FeatureCollection (WGS-84, or the tiles' datum)."""
    text = isochrones_geojson(db(), school_id)
    if text is None:
        abort(404, f"unknown school_id {school_id!r}")
    return Response(text, mimetype="application/geo+json")


@api.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3.1 document of this API (category values are this site's categories)."""
    return jsonify(openapi_document(site(), request.host_url.rstrip("/")))
