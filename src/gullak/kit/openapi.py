"""The errors of every operation in the OpenAPI document, so that a generated client has a type
for them: each answers problem+json (RFC 9457) with a stable `code`.

Which errors an operation can return is read from the route: its dependencies (authentication,
permissions, the database), its parameters and its body. What the route cannot show (a rate
limit inside a service, a lookup by query) it declares with `responses=errors(...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from gullak.db.uow import request_session
from gullak.kit import security
from gullak.kit.errors import GullakError
from gullak.kit.problems import HTTP_CODES, MEDIA_TYPE

REF = "#/components/schemas/Problem"
PROBLEM: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details. Switch on `code`; `detail` is for people.",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "description": "Stable, machine-readable."},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The path of the request."},
        "request_id": {"type": "string"},
        "field": {"type": "string", "description": "The input at fault, dotted."},
        "errors": {
            "type": "array",
            "description": "Every invalid input, for validation errors.",
            "items": {
                "type": "object",
                "required": ["field", "code", "message"],
                "properties": {"field": {"type": "string"}, "code": {"type": "string"},
                               "message": {"type": "string"}},
            },
        },
    },
    # Some problems say more (`retry_after`, `permission`).
    "additionalProperties": True,
}

TITLES = {
    400: "Malformed request",
    401: "Authentication required or refused",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    503: "Database unavailable",
}
# Codes the platform itself answers with, beside the domains' error classes.
BASE_CODES = {
    400: {"malformed_json", "bad_request"},
    404: {"route_not_found"},
    409: {"retry"},
    422: {"validation_error", "invalid_value"},
    503: {"database_unavailable"},
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
BODY_METHODS = {"POST", "PUT", "PATCH"}
_DECLARED = "x-gullak-errors"


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For a route's `responses=`: errors the route returns that its signature does not show."""
    return {status: {"description": TITLES[status], _DECLARED: True} for status in statuses}


def install(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        # FastAPI builds the document again when routes change: describe each new one once.
        schema = build()
        if "Problem" not in schema.get("components", {}).get("schemas", {}):
            document(app, schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def document(app: FastAPI, schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "An access token of a user, merchant user or admin."},
        "basic": {"type": "http", "scheme": "basic",
                  "description": "A service client's API key as `holder:key`."},
    }
    codes = _codes()
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        path = schema.get("paths", {}).get(route.path_format, {})
        for method in route.methods or ():
            operation = path.get(method.lower())
            if operation is not None:
                _describe(route, method, operation, codes, schemas)
    # FastAPI's own validation shapes are never sent: every 422 is a Problem.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def _describe(route: RouteContext, method: str, operation: dict[str, Any],
              codes: dict[int, set[str]], schemas: dict[str, Any]) -> None:
    calls = {d.call for d in _dependants(route.dependant) if d.call is not None}
    statuses: set[int] = set()
    if security.current_subject in calls:
        statuses.add(401)
        operation["security"] = [{"bearer": []}, {"basic": []}]
    if any(_is_guard(call) for call in calls):
        statuses.add(403)
    dependants = [route.dependant, *_dependants(route.dependant)]
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    if any(d.path_params for d in dependants) or _names_others(body.get("schema"), schemas):
        statuses.add(404)
    if route.body_field is not None or any(
            d.path_params or d.query_params or d.header_params or d.cookie_params
            for d in dependants):
        statuses.add(422)
    if route.body_field is not None:
        statuses.add(400)
    if method in BODY_METHODS:  # the body guard refuses any body too large or of another type
        statuses |= {413, 415}
    if request_session in calls:
        statuses.add(503)
        if method in WRITES:
            statuses.add(409)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for declared, response in list(responses.items()):
        if isinstance(response, dict) and response.pop(_DECLARED, False):
            statuses.add(int(declared))
    for status in sorted(statuses):
        names = ", ".join(f"`{c}`" for c in sorted(codes.get(status, ())))
        responses[str(status)] = {
            "description": f"{TITLES[status]}. Codes: {names}." if names else TITLES[status],
            "content": {MEDIA_TYPE: {"schema": {"$ref": REF}}},
        }
    operation["responses"] = dict(sorted(responses.items()))


def _names_others(schema: Any, schemas: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether a body names other resources (an id, an asset or other code), any of which may
    not exist: a 404."""
    if not isinstance(schema, dict):
        return False
    ref = schema.get("$ref", "")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return name not in seen and _names_others(schemas.get(name), schemas, seen | {name})
    for key, value in schema.get("properties", {}).items():
        if key.endswith(("_id", "_ids", "_code")) or value.get("format") == "uuid":
            return True
    nested = [*schema.get("properties", {}).values(), schema.get("items"),
              *schema.get("anyOf", []), *schema.get("oneOf", []), *schema.get("allOf", [])]
    return any(_names_others(n, schemas, seen) for n in nested)


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependants(sub)


def _is_guard(call: Callable[..., Any]) -> bool:
    # The guards that `require` and `require_kind` build: each refuses with 403.
    qualname = getattr(call, "__qualname__", "")
    return getattr(call, "__module__", None) == security.__name__ \
        and qualname.startswith(("require.", "require_kind."))


def _codes() -> dict[int, set[str]]:
    """Each status's codes: the platform's and those of every error class loaded."""
    found: dict[int, set[str]] = {s: set(c) for s, c in BASE_CODES.items()}
    for status, (code, _) in HTTP_CODES.items():
        found.setdefault(status, set()).add(code)
    pending: list[type[GullakError]] = [GullakError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.status, set()).add(cls.code)
        pending.extend(cls.__subclasses__())
    return found
