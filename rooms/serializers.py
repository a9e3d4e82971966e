"""Argument serializers of the rooms endpoints."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from gamemaster.args import BoolArgField, JSONArgField, account_id
from rooms.filters import FilterField

# --- arguments several endpoints share ---


def _ip(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise serializers.ValidationError(f"'{value}' is not an IP address.") from None


class AccountsField(JSONArgField):
    """A JSON list of account ids, each may be {"account": "...", "ip": "..."} when `with_ip`."""

    def __init__(self, *, max_setting: str, with_ip: bool = False, **kwargs: Any) -> None:
        self.max_setting, self.with_ip = max_setting, with_ip
        super().__init__(expected=list, **kwargs)

    def to_internal_value(self, data: Any) -> list[Any]:
        items = super().to_internal_value(data)
        most = getattr(settings, self.max_setting)
        if not items:
            raise serializers.ValidationError("Give at least one account.")
        if len(items) > most:
            raise serializers.ValidationError(f"Give at most {most} accounts.")
        accounts: list[Any] = []
        for item in items:
            if self.with_ip and isinstance(item, dict):
                if set(item) - {"account", "ip"} or "account" not in item:
                    raise serializers.ValidationError('An item must be an account id or {"account": ..., "ip": ...}.')
                ip = item.get("ip")
                accounts.append((account_id(item["account"]), _ip(ip) if ip is not None else None))
            else:
                accounts.append((account_id(item), None) if self.with_ip else account_id(item))
        names = [entry[0] for entry in accounts] if self.with_ip else accounts
        if len(set(names)) != len(names):
            raise serializers.ValidationError("An account is listed twice.")
        return accounts


# --- creating rooms (hosting) ---


class CreateArgs(serializers.Serializer):
    settings = JSONArgField(expected=dict, required=False, default=dict, help_text="The new room's settings.")


class CreateMultiArgs(CreateArgs):
    accounts = AccountsField(
        max_setting="MULTI_MAX_ACCOUNTS",
        with_ip=True,
        help_text='JSON list of account ids; an item may be {"account": "...", "ip": "..."} so bans match its address.',
    )


class SlotSchema(serializers.Serializer):
    slot = serializers.CharField()
    key = serializers.CharField()


class LocationSchema(serializers.Serializer):
    host = serializers.CharField()
    ports = serializers.ListField(child=serializers.IntegerField())


class RoomJoinedSchema(serializers.Serializer):
    id = serializers.CharField()
    settings = serializers.DictField()
    players = serializers.IntegerField()
    max_players = serializers.IntegerField()
    game_name = serializers.CharField()
    game_version = serializers.CharField()
    location = LocationSchema()
    slot = serializers.CharField()
    key = serializers.CharField(help_text="One-time key to show the game server; only its hash is kept.")


class BanInfoSchema(serializers.Serializer):
    id = serializers.CharField()
    until = serializers.CharField()
    reason = serializers.CharField()


class RoomMultiSchema(serializers.Serializer):
    id = serializers.CharField()
    settings = serializers.DictField()
    slots = serializers.DictField(child=SlotSchema(), help_text="By account id.")
    location = LocationSchema()
    banned = serializers.DictField(child=BanInfoSchema(), required=False, help_text="Accounts left out, by account id.")


# --- search, join, player status (matchmaking) ---

OFFSET_MAX = 10_000_000


class RegionArgs(serializers.Serializer):
    my_region_only = BoolArgField(required=False, default=False)
    region = serializers.CharField(required=False, max_length=64)


class SearchArgs(RegionArgs):
    settings = FilterField(required=False, default=dict)
    show_full = BoolArgField(required=False, default=True)
    limit = serializers.IntegerField(required=False, min_value=1)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=OFFSET_MAX, default=0)

    def validate_limit(self, value: int) -> int:
        if value > settings.ROOMS_PAGE_MAX:
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {settings.ROOMS_PAGE_MAX}.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs.setdefault("limit", settings.ROOMS_PAGE_DEFAULT)
        return attrs


class QuickJoinArgs(RegionArgs):
    settings = FilterField(required=False, default=dict)
    auto_create = BoolArgField(required=False, default=True)
    create_settings = JSONArgField(expected=dict, required=False, default=dict)


class MultiJoinArgs(QuickJoinArgs):
    accounts = AccountsField(max_setting="MULTI_MAX_ACCOUNTS", with_ip=True)


class PlayersArgs(serializers.Serializer):
    accounts = AccountsField(max_setting="PLAYERS_MAX_ACCOUNTS")


# OpenAPI shapes of the answers (rooms/render.py builds them).
_RECORD_FIELDS: dict[str, serializers.Field] = {
    "id": serializers.CharField(),
    "settings": serializers.DictField(),
    "players": serializers.IntegerField(help_text="Joined players and unexpired reservations"),
    "max_players": serializers.IntegerField(),
    "game_name": serializers.CharField(),
    "game_version": serializers.CharField(),
}


_Record = inline_serializer(name="PlayerRecord", fields=dict(_RECORD_FIELDS))


def _record(many: bool = False) -> serializers.Serializer:
    """The one PlayerRecord component (two classes of one name would confuse the schema)."""
    return _Record.__class__(many=many) if many else _Record


def _room(many: bool = False) -> serializers.Serializer:
    return inline_serializer(name="Room", fields={**_RECORD_FIELDS, "location": LocationSchema()}, many=many)


RoomListSchema = inline_serializer(name="RoomList", fields={"rooms": _room(many=True)})
PlayerRecordsSchema = inline_serializer(name="PlayerRecords", fields={"records": _record(many=True)})
PlayersRecordsSchema = inline_serializer(
    name="PlayersRecords",
    fields={"records": serializers.DictField(child=serializers.ListField(child=_record()))},
)
