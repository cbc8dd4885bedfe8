"""One schema base for every domain, and the field types that keep client input within what
PostgreSQL stores: text without NUL or lone surrogates, JSON of bounded depth and size,
integers that fit their column, finite floats that cannot underflow in SQL arithmetic.

A domain narrows a number type by nesting it, `Annotated[BigInt, Ge(0)]`, and a text type by
putting its marker last, `Annotated[str, StringConstraints(max_length=200), ONE_LINE]`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import AfterValidator, AllowInfNan, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError


class In(BaseModel):
    """Request bodies: an unknown field is refused (and named), so a typo is never a no-op."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """Responses: read from rows and stored replays, which may carry more than is shown."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")


# -- text -------------------------------------------------------------------------------------

# C0 and C1 controls and DEL; PostgreSQL refuses NUL outright, and the others only corrupt
# logs, terminals and CSV exports. Line and paragraph separators break single-line fields.
_CONTROL = "\x00-\x1f\x7f-\x9f\u2028\u2029"
_SURROGATE = "\ud800-\udfff"  # a lone half of a UTF-16 pair: not encodable as UTF-8
# Bidirectional embeddings, overrides, isolates and marks: they reorder what a back office
# shows, so "gnp.exe" can read as "exe.png". The Arabic letter mark too.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"

_LINE = re.compile(f"[{_CONTROL}{_SURROGATE}]")
_NAME = re.compile(f"[{_CONTROL}{_SURROGATE}{_BIDI}]")
# Prose may also hold tab, line feed and carriage return.
_MULTI = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_SURROGATE}]")


def _refuse(pattern: re.Pattern[str], value: Any, what: str) -> Any:
    # Anything but a string is left for the string check to refuse.
    found = pattern.search(value) if isinstance(value, str) else None
    if found:
        point = f"U+{ord(found.group()):04X}"
        raise PydanticCustomError("invalid_character", f"{what} may not contain {point}",
                                  {"character": point})
    return value


def single_line(value: Any) -> Any:
    return _refuse(_LINE, value, "Text")


def multi_line(value: Any) -> Any:
    return _refuse(_MULTI, value, "Text")


def name(value: Any) -> Any:
    return _refuse(_NAME, value, "A name")


# Checked before the string validation. To narrow one, put the marker after the constraints,
# `Annotated[str, StringConstraints(max_length=200), ONE_LINE]`: constraints nested after a
# validator are checked apart from the string, with lengths measured before stripping.
ONE_LINE = BeforeValidator(single_line)
MULTI_LINE = BeforeValidator(multi_line)
NAME_CHARS = BeforeValidator(name)
Text = Annotated[str, ONE_LINE]
MultilineText = Annotated[str, MULTI_LINE]
Name = Annotated[str, NAME_CHARS]


# -- integers and floats ----------------------------------------------------------------------

SMALLINT = 2**15 - 1
INT = 2**31 - 1
BIGINT = 2**63 - 1

SmallInt = Annotated[int, Ge(-SMALLINT - 1), Le(SMALLINT)]
Int = Annotated[int, Ge(-INT - 1), Le(INT)]
BigInt = Annotated[int, Ge(-BIGINT - 1), Le(BIGINT)]
# Money and coins: a whole number of minor units in a bigint column; "10", 10.0 and true are
# refused, not coerced.
Amount = Annotated[int, Field(strict=True), Ge(0), Le(BIGINT)]

# Below this a float is noise, and squaring one in SQL (distances) underflows with an error.
_TINY = 1e-9


def _flush_tiny(value: float) -> float:
    return 0.0 if abs(value) < _TINY else value


def _coordinate(value: float) -> float:
    # Seven decimals are about a centimetre; adding 0.0 turns -0.0 into 0.0.
    return round(value, 7) + 0.0


Float = Annotated[float, AllowInfNan(False), Ge(-1e15), Le(1e15), AfterValidator(_flush_tiny)]
Latitude = Annotated[float, AllowInfNan(False), Ge(-90), Le(90), AfterValidator(_coordinate)]
Longitude = Annotated[float, AllowInfNan(False), Ge(-180), Le(180),
                      AfterValidator(_coordinate)]
# For domains that check the range themselves, with their own error codes: only the part
# PostgreSQL cannot take is handled here, and NaN and infinities are left for that check.
Real = Annotated[float, AfterValidator(_flush_tiny)]
Coordinate = Annotated[float, AfterValidator(_coordinate)]


# -- JSON -------------------------------------------------------------------------------------

JSON_DEPTH = 8
JSON_BYTES = 16 * 1024
_JSON_TEXT = re.compile(f"[\x00{_SURROGATE}]")  # jsonb refuses \u0000; UTF-8 has no halves


def read_json(raw: str | bytes, **options: Any) -> Any:
    """`json.loads`, with a document nested past the parser's stack refused as `ValueError`,
    like any other that cannot be read: a client's body, a provider's callback, a form field or
    a feed cell can be that deep, and the callers catch `ValueError` alone."""
    try:
        return json.loads(raw, **options)
    except RecursionError as exc:
        raise ValueError("JSON nested too deep") from exc


def _json_error(message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError("invalid_json_value", message, context)


def _check_json(value: Any, depth: int = 0) -> None:
    """Walks the value, never deeper than the limit, so a hostile nesting cannot exhaust the
    stack here or in the JSON encoders after us."""
    if depth > JSON_DEPTH:
        raise _json_error("JSON may be nested at most {depth} levels deep", depth=JSON_DEPTH)
    if isinstance(value, str):
        if _JSON_TEXT.search(value):
            raise _json_error("JSON text may not contain NUL or unpaired surrogates")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not -BIGINT - 1 <= value <= BIGINT:
            raise _json_error("JSON integers must fit in 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _json_error("JSON numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, depth + 1)
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)
    else:
        raise _json_error("Not a JSON value")


def json_value(value: Any) -> Any:
    _check_json(value)
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > JSON_BYTES:
        raise _json_error("JSON may be at most {limit} bytes", limit=JSON_BYTES)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(json_value)]
JsonValue = Annotated[Any, AfterValidator(json_value)]
