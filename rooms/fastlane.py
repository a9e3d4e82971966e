"""The fast lane's room routes (gamemaster/fastlane.py): join by id, quick-join, search.

Each handler does the common, successful case in hand-written SQL and answers the body the
Django view would; whenever the case is not that (a ban, a full room, nothing to join, a
reservation that expired and needs counting, bad arguments), it answers None and the view runs.
The SQL keeps the rules of rooms/matchmaking.py (read its docstring first): a reservation takes
the room's row lock, counts with the trigger-kept `slot_count` only while no reservation of the
room has expired, and quick-join locks its candidate with FOR UPDATE SKIP LOCKED, fullest first.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from psycopg import AsyncConnection
from rest_framework import serializers

from bans.services import ACTIVE_BAN_SQL, normal_ip
from gamemaster.args import storable_text
from gamemaster.fastlane import LaneRequest, RenderedJson, Route, route
from regions.models import Region
from regions.services import region_for_ip
from rooms.filters import settings_filter_sql
from rooms.models import (
    PLAYERS_SQL,
    Application,
    ApplicationVersion,
    GameServerConfiguration,
    Room,
    Slot,
    hash_secret,
    new_secret,
    room_location,
    room_pk,
)
from rooms.render import ROOM_OBJECT_SQL, joined_body, record_body
from rooms.serializers import QuickJoinArgs, SearchArgs

# The answer's columns, from `room` (the locked room and its joins) and `slot` (the inserted row):
# no row when no room was found; a row without a slot id when the room was found but no slot went
# in (a stale count, no place, a ban), which is the view's to answer.
_ANSWER = """
    SELECT slot.id, room.id, room.settings, room.slot_count + 1, room.max_players,
           room.game_name, room.game_version, room.address, room.ports
    FROM room LEFT JOIN slot ON TRUE
"""

_INSERT_SLOT = f"""
    INSERT INTO rooms_slot (room_id, account, state, key_hash, expires_at, created_at, info)
    SELECT room.id, %(account)s::text, '{Slot.RESERVED}', %(key_hash)s,
           %(now)s + make_interval(secs => room.reservation_ttl), %(now)s, '{{}}'::jsonb
    FROM room
    WHERE room.fresh AND room.slot_count < room.max_players AND NOT EXISTS ({ACTIVE_BAN_SQL})
    RETURNING id
"""

# A room's stored count is exact while none of its reservations has expired (`fresh`); a stale
# room is the view's to count (rooms.matchmaking.players_locked): no slot is inserted in it here.
_FRESH = "(rooms_room.next_expiry IS NULL OR rooms_room.next_expiry > %(now)s) AS fresh"

# Join by id: lock the room if it runs and belongs to the game, then insert the slot if its count
# is exact, there is a place and no ban applies, all in one statement (one round trip).
JOIN_BY_ID = f"""
    WITH room AS (
        SELECT r.id, r.settings, r.max_players, r.ports, r.slot_count, c.reservation_ttl,
               a.name AS game_name, v.name AS game_version, h.address, {_FRESH.replace("rooms_room.", "r.")}
        FROM rooms_room r
        JOIN rooms_application a ON a.id = r.application_id
        JOIN rooms_applicationversion v ON v.id = r.version_id
        JOIN rooms_gameserverconfiguration c ON c.id = r.configuration_id
        LEFT JOIN hosts_host h ON h.id = r.host_id
        WHERE r.id = %(room_id)s AND a.name = %(game)s AND r.state = '{Room.RUNNING}'
        FOR UPDATE OF r
    ), slot AS ({_INSERT_SLOT})
    {_ANSWER}
"""


# Quick-join: the fullest running room of the pool that matches the filter and the region branch
# and may have a place (the candidates of RoomQuerySet.with_free_places: a place by the exact
# count, or a stale count), locked without waiting for racing joiners (SKIP LOCKED); then the slot,
# as join by id (a stale room goes to the view, which picks the same room and counts it).
# {region} and {filter} are WHERE fragments on rooms_room.
QUICK_JOIN = f"""
    WITH room AS (
        SELECT rooms_room.id, rooms_room.settings, rooms_room.max_players, rooms_room.ports,
               rooms_room.slot_count, %(reservation_ttl)s AS reservation_ttl,
               %(game_name)s::text AS game_name, %(game_version)s::text AS game_version, hosts_host.address,
               {_FRESH}
        FROM rooms_room LEFT JOIN hosts_host ON hosts_host.id = rooms_room.host_id
        WHERE rooms_room.state = '{Room.RUNNING}'
          AND rooms_room.configuration_id = %(configuration)s AND rooms_room.version_id = %(version)s
          AND {{region}} AND {{filter}}
          AND (rooms_room.slot_count < rooms_room.max_players OR rooms_room.next_expiry <= %(now)s)
        ORDER BY rooms_room.slot_count DESC, rooms_room.id
        LIMIT 1
        FOR UPDATE OF rooms_room SKIP LOCKED
    ), slot AS ({_INSERT_SLOT.replace("{", "{{").replace("}", "}}")})
    {_ANSWER}
"""

# Search: a page of running rooms of the pool, fullest first, with exact player counts.
# Each room comes as the JSON text of its API object (built by PostgreSQL: parsing 100 rooms'
# settings only to write them out again was half the lane's CPU for a page).
SEARCH = f"""
    SELECT {ROOM_OBJECT_SQL}
    FROM rooms_room LEFT JOIN hosts_host ON hosts_host.id = rooms_room.host_id
    WHERE rooms_room.state = '{Room.RUNNING}'
      AND rooms_room.configuration_id = %(configuration)s AND rooms_room.version_id = %(version)s
      AND {{region}} AND {{filter}} AND {{not_full}}
    ORDER BY rooms_room.slot_count DESC, rooms_room.id
    LIMIT %(limit)s
"""
NOT_FULL = f"({PLAYERS_SQL}) < rooms_room.max_players"

# The (game, version, configuration) a URL names, in one query; and every region, in name order.
TARGET = """
    SELECT c.id, v.id, c.reservation_ttl, a.name, v.name
    FROM rooms_application a
    JOIN rooms_gameserverconfiguration c ON c.application_id = a.id AND c.name = %(server)s
    JOIN rooms_applicationversion v ON v.application_id = a.id AND v.name = %(version)s
    WHERE a.name = %(game)s
"""
REGIONS = "SELECT id, name, x, y, is_default FROM regions_region ORDER BY name"


class _Catalog:
    """The targets and regions the lane read lately (FAST_LANE_CACHE_SECONDS), so that a join costs
    one statement, not three: they change when an operator edits them, not per request. Saving or
    deleting one in this process forgets them at once; other processes see the change within
    FAST_LANE_CACHE_SECONDS."""

    MAX_TARGETS = 1024

    def __init__(self) -> None:
        self.targets: dict[tuple[str, ...], tuple[tuple, float]] = {}  # names: (row, read at)
        self.regions: list[Region] = []
        self.regions_read_at = -math.inf

    def forget(self, **kwargs: Any) -> None:
        self.targets, self.regions_read_at = {}, -math.inf

    async def read(self, connection: AsyncConnection, names: dict[str, str]) -> tuple[tuple | None, list[Region]]:
        key = (names["game"], names["version"], names["server"])
        now, kept_for = time.monotonic(), settings.FAST_LANE_CACHE_SECONDS
        kept = self.targets.get(key)
        if kept is not None and now - kept[1] < kept_for and now - self.regions_read_at < kept_for:
            return kept[0], self.regions
        async with connection.pipeline():  # both queries in one round trip
            target_query = await connection.execute(TARGET, names)
            regions_query = await connection.execute(REGIONS)
            target = await target_query.fetchone()
            rows = await regions_query.fetchall()
        self.regions = [Region(id=pk, name=name, x=x, y=y, is_default=default) for pk, name, x, y, default in rows]
        self.regions_read_at = now
        if target is not None:  # unknown names are the view's to answer, and not worth keeping
            if len(self.targets) >= self.MAX_TARGETS:
                self.targets = {}
            self.targets[key] = (target, now)
        return target, self.regions


_catalog = _Catalog()
for model in (Application, ApplicationVersion, GameServerConfiguration, Region):
    post_save.connect(_catalog.forget, sender=model, weak=False)
    post_delete.connect(_catalog.forget, sender=model, weak=False)


@dataclass(frozen=True)
class _Lookup:
    """What the statements need to know of the target, and the caller's region branches."""

    params: dict[str, Any]
    branches: list[str]  # WHERE fragments on rooms_room.region_id, tried in order


async def _lookup(connection: AsyncConnection, request: LaneRequest, args: dict[str, Any]) -> _Lookup | None:
    """The target and the region branches of search and quick-join (RegionRule.branches), or None
    when the view must answer (an unknown name, `region` with `my_region_only`)."""
    names = {
        "game": request.url["application_name"],
        "version": request.url["application_version"],
        "server": request.url["game_server_name"],
    }
    if not all(map(storable_text, names.values())) or (args.get("region") and args["my_region_only"]):
        return None
    target, regions = await _catalog.read(connection, names)
    if target is None:
        return None
    configuration, version, reservation_ttl, game_name, game_version = target
    params = {
        "configuration": configuration,
        "version": version,
        "reservation_ttl": reservation_ttl,
        "game_name": game_name,
        "game_version": game_version,
    }
    if args.get("region"):
        chosen = next((region for region in regions if region.name == args["region"]), None)
        if chosen is None:
            return None
        return _Lookup({**params, "region": chosen.pk}, ["rooms_room.region_id = %(region)s"])
    mine = region_for_ip(request.ip, regions)
    if args["my_region_only"]:
        branches = ["rooms_room.region_id = %(region)s"] if mine is not None else []
    elif mine is not None:
        branches = ["rooms_room.region_id = %(region)s", "rooms_room.region_id <> %(region)s"]
    else:
        branches = ["TRUE"]
    return _Lookup({**params, "region": mine.pk if mine else None}, branches)


def _args(serializer: serializers.Serializer, request: LaneRequest) -> dict[str, Any] | None:
    """Validated arguments as the view reads them (query, then body), or None: the view says what is wrong.
    `serializer` is one instance per process: `run_validation` keeps no state on it, and building
    a serializer per request (DRF deep-copies its fields) cost more than validating."""
    try:
        return serializer.run_validation({**request.query, **(request.body or {})})
    except serializers.ValidationError:
        return None


QUICK_JOIN_ARGS, SEARCH_ARGS = QuickJoinArgs(), SearchArgs()


def _joined(row: tuple, key: str) -> dict[str, Any]:
    slot_id, room_id, settings, players, max_players, game_name, game_version, address, ports = row
    room = record_body(
        room_id=room_id,
        settings=settings,
        players=players,
        max_players=max_players,
        game_name=game_name,
        game_version=game_version,
    )
    return joined_body({**room, "location": room_location(address, ports)}, slot_id=slot_id, key=key)


def _reservation(request: LaneRequest) -> tuple[dict[str, Any], str]:
    """The parameters every reservation statement takes, and the new slot's key."""
    key = new_secret()
    params = {
        "account": request.user.account,
        "ip": normal_ip(request.ip),
        "key_hash": hash_secret(key),
        "now": timezone.now(),
    }
    return params, key


async def join_by_id(connection: AsyncConnection, request: LaneRequest) -> dict[str, Any] | None:
    """POST /rooms/<game>/<room_id>/join: rooms_views.RoomJoinView's successful case."""
    room_id, game = room_pk(request.url["room_id"]), request.url["application_name"]
    if room_id is None or not storable_text(game):
        return None
    params, key = _reservation(request)
    params.update(room_id=room_id, game=game)
    cursor = await connection.execute(JOIN_BY_ID, params)
    row = await cursor.fetchone()
    return _joined(row, key) if row and row[0] is not None else None


async def quick_join(connection: AsyncConnection, request: LaneRequest) -> dict[str, Any] | None:
    """POST /join/<game>/<version>/<server>: QuickJoinView's case of a running room to join.
    Waiting for a starting room and creating one stay the view's."""
    args = _args(QUICK_JOIN_ARGS, request)
    lookup = await _lookup(connection, request, args) if args is not None else None
    if args is None or lookup is None:
        return None
    where, filter_params = settings_filter_sql(args["settings"])
    params, key = _reservation(request)
    params.update({**lookup.params, **filter_params})
    for branch in lookup.branches:
        cursor = await connection.execute(QUICK_JOIN.format(region=branch, filter=where), params)
        row = await cursor.fetchone()
        if row:  # this branch's first candidate: joined, or the view's to answer
            return _joined(row, key) if row[0] is not None else None
    return None


async def search(connection: AsyncConnection, request: LaneRequest) -> RenderedJson | None:
    """GET /rooms/<game>/<version>/<server>: RoomSearchView's first page (`offset` 0; later pages
    count across region branches and stay the view's)."""
    args = _args(SEARCH_ARGS, request)
    lookup = await _lookup(connection, request, args) if args is not None and args["offset"] == 0 else None
    if args is None or lookup is None:
        return None
    where, filter_params = settings_filter_sql(args["settings"])
    params = {**lookup.params, **filter_params, "now": timezone.now()}
    not_full = "TRUE" if args["show_full"] else NOT_FULL
    rooms: list[str] = []
    for branch in lookup.branches:
        params["limit"] = args["limit"] - len(rooms)
        cursor = await connection.execute(SEARCH.format(region=branch, filter=where, not_full=not_full), params)
        rooms += [room for (room,) in await cursor.fetchall()]
        if len(rooms) == args["limit"]:
            break
    return RenderedJson(f'{{"rooms":[{",".join(rooms)}]}}'.encode())


_GAME = r"(?P<application_name>[^/]+)/(?P<application_version>[^/]+)/(?P<game_server_name>[^/]+)"

routes: list[Route] = [
    route("POST", rf"^/join/{_GAME}/?$", ("game",), quick_join),
    route("GET", rf"^/rooms/{_GAME}/?$", ("game",), search),
    route("POST", r"^/rooms?/(?P<application_name>[^/]+)/(?P<room_id>[^/]+)/join/?$", ("game",), join_by_id),
]
