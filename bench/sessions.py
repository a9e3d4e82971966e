"""Party sessions as real WebSocket clients (the `websockets` library, asyncio), for scenarios 4 and 5.

A session is open once its `party` call arrived (spec/parties.md). Every `custom` message a
session gets is recorded by message id with its latency (the send time travels in the payload),
so the run can count what was lost or delivered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


def raise_open_files() -> int:
    """Up to the hard limit: 10,000 sessions are 10,000 sockets here and as many in the servers
    (which inherit the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Deliveries:
    """What every session received: `custom` messages by id, their latencies, everything else."""

    latencies: list[float] = field(default_factory=list)
    received: dict[int, int] = field(default_factory=dict)  # message id -> sessions that got it
    duplicates: int = 0
    last_at: float = 0.0
    other_messages: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def add_error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    @property
    def total(self) -> int:
        return len(self.latencies)


@dataclass
class Session:
    ws: ClientConnection
    index: int
    party: int
    opened_in: float
    seen: set[int] = field(default_factory=set)
    reader: asyncio.Task[Any] | None = None
    sent: int = 0

    async def send_message(self, payload: Any) -> None:
        self.sent += 1
        frame = {"jsonrpc": "2.0", "id": self.sent, "method": "send_message", "params": {"payload": payload}}
        await self.ws.send(json.dumps(frame, separators=(",", ":")))

    def read(self, deliveries: Deliveries) -> None:
        self.reader = asyncio.create_task(self._read(deliveries))

    async def _read(self, deliveries: Deliveries) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in self.ws:
                now = time.time()
                message = json.loads(frame)
                params = message.get("params")
                if message.get("method") == "message" and params["message_type"] == "custom":
                    payload = params["payload"]
                    number = payload["m"]
                    if number in self.seen:
                        deliveries.duplicates += 1
                        continue
                    self.seen.add(number)
                    deliveries.received[number] = deliveries.received.get(number, 0) + 1
                    deliveries.latencies.append(now - payload["t"])
                    deliveries.last_at = now
                elif "error" in message:
                    deliveries.add_error(f"rpc {message['error'].get('code')}")
                elif "result" not in message:
                    deliveries.other_messages += 1
                    deliveries.last_at = now

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 10)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader


class Refused(Exception):
    pass


async def open_session(url: str, *, index: int, party: int, timeout: float = 30.0) -> Session:
    """Connect and wait for the `party` call (the session is open); anything else first is a refusal."""
    started = time.perf_counter()
    ws = await connect(url, compression=None, ping_interval=None, open_timeout=timeout, max_queue=None)
    try:
        first = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    except ConnectionClosed as closed:
        raise Refused(f"closed {closed.rcvd.code if closed.rcvd else 'abnormally'}") from None
    if first.get("method") != "party":
        await ws.close()
        raise Refused(f"first message {first.get('method')!r}")
    return Session(ws=ws, index=index, party=party, opened_in=time.perf_counter() - started)


@dataclass
class Opening:
    sessions: list[Session]
    seconds: float
    errors: dict[str, int]

    @property
    def rate(self) -> float:
        return len(self.sessions) / self.seconds if self.seconds else 0.0


async def open_sessions(urls: list[tuple[str, int]], *, concurrency: int) -> Opening:
    """Open a session for each (url, party), at most `concurrency` handshakes at a time."""
    sessions: list[Session] = []
    errors: dict[str, int] = {}
    queue: asyncio.Queue[tuple[int, str, int]] = asyncio.Queue()
    for index, (url, party) in enumerate(urls):
        queue.put_nowait((index, url, party))

    async def opener() -> None:
        while not queue.empty():
            index, url, party = queue.get_nowait()
            try:
                sessions.append(await open_session(url, index=index, party=party))
            except (TimeoutError, Refused, OSError, ConnectionClosed) as exc:
                what = str(exc) if isinstance(exc, Refused) else type(exc).__name__
                errors[what] = errors.get(what, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(opener() for _ in range(concurrency)))
    return Opening(
        sessions=sorted(sessions, key=lambda s: s.index), seconds=time.perf_counter() - started, errors=errors
    )


async def close_sessions(sessions: list[Session], *, concurrency: int = 200) -> None:
    for start in range(0, len(sessions), concurrency):
        await asyncio.gather(*(session.close() for session in sessions[start : start + concurrency]))


async def wait_quiet(deliveries: Deliveries, *, quiet: float = 0.5, limit: float = 15.0) -> None:
    """Until no message arrived for `quiet` seconds (the joins' `player_joined` traffic is over)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if time.time() - deliveries.last_at >= quiet:
            return
        await asyncio.sleep(0.1)


class LoopLag:
    """How late this (client) event loop wakes up: if the load generator itself falls behind,
    the latencies it reports are its own."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags.append(time.perf_counter() - before - 0.01)

    def stop(self) -> float:
        """p99 lag in ms."""
        self.task.cancel()
        ordered = sorted(self.lags)
        return ordered[round(0.99 * (len(ordered) - 1))] * 1000 if ordered else 0.0
