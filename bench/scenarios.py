"""The benchmark scenarios. Each returns table rows; each starts its own servers and state."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from io import StringIO
from urllib.parse import urlencode

import psycopg2

from bench.load import HttpConnection, Stats, closed_loop, open_loop
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


# --- rooms -----------------------------------------------------------------------------------

GAME = "/bench/1.0/default"
MATCHING = {"mode": "ffa", "map": "dust", "tier": 2}
OTHER = {"mode": "duel", "map": "dust", "tier": 2}
# The 3-key filter of the search and quick-join scenarios.
FILTER = {"mode": "ffa", "map": "dust", "tier": {"@func": ">=", "@value": 2}}
SERVER = os.environ.get("BENCH_SERVER", "uvicorn")
PROCESSES = int(os.environ.get("BENCH_PROCESSES", "2"))
SERVER_ENV = {"DATABASE_URL": os.environ.get("BENCH_SERVER_DATABASE_URL", "")}


def seed_rooms(*, matching: int, other: int = 0, max_players: int = 8) -> None:
    """A fresh pool: `matching` rooms that the filter finds and `other` rooms that it does not."""
    from django.core.management import call_command

    from rooms.models import Room

    Room.objects.all().delete()
    quiet = StringIO()
    call_command("bench_seed", rooms=matching, room_settings=json.dumps(MATCHING), max_players=max_players, stdout=quiet)
    if other:
        call_command("bench_seed", rooms=other, room_settings=json.dumps(OTHER), max_players=max_players, stdout=quiet)
    with pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def over_capacity() -> int:
    with pg_connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM rooms_room r WHERE r.max_players < "
            "(SELECT COUNT(*) FROM rooms_slot s WHERE s.room_id = r.id)"
        )
        return int(cursor.fetchone()[0])


def tokens(count: int) -> list[str]:
    from gamemaster.auth import encode_token

    return [encode_token(account=f"bench-{i}", scopes=["game"], ttl=3600) for i in range(count)]


def start_server() -> Servers:
    env = {key: value for key, value in SERVER_ENV.items() if value}
    return Servers.start(SERVER, env=env, processes=PROCESSES)


def port_for(servers: Servers, client: int) -> int:
    return servers.ports[client % len(servers.ports)]


async def measure(
    servers: Servers, request: Callable, *, options: Options, clients: int = 32, rate: float | None = None
) -> tuple[Stats, Stats | None]:
    """A closed-loop run, then (when `rate` is given) an open-loop run paced at `rate`."""
    # Clients spread over the servers' ports (daphne runs one process per port).
    closed = await closed_loop_multi(servers, request, clients=clients, seconds=options.seconds)
    paced = None
    if rate:
        paced = await open_loop("127.0.0.1", servers.ports[0], request, rate=rate, seconds=options.seconds)
    return closed, paced


async def closed_loop_multi(servers: Servers, request: Callable, *, clients: int, seconds: float) -> Stats:
    per_port = [
        closed_loop("127.0.0.1", port, request, clients=max(1, clients // len(servers.ports)), seconds=seconds)
        for port in servers.ports
    ]
    results = await asyncio.gather(*per_port)
    merged = Stats(seconds=max(r.seconds for r in results))
    for result in results:
        merged.latencies += result.latencies
        for kind, count in result.errors.items():
            merged.errors[kind] = merged.errors.get(kind, 0) + count
    return merged


def setup_note(servers: Servers) -> str:
    return f"{servers.kind} x{PROCESSES}"


async def quick_join(options: Options) -> list[Row]:
    """Scenario 1: find-and-reserve with a 3-key filter, 32 clients, then paced at 800/s."""
    rows: list[Row] = []
    fleets = [(1000, 0)] if options.quick else [(1000, 0), (1000, 9000), (1000, 99000)]
    keys = tokens(64)
    body = {"settings": FILTER, "auto_create": False}

    async def join(connection: HttpConnection, client: int, number: int) -> int:
        status, _ = await connection.request("POST", f"/join{GAME}", token=keys[client % len(keys)], body=body)
        return status

    baseline = None
    for matching, other in fleets:
        # 64 places a room: the run never runs out of places, so every answer is a real join.
        seed_rooms(matching=matching, other=other, max_players=64)
        servers = start_server()
        try:
            closed, paced = await measure(servers, join, options=options, rate=800)
            memory = servers.memory_kb()
        finally:
            servers.stop()
        label = f"{matching + other:,} rooms ({other:,} not matching)"
        baseline = baseline or closed.rate
        target = ">= 1,500/s" if not other else f">= {baseline / 2:,.0f}/s (half of 1,000 rooms)"
        met = closed.rate >= 1500 if not other else closed.rate >= baseline / 2
        rows.append(Row("1 quick-join", f"{label}: throughput, 32 clients", closed.rate, "joins/s", target, met,
                        f"{setup_note(servers)}; errors {closed.error_count}; p99 {closed.summary()['p99_ms']} ms; "
                        f"server RSS {memory // 1024} MB"))  # fmt: skip
        assert paced is not None
        p50, p99 = paced.percentile(50) * 1000, paced.percentile(99) * 1000
        rows.append(Row("1 quick-join", f"{label}: paced 800/s p50", p50, "ms", "<= 10 ms" if not other else "",
                        p50 <= 10 if not other else None, f"errors {paced.error_count}"))  # fmt: skip
        rows.append(Row("1 quick-join", f"{label}: paced 800/s p99", p99, "ms", "<= 40 ms" if not other else "<= 50 ms",
                        p99 <= (40 if not other else 50), f"max {paced.summary()['max_ms']} ms"))  # fmt: skip
        rows.append(Row("1 quick-join", f"{label}: rooms over capacity", over_capacity(), "rooms", "0",
                        over_capacity() == 0))  # fmt: skip
    return rows


async def join_by_id(options: Options) -> list[Row]:
    """Scenario 2: join a named room, across 1,000 rooms, then into one room of 10,000 places."""
    from rooms.models import Room

    rows: list[Row] = []
    keys = tokens(64)
    seed_rooms(matching=1000, max_players=64)
    room_ids = list(Room.objects.values_list("pk", flat=True))

    async def join(connection: HttpConnection, client: int, number: int) -> int:
        room = room_ids[(client * 7919 + number) % len(room_ids)]
        status, _ = await connection.request("POST", f"/rooms/bench/{room}/join", token=keys[client % len(keys)])
        return status

    servers = start_server()
    try:
        closed, paced = await measure(servers, join, options=options, rate=800)
    finally:
        servers.stop()
    rows.append(Row("2 join by id", "1,000 rooms: throughput, 32 clients", closed.rate, "joins/s", ">= 1,500/s",
                    closed.rate >= 1500, f"{setup_note(servers)}; errors {closed.error_count}; "
                    f"p99 {closed.summary()['p99_ms']} ms"))  # fmt: skip
    assert paced is not None
    p99 = paced.percentile(99) * 1000
    rows.append(Row("2 join by id", "1,000 rooms: paced 800/s p99", p99, "ms", "<= 30 ms", p99 <= 30,
                    f"p50 {paced.summary()['p50_ms']} ms; errors {paced.error_count}"))  # fmt: skip

    seed_rooms(matching=1, max_players=10000)
    room_ids = list(Room.objects.values_list("pk", flat=True))
    servers = start_server()
    try:
        # Every join takes the same row lock: the hot-room case.
        closed, _ = await measure(servers, join, options=Options(seconds=min(options.seconds, 4.0)))
    finally:
        servers.stop()
    rows.append(Row("2 join by id", "1 room of 10,000 places: throughput", closed.rate, "joins/s", ">= 800/s",
                    closed.rate >= 800, f"errors {closed.error_count}; p99 {closed.summary()['p99_ms']} ms; "
                    f"over capacity {over_capacity()}"))  # fmt: skip
    return rows


async def search(options: Options) -> list[Row]:
    """Scenario 3: search with a 3-key settings filter at 1,000, 10,000 and 100,000 rooms."""
    rows: list[Row] = []
    keys = tokens(64)
    query = "/rooms" + GAME + "?" + urlencode({"settings": json.dumps(FILTER)})
    targets = {1000: 10, 10000: 20, 100000: 40}
    fleets = [1000] if options.quick else [1000, 10000, 100000]

    async def find(connection: HttpConnection, client: int, number: int) -> int:
        status, _ = await connection.request("GET", query, token=keys[client % len(keys)])
        return status

    for total in fleets:
        # A tenth of the fleet matches the filter; a page is the default 100 rooms.
        seed_rooms(matching=total // 10, other=total - total // 10)
        servers = start_server()
        try:
            closed, paced = await measure(servers, find, options=options, rate=300)
        finally:
            servers.stop()
        assert paced is not None
        p99 = paced.percentile(99) * 1000
        rows.append(Row("3 search", f"{total:,} rooms: paced 300/s p99", p99, "ms", f"<= {targets[total]} ms",
                        p99 <= targets[total], f"p50 {paced.summary()['p50_ms']} ms; errors {paced.error_count}"))  # fmt: skip
        rows.append(Row("3 search", f"{total:,} rooms: throughput, 32 clients", closed.rate, "searches/s",
                        ">= 600/s" if total == 100000 else "", closed.rate >= 600 if total == 100000 else None,
                        f"{setup_note(servers)}; p99 {closed.summary()['p99_ms']} ms; errors {closed.error_count}"))  # fmt: skip
    return rows


Scenario = Callable[[Options], Awaitable[list[Row]]]
ALL: dict[str, Scenario] = {
    "calibration": calibration,
    "quick_join": quick_join,
    "join_by_id": join_by_id,
    "search": search,
}
