"""`gullak serve`'s HTTP protocol: a response leaves in one write, and nothing else changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from gullak.kit import serving
from tests.helpers.http import uvicorn_served


class Recorder:
    """What a transport was asked to write, call by call."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name in ("peername", "sockname") else default


async def test_writes_within_one_step_leave_as_one() -> None:
    raw = Recorder()
    transport = serving.Coalescing(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b'{"a": 1}')
    assert raw.writes == []
    await asyncio.sleep(0)  # the next step of the loop
    assert raw.writes == [b'HTTP/1.1 200 OK\r\n\r\n{"a": 1}']
    transport.write(b"late")
    transport.close()  # what is pending leaves before the close
    assert raw.writes[-1] == b"late" and raw.closed
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await asyncio.sleep(0.3)
        await send({"type": "http.response.body", "body": b"second", "more_body": False})
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    status = 204 if path == "/empty" else 200
    content = b"" if status == 204 else b'{"got": ' + str(len(body)).encode() + b"}"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(content)).encode())]})
    await send({"type": "http.response.body", "body": content})


@pytest.fixture
async def base() -> AsyncIterator[str]:
    async with uvicorn_served(app, http="gullak.kit.serving:Protocol") as url:
        yield url


async def test_a_response_leaves_in_one_write(base: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    flush = serving.Coalescing.flush

    def counted(self: serving.Coalescing) -> None:
        if self.pending:
            sizes.append(len(self.pending))
        flush(self)

    monkeypatch.setattr(serving.Coalescing, "flush", counted)
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(3):  # one kept-alive connection, one write per response
            r = await client.post("/json", content=b"abc")
            assert r.status_code == 200 and r.json() == {"got": 3}
    assert sizes == [2, 2, 2]  # head and body, joined


async def test_every_kind_of_answer_still_arrives(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/empty")).status_code == 204
        head = await client.head("/json")
        assert head.status_code == 200 and head.content == b""
        # A client that waits for "100 Continue" before its body gets it, then the answer.
        r = await client.post("/json", content=b"x" * 5000, headers={"expect": "100-continue"})
        assert r.json() == {"got": 5000}
        # A streamed body's first chunk leaves before the next is made.
        async with client.stream("GET", "/stream") as streamed:
            chunks = streamed.aiter_bytes()
            first = await asyncio.wait_for(chunks.__anext__(), timeout=0.2)
            assert first == b"first"
            assert b"".join([c async for c in chunks]) == b"second"
        closing = await client.get("/json", headers={"connection": "close"})
        assert closing.json() == {"got": 0}
