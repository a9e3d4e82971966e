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
    """Latencies (seconds) of successful requests, errors by status, and wall time."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add_error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def summary(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": self.error_count,
            "error_kinds": dict(self.errors),
            "rate": round(self.rate, 1),
            "p50_ms": round(self.percentile(50) * 1000, 2),
            "p99_ms": round(self.percentile(99) * 1000, 2),
            "max_ms": round(max(self.latencies, default=float("nan")) * 1000, 2),
        }


# A request function gets (connection, client index, request number) and returns the HTTP status.
RequestFn = Callable[[HttpConnection, int, int], Awaitable[int]]


async def closed_loop(
    host: str, port: int, request: RequestFn, *, clients: int, seconds: float, ok: tuple[int, ...] = (200,)
) -> Stats:
    stats = Stats()
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        connection = HttpConnection(host, port)
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
    port: int,
    request: RequestFn,
    *,
    rate: float,
    seconds: float,
    connections: int = 64,
    ok: tuple[int, ...] = (200,),
) -> Stats:
    """Send `rate` requests a second for `seconds` over a pool of connections."""
    stats = Stats()
    pool: asyncio.Queue[HttpConnection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(HttpConnection(host, port))
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05

    async def one(number: int) -> None:
        scheduled = start + number / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        connection = await pool.get()
        try:
            status = await request(connection, number % connections, number)
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            stats.add_error(type(exc).__name__)
            return
        finally:
            pool.put_nowait(connection)
        if status in ok:
            stats.latencies.append(time.perf_counter() - scheduled)
        else:
            stats.add_error(str(status))

    await asyncio.gather(*(one(n) for n in range(total)))
    stats.seconds = time.perf_counter() - start
    while not pool.empty():
        await pool.get_nowait().close()
    return stats
