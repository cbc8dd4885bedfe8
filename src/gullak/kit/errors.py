"""The one error hierarchy. Services raise these; one handler turns them into problem+json.

Every class has a stable machine `code` that clients can switch on; the human `detail` may
change wording over time, the code may not.
"""

from __future__ import annotations

from typing import Any


class GullakError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    # Commit what the unit of work wrote before this refusal (see db/uow.py).
    keep_changes: bool = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        field: str | None = None,
        keep_changes: bool | None = None,
        **extra: Any,
    ) -> None:
        self.detail = detail or self.title
        if keep_changes is not None:
            self.keep_changes = keep_changes
        if code is not None:
            self.code = code
        self.field = field
        self.extra = extra
        super().__init__(self.detail)


class InvalidInput(GullakError):
    status = 422
    code = "invalid_input"
    title = "Invalid input"


class Unauthorized(GullakError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(GullakError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(GullakError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(GullakError):
    status = 409
    code = "conflict"
    title = "Conflict with the current state"


class Unprocessable(GullakError):
    """Well-formed input that the current state of things refuses (insufficient funds...)."""

    status = 422
    code = "unprocessable"
    title = "Request refused"


class TooManyRequests(GullakError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"


class Unavailable(GullakError):
    status = 503
    code = "unavailable"
    title = "Service unavailable"
