"""Arguments of the party endpoints (REST and WebSocket query) and params of the session methods."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import serializers

from gamemaster.args import BoolArgField, JSONArgField, storable_json
from parties.checks import CheckError, validate_check
from parties.services import JoinRequest, PartyOptions
from rooms.filters import FilterError, validate_filter

PROFILE_MAX_BYTES = 4096
PAYLOAD_MAX_BYTES = 65536


def _encoded_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def validate_profile(value: dict) -> dict:
    if _encoded_size(value) > PROFILE_MAX_BYTES:
        raise serializers.ValidationError(
            f"A member profile is a small JSON object (at most {PROFILE_MAX_BYTES} bytes)."
        )
    return value


def validate_room_filters(value: dict | None) -> dict | None:
    if value is None:
        return None
    try:
        return validate_filter(value)
    except FilterError as exc:
        raise serializers.ValidationError(str(exc.detail)) from None


def validate_party_filter(value: dict) -> dict:
    try:
        return validate_filter(value)
    except FilterError as exc:
        raise serializers.ValidationError(str(exc.detail)) from None


def validate_check_members(value: dict | None) -> dict | None:
    if value is None:
        return None
    try:
        return validate_check(value)
    except CheckError as exc:
        raise serializers.ValidationError(str(exc)) from None


def validate_max_members(value: int) -> int:
    limit = settings.PARTY_MAX_MEMBERS_LIMIT
    if value > limit:
        raise serializers.ValidationError(f"Ensure this value is less than or equal to {limit}.")
    return value


class PartyCreateArgs(serializers.Serializer):
    """POST /party/create/... and the create session (spec/parties.md, "Properties")."""

    party_settings = JSONArgField(expected=dict, required=False, default=dict)
    room_settings = JSONArgField(expected=dict, required=False, default=dict)
    room_filters = JSONArgField(expected=dict, required=False, allow_null=True, default=None)
    max_members = serializers.IntegerField(required=False, default=8, min_value=2)
    region = serializers.CharField(required=False, max_length=64, allow_blank=True, default="")
    auto_start = BoolArgField(required=False, default=True)
    auto_close = BoolArgField(required=False, default=True)
    close_callback = serializers.CharField(required=False, max_length=64, allow_blank=True, default="")

    def validate_max_members(self, value: int) -> int:
        return validate_max_members(value)

    def validate_room_filters(self, value: dict | None) -> dict | None:
        return validate_room_filters(value)

    def options(self) -> PartyOptions:
        data = self.validated_data
        return PartyOptions(
            settings=data["party_settings"],
            room_settings=data["room_settings"],
            room_filters=data["room_filters"],
            max_members=data["max_members"],
            auto_start=data["auto_start"],
            auto_close=data["auto_close"],
            close_callback=data["close_callback"] or None,
            region=data["region"] or None,
        )


class JoinArgs(serializers.Serializer):
    """`auto_join`, `member_profile`, `check_members` of the session endpoints."""

    auto_join = BoolArgField(required=False, default=True)
    member_profile = JSONArgField(expected=dict, required=False, default=dict)
    check_members = JSONArgField(expected=dict, required=False, allow_null=True, default=None)

    def validate_member_profile(self, value: dict) -> dict:
        return validate_profile(value)

    def validate_check_members(self, value: dict | None) -> dict | None:
        return validate_check_members(value)

    def join(self) -> JoinRequest | None:
        data = self.validated_data
        if not data["auto_join"]:
            return None
        return JoinRequest(profile=data["member_profile"], check_members=data["check_members"])


class CreateSessionArgs(PartyCreateArgs):
    """WEB SOCKET /party/create/.../session (check_members means nothing on a new party)."""

    auto_join = BoolArgField(required=False, default=True)
    member_profile = JSONArgField(expected=dict, required=False, default=dict)

    def validate_member_profile(self, value: dict) -> dict:
        return validate_profile(value)

    def join(self) -> JoinRequest | None:
        data = self.validated_data
        return JoinRequest(profile=data["member_profile"]) if data["auto_join"] else None


class FindSessionArgs(serializers.Serializer):
    """WEB SOCKET /parties/.../session: find by `party_filter`, maybe create (always joins)."""

    party_filter = JSONArgField(expected=dict)
    auto_create = BoolArgField(required=False, default=False)
    member_profile = JSONArgField(expected=dict, required=False, default=dict)
    create_party_settings = JSONArgField(expected=dict, required=False, default=dict)
    create_room_settings = JSONArgField(expected=dict, required=False, default=dict)
    create_room_filters = JSONArgField(expected=dict, required=False, allow_null=True, default=None)
    max_members = serializers.IntegerField(required=False, default=8, min_value=2)
    region = serializers.CharField(required=False, max_length=64, allow_blank=True, default="")
    create_auto_start = BoolArgField(required=False, default=True)
    create_auto_close = BoolArgField(required=False, default=True)
    create_close_callback = serializers.CharField(required=False, max_length=64, allow_blank=True, default="")

    def validate_party_filter(self, value: dict) -> dict:
        return validate_party_filter(value)

    def validate_member_profile(self, value: dict) -> dict:
        return validate_profile(value)

    def validate_max_members(self, value: int) -> int:
        return validate_max_members(value)

    def validate_create_room_filters(self, value: dict | None) -> dict | None:
        return validate_room_filters(value)

    def join(self) -> JoinRequest:
        return JoinRequest(profile=self.validated_data["member_profile"])

    def create_options(self) -> PartyOptions | None:
        data = self.validated_data
        if not data["auto_create"]:
            return None
        return PartyOptions(
            settings=data["create_party_settings"],
            room_settings=data["create_room_settings"],
            room_filters=data["create_room_filters"],
            max_members=data["max_members"],
            auto_start=data["create_auto_start"],
            auto_close=data["create_auto_close"],
            close_callback=data["create_close_callback"] or None,
            region=data["region"] or None,
        )


class PartyCloseArgs(serializers.Serializer):
    """DELETE /party/<id>: an optional `message` handed to the sessions and the callback."""

    message = serializers.JSONField(required=False, allow_null=True, default=None, validators=[storable_json])


# --- session method params ---------------------------------------------------------------------


class SendMessageParams(serializers.Serializer):
    payload = serializers.JSONField(validators=[storable_json])

    def validate_payload(self, value: Any) -> Any:
        if _encoded_size(value) > PAYLOAD_MAX_BYTES:
            raise serializers.ValidationError(f"A message payload is at most {PAYLOAD_MAX_BYTES} bytes of JSON.")
        return value


class JoinPartyParams(serializers.Serializer):
    member_profile = serializers.DictField(required=False, default=dict, validators=[storable_json])
    check_members = serializers.DictField(required=False, allow_null=True, default=None, validators=[storable_json])

    def validate_member_profile(self, value: dict) -> dict:
        return validate_profile(value)

    def validate_check_members(self, value: dict | None) -> dict | None:
        return validate_check_members(value)


class MessageParams(serializers.Serializer):
    """`start_game` and `close_party`: an optional message to everyone."""

    message = serializers.JSONField(required=False, allow_null=True, default=None, validators=[storable_json])


# --- answers (OpenAPI) -------------------------------------------------------------------------


class PartyObjectSchema(serializers.Serializer):
    id = serializers.CharField()
    num_members = serializers.IntegerField()
    max_members = serializers.IntegerField()
    settings = serializers.DictField()


class PartyAnswerSchema(serializers.Serializer):
    party = PartyObjectSchema()


class MemberSchema(serializers.Serializer):
    account = serializers.CharField()
    role = serializers.IntegerField()
    profile = serializers.DictField()


class PartyInfoSchema(serializers.Serializer):
    party = PartyObjectSchema()
    members = MemberSchema(many=True)
