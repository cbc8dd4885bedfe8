"""RFC 9457 problem+json responses for every error, with a stable `code`."""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import DataError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from gullak.kit.errors import GullakError

MEDIA_TYPE = "application/problem+json"


class FastJSONResponse(JSONResponse):
    """JSON rendered by orjson, several times faster than the standard library's encoder: the
    app's default for problems and for answers without a response model (those with one are
    rendered to bytes by Pydantic, which FastAPI keeps doing)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)

log = structlog.get_logger("gullak.errors")

HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("route_not_found", "No such route"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    413: ("payload_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("rate_limited", "Too many requests"),
}


def problem(
    request: Request | None,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    **fields: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://gullak.dev/problems/{code}",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail or title,
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = request.scope.get("state", {}).get("request_id")
        if request_id:
            body["request_id"] = request_id
    # Extra members never replace the standard ones a client relies on.
    more = {**(extra or {}), **fields}
    body.update({k: v for k, v in more.items() if v is not None and k not in body})
    return FastJSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "amount") -> "amount"; ("query", "limit") -> "limit"; keep nested paths dotted.
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def on_gullak_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GullakError)
    retry_after = exc.extra.get("retry_after")
    # Clients and proxies read the wait from the standard header, not from the body.
    headers = {"Retry-After": str(retry_after)} if isinstance(retry_after, int) else None
    return problem(request, exc.status, exc.code, exc.title, exc.detail, headers=headers,
                   extra={"field": exc.field, **exc.extra})


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(
            request, 400, "malformed_json", "Malformed JSON", "The request body is not valid JSON."
        )
    items = [
        {"field": _field(e.get("loc", ())), "code": e.get("type", "invalid"), "message": e["msg"]}
        for e in errors
    ]
    first = items[0] if items else {"field": "body", "message": "invalid"}
    return problem(
        request,
        422,
        "validation_error",
        "Invalid input",
        f"{first['field']}: {first['message']}",
        field=first["field"],
        errors=items,
    )


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, title = HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
    return problem(request, exc.status_code, code, title, detail, headers=dict(exc.headers) if exc.headers else None)


async def on_integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A constraint the service did not anticipate: the transaction is already rolled back.
    log.warning("integrity_error", error=type(exc).__name__)
    return problem(request, 409, "conflict", "Conflict with the current state")


# SQLSTATE classes of a database that cannot answer now: connection (08), resources (53),
# operator intervention (57: shutdown, cancelled statement), system errors (58).
UNAVAILABLE_CLASSES = {"08", "53", "57", "58"}
RETRY_STATES = {"40001", "40P01"}  # serialization failure, deadlock: safe to retry


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return state if isinstance(state, str) else None


async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
    sqlstate = _sqlstate(exc)
    if sqlstate in RETRY_STATES:
        return problem(request, 409, "retry", "Concurrent update, please retry")
    if (sqlstate or "").startswith("22") or isinstance(getattr(exc, "orig", None), DataError):
        # A data exception: a value the column or function refuses (NUL in text, out of
        # range, untranslatable). The client's input, not the database, is at fault.
        log.warning("invalid_value", sqlstate=sqlstate)
        return problem(request, 422, "invalid_value", "Invalid value",
                       "A value is out of range or holds a character that cannot be stored.")
    unreachable = sqlstate is None and isinstance(exc, (OperationalError, InterfaceError))
    if unreachable or (sqlstate or "")[:2] in UNAVAILABLE_CLASSES:
        log.error("database_unavailable", sqlstate=sqlstate, error=type(exc).__name__)
        return problem(request, 503, "database_unavailable", "Database unavailable",
                       headers={"Retry-After": "1"})
    return await on_unexpected(request, exc)


async def on_pool_timeout(request: Request, exc: Exception) -> JSONResponse:
    # Every connection is busy: the database cannot take this request now.
    log.error("database_unavailable", error=type(exc).__name__)
    return problem(request, 503, "database_unavailable", "Database unavailable",
                   headers={"Retry-After": "1"})


async def on_unencodable(request: Request, exc: Exception) -> JSONResponse:
    # Text that cannot be encoded for the database (a lone surrogate that slipped past the
    # schemas): the input is at fault.
    log.warning("invalid_value", error=type(exc).__name__)
    return problem(request, 422, "invalid_value", "Invalid value",
                   "A value holds a character that cannot be stored.")


async def on_out_of_range(request: Request, exc: Exception) -> JSONResponse:
    # Arithmetic past the end of a type on a value that slipped past the schemas (a day 29
    # days before 0001-01-01, an hour after 9999-12-31 23:30): the input is at fault, as with
    # PostgreSQL's own "out of range" (22003). The unit of work is already rolled back.
    log.warning("invalid_value", error=type(exc).__name__)
    return problem(request, 422, "invalid_value", "Invalid value",
                   "A value is out of range or holds a character that cannot be stored.")


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error")
    return problem(request, 500, "internal_error", "Internal error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(GullakError, on_gullak_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(IntegrityError, on_integrity_error)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(PoolTimeout, on_pool_timeout)
    app.add_exception_handler(UnicodeEncodeError, on_unencodable)
    app.add_exception_handler(OverflowError, on_out_of_range)
    app.add_exception_handler(Exception, on_unexpected)
