"""OpenAPI pieces every endpoint shares: the error body and its documented statuses."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSchema = inline_serializer(
    name="Error",
    fields={
        "code": serializers.CharField(help_text="snake_case error code"),
        "detail": serializers.CharField(help_text="A sentence saying what is wrong"),
        "fields": serializers.DictField(required=False, help_text="Per-argument errors (400 only)"),
    },
)

STATUS_TEXT = {
    400: "Some arguments are missing or wrong.",
    401: "No token, or the token is invalid or expired (see WWW-Authenticate).",
    403: "The token lacks a required scope; the detail names it.",
    404: "Not found; `code` says what.",
    406: "Not acceptable.",
    409: "Conflict.",
    410: "Gone.",
    423: "Banned: see the X-Ban-Until, X-Ban-Id and X-Ban-Reason headers.",
    429: "Rate limited: see Retry-After.",
    503: "No host can take the room, or the game server did not start in time.",
}


def error_responses(*statuses: int, **overrides: str) -> dict[int, OpenApiResponse]:
    """`{status: OpenApiResponse(Error)}` for the listed statuses (detail text overridable: `s404="..."`)."""
    return {
        status: OpenApiResponse(ErrorSchema, description=overrides.get(f"s{status}", STATUS_TEXT[status]))
        for status in statuses
    }


class JSONArgFieldExtension(OpenApiSerializerFieldExtension):
    """A JSON-valued argument: a JSON value in a JSON body, or a string holding JSON (DESIGN.md §4)."""

    target_class = "gamemaster.args.JSONArgField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        value = {"type": "array", "items": {}} if self.target.expected is list else {"type": "object"}
        return {"oneOf": [value, {"type": "string", "description": "the same, as a JSON string"}]}


class BoolArgFieldExtension(OpenApiSerializerFieldExtension):
    """true/false/1/0, as a JSON boolean or a string."""

    target_class = "gamemaster.args.BoolArgField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {"oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["true", "false", "1", "0"]}]}


class AccountFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "gamemaster.args.AccountField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {"type": "string", "minLength": 1, "maxLength": 64, "description": "an account id"}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "gamemaster.auth.BearerTokenAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A JWT: `sub` the account, `scope` (space separated) or `scopes`, `exp`. "
            "Clients that cannot set the header pass it as the `access_token` argument.",
        }
