"""Party test helpers: a party session over the real ASGI app, a close callback server."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
from channels.testing import WebsocketCommunicator

from gamemaster.asgi import application
from parties import services
from parties.models import Party, PartyMember

TIMEOUT = 5
GAME = "demo/1.0/default"


def party_url(path: str, **query: Any) -> str:
    """`path?query`, JSON-encoding the values that are not strings."""
    args = {key: value if isinstance(value, str) else json.dumps(value) for key, value in query.items()}
    return f"{path}?{urlencode(args)}" if args else path


class Session:
    """A party session over the real ASGI app (`WebsocketCommunicator`)."""

    def __init__(self, url: str, *, headers: list[tuple[bytes, bytes]] | None = None, ip: str = "127.0.0.1"):
        self.communicator = WebsocketCommunicator(application, url, headers=headers)
        self.communicator.scope["client"] = (ip, 50000)
        self.inbox: list[dict[str, Any]] = []
        self.ids = 0
        self.connected = False
        self.gone = False

    async def connect(self) -> None:
        connected, _ = await self.communicator.connect(timeout=TIMEOUT)
        assert connected
        self.connected = True

    async def open(self) -> dict[str, Any]:
        """Connect and read the `party` call; returns its party_info."""
        await self.connect()
        first = await self.next()
        assert first["method"] == "party", first
        assert first["jsonrpc"] == "2.0" and "id" in first
        return first["params"]["party_info"]

    async def refused(self) -> tuple[int, str]:
        """Connect and expect the session to be closed at once; (code, reason)."""
        await self.connect()
        return await self.closed()

    async def frame(self) -> dict[str, Any] | list[Any]:
        output = await self.communicator.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            self.connected = False
            raise SessionClosed(output.get("code"), output.get("reason", ""))
        assert output["type"] == "websocket.send", output
        return json.loads(output["text"])

    async def next(self) -> dict[str, Any]:
        """The next frame from the server (server messages buffered by `call` first)."""
        if self.inbox:
            return self.inbox.pop(0)
        found = await self.frame()
        assert isinstance(found, dict)
        return found

    async def message(self) -> tuple[str, Any]:
        """The next server `message`: (message_type, payload)."""
        found = await self.next()
        assert found["method"] == "message", found
        return found["params"]["message_type"], found["params"]["payload"]

    async def messages(self, count: int) -> list[tuple[str, Any]]:
        return [await self.message() for _ in range(count)]

    async def send_raw(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def reply(self) -> dict[str, Any]:
        """The next answer to one of our calls; server messages seen meanwhile are kept."""
        while True:
            found = await self.frame()
            if isinstance(found, dict) and "method" in found:
                self.inbox.append(found)
                continue
            assert isinstance(found, dict)
            return found

    async def call(self, method: str, params: Any = None) -> dict[str, Any]:
        """Call a method; the whole JSON-RPC response."""
        self.ids += 1
        request: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": self.ids}
        if params is not None:
            request["params"] = params
        await self.send_raw(json.dumps(request))
        response = await self.reply()
        assert response["id"] == self.ids, response
        return response

    async def ok(self, method: str, params: Any = None) -> Any:
        response = await self.call(method, params)
        assert "result" in response, response
        return response["result"]

    async def closed(self) -> tuple[int, str]:
        """Skip to the close; (code, reason). Unread messages are dropped."""
        while True:
            try:
                await self.frame()
            except SessionClosed as closed:
                return closed.code, closed.reason

    async def silent(self) -> None:
        assert not self.inbox, self.inbox
        assert await self.communicator.receive_nothing(timeout=0.1)

    async def disconnect(self) -> None:
        """The client goes away (also after the server closed: the consumer waits for it)."""
        if not self.gone:
            self.gone = True
            self.connected = False
            await self.communicator.disconnect(timeout=TIMEOUT)


class SessionClosed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


@pytest.fixture
def party(region: Any, version: Any, configuration: Any) -> Party:
    """An open party of 3 led by alice that does not start by itself (some modules define their own)."""
    party = Party.objects.create(
        application=configuration.application, version=version, configuration=configuration, region=region,
        max_members=3, auto_start=False, created_by="alice",
    )  # fmt: skip
    PartyMember.objects.create(party=party, account="alice", role=1000)
    return party


@pytest.fixture(autouse=True)
def short_grace(settings: Any) -> None:
    """Members who drop leave at once unless a test wants a grace period."""
    settings.PARTY_RECONNECT_GRACE_SECONDS = 0.01


@pytest.fixture
async def sessions(make_token: Any) -> AsyncIterator[Any]:
    """`sessions.create("alice", max_members=2)`, `sessions.connect("bob", party_id)`,
    `sessions.find("bob", party_filter={...})`: Sessions that are all disconnected, and whose
    background work (starts, grace checks) has ended, when the test ends."""

    opened: list[Session] = []

    class Factory:
        def raw(self, url: str, **kwargs: Any) -> Session:
            session = Session(url, **kwargs)
            opened.append(session)
            return session

        def url(self, path: str, account: str | None, scopes: list[str] | None, query: dict[str, Any]) -> str:
            if account is not None:
                query = {"access_token": make_token(account, scopes), **query}
            return party_url(path, **query)

        def create(
            self, account: str | None = "alice", scopes: list[str] | None = None, game: str = GAME, **query: Any
        ) -> Session:
            return self.raw(self.url(f"/party/create/{game}/session", account, scopes, query))

        def connect(self, account: str | None, party_id: str, scopes: list[str] | None = None, **query: Any) -> Session:
            return self.raw(self.url(f"/party/{party_id}/session", account, scopes, query))

        def find(self, account: str | None, scopes: list[str] | None = None, game: str = GAME, **query: Any) -> Session:
            return self.raw(self.url(f"/parties/{game}/session", account, scopes, query))

    yield Factory()
    for session in opened:
        await session.disconnect()
    await asyncio.wait_for(services.background_idle(), TIMEOUT)


class CallbackServer:
    """A close callback's HTTP server (the outside world): records calls, answers `answer`."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = 200
        self.answer: bytes = b'{"ok": true}'
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.calls.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if outer.delay:
                    threading.Event().wait(outer.delay)
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.answer)))
                self.end_headers()
                self.wfile.write(outer.answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/closed"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def callback_server() -> Iterator[CallbackServer]:
    server = CallbackServer()
    yield server
    server.stop()
