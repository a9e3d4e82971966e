"""Finding the game, version and configuration a URL names (404s that say which part is unknown)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from django.db.models import Model, QuerySet

from gamemaster.args import storable_text
from gamemaster.errors import NotFound
from rooms.models import Application, ApplicationVersion, GameServerConfiguration

_M = TypeVar("_M", bound=Model)


@dataclass(frozen=True)
class GameTarget:
    application: Application
    version: ApplicationVersion
    configuration: GameServerConfiguration


def named(queryset: QuerySet[_M], name: str) -> _M | None:
    """The row of `queryset` with this name; a name no database can hold (a NUL from the URL)
    names nothing, rather than failing the query."""
    return queryset.filter(name=name).first() if storable_text(name) else None


def game_target(*, application_name: str, application_version: str, game_server_name: str) -> GameTarget:
    """The (game, version, configuration) a URL names, or a 404 whose `code` says which is unknown."""
    application = named(Application.objects.all(), application_name)
    if application is None:
        raise NotFound(f"No game named '{application_name}'.", code="unknown_game")
    version = named(ApplicationVersion.objects.filter(application=application), application_version)
    if version is None:
        raise NotFound(f"Game '{application_name}' has no version '{application_version}'.", code="unknown_version")
    configuration = named(GameServerConfiguration.objects.filter(application=application), game_server_name)
    if configuration is None:
        raise NotFound(
            f"Game '{application_name}' has no game server configuration '{game_server_name}'.",
            code="unknown_configuration",
        )
    return GameTarget(application=application, version=version, configuration=configuration)


def require_enabled(target: GameTarget) -> None:
    """New rooms only start for enabled versions."""
    if not target.version.enabled:
        raise NotFound(
            f"Version '{target.version.name}' of '{target.application.name}' is disabled: no new rooms start for it.",
            code="version_disabled",
        )
