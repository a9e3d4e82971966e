"""Scenarios 4 and 5: party fan-out and 10,000 party sessions, real WebSocket clients on real
master processes with a Redis channel layer."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import time
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

from bench.report import Row
from bench.scenarios import Options, Setup, pg_connect
from bench.servers import Servers
from bench.sessions import Deliveries, LoopLag, close_sessions, open_sessions, raise_open_files, wait_quiet

CORE = "channels_redis.core.RedisChannelLayer"
PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
LAYERS = {"core": CORE, "pubsub": PUBSUB}
PARTY_SERVER = "party"  # the bench game's configuration for parties: rooms of 100 places
FANOUT_TARGET = 9000.0  # deliveries/s
FANOUT_P99_MS = 60.0
SESSIONS_TARGET = 10000
SESSION_KB_TARGET = 40.0
OPEN_RATE_TARGET = 1000.0


@dataclass(frozen=True)
class PartySetup:
    server: str
    layer: str  # "core" or "pubsub"
    processes: int = 2

    @property
    def label(self) -> str:
        return f"{self.server} x{self.processes}, {self.layer} layer"

    def start(self, *, pool_max_size: int | None = None) -> Servers:
        setup = Setup(self.server, self.processes, "pool", (("CHANNEL_LAYER_BACKEND", LAYERS[self.layer]),))
        env = setup.env()
        if pool_max_size:
            env["DATABASE_URL"] += f"&pool_max_size={pool_max_size}&pool_min_size=2"
        return Servers.start(self.server, env=env, processes=self.processes)


# The party setup `make bench` recommends; BENCH_SERVER / BENCH_LAYER pick another.
PRODUCTION = PartySetup(os.environ.get("BENCH_SERVER", "uvicorn"), os.environ.get("BENCH_LAYER", "pubsub"))
COMPARED = [
    PartySetup("uvicorn", "core"),
    PartySetup("uvicorn", "pubsub"),
    PartySetup("daphne", "core"),
    PartySetup("daphne", "pubsub"),
]


def seed_parties(sizes: list[int]) -> list[str]:
    """Fresh open parties of the bench game (auto_start off: full parties stay parties)."""
    from django.core.management import call_command

    from parties.services import PartyOptions, party_create
    from rooms.lookup import game_target

    with pg_connect() as connection:
        connection.execute("TRUNCATE parties_party CASCADE")
    # A configuration whose rooms hold 100 players: a party is never larger than its room.
    call_command("bench_seed", rooms=0, server=PARTY_SERVER, max_players=100, stdout=StringIO())
    target = game_target(application_name="bench", application_version="1.0", game_server_name=PARTY_SERVER)
    return [
        party_create(
            target=target,
            account="bench-owner",
            ip=None,
            options=PartyOptions(max_members=size, auto_start=False, auto_close=False, region="bench"),
        ).pk
        for size in sizes
    ]


def member_urls(
    servers: Servers, party_ids: list[str], sizes: list[int], *, first_account: int = 0
) -> list[tuple[str, int]]:
    """One URL per member (joining on open), each party's members spread over the server ports
    and interleaved across parties, as players arrive."""
    from gamemaster.auth import encode_token

    urls = []
    account = first_account
    for party, (party_id, size) in enumerate(zip(party_ids, sizes, strict=True)):
        for _ in range(size):
            port = servers.ports[account % len(servers.ports)]
            token = encode_token(account=f"m-{account}", scopes=["party"], ttl=3600)
            urls.append((f"ws://127.0.0.1:{port}/party/{party_id}/session?access_token={token}", party))
            account += 1
    random.Random(7).shuffle(urls)
    return urls


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def server_pids(servers: Servers) -> list[int]:
    from bench.servers import process_tree

    return [pid for process in servers.processes for pid in process_tree(process.pid)]


def redis_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(entry, "comm").read_text().strip() == "redis-server":
                    return int(entry.name)
            except OSError:
                continue
    return None


def profile(pids: list[int], seconds: float, name: str) -> list[subprocess.Popen]:
    """With BENCH_PYSPY=<path to py-spy>: sample every server process for `seconds` into
    /tmp/bench-profile-<name>-<pid>.txt (collapsed stacks, for flame graphs or grep)."""
    pyspy = os.environ.get("BENCH_PYSPY")
    if not pyspy:
        return []
    return [
        subprocess.Popen(
            [
                pyspy,
                "record",
                "--nonblocking",
                "--format",
                "raw",
                "-d",
                str(int(seconds)),
                "-r",
                "200",
                "-p",
                str(pid),
                "-o",
                f"/tmp/bench-profile-{name}-{pid}.txt",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


# --- scenario 4 ---------------------------------------------------------------------------------


@dataclass
class Fanout:
    setup: PartySetup
    offered: float
    delivered_rate: float
    p50_ms: float
    p99_ms: float
    expected: int
    delivered: int
    lost: int
    duplicates: int
    errors: dict[str, int]
    open_rate: float
    cpu: str

    @property
    def note(self) -> str:
        errors = ", ".join(f"{n} {k}" for k, n in sorted(self.errors.items())) or "none"
        return (
            f"{self.setup.label}; offered {self.offered:,.0f}/s; p50 {self.p50_ms:.1f} ms; "
            f"{self.delivered:,} of {self.expected:,} delivered, {self.lost:,} lost, {self.duplicates:,} duplicated; "
            f"errors {errors}; CPU s/s {self.cpu}"
        )


async def fanout_run(setup: PartySetup, sizes: list[int], *, rate: float, seconds: float) -> Fanout:
    """Members of `sizes` parties send `send_message` on a fixed schedule (open loop) so that
    parties' sessions together should receive `rate` messages a second."""
    party_ids = seed_parties(sizes)
    servers = setup.start()
    sessions = []
    try:
        opening = await open_sessions(member_urls(servers, party_ids, sizes), concurrency=32)
        sessions = opening.sessions
        deliveries = Deliveries()
        for session in sessions:
            session.read(deliveries)
        await wait_quiet(deliveries)  # the joins' player_joined are over
        party_sizes = [0] * len(sizes)
        for session in sessions:
            party_sizes[session.party] += 1
        fanout = sum(party_sizes[s.party] for s in sessions) / len(sessions)
        sends_per_second = rate / fanout
        total = int(sends_per_second * seconds)
        senders = [sessions[i % len(sessions)] for i in random.Random(11).sample(range(total), total)]
        expected = sum(party_sizes[sender.party] for sender in senders)

        pids = server_pids(servers)
        redis = redis_pid()
        cpu_before = cpu_seconds(pids), cpu_seconds([redis] if redis else []), time.process_time()
        profilers = profile(pids, seconds, f"fanout-{setup.server}-{setup.layer}")
        lag = LoopLag()
        started = time.time()
        start = time.perf_counter() + 0.05
        for number, sender in enumerate(senders):
            delay = start + number / sends_per_second - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            # The scheduled time, not the actual one: a client that falls behind shows as latency.
            scheduled = started + 0.05 + number / sends_per_second
            await sender.send_message({"m": number, "t": scheduled})
        # Late is not lost: wait while messages still arrive (a backlog drains), up to 30 s.
        deadline, last_count, last_change = time.monotonic() + 30.0, -1, time.monotonic()
        while deliveries.total + deliveries.duplicates < expected and time.monotonic() < deadline:
            if deliveries.total != last_count:
                last_count, last_change = deliveries.total, time.monotonic()
            elif time.monotonic() - last_change > 2.0:
                break
            await asyncio.sleep(0.05)
        elapsed = max(deliveries.last_at - started, seconds)
        cpu_after = cpu_seconds(pids), cpu_seconds([redis] if redis else []), time.process_time()
        window = time.time() - started
        client_lag = lag.stop()
        for profiler in profilers:
            profiler.wait()
        cpu = (
            f"servers {(cpu_after[0] - cpu_before[0]) / window:.2f}, "
            f"redis {(cpu_after[1] - cpu_before[1]) / window:.2f}, "
            f"client {(cpu_after[2] - cpu_before[2]) / window:.2f} (its loop p99 late {client_lag:.0f} ms)"
        )
        latencies = sorted(deliveries.latencies)
        lost = expected - deliveries.total
        padded = latencies + [float("inf")] * max(lost, 0)

        def percentile(p: float) -> float:
            return padded[min(len(padded) - 1, round(p / 100 * (len(padded) - 1)))] * 1000 if padded else float("nan")

        errors = dict(opening.errors)
        for kind, count in deliveries.errors.items():
            errors[kind] = errors.get(kind, 0) + count
        return Fanout(
            setup=setup,
            offered=rate,
            delivered_rate=deliveries.total / elapsed,
            p50_ms=percentile(50),
            p99_ms=percentile(99),
            expected=expected,
            delivered=deliveries.total,
            lost=lost,
            duplicates=deliveries.duplicates,
            errors=errors,
            open_rate=opening.rate,
            cpu=cpu,
        )
    finally:
        await close_sessions(sessions)
        servers.stop()


def fanout_sizes(quick: bool) -> list[int]:
    return [8] * 25 + [100] if quick else [8] * 125 + [100] * 2


async def party_fanout(options: Options) -> list[Row]:
    """Scenario 4: 125 parties of 8 and 2 of 100, paced at 9,000 deliveries/s, on each server and channel layer."""
    raise_open_files()
    rows: list[Row] = []
    sizes = fanout_sizes(options.quick)
    seconds = min(options.seconds, 5.0)
    setups = [PRODUCTION] if options.quick else COMPARED
    if os.environ.get("BENCH_FANOUT_SETUPS"):  # e.g. "uvicorn:pubsub,daphne:pubsub,uvicorn:pubsub"
        setups = [PartySetup(*item.split(":")) for item in os.environ["BENCH_FANOUT_SETUPS"].split(",")]
    for setup in setups:
        run = await fanout_run(setup, sizes, rate=FANOUT_TARGET, seconds=seconds)
        met = run.lost == 0 and run.duplicates == 0
        rows.append(Row("4 party fan-out", f"{setup.label}: deliveries/s", run.delivered_rate, "msg/s", ">= 9,000/s",
                        run.delivered_rate >= FANOUT_TARGET * 0.98 and met, run.note))  # fmt: skip
        rows.append(Row("4 party fan-out", f"{setup.label}: p99 delivery", run.p99_ms, "ms", "<= 60 ms",
                        run.p99_ms <= FANOUT_P99_MS, f"p50 {run.p50_ms:.1f} ms"))  # fmt: skip
        rows.append(Row("4 party fan-out", f"{setup.label}: lost + duplicated", run.lost + run.duplicates, "messages",
                        "0", met))  # fmt: skip
    return rows


# --- scenario 5 ---------------------------------------------------------------------------------


async def party_sessions(options: Options) -> list[Row]:
    """Scenario 5: 10,000 joined sessions (1,250 parties of 8) on 2 processes: open rate and
    server memory per session."""
    limit = raise_open_files()
    setup = PRODUCTION
    count = 1000 if options.quick else SESSIONS_TARGET
    count = min(count, (limit - 500) // 1)  # the client holds one socket per session
    parties = count // 8
    sizes = [8] * parties
    party_ids = seed_parties([*sizes, 2])
    # Sessions open on one database thread per process: a small pool is enough (max_connections 100).
    servers = setup.start(pool_max_size=4)
    sessions = []
    rows: list[Row] = []
    try:
        # Warm up: the first sessions load code and connections; then the idle memory.
        warm = await open_sessions(member_urls(servers, party_ids[-1:], [2], first_account=10**6), concurrency=2)
        await asyncio.sleep(1.0)
        idle_kb = servers.memory_kb()
        pids = server_pids(servers)
        cpu_before = cpu_seconds(pids)
        profilers = profile(pids, 8, f"sessions-{setup.server}-{setup.layer}")
        opening = await open_sessions(member_urls(servers, party_ids[:-1], sizes), concurrency=64)
        cpu_open = cpu_seconds(pids) - cpu_before
        for profiler in profilers:
            profiler.wait()
        sessions = opening.sessions + warm.sessions
        deliveries = Deliveries()
        for session in opening.sessions:
            session.read(deliveries)
        await wait_quiet(deliveries, quiet=1.0, limit=30.0)
        loaded_kb = servers.memory_kb()
        per_session = (loaded_kb - idle_kb) / max(len(opening.sessions), 1)
        idle_cpu_start, idle_started = cpu_seconds(pids), time.monotonic()
        await asyncio.sleep(3.0)
        idle_cpu = (cpu_seconds(pids) - idle_cpu_start) / (time.monotonic() - idle_started)
        errors = ", ".join(f"{n} {k}" for k, n in sorted(opening.errors.items())) or "none"
        opened = len(opening.sessions)
        open_times = sorted(s.opened_in for s in opening.sessions)
        p99_open = open_times[round(0.99 * (len(open_times) - 1))] * 1000 if open_times else float("nan")
        note = (
            f"{setup.label}; {opened:,} of {count:,} open ({parties:,} parties of 8), 64 opening at a time; "
            f"errors {errors}"
        )
        rows.append(Row("5 party sessions", "concurrent sessions open", opened, "sessions", f">= {SESSIONS_TARGET:,}",
                        opened >= SESSIONS_TARGET and not opening.errors, note))  # fmt: skip
        rows.append(Row("5 party sessions", "opening rate (until the party call)", opening.rate, "sessions/s",
                        ">= 1,000/s", opening.rate >= OPEN_RATE_TARGET,
                        f"p99 open {p99_open:.0f} ms; server CPU {cpu_open / opening.seconds:.2f} s/s "
                        f"({cpu_open / max(opened, 1) * 1000:.1f} ms a session)"))  # fmt: skip
        rows.append(Row("5 party sessions", "server memory per session", per_session, "KB", "<= 40 KB",
                        per_session <= SESSION_KB_TARGET,
                        f"RSS idle {idle_kb // 1024} MB, with sessions {loaded_kb // 1024} MB; "
                        f"idle CPU with sessions open {idle_cpu:.2f} s/s"))  # fmt: skip
    finally:
        await close_sessions(sessions)
        servers.stop()
    return rows
