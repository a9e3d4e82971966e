"""`make bench`: run the benchmarks against PostgreSQL and Redis on this machine, print a table
and append it, with the machine's description, to bench/RESULTS.md."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

import psycopg2

from bench import scenarios
from bench.report import Row, append_results, render_table

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gm_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    postgres = _version(["psql", "--version"])
    redis = _version(["redis-server", "--version"])
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_gb:.0f} GiB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {postgres}, {redis}; load generator, servers, "
        "PostgreSQL and Redis all on this machine"
    )


def _version(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=5).stdout.strip().split(" sha=")[0]
    except OSError:
        return f"{command[0]} not found"


def reset_database(url: str) -> None:
    """A fresh database for every run, migrated to the current schema."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    connection = psycopg2.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres", dbname="postgres"
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default="", help=f"Comma separated scenarios, of: {', '.join(scenarios.ALL)}")
    parser.add_argument("--seconds", type=float, default=5.0, help="Length of each measured run.")
    parser.add_argument("--quick", action="store_true", help="Smaller fleets and shorter runs (a smoke test).")
    parser.add_argument("--no-record", action="store_true", help="Print only; do not append to RESULTS.md.")
    args = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gamemaster.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    # Benchmarks measure the service, not its rate limits.
    os.environ.setdefault("CREATE_RATE", "1000000/min")
    os.environ.setdefault("CREATE_MULTI_RATE", "1000000/min")

    names = [name for name in args.only.split(",") if name] or list(scenarios.ALL)
    unknown = [name for name in names if name not in scenarios.ALL]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")

    reset_database(os.environ["DATABASE_URL"])
    import django

    # The harness seeds with the ORM between async load runs; the servers never get this flag.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    django.setup()

    options = scenarios.Options(seconds=args.seconds, quick=args.quick)
    rows: list[Row] = []
    for name in names:
        print(f"== {name}", flush=True)
        rows += asyncio.run(scenarios.ALL[name](options))
        print(render_table(rows[-10:]), flush=True)

    table = render_table(rows)
    print("\n" + table)
    if not args.no_record:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        append_results(ROOT / "bench" / "RESULTS.md", stamp=stamp, machine=machine_description(), table=table)
        print("appended to bench/RESULTS.md")


if __name__ == "__main__":
    main()
