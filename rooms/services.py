"""Room use cases that lock rows, cross apps or talk to other processes (DESIGN.md §6, §7)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rooms.models import Room

# --- creating rooms (hosting) ---


@dataclass(frozen=True)
class Entrant:
    """A player to give a slot to."""

    account: str
    ip: str | None = None
    # Party info the game server's `joined` returns ({"party_id", "party_profile", "party_role"}).
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SlotGrant:
    slot_id: int
    key: str


@dataclass
class RoomGrant:
    room: Room  # with application, version, host loaded (select_related)
    players: int  # live players after the grant
    slots: dict[str, SlotGrant]  # by account


# --- search, join, player status (matchmaking) ---
