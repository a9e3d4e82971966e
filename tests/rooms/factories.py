"""Small factories for matchmaking tests: running rooms are real rows (no game server process)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from hosts.models import Host
from regions.models import Region
from rooms.models import ApplicationVersion, GameServerConfiguration, Room, Slot


def make_host(region: Region, address: str = "10.0.0.1") -> Host:
    host, _ = Host.objects.get_or_create(
        region=region, address=address, defaults={"connected": True, "ports_from": 9000, "ports_to": 9999}
    )
    return host


def make_room(
    configuration: GameServerConfiguration,
    version: ApplicationVersion,
    region: Region,
    *,
    settings: dict[str, Any] | None = None,
    max_players: int = 8,
    state: str = Room.RUNNING,
    host: Host | None = None,
    ports: list[int] | None = None,
) -> Room:
    room = Room(
        application=configuration.application,
        version=version,
        configuration=configuration,
        region=region,
        host=host or make_host(region),
        state=state,
        settings=settings or {},
        max_players=max_players,
        ports=ports or [9001],
    )
    room.set_secret()
    room.save()
    return room


def add_slots(
    room: Room, count: int, *, state: str = Slot.JOINED, account: str = "p", expires_in: float = 30.0
) -> list[tuple[Slot, str]]:
    """`count` slots for accounts p0, p1, ... (or `account` when count is 1)."""
    made = []
    for n in range(count):
        slot, key = Slot.reserve(room=room, account=account if count == 1 else f"{account}{n}", ttl=30)
        slot.state = state
        slot.expires_at = timezone.now() + timedelta(seconds=expires_in)
        if state == Slot.JOINED:
            slot.joined_at = timezone.now()
        slot.save()
        made.append((slot, key))
    return made


def room_record(room: Room, players: int) -> dict[str, Any]:
    """The player-status record the API answers: a room without its location."""
    return {
        "id": str(room.pk),
        "settings": room.settings,
        "players": players,
        "max_players": room.max_players,
        "game_name": "demo",
        "game_version": "1.0",
    }


def room_body(room: Room, players: int) -> dict[str, Any]:
    """The room object the API answers (search; join answers add `slot` and `key`)."""
    return {**room_record(room, players), "location": {"host": room.host.address, "ports": room.ports}}
