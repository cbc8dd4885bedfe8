"""The client of a request: its address and user agent."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request


@dataclass(frozen=True)
class Client:
    """Where a request comes from, as far as sessions and rate limits care."""

    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(cls, request: Request) -> Client:
        return cls(request.client.host if request.client else None,
                   request.headers.get("user-agent"))
