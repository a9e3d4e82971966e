"""Finding rooms and reserving places in them: search, join by id, quick-join (DESIGN.md §4-§6).

How a join stays correct and cheap under load:

- Every reservation happens in ONE transaction that holds the room's row lock while it counts and
  inserts. Quick-join picks its room with `SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1`: racing joiners
  never wait for each other and never lock more than the room they fill; join by id waits for
  its one room's lock. So two joins can never both take the last place.
- Counting is O(1) per room: `Room.slot_count` and `Room.next_expiry` are kept by database triggers
  (rooms migration 0002). While `next_expiry` is in the future the stored count is exact, so the
  candidate query filters `slot_count + places <= max_players` inside the index walk (fuller
  rooms first) and the first row it returns fits. A room whose reservation expired is still a
  candidate; under its lock we delete its expired reservations (skipping locked ones) and count
  it exactly. An expired reservation therefore stops counting at once, prune or no prune.
- Auto-create under a burst: after a failed find, joiners serialize per (configuration, version,
  region) on a transaction-scoped advisory lock (on SQLite the write transaction already
  serializes), find again, and otherwise take a free place in a room of that pool that is still
  spawning (created by another joiner moments ago) and wait for it to run. Only when no room is
  running or starting with free places does a joiner create one, so a burst of N joiners creates
  about N / max_players rooms instead of N.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from gamemaster.args import storable_text
from gamemaster.errors import ApiError, BadArguments, NotFound, Unavailable
from regions.models import Region
from rooms import services
from rooms.filters import settings_filter_q
from rooms.lookup import GameTarget, game_target
from rooms.models import (
    Application,
    ApplicationVersion,
    GameServerConfiguration,
    Room,
    RoomQuerySet,
    Slot,
    players_expression,
    room_pk,
)
from rooms.services import Entrant, RoomGrant, SlotGrant

# A locked candidate can turn out full only when its count was stale (an expired reservation
# someone else holds locked); a few retries get past those.
MAX_CANDIDATES = 16
FULLEST_FIRST = ("-slot_count", "pk")
# Waiting for a spawning room: poll its state, quickly at first.
WAIT_POLL_FIRST = 0.02
WAIT_POLL_MAX = 0.25
WAIT_MARGIN_SECONDS = 5.0
CREATE_ATTEMPTS = 3


@dataclass(frozen=True)
class RegionRule:
    region: Region | None = None  # only rooms of this region (explicit `region` argument)
    only_mine: bool = False  # `my_region_only`
    mine: Region | None = None  # the caller's region (rooms of it are listed/tried first)

    def branches(self) -> list[Q]:
        """Region conditions in the order rooms are listed and tried: mine first, then the rest."""
        if self.region is not None:
            return [Q(region=self.region)]
        if self.only_mine:
            return [Q(region=self.mine)] if self.mine is not None else []
        if self.mine is not None:
            return [Q(region=self.mine), ~Q(region=self.mine)]
        return [Q()]

    @property
    def create_region(self) -> Region | None:
        """Where an auto-created room starts: the asked region, else the caller's."""
        return self.region or self.mine


def region_rule(*, region_name: str | None, my_region_only: bool, mine: Region | None) -> RegionRule:
    """The region arguments of search and join (DESIGN.md §4): `region` contradicts `my_region_only`."""
    if region_name and my_region_only:
        raise ApiError("Give either 'region' or 'my_region_only', not both.", code="region_conflict")
    region = None
    if region_name:
        region = Region.objects.filter(name=region_name).first()
        if region is None:
            raise ApiError(f"No region named '{region_name}'.", code="unknown_region")
    return RegionRule(region=region, only_mine=my_region_only, mine=mine)


def target_lookup(*, application_name: str, application_version: str, game_server_name: str) -> GameTarget:
    """`rooms.lookup.game_target` in one query instead of three (every search and join asks it);
    the three-query lookup still runs to name what is unknown when something is."""
    if not all(map(storable_text, (application_name, application_version, game_server_name))):
        return game_target(  # names no database can hold: it answers which one is unknown
            application_name=application_name,
            application_version=application_version,
            game_server_name=game_server_name,
        )
    version = ApplicationVersion.objects.filter(application=OuterRef("application"), name=application_version)
    configuration = (
        GameServerConfiguration.objects.filter(application__name=application_name, name=game_server_name)
        .select_related("application")
        .annotate(
            version_pk=Subquery(version.values("pk")[:1]),
            version_enabled=Subquery(version.values("enabled")[:1]),
        )
        .first()
    )
    if configuration is None or configuration.version_pk is None:  # type: ignore[attr-defined]
        return game_target(
            application_name=application_name,
            application_version=application_version,
            game_server_name=game_server_name,
        )
    application = configuration.application
    found = ApplicationVersion(
        pk=configuration.version_pk,  # type: ignore[attr-defined]
        application=application,
        name=application_version,
        enabled=configuration.version_enabled,  # type: ignore[attr-defined]
    )
    found._state.adding = False
    found._state.db = configuration._state.db
    return GameTarget(application=application, version=found, configuration=configuration)


# --- search ---


def room_search(
    *, target: GameTarget, filters: dict | None, regions: RegionRule, show_full: bool, limit: int, offset: int
) -> list[tuple[Room, int]]:
    """Running rooms matching `filters`: the caller's region first, then fuller rooms first.

    Each region branch is its own query walking a partial index in (slot_count desc, id) order, so a
    page costs about `limit` rows however many rooms the pool holds; `players` is exact.
    """
    now = timezone.now()
    base = (
        Room.objects.running()
        .pool(configuration_id=target.configuration.pk, version_id=target.version.pk)
        .filter(settings_filter_q(filters))
        .annotate(players=players_expression(now))
        .select_related("host")
        .order_by(*FULLEST_FIRST)
    )
    if not show_full:
        base = base.filter(players__lt=F("max_players"))
    found: list[Room] = []
    skip = offset
    for branch in regions.branches():
        rooms = base.filter(branch)
        page = list(rooms[skip : skip + limit - len(found)])
        found += page
        if len(found) == limit:
            break
        # The page goes on in the next branch: from its start, or further in when it began past this one.
        skip = 0 if page or not skip else max(0, skip - rooms.count())
    return [(_attach_target(room, target), room.players) for room in found]  # type: ignore[attr-defined]


# --- reserving places ---


def reserve_slots(*, room: Room, players: int, entrants: list[Entrant], ttl: int) -> RoomGrant:
    """Insert a reserved slot per entrant into `room` (its row lock held by the caller)."""
    made = [Slot.reserve(room=room, account=entrant.account, ttl=ttl, info=entrant.info) for entrant in entrants]
    Slot.objects.bulk_create([slot for slot, _ in made])
    return RoomGrant(
        room=room,
        players=players + len(made),
        slots={slot.account: SlotGrant(slot_id=slot.pk, key=key) for slot, key in made},
    )


def players_locked(room: Room, now=None) -> int:
    """Live players of a room whose row lock we hold: the stored count, unless a reservation
    expired, in which case expired reservations are deleted (those nobody holds) and counted."""
    now = now or timezone.now()
    if room.next_expiry is None or room.next_expiry > now:
        return room.slot_count
    dead = list(
        Slot.objects.filter(room=room).dead(now).select_for_update(skip_locked=True).values_list("pk", flat=True)
    )
    if dead:
        Slot.objects.filter(pk__in=dead).delete()
    return Slot.objects.filter(room=room).live(now).count()


def _attach_target(room: Room, target: GameTarget) -> Room:
    """Give a room of the target's pool the target's game, version and configuration, so rendering
    it needs neither a join nor a query (the candidate query stays small: it runs on every join)."""
    if room.configuration_id == target.configuration.pk:
        room.configuration = target.configuration
    if room.version_id == target.version.pk:
        room.version = target.version
    if room.application_id == target.application.pk:
        room.application = target.application
    return room


def _join_first(
    candidates: RoomQuerySet, entrants: list[Entrant], ttl_for: Callable[[Room], int], target: GameTarget
) -> RoomGrant | None:
    """Lock the fullest candidate with room for every entrant and reserve; None when none fits."""
    places = len(entrants)
    tried: list[int] = []
    for _ in range(MAX_CANDIDATES):
        now = timezone.now()
        rooms = candidates.with_free_places(places, now)
        if tried:
            rooms = rooms.exclude(pk__in=tried)
        room = (
            rooms.order_by(*FULLEST_FIRST)
            .select_related("host")
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
        if room is None:
            return None
        _attach_target(room, target)
        players = players_locked(room, now)
        if players + places <= room.max_players:
            return reserve_slots(room=room, players=players, entrants=entrants, ttl=ttl_for(room))
        tried.append(room.pk)
    return None


def _pool(target: GameTarget, filters: dict | None) -> RoomQuerySet:
    return Room.objects.pool(configuration_id=target.configuration.pk, version_id=target.version.pk).filter(
        settings_filter_q(filters)
    )


def room_find_and_join(
    *, target: GameTarget, filters: dict | None, regions: RegionRule, entrants: list[Entrant]
) -> RoomGrant | None:
    """Reserve one slot per entrant in ONE running room matching `filters` (DESIGN.md §5) with
    enough free places, all or nothing, in one transaction without locking every candidate
    (FOR UPDATE SKIP LOCKED). None when no room fits. Sync; call it with database_sync_to_async
    from async code."""
    if not entrants:
        raise BadArguments("Nobody to join.")
    pool = _pool(target, filters).running()
    ttl = target.configuration.reservation_ttl
    with transaction.atomic():
        for branch in regions.branches():
            grant = _join_first(pool.filter(branch), entrants, lambda room: ttl, target)
            if grant is not None:
                return grant
    return None


def room_join(*, application_name: str, room_id: str, entrant: Entrant) -> RoomGrant:
    """A slot in the room `room_id` of the game, or 404: unknown_game, unknown_room,
    room_not_running, room_full. Waits for the room's row lock: racing joins take turns."""
    unknown_game = NotFound(f"No game named '{application_name}'.", code="unknown_game")
    unknown = NotFound(f"Game '{application_name}' has no room '{room_id}'.", code="unknown_room")
    if not storable_text(application_name):
        raise unknown_game  # a name no database can hold (a NUL from the URL) names nothing
    pk = room_pk(room_id)
    with transaction.atomic():
        # One query on the way in: the game is checked by name in the room's own query, and only
        # looked up alone when no room came back, to tell unknown_game from unknown_room.
        room = (
            (
                Room.objects.filter(pk=pk, application__name=application_name)
                .select_related("application", "version", "host", "configuration")
                .select_for_update(of=("self",))
                .first()
            )
            if pk is not None
            else None
        )
        if room is None:
            if not Application.objects.filter(name=application_name).exists():
                raise unknown_game
            raise unknown
        if room.state != Room.RUNNING:
            raise NotFound(f"Room '{room_id}' is still starting.", code="room_not_running")
        players = players_locked(room)
        if players >= room.max_players:
            raise NotFound(f"Room '{room_id}' is full ({room.max_players} players).", code="room_full")
        return reserve_slots(room=room, players=players, entrants=[entrant], ttl=room.configuration.reservation_ttl)


# --- quick-join: find, or wait for a starting room, or create ---


@dataclass(frozen=True)
class _Waiting:
    """Places reserved in a room that is still starting."""

    room_id: int
    slots: dict[str, SlotGrant]
    deadline: float  # time.monotonic()


def _pool_lock(target: GameTarget, region: Region) -> None:
    """Serialize the find-or-create decision of one pool in one region until the transaction ends."""
    if connection.vendor != "postgresql":
        return  # SQLite: the IMMEDIATE write transaction already runs alone
    name = f"gm-create:{target.configuration.pk}:{target.version.pk}:{region.pk}".encode()
    key = int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _find_or_wait(
    target: GameTarget, filters: dict | None, regions: RegionRule, entrants: list[Entrant], region: Region
) -> RoomGrant | _Waiting | None:
    """Under the pool lock: a running room, else places in a starting room, else None (create)."""
    with transaction.atomic():
        _pool_lock(target, region)
        grant = room_find_and_join(target=target, filters=filters, regions=regions, entrants=entrants)
        if grant is not None:
            return grant
        configuration = target.configuration
        # A starting room gives its joiners time to start AND to reach it.
        wait = _join_first(
            _pool(target, filters).filter(state=Room.SPAWNING, region=region),
            entrants,
            lambda room: configuration.spawn_timeout + configuration.reservation_ttl,
            target,
        )
        if wait is None:
            return None
        deadline = time.monotonic() + configuration.spawn_timeout + WAIT_MARGIN_SECONDS
        return _Waiting(room_id=wait.room.pk, slots=wait.slots, deadline=deadline)


def _room_state(room_id: int) -> str | None:
    return Room.objects.filter(pk=room_id).values_list("state", flat=True).first()


def _started(waiting: _Waiting, ttl: int) -> RoomGrant | None:
    """The room runs: our reservations now get the usual time to reach it."""
    now = timezone.now()
    with transaction.atomic():
        room = (
            Room.objects.filter(pk=waiting.room_id)
            .select_related("application", "version", "host")
            .select_for_update(of=("self",))
            .first()
        )
        ids = [grant.slot_id for grant in waiting.slots.values()]
        if room is None or Slot.objects.filter(pk__in=ids).update(expires_at=now + timedelta(seconds=ttl)) < len(ids):
            return None
        room.refresh_from_db(fields=["slot_count", "next_expiry"])
        return RoomGrant(room=room, players=players_locked(room, now), slots=waiting.slots)


def _give_up(waiting: _Waiting) -> None:
    Slot.objects.filter(pk__in=[grant.slot_id for grant in waiting.slots.values()]).delete()


async def _wait_until_running(waiting: _Waiting, ttl: int) -> RoomGrant | None:
    """Poll the starting room until it runs (grant), disappears (None: its spawn failed) or times out."""
    delay = WAIT_POLL_FIRST
    while True:
        state = await sync_to_async(_room_state)(waiting.room_id)
        if state is None:
            return None
        if state == Room.RUNNING:
            return await sync_to_async(_started)(waiting, ttl)
        if time.monotonic() > waiting.deadline:
            await sync_to_async(_give_up)(waiting)
            raise Unavailable("The game server did not start in time.", code="spawn_timeout")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, WAIT_POLL_MAX)


async def room_quick_join(
    *,
    target: GameTarget,
    filters: dict | None,
    regions: RegionRule,
    entrants: list[Entrant],
    auto_create: bool,
    create_settings: dict,
    created_by: str,
    found_none: bool = False,
) -> RoomGrant:
    """room_find_and_join, else (auto_create) room_create in regions.region or regions.mine,
    else NotFound(code="no_room"). `found_none`: the caller ran room_find_and_join already and it
    found nothing (views do, in the thread hop that does their lookups)."""
    if not found_none:
        grant = await sync_to_async(room_find_and_join)(
            target=target, filters=filters, regions=regions, entrants=entrants
        )
        if grant is not None:
            return grant
    if not auto_create:
        raise NotFound("No running room matches with enough free places.", code="no_room")
    region = regions.create_region
    if region is None:
        raise Unavailable("There is no region to start a room in.", code="no_host")
    for _ in range(CREATE_ATTEMPTS):
        found = await sync_to_async(_find_or_wait)(target, filters, regions, entrants, region)
        if isinstance(found, RoomGrant):
            return found
        if isinstance(found, _Waiting):
            grant = await _wait_until_running(found, target.configuration.reservation_ttl)
            if grant is not None:
                return grant
            continue  # that room failed to start: look again
        return await services.room_create(
            target=target, region=region, settings=create_settings, entrants=entrants, created_by=created_by
        )
    raise Unavailable("The rooms this join waited for failed to start.", code="spawn_failed")


# --- player status ---


def player_records(accounts: list[str]) -> dict[str, list[tuple[Room, int]]]:
    """For each account, the running rooms where it holds a live slot (joined, or reserved and not
    expired: a player on the way in is shown too), oldest slot first. Two queries in all."""
    now = timezone.now()
    slots = (
        Slot.objects.live(now)
        .filter(account__in=accounts, room__state=Room.RUNNING)
        .select_related("room__application", "room__version")
        .order_by("created_at", "pk")
    )
    slots_by_account: dict[str, list[Slot]] = {account: [] for account in accounts}
    for slot in slots:
        slots_by_account[slot.account].append(slot)
    room_ids = {slot.room_id for found in slots_by_account.values() for slot in found}
    players = dict(
        Room.objects.filter(pk__in=room_ids).annotate(players=players_expression(now)).values_list("pk", "players")
    )
    records: dict[str, list[tuple[Room, int]]] = {}
    for account, found in slots_by_account.items():
        seen: set[int] = set()
        records[account] = []
        for slot in found:
            if slot.room_id not in seen:
                seen.add(slot.room_id)
                records[account].append((slot.room, players[slot.room_id]))
    return records


__all__ = [
    "RegionRule",
    "player_records",
    "region_rule",
    "reserve_slots",
    "room_find_and_join",
    "room_join",
    "room_quick_join",
    "room_search",
    "target_lookup",
]
