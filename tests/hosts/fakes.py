"""In-process stand-ins for a host agent and a game server, speaking the real protocol to the real
ASGI app through WebsocketCommunicator (for tests that are not about the processes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core.cache import cache

from gamemaster.asgi import application
from gamemaster.auth import encode_token


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


class Peer:
    """A JSON-RPC peer over a communicator."""

    def __init__(self, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.ws = WebsocketCommunicator(application, path, headers=headers or [])
        self.ids = 0
        self.inbox: list[dict[str, Any]] = []  # the master's requests that came while we waited for an answer

    async def connect(self) -> tuple[bool, int | None]:
        return await self.ws.connect()

    async def call(self, method: str, params: Any = None) -> dict[str, Any]:
        """Send a request; return the response, answering `status` heartbeats meanwhile."""
        self.ids += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": self.ids}
        if params is not None:
            message["params"] = params
        await self.ws.send_json_to(message)
        while True:
            reply = await self.receive()
            if reply.get("id") == self.ids and "method" not in reply:
                return reply
            self.inbox.append(reply)

    async def receive(self, timeout: float = 5) -> dict[str, Any]:
        return await self.ws.receive_json_from(timeout)

    async def close(self) -> None:
        await self.ws.disconnect()


class FakeAgent(Peer):
    def __init__(self, *, region: str = "local", address: str = "10.0.0.1", scopes: list[str] | None = None) -> None:
        super().__init__("/host/session", bearer(encode_token(account="host", scopes=scopes or ["game_host"])))
        self.region, self.address = region, address

    async def announce(self, rooms: list[str] | None = None, capacity: int | None = None) -> dict[str, Any]:
        connected, _ = await self.connect()
        assert connected
        params: dict[str, Any] = {"region": self.region, "address": self.address, "rooms": rooms or []}
        if capacity is not None:
            params["capacity"] = capacity
        return await self.call("announce", params)

    async def next_request(self, method: str, timeout: float = 5) -> dict[str, Any]:
        """The next request of `method` from the master."""
        for message in self.inbox:
            if message.get("method") == method:
                self.inbox.remove(message)
                return message
        while True:
            message = await self.receive(timeout)
            if message.get("method") == method:
                return message

    async def answer(self, request: dict[str, Any], result: Any = None, error: dict | None = None) -> None:
        body = {"error": error} if error else {"result": result}
        await self.ws.send_json_to({"jsonrpc": "2.0", "id": request["id"], **body})


class FakeGameServer(Peer):
    def __init__(self, room_id: Any, secret: str) -> None:
        super().__init__(f"/gameserver/{room_id}/session", bearer(secret))


async def serve_one_spawn(
    agent: FakeAgent, *, pid: int = 4242, ports: list[int] | None = None, inited: dict | None = None
) -> FakeGameServer:
    """Answer the next spawn like a real agent would, then start a game server that calls inited."""
    spawn = await agent.next_request("spawn")
    params = spawn["params"]
    await agent.answer(spawn, {"pid": pid, "ports": ports or [7000]})
    server = FakeGameServer(params["room_id"], params["room_secret"])
    assert (await server.connect())[0]
    reply = await server.call("inited", {"settings": inited} if inited is not None else {})
    assert reply["result"] == {}
    server.spawn_params = params  # type: ignore[attr-defined]
    return server


@pytest.fixture
async def fresh_layer() -> AsyncIterator[None]:
    """The in-memory channel layer and the throttle cache start empty (and on this event loop)."""
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        await layer.flush()
    cache.clear()
    yield
    await asyncio.sleep(0)
