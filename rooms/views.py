"""REST views of rooms: thin, each parses its arguments, calls one service and renders the answer."""

from __future__ import annotations

from typing import cast

from adrf.views import APIView as AsyncAPIView
from channels.db import database_sync_to_async
from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from bans.services import Banned, ban_enforce, find_bans, format_ban_date
from gamemaster.args import request_args
from gamemaster.auth import TokenUser
from gamemaster.errors import Unavailable
from gamemaster.net import request_ip
from gamemaster.schema import error_responses
from regions.models import Region
from regions.services import region_for_ip
from rooms.lookup import GameTarget, game_target
from rooms.render import room_joined, room_multi
from rooms.serializers import CreateArgs, CreateMultiArgs, RoomCreatedSchema, RoomMultiSchema
from rooms.services import Entrant, room_create

# --- creating rooms (hosting) ---


class CreateThrottle(SimpleRateThrottle):
    """Room creations per account (CREATE_RATE): each one starts a process on a host."""

    scope = "create"

    def get_rate(self) -> str:
        return settings.CREATE_RATE

    def get_cache_key(self, request: Request, view: object) -> str:
        return self.cache_format % {"scope": self.scope, "ident": caller(request).account}


class CreateMultiThrottle(CreateThrottle):
    """Multi creations come from trusted servers: their own, larger budget (CREATE_MULTI_RATE)."""

    scope = "create_multi"

    def get_rate(self) -> str:
        return settings.CREATE_MULTI_RATE


def caller(request: Request) -> TokenUser:
    return cast(TokenUser, request.user)


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
        responses={200: RoomCreatedSchema, **CREATE_ERRORS},
    )
    async def post(
        self, request: Request, application_name: str, application_version: str, game_server_name: str
    ) -> Response:
        args = CreateArgs(data=request_args(request))
        args.is_valid(raise_exception=True)
        account, ip = caller(request).account, request_ip(request)
        target, region = await database_sync_to_async(_target_and_region)(
            ip=ip,
            application_name=application_name,
            application_version=application_version,
            game_server_name=game_server_name,
        )
        await database_sync_to_async(ban_enforce)(account=account, ip=ip)
        grant = await room_create(
            target=target,
            region=region,
            settings=args.validated_data["settings"],
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
    async def post(
        self, request: Request, application_name: str, application_version: str, game_server_name: str
    ) -> Response:
        args = CreateMultiArgs(data=request_args(request))
        args.is_valid(raise_exception=True)
        entries: list[tuple[str, str | None]] = args.validated_data["accounts"]
        target, region = await database_sync_to_async(_target_and_region)(
            ip=request_ip(request),
            application_name=application_name,
            application_version=application_version,
            game_server_name=game_server_name,
        )
        bans = await database_sync_to_async(find_bans)(entries)
        if len(bans) == len(entries):
            raise Banned(bans[entries[0][0]])
        grant = await room_create(
            target=target,
            region=region,
            settings=args.validated_data["settings"],
            entrants=[Entrant(account=account, ip=ip) for account, ip in entries if account not in bans],
            created_by=caller(request).account,
        )
        banned = {
            account: {"id": str(ban.pk), "until": format_ban_date(ban), "reason": ban.reason}
            for account, ban in bans.items()
        }
        slots = {account: (slot.slot_id, slot.key) for account, slot in grant.slots.items()}
        return Response(room_multi(grant.room, slots, banned))


# --- search, join, player status (matchmaking) ---
