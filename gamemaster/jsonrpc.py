"""JSON-RPC 2.0 codec and dispatcher for the party, host agent and game server sockets.

Pure Python on purpose: consumers only move frames, so everything about the protocol
can be tested with plain strings and dicts, without Django, a channel layer or a socket.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

Id = str | int | float | None
Params = dict[str, Any] | list[Any] | None
Handler = Callable[[Any, Any], Awaitable[Any]]

_REQUEST_MEMBERS = frozenset({"jsonrpc", "method", "params", "id"})
_RESPONSE_MEMBERS = frozenset({"jsonrpc", "result", "error", "id"})
_ERROR_MEMBERS = frozenset({"code", "message", "data"})


class RpcError(Exception):
    """A JSON-RPC error object; raise it from a handler to send that error back."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def _invalid_request() -> RpcError:
    # The spec's examples carry no "data" here, and peers compare against them.
    return RpcError(INVALID_REQUEST, "Invalid Request")


@dataclass
class Request:
    """An incoming or outgoing call."""

    method: str
    params: Params = None
    id: Id = None
    # Only an absent "id" makes a notification: "id": null is a call that wants a reply.
    is_notification: bool = False

    def to_dict(self) -> dict[str, Any]:
        if self.is_notification:
            return notification(self.method, self.params)
        return request(self.method, self.params, self.id)


@dataclass
class Response:
    """An incoming answer to a request we sent."""

    id: Id
    result: Any = None
    error: dict[str, Any] | None = None

    @property
    def is_error(self) -> bool:
        return self.error is not None

    def raise_for_error(self) -> None:
        """Raise the peer's error as an RpcError, to be handled like a local one."""
        if self.error is not None:
            raise RpcError(self.error["code"], self.error["message"], self.error.get("data"))


def encode(obj: dict[str, Any] | list[Any]) -> str:
    """Serialize a message compactly.

    ASCII output because ids and params echoed from input may hold lone surrogates,
    which cannot be sent in a UTF-8 text frame; NaN and Infinity are not JSON.
    """
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def _is_id(value: Any) -> bool:
    # bool is a subclass of int in Python, but true/false are not valid JSON-RPC ids.
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def _check_outgoing(params: Any, id: Any = None) -> None:
    if params is not None and not isinstance(params, dict | list):
        raise TypeError(f"params must be a dict, a list or None, not {type(params).__name__}")
    if not _is_id(id):
        raise TypeError(f"id must be a str, a number or None, not {type(id).__name__}")


def request(method: str, params: Params = None, id: Id = None) -> dict[str, Any]:
    """Build a request; "id" is always present (use notification() for none)."""
    _check_outgoing(params, id)
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    message["id"] = id
    return message


def notification(method: str, params: Params = None) -> dict[str, Any]:
    """Build a notification: a request without "id", which the peer must not answer."""
    _check_outgoing(params)
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message


def result_response(id: Id, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "result": result, "id": id}


def error_response(id: Id, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error.to_dict(), "id": id}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # 1e400 is valid JSON but a Python inf, which no answer (nor JSON column) can carry back.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def decode(frame: str | bytes) -> Any:
    """Parse one frame; raise RpcError(PARSE_ERROR) for anything but strict JSON."""
    try:
        # Decode bytes ourselves: json.loads would guess UTF-16/32 from the first bytes.
        text = bytes(frame).decode("utf-8") if isinstance(frame, bytes | bytearray) else frame
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    # ValueError: bad JSON, bad UTF-8, over-long integers. RecursionError: deep nesting.
    except (TypeError, ValueError, RecursionError):
        raise RpcError(PARSE_ERROR, "Parse error") from None


def parse_message(obj: Any) -> Request | Response:
    """Validate one decoded message; raise RpcError(INVALID_REQUEST) if malformed."""
    # Exactly the string "2.0": 2.0 (a number) or "2" are refused.
    if not isinstance(obj, dict) or obj.get("jsonrpc") != "2.0":
        raise _invalid_request()
    if "method" in obj:
        return _parse_request(obj)
    if "result" in obj or "error" in obj:
        return _parse_response(obj)
    raise _invalid_request()


def _parse_request(obj: dict[str, Any]) -> Request:
    if not obj.keys() <= _REQUEST_MEMBERS or not isinstance(obj["method"], str):
        raise _invalid_request()
    # "params": null is not a structured value; the spec only allows leaving it out.
    params = obj.get("params")
    if "params" in obj and not isinstance(params, dict | list):
        raise _invalid_request()
    if "id" in obj and not _is_id(obj["id"]):
        raise _invalid_request()
    return Request(
        method=obj["method"],
        params=params,
        id=obj.get("id"),
        is_notification="id" not in obj,
    )


def _parse_response(obj: dict[str, Any]) -> Response:
    if not obj.keys() <= _RESPONSE_MEMBERS or "id" not in obj or not _is_id(obj["id"]):
        raise _invalid_request()
    if ("result" in obj) == ("error" in obj):
        raise _invalid_request()
    if "result" in obj:
        # A null id only answers a request that could not be read: always an error.
        if obj["id"] is None:
            raise _invalid_request()
        return Response(id=obj["id"], result=obj["result"])
    error = obj["error"]
    if (
        not isinstance(error, dict)
        or not error.keys() <= _ERROR_MEMBERS
        or not isinstance(error.get("code"), int)
        or isinstance(error["code"], bool)
        or not isinstance(error.get("message"), str)
    ):
        raise _invalid_request()
    return Response(id=obj["id"], error=error)


def _error_id(obj: Any) -> Id:
    """The id for an Invalid Request error: the sender's, when it can be trusted."""
    if not isinstance(obj, dict) or "result" in obj or "error" in obj:
        # Response-shaped: its id names one of *our* requests, so echoing it would look
        # like an answer to a call the peer itself may have pending with the same id.
        return None
    id = obj.get("id")
    return id if _is_id(id) else None


@dataclass(frozen=True)
class _Method:
    handler: Handler
    params: type | None


class Dispatcher:
    """Maps method names to async handlers; only registered methods can be called."""

    def __init__(self) -> None:
        self._methods: dict[str, _Method] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def method(self, name: str, *, params: type | None = None) -> Callable[[Handler], Handler]:
        """Register `async def handler(ctx, params)` under `name`.

        `params` is an optional validator class with the DRF Serializer interface;
        when given, params must be an object and the handler gets `validated_data`.
        """
        if not isinstance(name, str) or not name:
            raise ValueError("method name must be a non-empty string")
        if name.startswith("rpc."):
            raise ValueError("method names starting with 'rpc.' are reserved by JSON-RPC 2.0")

        def register(handler: Handler) -> Handler:
            if not inspect.iscoroutinefunction(handler):
                raise TypeError(f"handler for {name!r} must be an async function")
            if name in self._methods:
                raise ValueError(f"method {name!r} is already registered")
            self._methods[name] = _Method(handler, params)
            return handler

        return register

    async def handle_frame(
        self,
        ctx: Any,
        frame: str | bytes,
        on_response: Callable[[Response], None] | None = None,
    ) -> str | None:
        """Handle one text frame; return the reply frame, or None if there is none."""
        try:
            payload = decode(frame)
        except RpcError as error:
            return encode(error_response(None, error))

        if not isinstance(payload, list):
            reply = await self._handle_message(ctx, payload, on_response)
            return None if reply is None else self._encode_reply(reply)

        if not payload:
            return encode(error_response(None, _invalid_request()))
        # Sequential rather than gathered: handlers share per-connection state, and
        # running a batch in the order sent keeps that state predictable.
        replies = []
        for item in payload:
            reply = await self._handle_message(ctx, item, on_response)
            if reply is not None:
                replies.append(self._encode_reply(reply))
        # The spec forbids an empty array as the answer to an all-notification batch.
        return "[" + ",".join(replies) + "]" if replies else None

    async def _handle_message(
        self,
        ctx: Any,
        obj: Any,
        on_response: Callable[[Response], None] | None,
    ) -> dict[str, Any] | None:
        try:
            message = parse_message(obj)
        except RpcError as error:
            return error_response(_error_id(obj), error)

        if isinstance(message, Response):
            if on_response is None:
                logger.warning(
                    "Dropping JSON-RPC response with id %r: nothing awaits it",
                    message.id,
                )
                return None
            try:
                on_response(message)
            except Exception:
                logger.exception("on_response failed for JSON-RPC response with id %r", message.id)
            return None

        return await self._call(ctx, message)

    async def _call(self, ctx: Any, req: Request) -> dict[str, Any] | None:
        try:
            entry = self._methods.get(req.method)
            if entry is None:
                raise RpcError(METHOD_NOT_FOUND, "Method not found")
            params = self._validate(entry, req.params)
            result = await entry.handler(ctx, params)
        except RpcError as error:
            failure = error
        # Exception, not BaseException: cancellation must reach the consumer's task.
        except Exception:
            logger.exception("JSON-RPC handler for %r failed", req.method)
            failure = RpcError(INTERNAL_ERROR, "Internal error")
        else:
            return None if req.is_notification else result_response(req.id, result)
        # The spec forbids answering a notification, even to report an error.
        return None if req.is_notification else error_response(req.id, failure)

    @staticmethod
    def _validate(entry: _Method, params: Params) -> Any:
        if entry.params is None:
            return params
        if isinstance(params, list):
            raise RpcError(
                INVALID_PARAMS,
                "Invalid params",
                {"non_field_errors": ["Expected an object of named params, not an array."]},
            )
        # Absent params validate as {} so all-optional validators accept a bare call.
        validator = entry.params(data={} if params is None else params)
        if not validator.is_valid():
            raise RpcError(INVALID_PARAMS, "Invalid params", validator.errors)
        return validator.validated_data

    @staticmethod
    def _encode_reply(reply: dict[str, Any]) -> str:
        try:
            return encode(reply)
        # A handler returned (or put in RpcError.data) something JSON cannot carry;
        # the peer still deserves an answer, and the connection must survive.
        except (TypeError, ValueError, RecursionError):
            logger.exception("Cannot encode JSON-RPC reply for id %r", reply.get("id"))
            return encode(error_response(reply.get("id"), RpcError(INTERNAL_ERROR, "Internal error")))


class PendingCalls:
    """Server-initiated requests awaiting their response, matched by id."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._futures: dict[Id, asyncio.Future[Response]] = {}

    def __len__(self) -> int:
        return len(self._futures)

    def new(self, method: str, params: Params = None) -> tuple[int, dict[str, Any], asyncio.Future[Response]]:
        """Allocate an id; return it, the request dict to send and a Response future."""
        id = next(self._ids)
        message = request(method, params, id)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._futures[id] = future
        return id, message, future

    def resolve(self, response: Response) -> bool:
        """Complete the matching call; False for an unknown, late or abandoned id."""
        future = self._futures.pop(response.id, None)
        if future is None or future.done():
            return False
        future.set_result(response)
        return True

    def cancel_all(self) -> None:
        """Cancel every waiting call, on disconnect: no answer can arrive any more."""
        futures, self._futures = self._futures, {}
        for future in futures.values():
            future.cancel()

    async def wait(self, future: asyncio.Future[Response], timeout: float) -> Response:
        """Await the Response; raises asyncio.TimeoutError after `timeout` seconds."""
        try:
            return await asyncio.wait_for(future, timeout)
        except BaseException:
            # Forget the id so a late answer is reported as unknown, not kept forever.
            self._forget(future)
            raise

    def _forget(self, future: asyncio.Future[Response]) -> None:
        for id, pending in list(self._futures.items()):
            if pending is future:
                del self._futures[id]
