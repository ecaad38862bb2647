"""The OpenAPI 3.1 document of the JSON API, with the site's own categories and time limit as constraints."""

from __future__ import annotations

from collections.abc import Mapping

from webapp.db import SiteInfo
from webapp.query import BBOX_PATTERN, MAX_LIMIT, MAX_PAGE, MAX_RADIUS_M, NEAR_PATTERN, PAGE_SIZE

_TEXT = {"type": "string"}
_NULL_BOOL = {"type": ["boolean", "null"]}
_NULL_NUMBER = {"type": ["number", "null"]}


def openapi_document(info: SiteInfo, server: str) -> dict[str, object]:
    """Return the OpenAPI document.

    Parameters
    ----------
    info
        Site metadata: category keys become an enum, the build's minutes the maximum of ``max_minutes``.
    server
        Base URL of this site.
    """
    venue = {
        "type": "object",
        "required": ["venue_id", "name", "category", "lon", "lat"],
        "properties": {
            **{
                k: _TEXT
                for k in (
                    "venue_id",
                    "name",
                    "name_en",
                    "category",
                    "category_zh",
                    "category_en",
                    "opening_hours",
                    "fee",
                    "access",
                    "district",
                    "address",
                    "phone",
                    "safety",
                    "source",
                    "osm_id",
                )
            },
            "website": {"type": "string", "description": "An http(s) address, or empty."},
            "distance_m": {"type": "number", "description": "Metres from `near` (only with `near`)."},
            "hours_known": {"type": "boolean"},
            "open_after_school": _NULL_BOOL,
            "open_weekend": _NULL_BOOL,
            "free": _NULL_BOOL,
            "lon": {"type": "number"},
            "lat": {"type": "number"},
            "map_lon": {"type": "number"},
            "map_lat": {"type": "number"},
            "minutes": _NULL_NUMBER,
        },
    }
    school = {
        "type": "object",
        "required": ["school_id", "name", "venues_walk", "venues_bike"],
        "properties": {
            "school_id": _TEXT,
            "name": _TEXT,
            "name_en": _TEXT,
            "lon": {"type": "number"},
            "lat": {"type": "number"},
            "venues_walk": {"type": "integer"},
            "venues_bike": {"type": "integer"},
        },
    }
    page_fields = ["total", "page", "pages", "per_page", "next", "prev", "warnings"]
    page_properties: dict[str, object] = {
        "total": {"type": "integer"},
        "page": {"type": "integer"},
        "pages": {"type": "integer"},
        "per_page": {"type": "integer"},
        "next": {"type": ["integer", "null"], "description": "The next page, null on the last."},
        "prev": {"type": ["integer", "null"], "description": "The previous page, null on the first."},
        "unknown_hours": {
            "type": ["integer", "null"],
            "description": "With `open`: venues that pass the other "
            "filters but whose hours are unknown (not counted in `total`).",
        },
        "unknown_free": {
            "type": ["integer", "null"],
            "description": "With `free`: venues that pass the other "
            "filters but whose fee is unknown (not counted in `total`).",
        },
        "warnings": {"type": "array", "items": _TEXT, "description": "Parameters given but without effect, and why."},
    }
    error = {
        "type": "object",
        "required": ["error", "message", "status"],
        "properties": {"error": _TEXT, "message": _TEXT, "status": {"type": "integer"}},
    }
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    errors = {
        code: {"description": text, "content": error_body}
        for code, text in (("400", "invalid parameter"), ("404", "unknown identifier"))
    }

    def param(name: str, schema: Mapping[str, object], description: str, where: str = "query") -> dict[str, object]:
        return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description}

    venue_params = [
        param(
            "q",
            {"type": "string", "maxLength": 200},
            "Words to find in names, addresses, categories "
            "(3+ characters: FTS5 trigram index; 1–2 characters: substring match).",
        ),
        param("category", {"type": "string", "enum": [c["key"] for c in info.categories]}, "Category key."),
        param("district", {"type": "string", "maxLength": 100}, "District, as in the venue data."),
        param("free", {"type": "boolean"}, "Only venues known to be free."),
        param(
            "school",
            {"type": "string", "enum": [s["school_id"] for s in info.schools]},
            "Only venues this school reaches; results are then sorted by travel time.",
        ),
        param("mode", {"type": "string", "enum": ["walk", "bike"], "default": "walk"}, "Travel mode for `school`."),
        param(
            "max_minutes",
            {"type": "number", "exclusiveMinimum": 0, "maximum": info.minutes},
            "Time limit for `school`, minutes (default: the build's limit); without `school` it is ignored "
            "and `warnings` says so.",
        ),
        param(
            "open",
            {"type": "string", "enum": ["now", "after_school", "weekend"]},
            "Opening-hours filter: open now (city time), open all of the after-school window on some weekday, "
            "open on Saturday or Sunday. Venues with unknown hours are left out.",
        ),
        param(
            "bbox",
            {"type": "string", "pattern": BBOX_PATTERN},
            "Only venues in this box: west,south,east,north in degrees (WGS-84); west > east crosses the "
            "antimeridian; south > north holds nothing (said in `warnings`).",
        ),
        param(
            "near",
            {"type": "string", "pattern": NEAR_PATTERN},
            "Only venues within `radius_m` of this point, lon,lat in degrees (WGS-84); results then carry "
            "`distance_m` and, without `school`, are sorted by it.",
        ),
        param(
            "radius_m",
            {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_RADIUS_M, "default": 1000},
            "Radius around `near`, metres.",
        ),
        param(
            "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": PAGE_SIZE}, "Results per page."
        ),
        param(
            "page",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
            "Result page; a page past the last answers 404 (page 1 always exists).",
        ),
        param(
            "format",
            {"type": "string", "enum": ["json", "geojson"], "default": "json"},
            "`geojson`: a FeatureCollection of points (`application/geo+json`) with the page's members.",
        ),
    ]

    def ok(schema: dict[str, object], text: str) -> dict[str, object]:
        return {"description": text, "content": {"application/json": {"schema": schema}}}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"mapgen venue search — {info.meta.get('title', '')}",
            "version": "1",
            "description": f"Venues within {info.minutes:g} minutes of schools on foot or by bike. "
            f"Data {info.meta.get('attribution', '')}.",
        },
        "servers": [{"url": server}],
        "paths": {
            "/api/venues": {
                "get": {
                    "operationId": "searchVenues",
                    "summary": "Search venues",
                    "parameters": venue_params,
                    "responses": {
                        "200": {
                            "description": "one page of venues",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/VenuePage"}},
                                "application/geo+json": {"schema": {"$ref": "#/components/schemas/VenueCollection"}},
                            },
                        },
                        "400": errors["400"],
                        "404": {"description": "page past the last page", "content": error_body},
                    },
                }
            },
            "/api/venues/{venue_id}": {
                "get": {
                    "operationId": "getVenue",
                    "summary": "One venue, its weekly hours and the schools reaching it",
                    "parameters": [param("venue_id", _TEXT, "Venue identifier (e.g. osm-w123).", "path")],
                    "responses": {
                        "200": ok({"$ref": "#/components/schemas/VenueDetail"}, "the venue"),
                        "404": errors["404"],
                    },
                }
            },
            "/api/schools": {
                "get": {
                    "operationId": "listSchools",
                    "summary": "Schools with their reach counts",
                    "parameters": [param("q", {"type": "string", "maxLength": 200}, "Words in the school name.")],
                    "responses": {
                        "200": ok(
                            {
                                "type": "object",
                                "required": ["schools", "minutes"],
                                "properties": {
                                    "schools": {"type": "array", "items": {"$ref": "#/components/schemas/School"}},
                                    "minutes": {"type": "number"},
                                    "categories": {"type": "array"},
                                    "districts": {"type": "array", "items": _TEXT},
                                },
                            },
                            "schools",
                        ),
                        "400": errors["400"],
                    },
                }
            },
            "/api/schools/{school_id}/venues": {
                "get": {
                    "operationId": "schoolVenues",
                    "summary": "Venues one school reaches, with walk and bike minutes",
                    "parameters": [param("school_id", _TEXT, "School identifier (e.g. osm-w123).", "path")],
                    "responses": {
                        "200": ok(
                            {
                                "type": "object",
                                "required": ["school", "venues"],
                                "properties": {
                                    "school": {"$ref": "#/components/schemas/School"},
                                    "minutes": {"type": "number"},
                                    "venues": {
                                        "type": "array",
                                        "items": {
                                            "allOf": [
                                                {"$ref": "#/components/schemas/Venue"},
                                                {
                                                    "type": "object",
                                                    "properties": {"walk": _NULL_NUMBER, "bike": _NULL_NUMBER},
                                                },
                                            ]
                                        },
                                    },
                                },
                            },
                            "reachable venues",
                        ),
                        "404": errors["404"],
                    },
                }
            },
            "/api/schools/{school_id}/isochrones": {
                "get": {
                    "operationId": "schoolIsochrones",
                    "summary": "The school's walk and bike isochrones",
                    "parameters": [param("school_id", _TEXT, "School identifier (e.g. osm-w123).", "path")],
                    "responses": {
                        "200": {
                            "description": "GeoJSON FeatureCollection, one feature per mode",
                            "content": {
                                "application/geo+json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["type", "features"],
                                        "properties": {
                                            "type": {"const": "FeatureCollection"},
                                            "features": {"type": "array"},
                                        },
                                    }
                                }
                            },
                        },
                        "404": errors["404"],
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": ok({"type": "object"}, "OpenAPI 3.1")},
                }
            },
        },
        "components": {
            "schemas": {
                "Venue": venue,
                "VenueDetail": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Venue"},
                        {
                            "type": "object",
                            "properties": {
                                "opening": {
                                    "type": "array",
                                    "items": {"type": "array", "items": {"type": "integer"}},
                                    "description": "[weekday (0 = Monday), open minute, close minute]",
                                },
                                "schools": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                    ]
                },
                "VenuePage": {
                    "type": "object",
                    "required": [*page_fields, "results"],
                    "properties": {
                        **page_properties,
                        "results": {"type": "array", "items": {"$ref": "#/components/schemas/Venue"}},
                    },
                },
                "VenueCollection": {
                    "type": "object",
                    "required": ["type", *page_fields, "features"],
                    "properties": {
                        **page_properties,
                        "type": {"const": "FeatureCollection"},
                        "features": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["type", "geometry", "properties"],
                                "properties": {
                                    "type": {"const": "Feature"},
                                    "id": _TEXT,
                                    "geometry": {
                                        "type": "object",
                                        "required": ["type", "coordinates"],
                                        "properties": {
                                            "type": {"const": "Point"},
                                            "coordinates": {
                                                "type": "array",
                                                "items": {"type": "number"},
                                                "minItems": 2,
                                                "maxItems": 2,
                                            },
                                        },
                                    },
                                    "properties": {"$ref": "#/components/schemas/Venue"},
                                },
                            },
                        },
                    },
                },
                "School": school,
                "Error": error,
            }
        },
    }
