"""Argument serializers and response schemas of the ban endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from bans.models import BAN_DATE_FORMAT, Ban
from gamemaster.args import AccountField

REASON_MAX_LENGTH = Ban._meta.get_field("reason").max_length


def parse_ban_date(value: str) -> datetime:
    """`%Y-%m-%d %H:%M:%S` or ISO 8601; a date without an offset is UTC. ValueError if neither."""
    text = value.strip()
    try:
        moment = datetime.strptime(text, BAN_DATE_FORMAT)
    except ValueError:
        moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@extend_schema_field({"type": "string", "example": "2030-01-31 18:00:00"})
class BanDateField(serializers.Field):
    """A UTC date as the spec writes it (`%Y-%m-%d %H:%M:%S`); ISO 8601 with an offset is accepted."""

    default_error_messages = {
        "invalid": f"Not a date: use {BAN_DATE_FORMAT} (UTC) or ISO 8601.",
    }

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            return parse_ban_date(data)
        except (ValueError, OverflowError):  # OverflowError: an offset that moves year 1 or 9999 out of range
            self.fail("invalid")

    def to_representation(self, value: datetime) -> str:
        return value.astimezone(UTC).strftime(BAN_DATE_FORMAT)


class ReasonField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=REASON_MAX_LENGTH, allow_blank=True, trim_whitespace=True, **kwargs)


class BanIssueSerializer(serializers.Serializer):
    account = AccountField(help_text="The account to ban (a string; a JSON number is accepted).")
    reason = ReasonField(help_text="Why, shown to the player in X-Ban-Reason; may be empty.")
    expires = BanDateField(help_text="When the ban ends, UTC, in the future.")


class BanUpdateSerializer(serializers.Serializer):
    reason = ReasonField(required=False, help_text="The new reason.")
    expires = BanDateField(required=False, help_text="The new end, UTC; a past date ends the ban at once.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give `reason`, `expires` or both.")
        return attrs


BanIdSchema = inline_serializer(name="BanId", fields={"id": serializers.CharField(help_text="The new ban's id")})

BanSchema = inline_serializer(
    name="Ban",
    fields={
        "id": serializers.CharField(),
        "reason": serializers.CharField(),
        "expires": serializers.CharField(help_text="UTC, %Y-%m-%d %H:%M:%S; in the past once the ban has expired"),
        "account": serializers.CharField(),
        "ip": serializers.IPAddressField(allow_null=True, help_text="Attached on the first refused attempt"),
    },
)

EmptySchema = inline_serializer(name="BanEmpty", fields={})
