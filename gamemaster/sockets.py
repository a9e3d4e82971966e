"""What every WebSocket session shares: token auth, refusals with 4xxx close codes, and JSON-RPC
framing over `gamemaster.jsonrpc` (one JSON-RPC message or batch per text frame)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from gamemaster import jsonrpc
from gamemaster.auth import InvalidToken, TokenUser, decode_token, token_from_header
from gamemaster.errors import ApiError

logger = logging.getLogger(__name__)


class SessionRefused(Exception):
    """Close the socket with `4000 + status` (4401 no token, 4403 scope, 4404 not found, ...)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.close_code = 4000 + status
        self.reason = reason


def query_args(scope: dict[str, Any]) -> dict[str, str]:
    """The connection URL's query arguments (last value wins)."""
    raw = scope.get("query_string", b"").decode("utf-8", "replace")
    return {key: values[-1] for key, values in parse_qs(raw, keep_blank_values=True).items()}


def header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def scope_token(scope: dict[str, Any], *, argument: str = "access_token") -> str | None:
    return token_from_header(header(scope, b"authorization")) or query_args(scope).get(argument) or None


def authenticate_scope(scope: dict[str, Any], required_scopes: list[str] | tuple[str, ...]) -> TokenUser:
    """The same token check as the REST API, for a socket; raises SessionRefused (4401/4403)."""
    raw = scope_token(scope)
    if raw is None:
        raise SessionRefused(401, "A token is required (access_token argument or Authorization header).")
    try:
        user = decode_token(raw)
    except InvalidToken as exc:
        raise SessionRefused(401, str(exc)) from None
    missing = user.missing_scopes(list(required_scopes))
    if missing:
        raise SessionRefused(403, "This session needs the scope " + ", ".join(f"'{s}'" for s in missing) + ".")
    return user


def rpc_refusal(error: ApiError) -> jsonrpc.RpcError:
    """A refused method: the HTTP-like status as the JSON-RPC code, the snake_case code in data."""
    return jsonrpc.RpcError(error.status_code, str(error.detail), {"code": error.code})


Handler = Callable[[Any, Any], Awaitable[Any]]


def refusals(handler: Handler) -> Handler:
    """Let a JSON-RPC method raise the services' ApiError refusals; the peer gets `rpc_refusal`."""

    @functools.wraps(handler)
    async def wrapped(session: Any, params: Any) -> Any:
        try:
            return await handler(session, params)
        except ApiError as error:
            raise rpc_refusal(error) from None

    return wrapped


class JsonRpcConsumer(AsyncWebsocketConsumer):
    """A consumer that speaks JSON-RPC: it moves frames; the session logic lives in `dispatcher`
    handlers (which get the consumer as their context) and in the app's services."""

    dispatcher: jsonrpc.Dispatcher
    sent_requests = 0  # ids of the requests nobody waits for ("s1", "s2", ...)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' own dispatch first hops to the database thread (close_old_connections) for
        # every message, frames and group events alike: one thread-sensitive hop per delivery,
        # all through that one thread. Every database call here goes through `in_db`, which
        # closes old connections around itself, so the hop is skipped (bench/RESULTS.md, 4).
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.pending = jsonrpc.PendingCalls()
        await super().websocket_connect(message)

    async def refuse(self, refusal: SessionRefused) -> None:
        # Accept first: a socket closed before the handshake completes loses its close code.
        await self.accept()
        await self.close(code=refusal.close_code, reason=refusal.reason[:120])

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame = text_data if text_data is not None else bytes_data
        if frame is None:
            return
        reply = await self.dispatcher.handle_frame(self, frame, on_response=self._on_response)
        if reply is not None:
            await self.send(text_data=reply)

    def _on_response(self, response: jsonrpc.Response) -> None:
        if not self.pending.resolve(response):
            logger.debug("answer to an unknown or forgotten request %r", response.id)

    async def send_json(self, message: dict[str, Any] | list[Any]) -> None:
        await self.send(text_data=jsonrpc.encode(message))

    async def notify(self, method: str, params: Any = None) -> None:
        await self.send_json(jsonrpc.notification(method, params))

    async def call(self, method: str, params: Any = None, *, timeout: float = 10.0) -> jsonrpc.Response:
        """Send a request and wait for the peer's answer (raises TimeoutError)."""
        _, message, future = self.pending.new(method, params)
        await self.send_json(message)
        return await self.pending.wait(future, timeout)

    async def send_request(self, method: str, params: Any = None) -> None:
        """Send a request whose answer nobody waits for (party server messages); the answer, if
        any, arrives with an id `pending` does not know and is dropped."""
        self.sent_requests += 1
        await self.send_json(jsonrpc.request(method, params, id=f"s{self.sent_requests}"))

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        self.pending.cancel_all()
        await super().websocket_disconnect(message)


class NoSuchSocket(AsyncWebsocketConsumer):
    """Unknown WebSocket paths are refused with 4404 instead of an error in the server log."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=4404, reason="No such endpoint.")


def in_db(func: Any) -> Any:
    """Run a synchronous service from a consumer without blocking its event loop."""
    return database_sync_to_async(func)


def _websocket_urlpatterns() -> list[Any]:
    from bans.routing import websocket_urlpatterns as bans
    from hosts.routing import websocket_urlpatterns as hosts
    from parties.routing import websocket_urlpatterns as parties
    from rooms.routing import websocket_urlpatterns as rooms

    return [*rooms, *hosts, *bans, *parties, re_path(r"", NoSuchSocket.as_asgi())]


websocket_urlpatterns = _websocket_urlpatterns()
