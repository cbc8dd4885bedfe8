"""The check every refusal gets: RFC 9457 problem+json with a stable code."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, code: str,
                   field: str | None = None) -> dict[str, Any]:
    """The response is the problem `status` / `code` (naming `field`, if given); its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM, response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    assert body["type"].endswith(f"/{code}") and body["title"] and body["detail"], body
    if field is not None:
        assert body.get("field") == field, body
    return body
