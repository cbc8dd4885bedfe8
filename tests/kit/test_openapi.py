"""Every operation documents the errors it can return, as problem+json."""

from __future__ import annotations

from typing import Any

import pytest

from gullak.app import create_app
from gullak.kit.problems import MEDIA_TYPE
from gullak.settings import Settings


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings(env="test")).openapi()


def responses(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return dict(document["paths"][path][method]["responses"])


def test_every_error_is_a_problem(document: dict[str, Any]) -> None:
    errors = [(path, status, response) for path, methods in document["paths"].items()
              for operation in methods.values()
              for status, response in operation["responses"].items() if status >= "400"]
    assert len(errors) > 500
    for path, status, response in errors:
        if path == "/ready":
            continue  # not ready is the readiness report itself
        assert response["content"] == {MEDIA_TYPE: {"schema": {
            "$ref": "#/components/schemas/Problem"}}}, (path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["schemas"]["Problem"]["required"] == [
        "type", "title", "status", "code", "detail"]


def test_errors_follow_from_the_route(document: dict[str, Any]) -> None:
    # Permission-guarded, with a body naming other resources.
    assert set(responses(document, "post", "/v1/ledger/transfers")) == {
        "201", "400", "401", "403", "404", "409", "413", "415", "422", "503"}
    # Public, by id.
    assert set(responses(document, "get", "/v1/merchants/{merchant_id}")) == {
        "200", "404", "422", "503"}
    # No input, no database.
    assert set(responses(document, "get", "/health")) == {"200"}
    # Declared by the route: rate limits and refused sign-ins.
    assert {"401", "429"} <= set(responses(document, "post", "/v1/auth/otp/verify"))
    assert document["paths"]["/v1/me"]["get"]["security"] == [{"bearer": []}, {"basic": []}]


def test_codes_are_listed(document: dict[str, Any]) -> None:
    described = responses(document, "post", "/v1/admin/merchants")["422"]["description"]
    assert "`validation_error`" in described and "`invalid_value`" in described
