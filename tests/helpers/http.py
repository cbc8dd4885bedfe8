"""Clients for an app in the test process, and the checks they run on every answer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from gullak.kit.security import Subject, current_subject
from tests.helpers.problems import PROBLEM


def http_client(application: FastAPI) -> httpx.AsyncClient:
    # The app's own error handling answers 500s; the test sees them as responses.
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@asynccontextmanager
async def uvicorn_served(application: ASGIApp, **config: Any) -> AsyncIterator[str]:
    """`application` on a real loopback socket, served by uvicorn in this event loop; yields
    its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port,
                                           log_config=None, access_log=False, lifespan="off",
                                           **config))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def no_server_errors(response: httpx.Response) -> None:
    """A response hook: any 5xx fails the test on the spot."""
    assert response.status_code < 500, (response.request.method, str(response.request.url),
                                        response.status_code)


async def checked_response(response: httpx.Response) -> None:
    """A response hook: never a 5xx, and every 4xx a problem+json with a code."""
    if response.status_code < 400:
        return
    await response.aread()
    where = f"{response.request.method} {response.request.url.path}"
    assert response.status_code < 500, f"{where} answered {response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM), (where, response.text)
    body = response.json()
    assert body["status"] == response.status_code, (where, body)
    assert isinstance(body.get("code"), str) and body["code"], (where, body)


def guarded_client(application: FastAPI,
                   address: tuple[str, int] = ("127.0.0.1", 123)) -> httpx.AsyncClient:
    """A client whose every answer passes `checked_response`. `address` is what the app sees
    as the client's IP and port (per-IP rate limits)."""
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False, client=address)
    return httpx.AsyncClient(transport=transport, base_url="http://test",
                             event_hooks={"response": [checked_response]})


def strict_client(application: FastAPI) -> httpx.AsyncClient:
    """A client on which any 5xx fails the test on the spot."""
    client = http_client(application)
    client.event_hooks["response"].append(no_server_errors)
    return client


@asynccontextmanager
async def acting_as(app: FastAPI, subject: Subject) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from `subject`, with no sign-in."""
    async def authenticated() -> Subject:
        return subject

    app.dependency_overrides[current_subject] = authenticated
    async with strict_client(app) as c:
        yield c
