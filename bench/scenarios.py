"""The benchmark scenarios. Each returns table rows; each starts its own servers and state."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psycopg2

from bench.load import HttpConnection, closed_loop
from bench.report import Row
from bench.servers import Servers


@dataclass
class Options:
    seconds: float = 5.0
    quick: bool = False


def pg_connect():  # type: ignore[no-untyped-def]
    from urllib.parse import urlsplit

    parts = urlsplit(os.environ["DATABASE_URL"])
    return psycopg2.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres", dbname=parts.path.lstrip("/")
    )


async def calibration(options: Options) -> list[Row]:
    """A bare ASGI hello and a single-row PostgreSQL update: figures from other days compare as ratios."""
    rows = []
    servers = Servers.start("uvicorn", env={}, app="bench.hello:application")
    try:

        async def hello(connection: HttpConnection, client: int, number: int) -> int:
            status, _ = await connection.request("GET", "/")
            return status

        stats = await closed_loop("127.0.0.1", servers.ports[0], hello, clients=32, seconds=options.seconds)
        rows.append(Row("calibration", "ASGI hello, uvicorn 1 process, 32 clients", stats.rate, "req/s"))
    finally:
        servers.stop()

    connection = pg_connect()
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE calibration (id int primary key, n int)")
        cursor.execute("INSERT INTO calibration VALUES (1, 0)")
        count, deadline = 0, time.perf_counter() + options.seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            cursor.execute("UPDATE calibration SET n = n + 1 WHERE id = 1")
            count += 1
        rows.append(
            Row(
                "calibration",
                "PostgreSQL single-row update, 1 connection",
                count / (time.perf_counter() - started),
                "updates/s",
            )
        )
    connection.close()
    return rows


Scenario = Callable[[Options], Awaitable[list[Row]]]
ALL: dict[str, Scenario] = {
    "calibration": calibration,
}
