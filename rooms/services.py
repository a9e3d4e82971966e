"""Room use cases that lock rows, cross apps or talk to other processes (DESIGN.md §6, §7)."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gamemaster.errors import ApiError, BadArguments, Conflict, NotFound, Unavailable
from hosts.models import ACTIVE_ROOM_STATES, Host
from regions.models import Region
from rooms.lookup import GameTarget, require_enabled
from rooms.models import Room, Slot, hash_secret, room_pk

logger = logging.getLogger(__name__)

# --- creating rooms (hosting) ---

# A room still `spawning` this long after its creation lost its creator (a master that died while
# waiting): the longest spawn_timeout plus a margin.
SPAWN_ABANDONED_SECONDS = 660


@dataclass(frozen=True)
class Entrant:
    """A player to give a slot to."""

    account: str
    ip: str | None = None
    info: dict = field(default_factory=dict)  # party info the game server's `joined` returns


@dataclass(frozen=True)
class SlotGrant:
    slot_id: int
    key: str


@dataclass
class RoomGrant:
    room: Room  # with application, version, host loaded
    players: int  # live players after the grant
    slots: dict[str, SlotGrant]  # by account


def room_ready_group(room_id: int | str) -> str:
    """Where the creator of a room waits to hear that its game server is ready (or failed)."""
    return f"room_ready.{room_id}"


def gameserver_group(room_id: int | str) -> str:
    """The game server session of a room, wherever it is connected."""
    return f"gameserver.{room_id}"


@dataclass(frozen=True)
class Removal:
    """A room just deleted, and the host agent that may still run its game server."""

    room_id: int
    host_channel: str


@dataclass
class _Placement:
    room: Room
    host_channel: str
    spawn: dict[str, Any]
    grants: dict[str, SlotGrant]


async def room_create(
    *,
    target: GameTarget,
    region: Region,
    settings: dict,
    entrants: list[Entrant],
    created_by: str,
    party: dict | None = None,
) -> RoomGrant:
    """Start a game server on the least loaded host of `region` and reserve a slot per entrant.

    Answers once the game server called `inited`; raises Unavailable (503, code no_host,
    spawn_failed or spawn_timeout) and leaves no room, slot or process behind otherwise. Waits on
    the channel layer, never in a worker thread."""
    require_enabled(target)
    _check_entrants(target, entrants)
    placement = await database_sync_to_async(_room_place)(
        target=target, region=region, settings=settings, entrants=entrants, created_by=created_by, party=party
    )
    room_id = placement.room.pk
    timeout = float(target.configuration.spawn_timeout)
    layer = get_channel_layer()
    group = room_ready_group(room_id)
    # Listen before asking for the spawn: the game server may call `inited` before we would
    # otherwise be listening.
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    try:
        await layer.send(
            placement.host_channel,
            {"type": "host.spawn", "room_id": room_id, "params": placement.spawn, "timeout": timeout},
        )
        await _wait_until_ready(layer, channel, room_id=room_id, timeout=timeout)
        return await database_sync_to_async(_room_granted)(
            room_id=room_id, grants=placement.grants, ttl=target.configuration.reservation_ttl
        )
    except BaseException:
        # Failed, timed out, or the caller went away: nothing stays behind. Shielded, so that a
        # cancelled request still removes its room and stops its process.
        await layer.group_discard(group, channel)
        await asyncio.shield(_room_abandon(room_id))
        raise
    finally:
        await layer.group_discard(group, channel)


def _check_entrants(target: GameTarget, entrants: list[Entrant]) -> None:
    if not entrants:
        raise BadArguments("A room is created with at least one player.")
    accounts = [entrant.account for entrant in entrants]
    if len(set(accounts)) != len(accounts):
        raise BadArguments("Each account may be listed once.")
    if len(entrants) > target.configuration.max_players:
        raise BadArguments(
            f"{len(entrants)} players do not fit in a room of {target.configuration.max_players} players."
        )


def _room_place(
    *,
    target: GameTarget,
    region: Region,
    settings: dict,
    entrants: list[Entrant],
    created_by: str,
    party: dict | None,
) -> _Placement:
    """Insert the room (`spawning`) and its slots on the least loaded host that has room for it."""
    configuration = target.configuration
    server_settings = configuration.server_settings_for(target.version)
    candidates = list(Host.objects.available(region).by_load().values_list("pk", flat=True)[:20])
    for host_id in candidates:
        # One host locked per transaction: a racing create waits for this one to insert its room and
        # then counts it, so a host never goes past capacity; never two locks at once, so no deadlock.
        with transaction.atomic():
            host = Host.objects.select_for_update().available(region).filter(pk=host_id).first()
            if host is None:
                continue
            if host.rooms.filter(state__in=ACTIVE_ROOM_STATES).count() >= host.capacity:
                continue
            room = Room(
                application=target.application,
                version=target.version,
                configuration=configuration,
                region=region,
                host=host,
                state=Room.SPAWNING,
                settings=settings,
                max_players=configuration.max_players,
                created_by=created_by,
                party_id=str((party or {}).get("party_id", "")),
            )
            secret = room.set_secret()
            room.save()
            # The reservations must outlive the spawn; they restart their clock once the room is ready.
            ttl = configuration.reservation_ttl + configuration.spawn_timeout
            reserved = [
                Slot.reserve(room=room, account=entrant.account, ttl=ttl, info=entrant.info) for entrant in entrants
            ]
            Slot.objects.bulk_create([slot for slot, _ in reserved])
            grants = {slot.account: SlotGrant(slot_id=slot.pk, key=key) for slot, key in reserved}
            spawn = _spawn_params(room, secret=secret, server_settings=server_settings, party=party)
            return _Placement(room=room, host_channel=host.channel_name, spawn=spawn, grants=grants)
    raise Unavailable(f"No host in region '{region.name}' can take a new room now.", code="no_host")


def _spawn_params(room: Room, *, secret: str, server_settings: dict, party: dict | None) -> dict[str, Any]:
    """The agent's `spawn` request (spec/game-servers.md); the agent adds room_id, room_secret,
    gamemaster_url and ports to the environment."""
    configuration = room.configuration
    env = {str(name): str(value) for name, value in (configuration.env or {}).items()}
    env.update(
        game_max_players=str(room.max_players),
        room_settings=json.dumps(room.settings),
        server_settings=json.dumps(server_settings),
    )
    if party:
        env.update(
            party_id=str(party.get("party_id", "")),
            party_settings=json.dumps(party.get("party_settings", {})),
            party_members=json.dumps(party.get("party_members", {})),
        )
    return {
        "room_id": str(room.pk),
        "room_secret": secret,
        "command": configuration.command,
        "arguments": [str(argument) for argument in configuration.arguments or []],
        "env": env,
        "ports": configuration.ports,
    }


async def _wait_until_ready(layer: Any, channel: str, *, room_id: int, timeout: float) -> None:
    """Wait for both the agent's spawn answer (ports) and the game server's `inited`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: set[str] = set()
    while not {"room.spawned", "room.ready"} <= seen:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            message = await asyncio.wait_for(layer.receive(channel), remaining)
        except TimeoutError:
            break
        if message["type"] == "room.failed":
            raise Unavailable(message.get("detail") or "The game server failed to start.", code="spawn_failed")
        seen.add(message["type"])
    else:
        return
    # A message may have been lost (a full or expired channel): the database has the last word.
    if await database_sync_to_async(_room_is_ready)(room_id):
        return
    raise Unavailable(f"The game server did not become ready within {timeout:g} seconds.", code="spawn_timeout")


def _room_is_ready(room_id: int) -> bool:
    return Room.objects.filter(pk=room_id, state=Room.RUNNING, pid__isnull=False).exists()


def _room_granted(*, room_id: int, grants: dict[str, SlotGrant], ttl: int) -> RoomGrant:
    now = timezone.now()
    # The players' time to reach the game server starts now that it listens.
    Slot.objects.filter(room_id=room_id, state=Slot.RESERVED).update(expires_at=now + timedelta(seconds=ttl))
    room = Room.objects.select_related("application", "version", "host").filter(pk=room_id).first()
    if room is None:
        raise Unavailable("The game server exited as it started.", code="spawn_failed")
    players = Slot.objects.filter(room_id=room_id).live(now).count()
    return RoomGrant(room=room, players=players, slots=grants)


async def _room_abandon(room_id: int) -> None:
    removals = await database_sync_to_async(rooms_remove)(Room.objects.filter(pk=room_id))
    await rooms_notify_removed(removals, reason="The room was abandoned.")


def rooms_remove(rooms: Any) -> list[Removal]:
    """Delete rooms (and their slots); return who must hear about it (rooms_notify_removed)."""
    with transaction.atomic():
        doomed = list(rooms.select_related("host").values_list("pk", "host__channel_name"))
        if doomed:
            Room.objects.filter(pk__in=[pk for pk, _ in doomed]).delete()
    return [Removal(room_id=pk, host_channel=channel or "") for pk, channel in doomed]


async def rooms_notify_removed(removals: list[Removal], *, reason: str, terminate: bool = True) -> None:
    """After the rows are gone: fail a creator still waiting, tell the game server to finish and
    ask its host agent to stop the process (unless it is known to have exited)."""
    layer = get_channel_layer()
    for removal in removals:
        await layer.group_send(room_ready_group(removal.room_id), {"type": "room.failed", "detail": reason})
        await layer.group_send(gameserver_group(removal.room_id), {"type": "room.removed"})
        if terminate and removal.host_channel:
            await layer.send(removal.host_channel, {"type": "host.terminate", "room_id": removal.room_id})


def rooms_prune(*, now: datetime | None = None) -> list[Removal]:
    """Remove rooms whose game server stayed disconnected past its grace period, rooms of hosts
    lost for longer than theirs, and spawns nobody waits for any more."""
    return rooms_remove(Room.objects.filter(gone_rooms_q(now or timezone.now())))


def gone_rooms_q(now: datetime) -> Q:
    gameserver_cutoff = now - timedelta(seconds=django_settings.GAMESERVER_GRACE_SECONDS)
    host_cutoff = now - timedelta(seconds=django_settings.HOST_GRACE_SECONDS)
    return (
        Q(disconnected_at__lte=gameserver_cutoff)
        | Q(host__isnull=True)
        | Q(host__connected=False, host__disconnected_at__lte=host_cutoff)
        | Q(state=Room.SPAWNING, created_at__lte=now - timedelta(seconds=SPAWN_ABANDONED_SECONDS))
    )


async def rooms_prune_and_notify() -> int:
    removals = await database_sync_to_async(rooms_prune)()
    if removals:
        logger.info("Removed %d rooms whose game server or host is gone", len(removals))
        await rooms_notify_removed(removals, reason="The game server or its host is gone.")
    return len(removals)


_prune_tasks: set[asyncio.Task] = set()
_last_sweep = 0.0


def schedule_prune(delay: float) -> None:
    """Check for gone rooms once `delay` seconds have passed (a grace period ending), without a
    scheduler process: any master worker that saw the disconnect does it."""

    async def later() -> None:
        await asyncio.sleep(delay)
        try:
            await rooms_prune_and_notify()
        except Exception:
            logger.exception("Pruning rooms failed")

    task = asyncio.get_running_loop().create_task(later())
    _prune_tasks.add(task)
    task.add_done_callback(_prune_tasks.discard)


async def rooms_sweep() -> None:
    """A periodic prune, run from the host agents' load reports, at most every few seconds per
    worker: it catches the grace periods of disconnects whose worker has since stopped."""
    global _last_sweep
    loop = asyncio.get_running_loop()
    interval = max(0.5, min(10.0, django_settings.GAMESERVER_GRACE_SECONDS / 2, django_settings.HOST_GRACE_SECONDS / 2))
    if loop.time() - _last_sweep < interval:
        return
    _last_sweep = loop.time()
    await rooms_prune_and_notify()


# Game server session (spec/game-servers.md): the game server's own calls.


def gameserver_room(room_id: str) -> Room | None:
    pk = room_pk(room_id)
    return None if pk is None else Room.objects.filter(pk=pk).first()


def _running_room(room_id: int, *, lock: bool = False) -> Room:
    rooms = Room.objects.select_for_update() if lock else Room.objects.all()
    room = rooms.select_related("version").filter(pk=room_id).first()
    if room is None:
        raise NotFound("This room is gone.", code="room_gone")
    if room.state != Room.RUNNING:
        raise Conflict("Call inited first.", code="not_inited")
    return room


def room_connected(*, room_id: int) -> None:
    Room.objects.filter(pk=room_id).update(disconnected_at=None)


def room_still_connected(*, room_id: int) -> None:
    """A heartbeat answered: undo a disconnect recorded by a session this one replaced."""
    Room.objects.filter(pk=room_id, disconnected_at__isnull=False).update(disconnected_at=None)


def room_disconnected(*, room_id: int) -> None:
    Room.objects.filter(pk=room_id).update(disconnected_at=timezone.now())


def room_inited(*, room_id: int, settings: dict | None) -> bool:
    """The game server is ready: `settings` replaces fields of the room's settings and the room
    becomes visible. True when it was starting (its creator is waiting); again after a reconnect is fine."""
    with transaction.atomic():
        room = Room.objects.select_for_update().filter(pk=room_id).first()
        if room is None:
            raise NotFound("This room is gone.", code="room_gone")
        starting = room.state == Room.SPAWNING
        fields = ["disconnected_at"]
        room.disconnected_at = None
        if settings:
            room.settings = {**room.settings, **settings}
            fields.append("settings")
        if starting:
            room.state, room.started_at = Room.RUNNING, timezone.now()
            fields += ["state", "started_at"]
        room.save(update_fields=fields)
    return starting


def slot_joined(*, room_id: int, key: str) -> Slot:
    """The player showed its key to the game server: the reservation becomes a joined player, once."""
    now = timezone.now()
    with transaction.atomic():
        _running_room(room_id)
        slot = Slot.objects.select_for_update().by_key(key).filter(room_id=room_id).first()
        # The lookup is by hash; comparing in constant time as well costs nothing.
        if slot is None or not secrets.compare_digest(slot.key_hash, hash_secret(key)):
            raise NotFound("Unknown key.", code="unknown_key")
        if slot.state == Slot.JOINED:
            raise Conflict("This key was used already.", code="key_used")
        if slot.expires_at is not None and slot.expires_at <= now:
            raise NotFound("This key has expired.", code="key_expired")
        slot.state, slot.joined_at = Slot.JOINED, now
        slot.save(update_fields=["state", "joined_at"])
    return slot


def slot_left(*, room_id: int, key: str) -> None:
    """The player left the game server: its slot is freed."""
    with transaction.atomic():
        _running_room(room_id)
        deleted, _ = Slot.objects.by_key(key).filter(room_id=room_id).delete()
    if not deleted:
        raise NotFound("Unknown key.", code="unknown_key")


def room_settings_update(*, room_id: int, settings: dict) -> None:
    """The game server replaces its room's settings; searches see them at once."""
    with transaction.atomic():
        room = _running_room(room_id, lock=True)
        room.settings = settings
        room.save(update_fields=["settings"])


def room_version_check(*, room_id: int) -> None:
    """Raise 410 once the room's game version is disabled."""
    room = _running_room(room_id)
    if not room.version.enabled:
        raise ApiError(f"Version '{room.version.name}' is disabled.", code="version_disabled", status_code=410)


# --- search, join, player status (matchmaking) ---
