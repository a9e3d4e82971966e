"""REST views of parties: thin, each parses its arguments, calls one service and renders the answer."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gamemaster.args import parse_args, request_args
from gamemaster.auth import caller_account
from gamemaster.net import request_ip
from gamemaster.schema import error_responses
from parties.serializers import PartyAnswerSchema, PartyCloseArgs, PartyCreateArgs, PartyInfoSchema
from parties.services import party_close, party_create, party_get, party_info
from rooms.lookup import game_target


class PartyCreateView(APIView):
    """POST /party/create/<application_name>/<application_version>/<game_server_name>"""

    required_scopes = ["party_create"]

    @extend_schema(
        operation_id="party_create",
        summary="Create a party (scope: party_create); it opens no session",
        request=PartyCreateArgs,
        responses={200: PartyAnswerSchema, **error_responses(400, 401, 403, 404, 503)},
    )
    def post(
        self, request: Request, application_name: str, application_version: str, game_server_name: str
    ) -> Response:
        args = PartyCreateArgs(data=request_args(request))
        args.is_valid(raise_exception=True)
        target = game_target(
            application_name=application_name,
            application_version=application_version,
            game_server_name=game_server_name,
        )
        party = party_create(
            target=target, account=caller_account(request), ip=request_ip(request), options=args.options()
        )
        return Response({"party": party.as_api(0)})


class PartyView(APIView):
    """GET and DELETE /party/<party_id>"""

    required_scopes = {"GET": ["party"], "DELETE": ["party_close"]}

    @extend_schema(
        operation_id="party_get",
        summary="Get a party and its members (scope: party)",
        responses={200: PartyInfoSchema, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, party_id: str) -> Response:
        return Response(party_info(party_get(party_id=party_id)))

    @extend_schema(
        operation_id="party_close",
        summary="Close a party (scope: party_close); answers its close callback's JSON answer, else {}",
        request=PartyCloseArgs,
        responses={
            200: OpenApiResponse(description="The close callback's JSON answer, or {} without a callback."),
            **error_responses(400, 401, 403, 404),
        },
    )
    def delete(self, request: Request, party_id: str) -> Response:
        args = parse_args(PartyCloseArgs, request)
        answer = party_close(party_id=party_id, account=None, message=args["message"])
        return Response({} if answer is None else answer)
