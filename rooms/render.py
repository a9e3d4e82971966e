"""The room object of the API (DESIGN.md §4), one renderer for every endpoint that answers rooms."""

from __future__ import annotations

from typing import Any

from rooms.models import PLAYERS_SQL, Room


def record_body(
    *, room_id: int, settings: dict, players: int, max_players: int, game_name: str, game_version: str
) -> dict[str, Any]:
    """The player-status record from plain values (the fast lane renders rows, not models)."""
    return {
        "id": str(room_id),
        "settings": settings,
        "players": players,
        "max_players": max_players,
        "game_name": game_name,
        "game_version": game_version,
    }


def room_record(room: Room, players: int) -> dict[str, Any]:
    """The player-status record: a room without its location."""
    return record_body(
        room_id=room.pk,
        settings=room.settings,
        players=players,
        max_players=room.max_players,
        game_name=room.application.name,
        game_version=room.version.name,
    )


# room_object as PostgreSQL writes it (JSON text), for the fast lane's search page
# (rooms/fastlane.py): the same shape, tested equal to the view's. On `rooms_room` joined to
# `hosts_host`; parameters: game_name, game_version, now (rooms.models.PLAYERS_SQL).
ROOM_OBJECT_SQL = f"""
    json_build_object(
        'id', rooms_room.id::text,
        'settings', rooms_room.settings,
        'players', {PLAYERS_SQL},
        'max_players', rooms_room.max_players,
        'game_name', %(game_name)s::text,
        'game_version', %(game_version)s::text,
        'location', json_build_object('host', coalesce(hosts_host.address, ''), 'ports', rooms_room.ports)
    )::text
"""


def room_object(room: Room, players: int) -> dict[str, Any]:
    """Search results: the record plus where to connect."""
    return {**room_record(room, players), "location": room.location}


def room_joined(room: Room, players: int, *, slot_id: int, key: str) -> dict[str, Any]:
    """Join and create answers: the room object plus the caller's slot and key."""
    return joined_body(room_object(room, players), slot_id=slot_id, key=key)


def joined_body(room_object: dict[str, Any], *, slot_id: int, key: str) -> dict[str, Any]:
    return {**room_object, "slot": str(slot_id), "key": key}


def room_multi(room: Room, slots: dict[str, tuple[int, str]], banned: dict[str, Any] | None = None) -> dict[str, Any]:
    """Multi answers: `slots` keyed by account; `banned` lists accounts left out (DESIGN.md §8)."""
    body: dict[str, Any] = {
        "id": str(room.pk),
        "settings": room.settings,
        "slots": {account: {"slot": str(slot_id), "key": key} for account, (slot_id, key) in slots.items()},
        "location": room.location,
    }
    if banned:
        body["banned"] = banned
    return body
