"""Calling the project's real ASGI application in process (HTTP), as a server would."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from gamemaster.auth import encode_token


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    app: Any,
    method: str,
    path: str,
    *,
    account: str | None = "alice",
    scopes: list[str] | None = None,
    query: dict[str, Any] | None = None,
    body: Any = None,
    raw_body: bytes | None = None,
    headers: dict[str, str] | None = None,
    ip: str = "127.0.0.1",
    chunk: int | None = None,
) -> Answer:
    """One HTTP request through `app`: a bearer token for `account` (None: no token), a JSON body,
    the body sent in pieces of `chunk` bytes if asked."""
    sent_headers = dict(headers or {})
    if account is not None:
        sent_headers.setdefault("authorization", f"Bearer {encode_token(account=account, scopes=scopes or ['game'])}")
    payload = raw_body if raw_body is not None else (b"" if body is None else json.dumps(body).encode())
    if body is not None:
        sent_headers.setdefault("content-type", "application/json")
    if payload:
        sent_headers["content-length"] = str(len(payload))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": urlencode(query or {}).encode(),
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in sent_headers.items()],
        "client": (ip, 50000),
        "server": ("testserver", 80),
    }
    size = chunk or max(len(payload), 1)
    pieces = [payload[start : start + size] for start in range(0, len(payload), size)] or [b""]
    messages = [
        {"type": "http.request", "body": piece, "more_body": n < len(pieces) - 1} for n, piece in enumerate(pieces)
    ]
    answer = Answer(status=0, headers={}, body=b"")

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays connected (Django listens for a disconnect)
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {name.decode().lower(): value.decode() for name, value in message["headers"]}
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    await app(scope, receive, send)
    return answer
