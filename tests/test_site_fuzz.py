"""schemathesis against the site's OpenAPI document (WSGI, no server): valid and invalid inputs, never a 5xx."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from webapp import create_app

pytestmark = pytest.mark.slow
EXAMPLES = 100  # per operation and generation mode: about 600 requests in all
PATHS = [
    "/api/venues",
    "/api/venues/{venue_id}",
    "/api/schools",
    "/api/schools/{school_id}/venues",
    "/api/schools/{school_id}/isochrones",
]


@pytest.fixture(scope="module")
def api_schema(site_data: Path):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_wsgi("/api/openapi.json", create_app(site_data / "site.db"))


def test_document_covers_every_api_route(api_schema, site_data: Path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(site_data / "site.db")
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(r.rule))
        for r in app.url_map.iter_rules()
        if str(r.rule).startswith("/api/")
    }  # <path:venue_id> is {venue_id} in the document
    assert routes == {*PATHS, "/api/openapi.json"}  # schemathesis leaves out the document's own path
    assert {op.ok().path for op in api_schema.get_all_operations()} == set(PATHS)


@pytest.mark.parametrize(
    ("path", "mode"),
    [
        *((path, GenerationMode.POSITIVE) for path in PATHS),
        # invalid inputs exist only for query parameters (any string is a valid path identifier: unknown → 404)
        *((path, GenerationMode.NEGATIVE) for path in ("/api/venues", "/api/schools")),
    ],
    ids=str,
)
def test_api_conforms_and_never_fails(api_schema, path: str, mode: GenerationMode) -> None:  # type: ignore[no-untyped-def]
    """All of schemathesis' checks: no 5xx, documented status codes, content types and response schemas."""
    operation = api_schema[path]["GET"]
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call_and_validate()
        statuses.append(response.status_code)
        if response.status_code >= 400:
            assert response.json()["status"] == response.status_code and "Traceback" not in response.text

    run()
    assert statuses and max(statuses) < 500
