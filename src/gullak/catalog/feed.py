"""Reading product feeds: CSV or JSON rows keyed by SKU, each checked on its own.

A row that cannot be read is reported with its number and skipped; the others go on.
CSV lists (tags, image_urls) are separated by '|'; `attributes` is a JSON object in CSV and
attribute columns may also be written `attr_<name>`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import ipaddress
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gullak.catalog.errors import InvalidFeed
from gullak.catalog.schemas import AssetCode, FeedRowError, Minor, Name, Sku, Slug, Tag, Text, Url
from gullak.kit.schemas import JsonObject, read_json

MAX_ROWS = 50_000
MAX_BYTES = 20 * 1024 * 1024
LIST_SEPARATOR = "|"


class FeedRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    name: Name
    price: Minor
    original_price: Minor | None = None
    asset_code: AssetCode | None = None  # the import's default asset when not given
    description: Text | None = None
    category: Slug | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=30)
    image_urls: list[Url] = Field(default_factory=list, max_length=30)
    attributes: JsonObject = Field(default_factory=dict)
    stock: int | None = Field(default=None, ge=0, le=10**9)
    status: str = Field(default="active", pattern="^(active|inactive)$")


@dataclass
class ParsedRow:
    number: int
    sku: str | None  # as far as it could be read, so that a failed row is never "missing"
    row: FeedRow | None
    error: FeedRowError | None


def parse(body: bytes | str, fmt: str) -> list[ParsedRow]:
    if isinstance(body, bytes):
        if len(body) > MAX_BYTES:
            raise InvalidFeed(f"The feed is larger than {MAX_BYTES} bytes.")
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidFeed("The feed is not UTF-8 text.") from exc
    raw = _csv_rows(body) if fmt == "csv" else _json_rows(body)
    if len(raw) > MAX_ROWS:
        raise InvalidFeed(f"The feed has more than {MAX_ROWS} rows.")
    return [_check(number, item) for number, item in enumerate(raw, start=1)]


def _csv_rows(body: str) -> list[Any]:
    reader = csv.DictReader(io.StringIO(body))
    rows: list[Any] = []
    try:
        # The header is read here too: a cell over the csv module's limit, or a bare carriage
        # return, is as unreadable in the first line as in any other.
        if not reader.fieldnames or "sku" not in [f.strip() for f in reader.fieldnames]:
            raise InvalidFeed("A CSV feed needs a header row with at least a 'sku' column.")
        for record in reader:
            rows.append(_from_csv(record))
    except csv.Error as exc:
        raise InvalidFeed(f"The CSV cannot be read: {exc}") from exc
    return rows


def _from_csv(record: dict[str | None, Any]) -> dict[str, Any] | str:
    if None in record:  # more cells than header columns
        return "The row has more cells than the header."
    row: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for key, value in record.items():
        name = (key or "").strip()
        text = (value or "").strip()
        if text == "":
            continue
        if name.startswith("attr_"):
            attributes[name.removeprefix("attr_")] = text
        elif name in ("tags", "image_urls"):
            row[name] = [part.strip() for part in text.split(LIST_SEPARATOR) if part.strip()]
        elif name == "attributes":
            try:
                row[name] = read_json(text)
            except ValueError:
                return "attributes: not a JSON object."
            if not isinstance(row[name], dict):
                return "attributes: not a JSON object."
        else:
            row[name] = text
    if attributes:
        row["attributes"] = {**attributes, **(row.get("attributes") or {})}
    return row


def _json_rows(body: str) -> list[Any]:
    try:
        data = read_json(body)
    except ValueError as exc:
        raise InvalidFeed("The feed is not valid JSON.") from exc
    if isinstance(data, dict):
        data = data.get("products")
    if not isinstance(data, list):
        raise InvalidFeed("A JSON feed is a list of products, or an object with 'products'.")
    return data


def _check(number: int, item: Any) -> ParsedRow:
    if isinstance(item, str):
        return ParsedRow(number, None, None, FeedRowError(row=number, sku=None, field=None,
                                                          message=item))
    if not isinstance(item, dict):
        return ParsedRow(number, None, None, FeedRowError(row=number, sku=None, field=None,
                                                          message="A row must be an object."))
    sku = item.get("sku")
    sku = sku.strip() if isinstance(sku, str) and sku.strip() else None
    try:
        return ParsedRow(number, sku, FeedRow.model_validate(item, strict=False), None)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        return ParsedRow(number, sku, None, FeedRowError(row=number, sku=sku, field=field,
                                                         message=first["msg"]))


def row_error(parsed: ParsedRow, field: str | None, message: str) -> FeedRowError:
    return FeedRowError(row=parsed.number, sku=parsed.sku, field=field, message=message)


def _public(address: str) -> None:
    if not ipaddress.ip_address(address).is_global:
        raise InvalidFeed("The feed's host is not on the public internet.", field="url")


async def check_url(url: str, *, resolve: bool = True) -> None:
    """Refuse URLs that would make the server read its own network (SSRF): only http(s), and
    only hosts whose every address is public (`resolve`: look the name up, else only check a
    literal address)."""
    parts = httpx.URL(url)
    if parts.scheme not in ("http", "https") or not parts.host:
        raise InvalidFeed("A feed URL is http or https, with a host.", field="url")
    try:
        _public(parts.host)
        return  # a literal address
    except ValueError:
        pass
    if parts.host == "localhost" or parts.host.endswith((".localhost", ".internal", ".local")):
        raise InvalidFeed("The feed's host is not on the public internet.", field="url")
    if not resolve:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.host, parts.port or 443)
    except OSError as exc:
        raise InvalidFeed(f"The feed's host {parts.host} cannot be resolved.",
                          field="url") from exc
    for info in infos:
        _public(str(info[4][0]))


async def fetch(url: str, *, timeout: float = 60.0) -> bytes:
    """The feed at `url` (public hosts only, each redirect checked too; size capped)."""
    async def guard(request: httpx.Request) -> None:
        await check_url(str(request.url))

    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True,
                                 event_hooks={"request": [guard]}) as client:
        async with client.stream("GET", url) as response:
            response.raise_for_status()
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_BYTES:
                    raise InvalidFeed(f"The feed is larger than {MAX_BYTES} bytes.")
                chunks.append(chunk)
    return b"".join(chunks)
