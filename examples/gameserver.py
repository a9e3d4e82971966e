"""A reference game server for Game Master: a tiny TCP chat room.

Any program can be a game server; this file shows the whole contract so that it can be
ported to any language. docs/game-servers.md has the details.

  1. The host agent starts the program with environment variables: room_id, room_secret,
     gamemaster_url, ports ("7000,7001"), game_max_players, room_settings (JSON),
     server_settings (JSON) and, when a party started the room, party_id,
     party_settings (JSON) and party_members (JSON).
  2. The game server opens a WebSocket to gamemaster_url with the header
     "Authorization: Bearer <room_secret>". Each text frame is one JSON-RPC 2.0 object;
     both sides send requests and every request with an "id" gets exactly one response.
  3. Once ready it calls {"jsonrpc": "2.0", "id": 1, "method": "inited", "params": {}}.
     Until the master answers, nobody is sent to the room.
  4. A player gets a one-time key and this server's address from the master's REST API,
     connects here and shows the key. The server calls "joined" {"key": ...}: the result
     {"account": ..., "info": {...}} says who the player is; an error (say, an unknown or
     expired key) means the player must be refused.
  5. When the player goes, the server calls "left" {"key": ...} to free the slot.
  6. The master sends "status" requests (answer {"status": "ok"}) and may send a
     "terminate" notification: close everything and exit.
  7. Exiting ends the room. If the WebSocket drops, reconnect soon: the master keeps the
     room for a grace period only. (This server says "inited" again on a new connection.)
  Not used here: "update_settings" {"settings": {...}} and "check_version".

The chat room's own TCP protocol is UTF-8 lines. Client: the key as the first line, then
chat lines. Server: "WELCOME <account>", "JOINED <account>", "LEFT <account>",
"<account>: <text>", or "ERROR <message>" just before closing.

server_settings keys read: empty_timeout (seconds without players, counted from "inited"
or from the last player leaving, before exiting; default 60) and reconnect_timeout (seconds
to retry a lost master connection; default 60). Exit code 0 when done (empty, terminated,
SIGTERM), 1 when the port or the master fails us, 2 on a bad environment.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

ENV = dict(os.environ)  # names are lowercase, as the host agent sets them
KEY_TIMEOUT = 30  # seconds a TCP client has to show its key


def log(message: str) -> None:
    # The host agent reports the tail of the output when we exit: flush every line.
    print(f"gameserver[{ENV.get('room_id')}]: {message}", file=sys.stderr, flush=True)


def env_json(name: str) -> Any:
    try:
        return json.loads(ENV.get(name) or "{}")
    except ValueError:
        log(f"environment variable {name} is not valid JSON")
        sys.exit(2)


class RpcError(Exception):
    """An error response from the master."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code, self.message = code, message


class Master:
    """The JSON-RPC session with the master, over one WebSocket at a time."""

    def __init__(self, url: str, secret: str, on_terminate: Callable[[], None]) -> None:
        self.url, self.on_terminate = url, on_terminate
        self.headers = {"Authorization": f"Bearer {secret}"}
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.online = asyncio.Event()  # set while connected and inited
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}

    async def connect(self, first: bool = True) -> None:
        """Open the socket, start reading it, and call `inited`."""
        self.ws = None
        self.ws = await connect(self.url, additional_headers=self.headers)
        self.reader = asyncio.create_task(self.read(self.ws))
        try:
            await self.request("inited", {})
        except RpcError as exc:
            if first:
                raise
            # Reconnecting to a running room: say `inited` again in case the master wants it
            # per connection, and carry on if it says we need not.
            log(f"inited after reconnecting: {exc}")
        self.online.set()

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """Call a method once inited; during a reconnect, wait for the new connection."""
        await self.online.wait()
        return await self.request(method, params)

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        request_id = next(self.ids)
        future = self.pending[request_id] = asyncio.get_running_loop().create_future()
        try:
            try:
                await self.send({"id": request_id, "method": method, "params": params})
            except ConnectionClosed as exc:
                if not future.done():  # else read() has already failed it, with the reason
                    future.set_exception(ConnectionError(f"master connection closed: {exc}"))
            return await future
        finally:
            del self.pending[request_id]

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps({"jsonrpc": "2.0", **message}))

    async def read(self, ws: ClientConnection) -> None:
        """Handle frames until the socket closes, then fail the requests left unanswered."""
        try:
            async for frame in ws:
                await self.handle(frame)
        except ConnectionClosed:
            pass
        finally:
            self.online.clear()
            lost = ConnectionError(f"master connection closed: {ws.close_code} {ws.close_reason}")
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(lost)

    async def handle(self, frame: str | bytes) -> None:
        try:
            message = json.loads(frame)
        except ValueError:
            await self.send({"id": None, "error": {"code": -32700, "message": "Parse error"}})
            return
        if not isinstance(message, dict):
            await self.send({"id": None, "error": {"code": -32600, "message": "Invalid Request"}})
        elif "method" not in message:  # the response to one of our requests
            future = self.pending.get(message.get("id", 0))
            if future is None or future.done():
                return
            if error := message.get("error"):
                future.set_exception(RpcError(error.get("code"), error.get("message", "")))
            else:
                future.set_result(message.get("result"))
        else:
            method = message["method"]
            if method == "status":
                reply: dict[str, Any] = {"result": {"status": "ok"}}
            elif method == "terminate":
                log("the master asked us to terminate")
                self.on_terminate()
                reply = {"result": {}}
            else:
                reply = {"error": {"code": -32601, "message": f"Method not found: {method}"}}
            if "id" in message:  # no "id": a notification, which gets no response
                await self.send({"id": message["id"], **reply})

    async def stay_connected(self, give_up_after: float) -> None:
        """Reconnect whenever the socket closes; return when that fails for too long."""
        loop = asyncio.get_running_loop()
        while self.reader is not None:
            await self.reader
            log(f"lost the master connection; retrying for {give_up_after:g}s")
            deadline, delay = loop.time() + give_up_after, 0.5
            while True:
                await asyncio.sleep(delay)
                try:
                    await self.connect(first=False)
                    log("reconnected to the master")
                    break
                except (OSError, WebSocketException) as exc:
                    log(f"reconnecting failed: {exc}")
                    # The master turns a session away by closing it with 4000 + an HTTP status
                    # (4403, 4404): the room is gone, there is no point in trying again.
                    if self.ws is not None and 4400 <= (self.ws.close_code or 0) < 4500:
                        return
                if loop.time() + delay >= deadline:
                    log("giving up on the master")
                    return
                delay = min(delay * 2, 5)


class ChatRoom:
    def __init__(self, master: Master) -> None:
        self.master = master
        self.clients: dict[asyncio.StreamWriter, asyncio.Task[Any]] = {}  # open connections
        self.players: dict[asyncio.StreamWriter, str] = {}  # the joined ones -> account
        self.empty_since = asyncio.get_running_loop().time()
        self.closing = False  # when the room closes, its slots go with it: no `left` calls

    def broadcast(self, line: str, sender: asyncio.StreamWriter | None = None) -> None:
        for writer in self.players:
            if writer is not sender:
                writer.write(f"{line}\n".encode())

    async def handle_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = "{}:{}".format(*writer.get_extra_info("peername")[:2])
        task = asyncio.current_task()
        assert task is not None  # asyncio runs each handler as a task
        self.clients[writer] = task
        account = None
        try:
            line = await asyncio.wait_for(reader.readline(), KEY_TIMEOUT)
            key = line.decode(errors="replace").strip()
            if not key:  # closed without a word (a port probe, say): nothing to tell the master
                return
            try:
                result = await self.master.call("joined", {"key": key})
            except (RpcError, ConnectionError) as exc:
                log(f"refused {peer}: {exc}")
                writer.write(f"ERROR {getattr(exc, 'message', exc)}\n".encode())
                return
            account = result["account"]
            self.broadcast(f"JOINED {account}")
            self.players[writer] = account
            writer.write(f"WELCOME {account}\n".encode())
            log(f"joined {account} from {peer}, info {json.dumps(result.get('info'))}")
            while line := await reader.readline():
                text = line.decode(errors="replace").rstrip()
                self.broadcast(f"{account}: {text}", sender=writer)
        except (TimeoutError, ConnectionError, ValueError):  # too slow, gone, or a huge line
            pass
        finally:
            del self.clients[writer]
            writer.close()
            if account is not None:
                del self.players[writer]
                self.broadcast(f"LEFT {account}")
                log(f"left {account}, {len(self.players)} players remain")
                if not self.players:
                    self.empty_since = asyncio.get_running_loop().time()
                if not self.closing:
                    try:
                        await self.master.call("left", {"key": key})
                    except (RpcError, ConnectionError) as exc:
                        log(f"left {account} not recorded: {exc}")

    async def watch_empty(self, timeout: float) -> None:
        """Return once nobody has been playing for `timeout` seconds."""
        loop = asyncio.get_running_loop()
        while self.players or loop.time() - self.empty_since < timeout:
            await asyncio.sleep(min(1.0, timeout))
        log(f"empty for {timeout:g}s")


async def main() -> int:
    missing = [n for n in ("room_id", "room_secret", "gamemaster_url", "ports") if not ENV.get(n)]
    if missing:
        log(f"missing environment variables: {', '.join(missing)}")
        return 2
    port = int(ENV["ports"].split(",")[0])
    server_settings = env_json("server_settings")
    empty_timeout = float(server_settings.get("empty_timeout", 60))
    reconnect_timeout = float(server_settings.get("reconnect_timeout", 60))
    log(f"room settings {ENV.get('room_settings')}, {ENV.get('game_max_players')} players max")
    if ENV.get("party_id"):
        log(f"started by party {ENV['party_id']} for {', '.join(env_json('party_members'))}")

    loop = asyncio.get_running_loop()
    exit_code: asyncio.Future[int] = loop.create_future()

    def stop(code: int) -> None:
        if not exit_code.done():
            exit_code.set_result(code)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, 0)
    master = Master(ENV["gamemaster_url"], ENV["room_secret"], on_terminate=lambda: stop(0))
    room = ChatRoom(master)
    # Listen before `inited`: the master sends players here as soon as it has the answer.
    # Nobody holds a key to this room before that, so nobody gets in early.
    try:
        server = await asyncio.start_server(room.handle_client, "0.0.0.0", port)
    except OSError as exc:
        log(f"cannot listen on port {port}: {exc}")
        return 1
    log(f"listening on 0.0.0.0:{port}")

    async def lifecycle() -> None:
        try:
            await master.connect()
        except (OSError, WebSocketException, RpcError) as exc:
            log(f"could not start with the master: {exc!r}")
            stop(1)
            return
        log("inited, ready for players")
        room.empty_since = loop.time()
        empty = asyncio.create_task(room.watch_empty(empty_timeout))
        lost = asyncio.create_task(master.stay_connected(reconnect_timeout))
        try:
            done, _ = await asyncio.wait([empty, lost], return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when main() cancels us
            empty.cancel()
            lost.cancel()
        stop(0 if empty in done else 1)

    task = asyncio.create_task(lifecycle())
    code = await exit_code
    task.cancel()
    await asyncio.wait([task])  # let it stop watching before the sockets close
    server.close()
    room.closing = True
    for writer in room.clients:
        writer.close()
    if room.clients:  # let the handlers see their streams end before asyncio.run cancels them
        await asyncio.wait(room.clients.values(), timeout=1)
    if master.ws is not None:
        await master.ws.close()
    return code


if __name__ == "__main__":
    code = asyncio.run(main())
    log(f"exiting with code {code}")
    sys.exit(code)
