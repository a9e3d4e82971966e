"""REST views of rooms: thin, each parses its arguments, calls one service and renders the answer."""

from __future__ import annotations

from typing import Any

from adrf.views import APIView as AsyncAPIView
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from bans.services import Banned, ban_enforce, banned_summary, find_bans
from gamemaster.args import account_id, parse_args
from gamemaster.auth import caller_account
from gamemaster.errors import BadArguments, Unavailable
from gamemaster.net import request_ip
from gamemaster.schema import error_responses
from regions.models import Region
from regions.services import region_for_ip
from rooms import matchmaking
from rooms.lookup import GameTarget, game_target
from rooms.matchmaking import RegionRule
from rooms.render import room_joined, room_multi, room_object, room_record
from rooms.serializers import (
    CreateArgs,
    CreateMultiArgs,
    MultiJoinArgs,
    PlayerRecordsSchema,
    PlayersArgs,
    PlayersRecordsSchema,
    QuickJoinArgs,
    RoomJoinedSchema,
    RoomListSchema,
    RoomMultiSchema,
    SearchArgs,
)
from rooms.services import Entrant, RoomGrant, room_create

# --- creating rooms (hosting) ---


class CreateThrottle(SimpleRateThrottle):
    """Room creations per account (CREATE_RATE): each one starts a process on a host."""

    scope = "create"

    def get_rate(self) -> str:
        return settings.CREATE_RATE

    def get_cache_key(self, request: Request, view: object) -> str:
        return self.cache_format % {"scope": self.scope, "ident": caller_account(request)}


class CreateMultiThrottle(CreateThrottle):
    """Multi creations come from trusted servers: their own, larger budget (CREATE_MULTI_RATE)."""

    scope = "create_multi"

    def get_rate(self) -> str:
        return settings.CREATE_MULTI_RATE


def _target_and_region(*, ip: str | None, **names: str) -> tuple[GameTarget, Region]:
    target = game_target(**names)
    region = region_for_ip(ip)
    if region is None:
        raise Unavailable("There is no region to start a room in.", code="no_host")
    return target, region


CREATE_ERRORS = error_responses(400, 401, 403, 404, 423, 429, 503)


class RoomCreateView(AsyncAPIView):
    """POST /create/<application_name>/<application_version>/<game_server_name>"""

    required_scopes = ["game"]
    throttle_classes = [CreateThrottle]

    @extend_schema(
        operation_id="room_create",
        summary="Create a room and join it (scope: game)",
        description="Starts a new game server in the caller's region and answers once it is ready, "
        "with the caller's one-time key and where to connect.",
        request=CreateArgs,
        responses={200: RoomJoinedSchema, **CREATE_ERRORS},
    )
    async def post(self, request: Request, **url: str) -> Response:
        args = parse_args(CreateArgs, request)
        account, ip = caller_account(request), request_ip(request)
        target, region = await database_sync_to_async(_target_and_region)(ip=ip, **url)
        await database_sync_to_async(ban_enforce)(account=account, ip=ip)
        grant = await room_create(
            target=target,
            region=region,
            settings=args["settings"],
            entrants=[Entrant(account=account, ip=ip)],
            created_by=account,
        )
        slot = grant.slots[account]
        return Response(room_joined(grant.room, grant.players, slot_id=slot.slot_id, key=slot.key))


class RoomCreateMultiView(AsyncAPIView):
    """POST /create/multi/<application_name>/<application_version>/<game_server_name>"""

    required_scopes = ["game", "game_multi"]
    throttle_classes = [CreateMultiThrottle]

    @extend_schema(
        operation_id="room_create_multi",
        summary="Create a room for several players (scopes: game, game_multi)",
        description="Starts a new game server in the caller's region with a slot for every account "
        "not banned (all or nothing) and answers once it is ready.",
        request=CreateMultiArgs,
        responses={200: RoomMultiSchema, **CREATE_ERRORS},
    )
    async def post(self, request: Request, **url: str) -> Response:
        args = parse_args(CreateMultiArgs, request)
        entries: list[tuple[str, str | None]] = args["accounts"]
        target, region = await database_sync_to_async(_target_and_region)(ip=request_ip(request), **url)
        bans = await database_sync_to_async(find_bans)(entries)
        if len(bans) == len(entries):
            raise Banned(bans[entries[0][0]])
        grant = await room_create(
            target=target,
            region=region,
            settings=args["settings"],
            entrants=[Entrant(account=account, ip=ip) for account, ip in entries if account not in bans],
            created_by=caller_account(request),
        )
        slots = {account: (slot.slot_id, slot.key) for account, slot in grant.slots.items()}
        return Response(room_multi(grant.room, slots, banned_summary(bans)))


# --- search, join, player status (matchmaking) ---


def _regions(request: Request, args: dict[str, Any]) -> RegionRule:
    return matchmaking.region_rule(
        region_name=args.get("region"),
        my_region_only=args["my_region_only"],
        mine=region_for_ip(request_ip(request)),
    )


REGION_ERRORS = "400: bad arguments, `region_conflict` (region and my_region_only) or `unknown_region`."
GAME_404 = "unknown_game, unknown_version or unknown_configuration."


class RoomSearchView(APIView):
    """GET /rooms/<application_name>/<application_version>/<game_server_name>"""

    required_scopes = ["game"]

    @extend_schema(
        operation_id="rooms_search",
        summary="Search rooms (scope: game)",
        description="Running rooms matching `settings` (docs/matchmaking.md): the caller's region first, "
        "then fuller rooms first, `limit` (default ROOMS_PAGE_DEFAULT, at most ROOMS_PAGE_MAX) from `offset`.",
        parameters=[
            OpenApiParameter("settings", str, description="JSON filter object"),
            OpenApiParameter("show_full", bool, description="List full rooms too (default true)"),
            OpenApiParameter("my_region_only", bool, description="Only rooms of the caller's region"),
            OpenApiParameter("region", str, description="Only rooms of this region"),
            OpenApiParameter("limit", int, description="Page size (default 100, at most 1000)"),
            OpenApiParameter("offset", int, description="Rooms to skip (default 0)"),
        ],
        responses={200: RoomListSchema, **error_responses(400, 401, 403, 404, s400=REGION_ERRORS, s404=GAME_404)},
    )
    def get(self, request: Request, application_name: str, application_version: str, game_server_name: str) -> Response:
        args = parse_args(SearchArgs, request)
        target = matchmaking.target_lookup(
            application_name=application_name,
            application_version=application_version,
            game_server_name=game_server_name,
        )
        rooms = matchmaking.room_search(
            target=target,
            filters=args["settings"],
            regions=_regions(request, args),
            show_full=args["show_full"],
            limit=args["limit"],
            offset=args["offset"],
        )
        return Response({"rooms": [room_object(room, players) for room, players in rooms]})


class RoomJoinView(APIView):
    """POST /rooms/<application_name>/<room_id>/join (and /room/...)"""

    required_scopes = ["game"]

    @extend_schema(
        operation_id="rooms_join",
        summary="Join a room by its id (scope: game)",
        request=None,
        responses={
            200: RoomJoinedSchema,
            **error_responses(
                400, 401, 403, 404, 423, s404="unknown_game, unknown_room, room_not_running or room_full."
            ),
        },
    )
    def post(self, request: Request, application_name: str, room_id: str) -> Response:
        account = caller_account(request)
        ban_enforce(account=account, ip=request_ip(request))
        grant = matchmaking.room_join(
            application_name=application_name, room_id=room_id, entrant=Entrant(account=account)
        )
        slot = grant.slots[account]
        return Response(room_joined(grant.room, grant.players, slot_id=slot.slot_id, key=slot.key))


def _prepare_join(request: Request, args: dict[str, Any], url: dict[str, str]) -> tuple[GameTarget, RegionRule]:
    target = matchmaking.target_lookup(**url)
    return target, _regions(request, args)


class QuickJoinView(AsyncAPIView):
    """POST /join/<application_name>/<application_version>/<game_server_name>"""

    required_scopes = ["game"]

    @extend_schema(
        operation_id="rooms_quick_join",
        summary="Find a room and join it, or create one (scope: game)",
        request=QuickJoinArgs,
        responses={
            200: RoomJoinedSchema,
            **error_responses(
                400, 401, 403, 404, 423, 503, s400=REGION_ERRORS, s404=f"no_room, version_disabled, {GAME_404}"
            ),
        },
    )
    async def post(self, request: Request, **url: str) -> Response:
        args = parse_args(QuickJoinArgs, request)
        account, ip = caller_account(request), request_ip(request)

        entrants = [Entrant(account=account, ip=ip)]

        # Lookups, ban check and the first find in ONE thread hop: each hop costs more than a query.
        def prepare_and_find() -> tuple[GameTarget, RegionRule, RoomGrant | None]:
            target, regions = _prepare_join(request, args, url)
            ban_enforce(account=account, ip=ip)
            found = matchmaking.room_find_and_join(
                target=target, filters=args["settings"], regions=regions, entrants=entrants
            )
            return target, regions, found

        target, regions, grant = await sync_to_async(prepare_and_find)()
        if grant is None:
            grant = await matchmaking.room_quick_join(
                target=target,
                filters=args["settings"],
                regions=regions,
                entrants=entrants,
                auto_create=args["auto_create"],
                create_settings=args["create_settings"],
                created_by=account,
                found_none=True,
            )
        slot = grant.slots[account]
        return Response(room_joined(grant.room, grant.players, slot_id=slot.slot_id, key=slot.key))


class MultiJoinView(AsyncAPIView):
    """POST /join/multi/<application_name>/<application_version>/<game_server_name>"""

    required_scopes = ["game", "game_multi"]

    @extend_schema(
        operation_id="rooms_multi_join",
        summary="Find a room and join it for several players, or create one (scopes: game, game_multi)",
        request=MultiJoinArgs,
        responses={
            200: RoomMultiSchema,
            **error_responses(
                400,
                401,
                403,
                404,
                423,
                503,
                s400=REGION_ERRORS,
                s404=f"no_room, version_disabled, {GAME_404}",
                s423="Every account is banned: the first one's ban in the X-Ban-* headers.",
            ),
        },
    )
    async def post(self, request: Request, **url: str) -> Response:
        args = parse_args(MultiJoinArgs, request)
        accounts: list[tuple[str, str | None]] = args["accounts"]

        def prepare_and_find() -> tuple[GameTarget, RegionRule, dict[str, Any], list[Entrant], RoomGrant | None]:
            target, regions = _prepare_join(request, args, url)
            bans = find_bans(accounts)
            entrants = [Entrant(account=account, ip=ip) for account, ip in accounts if account not in bans]
            if not entrants:
                return target, regions, bans, entrants, None
            found = matchmaking.room_find_and_join(
                target=target, filters=args["settings"], regions=regions, entrants=entrants
            )
            return target, regions, bans, entrants, found

        target, regions, bans, entrants, grant = await sync_to_async(prepare_and_find)()
        if not entrants:
            raise Banned(bans[accounts[0][0]])
        if grant is None:
            grant = await matchmaking.room_quick_join(
                target=target,
                filters=args["settings"],
                regions=regions,
                entrants=entrants,
                auto_create=args["auto_create"],
                create_settings=args["create_settings"],
                created_by=caller_account(request),
                found_none=True,
            )
        slots = {account: (slot.slot_id, slot.key) for account, slot in grant.slots.items()}
        return Response(room_multi(grant.room, slots, banned_summary(bans)))


class PlayerView(APIView):
    """GET /player/<account_id>"""

    required_scopes = ["game"]

    @extend_schema(
        operation_id="player_status",
        summary="Get a player's game status (scope: game)",
        description="The running rooms where the account is joined or holds an unexpired reservation.",
        responses={200: PlayerRecordsSchema, **error_responses(400, 401, 403)},
    )
    def get(self, request: Request, account_id: str) -> Response:
        account = _account(account_id)
        records = matchmaking.player_records([account])[account]
        return Response({"records": [room_record(room, players) for room, players in records]})


def _account(value: str) -> str:
    try:
        return account_id(value)
    except serializers.ValidationError as exc:
        raise BadArguments(fields={"account_id": exc.detail}) from None


class PlayersView(APIView):
    """GET /players?accounts=[...]"""

    required_scopes = ["game"]

    @extend_schema(
        operation_id="players_status",
        summary="Get the game status of several players (scope: game)",
        parameters=[OpenApiParameter("accounts", str, required=True, description="JSON list of account ids")],
        responses={200: PlayersRecordsSchema, **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        args = parse_args(PlayersArgs, request)
        records = matchmaking.player_records(args["accounts"])
        return Response(
            {
                "records": {
                    account: [room_record(room, players) for room, players in found]
                    for account, found in records.items()
                }
            }
        )
