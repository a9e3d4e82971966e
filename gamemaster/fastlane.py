"""The fast lane: the hot REST requests' common case answered without Django's request cycle.

Under ASGI, Django runs each request through its own executor thread, middleware thread hops and
the ORM's query building: about 3.6 ms of CPU before a query on the bench machine
(bench/RESULTS.md), which caps the hot endpoints near 200 requests/s on 2 cores. The fast lane
sits in front of Django (gamemaster/asgi.py) and, for a handful of routes (join by id,
quick-join, search), answers the *successful* case itself: it authenticates the bearer token,
runs one or two hand-written statements on an asyncio psycopg pool, and renders the same body
Django would. Anything else (a bad token, a missing scope, bad arguments, a ban, a full room,
no room to find, an expired reservation to clean up, the token in the body, any error) goes to
Django unchanged, body included, which answers it as it always has. The lane therefore owns no
refusal: the Django views stay the one place every rule and error lives, and the lane's
answers are tested equal to theirs (tests/gamemaster/test_fastlane.py).

PostgreSQL only (FAST_LANE, on by default there); with SQLite every request goes to Django.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.db import connections
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from gamemaster.auth import InvalidToken, TokenUser, decode_token, token_from_header
from gamemaster.net import scope_ip

logger = logging.getLogger(__name__)

# A request body the lane reads before deciding; bigger bodies are Django's (it has the limits).
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class LaneRequest:
    """What a lane handler gets: the authenticated caller and the request's parts."""

    user: TokenUser
    ip: str | None
    url: dict[str, str]  # the route's named groups (the ASGI path is already percent-decoded)
    query: dict[str, str]  # the last value of each query parameter, as Django's QueryDict.get
    body: Any  # the parsed JSON body, or None when there is none


class RenderedJson(bytes):
    """A body the handler has as JSON text already (written by PostgreSQL): sent as it is."""


# A handler answers the request's body (200), or None: "not the common case, ask Django".
Handler = Callable[[AsyncConnection, LaneRequest], Awaitable[dict[str, Any] | RenderedJson | None]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    scopes: tuple[str, ...]
    handler: Handler
    allow: bytes  # the view's methods, as DRF's `Allow` header names them


def route(method: str, pattern: str, scopes: tuple[str, ...], handler: Handler) -> Route:
    allow = b"GET, HEAD, OPTIONS" if method == "GET" else f"{method}, OPTIONS".encode()
    return Route(method, re.compile(pattern), scopes, handler, allow)


# Django's answer headers for a JSON body (security and clickjacking middleware); DRF adds `Allow`.
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def render_json(body: Any) -> bytes:
    """As DRF's JSONRenderer writes it (compact, UTF-8)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class FastLane:
    """ASGI middleware: the routes' common case here, every other request to `app` (Django)."""

    def __init__(self, app: Any, routes: list[Route]) -> None:
        self.app = app
        self.routes = routes
        # Requests of the lane's routes answered here and handed to Django (the tests read these).
        self.answered = 0
        self.handed_over = 0
        self._pools: dict[asyncio.AbstractEventLoop, asyncio.Task[AsyncConnectionPool]] = {}

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        found = self._match(scope) if scope["type"] == "http" and enabled() else None
        if found is None:
            await self.app(scope, receive, send)
            return
        lane_route, url = found
        body, more = await _read_body(receive)
        answer = None if more else await self._answer(scope, lane_route, url, body)
        if answer is None:
            self.handed_over += 1
            await self.app(scope, _replay(body, more, receive), send)
            return
        self.answered += 1
        payload = answer if isinstance(answer, RenderedJson) else render_json(answer)
        headers = [*_HEADERS, (b"allow", lane_route.allow), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _match(self, scope: dict) -> tuple[Route, dict[str, str]] | None:
        method, path = scope["method"], scope["path"]
        for lane_route in self.routes:
            if lane_route.method == method:
                matched = lane_route.pattern.match(path)
                if matched:
                    return lane_route, matched.groupdict()
        return None

    async def _answer(
        self, scope: dict, lane_route: Route, url: dict[str, str], body: bytes
    ) -> dict[str, Any] | RenderedJson | None:
        try:
            request = _lane_request(scope, lane_route, url, body)
            if request is None:
                return None
            pool = await self._pool()
            async with pool.connection() as connection:
                return await lane_route.handler(connection, request)
        except Exception:
            # Django answers whatever went wrong here, the way it answers everything else.
            logger.exception("fast lane: %s %s handed to Django", scope["method"], scope["path"])
            return None

    async def _pool(self) -> AsyncConnectionPool:
        """One pool per event loop (a process has one; tests may run several). The first requests
        of a loop all wait for the one opening, instead of each making a pool or using it unopened."""
        loop = asyncio.get_running_loop()
        opening = self._pools.get(loop)
        if opening is None or (opening.done() and opening.exception() is not None):  # else retry
            opening = loop.create_task(self._open_pool())
            self._pools[loop] = opening
        return await asyncio.shield(opening)

    async def _open_pool(self) -> AsyncConnectionPool:
        params = connections["default"].get_connection_params()
        params.pop("cursor_factory", None)  # Django's sync cursor class
        params.pop("context", None)  # Django's adapters read JSON as text; the lane wants objects
        params.pop("prepare_threshold", None)  # the lane's statements are few and hot: prepare them
        pool = AsyncConnectionPool(
            kwargs={**params, "autocommit": True}, min_size=1, max_size=settings.FAST_LANE_POOL_SIZE, open=False
        )
        await pool.open()
        return pool

    async def close(self) -> None:
        for opening in list(self._pools.values()):
            if not opening.done() or opening.exception() is None:
                await (await opening).close()
        self._pools.clear()


def enabled() -> bool:
    return settings.FAST_LANE and connections["default"].vendor == "postgresql"


def _lane_request(scope: dict, lane_route: Route, url: dict[str, str], raw_body: bytes) -> LaneRequest | None:
    """The caller and arguments, or None when Django should look: no or bad token, a missing
    scope, a body that is not a JSON object, a token passed as an argument."""
    headers = dict(scope["headers"])
    raw = token_from_header(headers.get(b"authorization", b"").decode("latin-1") or None)
    if raw is None:
        return None
    try:
        user = decode_token(raw)
    except InvalidToken:
        return None
    if user.missing_scopes(lane_route.scopes):
        return None
    try:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("ascii"), keep_blank_values=True, errors="strict"))
    except UnicodeError:
        return None  # bytes or escapes that are not UTF-8: Django decides what they mean
    body = None
    if raw_body:
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip()
        if content_type != b"application/json":
            return None
        try:
            body = json.loads(raw_body)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python parses
            return None
        if not isinstance(body, dict):
            return None
    if "access_token" in query or (body and "access_token" in body):
        return None
    return LaneRequest(user=user, ip=scope_ip(scope), url=url, query=query, body=body)


async def _read_body(receive: Callable) -> tuple[bytes, bool]:
    """The body, and whether it was too big for the lane (then Django reads the rest)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True  # the client left: Django hears of it, not the lane
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if size > MAX_BODY:
            return b"".join(chunks), True


def _replay(body: bytes, more: bool, receive: Callable) -> Callable:
    """A `receive` that first gives back what the lane read, then the rest of the request."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay
