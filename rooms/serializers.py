"""Argument serializers of the rooms endpoints."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from rest_framework import serializers

from gamemaster.args import JSONArgField, account_id

# --- creating rooms (hosting) ---


class CreateArgs(serializers.Serializer):
    settings = JSONArgField(expected=dict, required=False, default=dict, help_text="The new room's settings.")


class CreateMultiArgs(CreateArgs):
    accounts = JSONArgField(
        expected=list,
        help_text='JSON list of account ids; an item may be {"account": "...", "ip": "..."} so bans match its address.',
    )

    def validate_accounts(self, value: list[Any]) -> list[tuple[str, str | None]]:
        """[(account, ip or None)], each account once."""
        if not value:
            raise serializers.ValidationError("At least one account is required.")
        if len(value) > settings.MULTI_MAX_ACCOUNTS:
            raise serializers.ValidationError(f"At most {settings.MULTI_MAX_ACCOUNTS} accounts.")
        entries = [_account_entry(item) for item in value]
        accounts = [account for account, _ in entries]
        if len(set(accounts)) != len(accounts):
            raise serializers.ValidationError("Each account may be listed once.")
        return entries


def _account_entry(item: Any) -> tuple[str, str | None]:
    if not isinstance(item, dict):
        return account_id(item), None
    if set(item) - {"account", "ip"} or "account" not in item:
        raise serializers.ValidationError('An object item is {"account": "...", "ip": "..."}.')
    ip = item.get("ip")
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(str(ip)))
        except ValueError:
            raise serializers.ValidationError(f"{ip!r} is not an IP address.") from None
    return account_id(item["account"]), ip


class SlotSchema(serializers.Serializer):
    slot = serializers.CharField()
    key = serializers.CharField()


class LocationSchema(serializers.Serializer):
    host = serializers.CharField()
    ports = serializers.ListField(child=serializers.IntegerField())


class RoomCreatedSchema(serializers.Serializer):
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
