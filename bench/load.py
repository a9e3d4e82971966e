"""A small load generator: keep-alive HTTP/1.1 over asyncio streams, closed and open loop.

Closed loop: N clients each send their next request when the previous answer arrives (finds the
throughput ceiling). Open loop: requests are sent on a fixed schedule whatever the answers do,
and latency is measured from the scheduled send time, so a stall shows up in p99 instead of
silently slowing the sender down (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


class HttpConnection:
    """One keep-alive connection; enough HTTP/1.1 for Django behind daphne, uvicorn or gunicorn."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, *, token: str | None = None, body: Any = None) -> tuple[int, bytes]:
        for attempt in (1, 2):  # a server may close an idle keep-alive connection: reconnect once
            if self.writer is None:
                await self._connect()
            try:
                return await self._exchange(method, path, token, body)
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, method: str, path: str, token: str | None, body: Any) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Connection: keep-alive"]
        if token:
            lines.append(f"Authorization: Bearer {token}")
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        elif method != "GET":
            lines.append("Content-Length: 0")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
        length, chunked, close = None, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.lower() == "close":
                close = True
        if chunked:
            data = b""
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                data += await self.reader.readexactly(size)
                await self.reader.readline()
        elif length is not None:
            data = await self.reader.readexactly(length)
        else:
            data = await self.reader.read()
            close = True
        if close:
            await self.close()
        return status, data


@dataclass
class Stats:
    """Latencies (seconds) of successful requests, errors by kind, and wall time.

    `unfinished` counts open-loop requests still unanswered when the run gave up waiting: they
    count as infinitely slow in the percentiles, so a server that falls behind shows it.
    """

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    unfinished: int = 0

    def add_error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def merge(self, other: Stats) -> None:
        self.latencies += other.latencies
        self.unfinished += other.unfinished
        self.seconds = max(self.seconds, other.seconds)
        for kind, count in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + count

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values()) + self.unfinished

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies and not self.unfinished:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) + self.unfinished - 1, round(p / 100 * (len(ordered) + self.unfinished - 1)))
        return ordered[index] if index < len(ordered) else float("inf")

    @property
    def max(self) -> float:
        return float("inf") if self.unfinished else max(self.latencies, default=float("nan"))

    def summary(self) -> dict[str, Any]:
        kinds = dict(self.errors)
        if self.unfinished:
            kinds["unanswered"] = self.unfinished
        return {
            "ok": self.ok,
            "errors": self.error_count,
            "error_kinds": kinds,
            "rate": round(self.rate, 1),
            "p50_ms": round(self.percentile(50) * 1000, 2),
            "p99_ms": round(self.percentile(99) * 1000, 2),
            "max_ms": round(self.max * 1000, 2),
        }

    def describe_errors(self) -> str:
        kinds = self.summary()["error_kinds"]
        return ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "none"


# A request function gets (connection, client index, request number) and returns the HTTP status.
RequestFn = Callable[[HttpConnection, int, int], Awaitable[int]]


async def closed_loop(
    host: str,
    ports: list[int],
    request: RequestFn,
    *,
    clients: int,
    seconds: float,
    ok: tuple[int, ...] = (200,),
) -> Stats:
    """`clients` clients, spread over `ports`, each sending its next request when the last is answered."""
    stats = Stats()
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        connection = HttpConnection(host, ports[index % len(ports)])
        number = 0
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    status = await request(connection, index, number)
                except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
                    stats.add_error(type(exc).__name__)
                    await asyncio.sleep(0.01)
                    continue
                number += 1
                if status in ok:
                    stats.latencies.append(time.perf_counter() - started)
                else:
                    stats.add_error(str(status))
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    stats.seconds = time.perf_counter() - started
    return stats


async def open_loop(
    host: str,
    ports: list[int],
    request: RequestFn,
    *,
    rate: float,
    seconds: float,
    connections: int = 64,
    ok: tuple[int, ...] = (200,),
    grace: float = 5.0,
) -> Stats:
    """Send `rate` requests a second for `seconds` over a pool of connections (spread over `ports`).

    Latency runs from each request's scheduled time. Requests still unanswered `grace` seconds
    after the last one was due are given up and counted as `unfinished`: the run stays bounded
    when the server cannot keep up.
    """
    stats = Stats()
    pool: asyncio.Queue[HttpConnection] = asyncio.Queue()
    for index in range(connections):
        pool.put_nowait(HttpConnection(host, ports[index % len(ports)]))
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    in_use: set[HttpConnection] = set()

    async def one(number: int) -> None:
        scheduled = start + number / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        connection = await pool.get()
        in_use.add(connection)
        try:
            status = await request(connection, number % connections, number)
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            stats.add_error(type(exc).__name__)
            return
        finally:
            in_use.discard(connection)
            pool.put_nowait(connection)
        if status in ok:
            stats.latencies.append(time.perf_counter() - scheduled)
        else:
            stats.add_error(str(status))

    tasks = [asyncio.ensure_future(one(n)) for n in range(total)]
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, start + seconds + grace - time.perf_counter()))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    stats.unfinished = len(pending)
    stats.seconds = time.perf_counter() - start
    for connection in in_use:  # a cancelled request left its connection mid-answer
        await connection.close()
    while not pool.empty():
        await pool.get_nowait().close()
    return stats
