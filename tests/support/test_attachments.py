"""Attachments: the bytes come back as they went in, with their checksum; content type, size
and count limits refuse with nothing stored; bytes changed in storage are caught on read."""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gullak.settings import Settings
from gullak.support import errors, service
from gullak.support.schemas import AttachmentIn, TicketIn
from gullak.support.storage import LocalStorage
from tests.helpers.problems import assert_problem
from tests.helpers.state import count
from tests.helpers.users import SignedIn
from tests.support.tickets import MAX_BYTES, PER_TICKET, open_ticket

DATA = bytes(range(256)) * 3  # every byte value, under the limit


def body(data: bytes = DATA, **over: object) -> dict[str, object]:
    return {"filename": "receipt 1 (copy).pdf", "content_type": "application/pdf",
            "content_base64": base64.b64encode(data).decode(), **over}


async def files(connection: AsyncConnection) -> int:
    return await count(connection, "SELECT count(*) FROM support_attachments")


def stored(settings: Settings) -> list[Path]:
    root = settings.support_storage_dir
    assert root is not None
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_round_trip(api: httpx.AsyncClient, alice: SignedIn, settings: Settings) -> None:
    ticket = await open_ticket(api, alice)
    r = await api.post(f"/v1/me/tickets/{ticket['id']}/attachments", headers=alice.headers,
                       json=body())
    assert r.status_code == 201, r.text
    out = r.json()
    assert (out["size"], out["sha256"]) == (len(DATA), hashlib.sha256(DATA).hexdigest())
    assert out["filename"] == "receipt 1 (copy).pdf"
    r = await api.get(f"/v1/me/tickets/{ticket['id']}/attachments/{out['id']}",
                      headers=alice.headers)
    assert r.status_code == 200 and r.content == DATA
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["x-content-type-options"] == "nosniff"
    # Stored under ids, not under the name the client gave.
    [path] = stored(settings)
    assert path.read_bytes() == DATA and "receipt" not in str(path)
    mine = (await api.get(f"/v1/me/tickets/{ticket['id']}", headers=alice.headers)).json()
    assert [a["id"] for a in mine["attachments"]] == [out["id"]]


async def test_an_attachment_of_another_ticket_is_not_found(api: httpx.AsyncClient,
                                                            alice: SignedIn) -> None:
    one, other = await open_ticket(api, alice), await open_ticket(api, alice)
    r = await api.post(f"/v1/me/tickets/{one['id']}/attachments", headers=alice.headers,
                       json=body())
    r = await api.get(f"/v1/me/tickets/{other['id']}/attachments/{r.json()['id']}",
                      headers=alice.headers)
    assert_problem(r, 404, "attachment_not_found")


@pytest.mark.parametrize(("payload", "status", "code"), [
    (body(b"x" * (MAX_BYTES + 1)), 413, "attachment_too_large"),
    (body(content_type="text/html"), 415, "attachment_type_refused"),
    (body(content_type="image/svg+xml"), 415, "attachment_type_refused"),
    (body(content_base64="not base64!"), 422, "validation_error"),
    (body(content_base64="abc"), 422, "invalid_attachment"),  # not a whole number of quads
    (body(b""), 422, "invalid_attachment"),
    (body(filename="../../etc/passwd\x00"), 422, "validation_error"),
    (body(filename=""), 422, "validation_error"),
    (body(content_type="no-slash"), 422, "validation_error"),
])
async def test_limits_refuse_and_store_nothing(api: httpx.AsyncClient,
                                               connection: AsyncConnection, alice: SignedIn,
                                               settings: Settings, payload: dict[str, object],
                                               status: int, code: str) -> None:
    ticket = await open_ticket(api, alice)
    r = await api.post(f"/v1/me/tickets/{ticket['id']}/attachments", headers=alice.headers,
                       json=payload)
    assert_problem(r, status, code)
    assert await files(connection) == 0 and stored(settings) == []


async def test_the_size_limit_is_exact(api: httpx.AsyncClient, alice: SignedIn) -> None:
    ticket = await open_ticket(api, alice)
    r = await api.post(f"/v1/me/tickets/{ticket['id']}/attachments", headers=alice.headers,
                       json=body(b"y" * MAX_BYTES))
    assert r.status_code == 201 and r.json()["size"] == MAX_BYTES


async def test_a_ticket_holds_a_limited_number(api: httpx.AsyncClient,
                                               connection: AsyncConnection,
                                               alice: SignedIn) -> None:
    ticket = await open_ticket(api, alice)
    url = f"/v1/me/tickets/{ticket['id']}/attachments"
    for _ in range(PER_TICKET):
        assert (await api.post(url, headers=alice.headers, json=body())).status_code == 201
    assert_problem(await api.post(url, headers=alice.headers, json=body()), 409,
                   "attachment_limit")
    assert await files(connection) == PER_TICKET


async def test_changed_bytes_are_caught(session: AsyncSession, settings: Settings) -> None:
    user = uuid.uuid4()
    ticket = await service.open_ticket(session, settings, user, TicketIn(title="t", body="b"))
    row = await service.add_user_attachment(session, settings, user, ticket.id, AttachmentIn(
        filename="a.txt", content_type="text/plain",
        content_base64=base64.b64encode(b"original").decode()))
    found = await service.read(session, settings, ticket.id, row.id, user_id=user)
    assert found.data == b"original"
    [path] = stored(settings)
    path.write_bytes(b"tampered")
    with pytest.raises(errors.AttachmentCorrupt):
        await service.read(session, settings, ticket.id, row.id, user_id=user)
    path.unlink()
    with pytest.raises(errors.AttachmentCorrupt):
        await service.read(session, settings, ticket.id, row.id, user_id=user)


def test_local_storage_takes_only_its_own_keys(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "files")
    key = f"{uuid.uuid4()}/{uuid.uuid4()}"
    store.put(key, b"abc")
    assert store.get(key) == b"abc"
    store.delete(key)
    assert store.get(key) is None
    for bad in ("../x", "a/b", f"{uuid.uuid4()}/../../etc", "/etc/passwd"):
        with pytest.raises(ValueError):
            store.put(bad, b"x")
    assert not (tmp_path / "x").exists()
