"""Small typed readers for settings that come from environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{name} must be a boolean (true/false/1/0), not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {raw!r}") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(url: str, *, base_dir: Path) -> dict:
    """Turn `postgres://user:pass@host:port/name?opt=v` or `sqlite:///path` into a DATABASES entry."""
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    if parts.scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path
        path = unquote(parts.path)
        name = Path(path[1:])
        if not name.is_absolute():
            name = base_dir / name
        return sqlite_database(name)
    if parts.scheme in {"postgres", "postgresql", "pgsql"}:
        config: dict = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": _url_int(options.pop("conn_max_age", "0"), "conn_max_age"),
        }
        if "conn_health_checks" in options:
            config["CONN_HEALTH_CHECKS"] = _url_bool(options.pop("conn_health_checks"), "conn_health_checks")
        pool = _pool_options(options)
        if pool:
            options["pool"] = pool  # type: ignore[assignment]
        config["OPTIONS"] = options
        return config
    raise ValueError(f"DATABASE_URL scheme {parts.scheme!r} is not supported (use postgres:// or sqlite://)")


def sqlite_database(name: Path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(name),
        # The master, the tests and their helper processes share one file: wait for locks instead of
        # failing, take the write lock at BEGIN so two joins cannot both read then upgrade.
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        "TEST": {"NAME": str(name.with_name(name.stem + "-test.sqlite3"))},
    }


POOL_SIZES = ("pool_min_size", "pool_max_size", "pool_timeout")


def _pool_options(options: dict[str, str]) -> dict | bool:
    """`?pool=true[&pool_min_size=2&pool_max_size=8&pool_timeout=10]`: Django's psycopg 3 pool
    (needs the psycopg[pool] package). Under ASGI every request runs in a new thread, so
    persistent connections (conn_max_age) do not carry over between requests; a pool does."""
    enabled = _url_bool(options.pop("pool", "false"), "pool")
    sizes = {name.removeprefix("pool_"): options.pop(name) for name in POOL_SIZES if name in options}
    if not enabled:
        if sizes:
            raise ValueError(f"DATABASE_URL: {', '.join(sizes)} need pool=true")
        return False
    if not sizes:
        return True
    return {
        name: float(value) if name == "timeout" else _url_int(value, f"pool_{name}") for name, value in sizes.items()
    }


def _url_int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"DATABASE_URL option {name} must be an integer, not {value!r}") from None


def _url_bool(value: str, name: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"DATABASE_URL option {name} must be true or false, not {value!r}")
