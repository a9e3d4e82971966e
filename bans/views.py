"""REST views of bans (scope game_ban): thin, each parses its arguments, calls one service and renders."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bans import services
from bans.serializers import BanIdSchema, BanIssueSerializer, BanSchema, BanUpdateSerializer, EmptySchema
from gamemaster.args import parse_args
from gamemaster.schema import error_responses


class BanIssueView(APIView):
    """POST /ban/issue: ban an account until a date."""

    required_scopes = ["game_ban"]

    @extend_schema(
        operation_id="ban_issue",
        summary="Issue a ban (scope: game_ban)",
        description="The account may not enter matchmaking until `expires`; its first refused attempt "
        "attaches the caller's IP, and from then on every account from that IP is refused too.",
        request=BanIssueSerializer,
        responses={
            200: BanIdSchema,
            **error_responses(
                400,
                401,
                403,
                406,
                s400="A bad account, a bad or past date, or a missing argument.",
                s406="The account already has an active ban (code already_banned).",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = parse_args(BanIssueSerializer, request)
        ban = services.ban_issue(account=data["account"], reason=data["reason"], expires_at=data["expires"])
        return Response({"id": str(ban.pk)})


class BanView(APIView):
    """GET, POST (update) and DELETE (lift) /ban/<id>."""

    required_scopes = ["game_ban"]

    @extend_schema(
        operation_id="ban_get",
        summary="Get ban information (scope: game_ban)",
        description="An expired ban is still answered (its `expires` is in the past); a lifted one is 404.",
        responses={
            200: BanSchema,
            **error_responses(401, 403, 404, s404="No such ban, or it was lifted (unknown_ban)."),
        },
    )
    def get(self, request: Request, ban_id: str) -> Response:
        return Response(services.ban_get(ban_id=ban_id).as_api())

    @extend_schema(
        operation_id="ban_update",
        summary="Update a ban (scope: game_ban)",
        description="Give `reason`, `expires` or both. An `expires` in the past ends the ban at once.",
        request=BanUpdateSerializer,
        responses={
            200: EmptySchema,
            **error_responses(
                400,
                401,
                403,
                404,
                406,
                s404="No such ban, or it was lifted (unknown_ban).",
                s406="The new expiry would revive this ban while the account has another active one.",
            ),
        },
    )
    def post(self, request: Request, ban_id: str) -> Response:
        ban = services.ban_get(ban_id=ban_id)  # an unknown id is a 404 whatever the arguments
        data = parse_args(BanUpdateSerializer, request)
        services.ban_update(ban=ban, reason=data.get("reason"), expires_at=data.get("expires"))
        return Response({})

    @extend_schema(
        operation_id="ban_lift",
        summary="Invalidate (lift) a ban (scope: game_ban)",
        description="The ban stops applying at once, to the account and to its IP; the admin keeps it as history.",
        responses={
            200: EmptySchema,
            **error_responses(401, 403, 404, s404="No such ban, or it was lifted (unknown_ban)."),
        },
    )
    def delete(self, request: Request, ban_id: str) -> Response:
        services.ban_lift(ban_id=ban_id)
        return Response({})
