"""Fixtures every test folder shares: tokens, an API client, the demo game, a GeoIP database."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.layers import channel_layers
from django.db import connection
from rest_framework.test import APIClient

from gamemaster.auth import encode_token
from regions.models import Region
from rooms.models import Application, ApplicationVersion, GameServerConfiguration
from tests.geoip import build_city_database
from tests.hosts.processes import GAMESERVER, cluster  # noqa: F401  (real master, agents and game servers)

ALL_PLAYER_SCOPES = ["game", "party", "party_create"]


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)"))
        if "redis" in item.keywords and not settings.REDIS_URL:
            item.add_marker(pytest.mark.skip(reason="needs Redis (set REDIS_URL)"))


@pytest.fixture(autouse=True)
def fresh_channel_layer() -> Iterator[None]:
    """A channel layer per test: channels-redis binds its locks to the event loop that first used
    it, and every async test has its own loop."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def make_token() -> Callable[..., str]:
    def make(account: str = "alice", scopes: list[str] | None = None, ttl: int = 3600) -> str:
        return encode_token(account=account, scopes=ALL_PLAYER_SCOPES if scopes is None else scopes, ttl=ttl)

    return make


class Api(APIClient):
    """An APIClient that speaks as an account: `api.as_("bob", ["game"]).post(...)`."""

    def as_(self, account: str = "alice", scopes: list[str] | None = None) -> Api:
        token = encode_token(account=account, scopes=ALL_PLAYER_SCOPES if scopes is None else scopes)
        client = Api(REMOTE_ADDR=self._remote_addr)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    _remote_addr = "127.0.0.1"

    def from_ip(self, ip: str) -> Api:
        self._remote_addr = ip
        self.defaults["REMOTE_ADDR"] = ip
        return self


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def geoip(tmp_path: Any, settings: Any) -> Any:
    """A small GeoIP City database of our own (tests/geoip.py), configured as the locator's."""
    path = build_city_database(tmp_path / "city.mmdb")
    settings.GEOIP = {"BACKEND": "regions.geoip.MaxMindCityLocator", "OPTIONS": {"path": str(path)}}
    return path


@pytest.fixture
def region(db: Any) -> Region:
    return Region.objects.create(name="local", x=0.0, y=0.0, is_default=True)


@pytest.fixture
def game(db: Any) -> Application:
    return Application.objects.create(name="demo", title="Demo")


@pytest.fixture
def version(game: Application) -> ApplicationVersion:
    return ApplicationVersion.objects.create(application=game, name="1.0")


@pytest.fixture
def configuration(game: Application) -> GameServerConfiguration:
    return GameServerConfiguration.objects.create(application=game, name="default", command="/bin/true")


@pytest.fixture
def chat(configuration: GameServerConfiguration) -> GameServerConfiguration:
    """The demo configuration running the example game server (for tests with real processes)."""
    configuration.command = sys.executable
    configuration.arguments = [str(GAMESERVER)]
    configuration.server_settings = {"empty_timeout": 60}
    configuration.spawn_timeout = 20
    configuration.save()
    return configuration
