"""Request arguments as DESIGN.md §4 defines them, as DRF serializer fields.

Arguments come as query parameters (GET) or form fields / a JSON body (POST, DELETE). A JSON-valued
argument may be a JSON string (form, query) or a JSON value (JSON body). Booleans accept
true/false/1/0. Anything else is a 400.

Every text and JSON value an argument carries must be storable as it is on both databases: no NUL
character and no unpaired surrogate in a string (PostgreSQL refuses them in text and JSONB), no
NaN or infinite number (JSON has none), integers of at most 64 bits (what the Redis channel layer's
msgpack carries) and a bounded nesting depth.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django.http import QueryDict
from rest_framework import serializers
from rest_framework.request import Request

from gamemaster.errors import BadArguments

ACCOUNT_MAX_LENGTH = 64
JSON_MAX_DEPTH = 32
JSON_INT_LIMIT = 2**63
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def request_args(request: Request) -> dict[str, Any]:
    """The arguments of a request as a flat dict, from the query (GET) or the body (POST, DELETE)."""
    if request.method in ("GET", "HEAD"):
        return _flatten(request.query_params)
    try:
        data = request.data
    except Exception as exc:  # ParseError, UnsupportedMediaType: say what was wrong, not 500
        raise BadArguments(f"The request body could not be read: {exc}") from None
    if isinstance(data, QueryDict):
        args = _flatten(request.query_params)
        args.update(_flatten(data))
        return args
    if not isinstance(data, dict):
        raise BadArguments("A JSON body must be an object of arguments.")
    return {**_flatten(request.query_params), **data}


def parse_args(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    """Validate a request's arguments with a serializer: its data, or a 400 with the field errors."""
    serializer = serializer_class(data=request_args(request))
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _flatten(query: QueryDict) -> dict[str, Any]:
    return {key: query.get(key) for key in query}


def storable_text(text: str) -> bool:
    """Whether both databases can store and compare this text: no NUL, no unpaired surrogate."""
    return _UNSTORABLE.search(text) is None


def storable_json(value: Any) -> Any:
    """`value` if both databases can store it as JSON and the channel layer carry it, else a
    ValidationError saying why (a DRF validator too). Strings and keys must be `storable_text`,
    floats finite, integers 64-bit, nesting bounded."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > JSON_MAX_DEPTH:
            raise serializers.ValidationError(f"JSON nested deeper than {JSON_MAX_DEPTH} levels.")
        if isinstance(item, str):
            if not storable_text(item):
                raise serializers.ValidationError("Strings may not contain NUL characters or unpaired surrogates.")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise serializers.ValidationError("Numbers must be finite.")
        elif isinstance(item, int):
            if not -JSON_INT_LIMIT <= item < JSON_INT_LIMIT:
                raise serializers.ValidationError("Integers must fit in 64 bits.")
        elif isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class JSONArgField(serializers.Field):
    """A JSON object or list, given as a JSON value or as a string holding JSON."""

    default_error_messages = {
        "invalid_json": "Not valid JSON: {error}.",
        "wrong_type": "Must be a JSON {expected}.",
    }

    def __init__(self, *, expected: type = dict, **kwargs: Any) -> None:
        self.expected = expected
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            try:
                data = json.loads(data, parse_constant=_reject_constant)
            except ValueError as exc:
                self.fail("invalid_json", error=exc)
            except RecursionError:
                self.fail("invalid_json", error=f"nested deeper than {JSON_MAX_DEPTH} levels")
        if not isinstance(data, self.expected):
            self.fail("wrong_type", expected="object" if self.expected is dict else "list")
        return storable_json(data)

    def to_representation(self, value: Any) -> Any:
        return value


class BoolArgField(serializers.Field):
    """true/false/1/0 (string, JSON boolean or 0/1 number); nothing else."""

    default_error_messages = {"invalid": "Must be true, false, 1 or 0."}
    TRUE = {"true", "1"}
    FALSE = {"false", "0"}

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        if isinstance(data, int) and data in (0, 1):
            return bool(data)
        if isinstance(data, str):
            word = data.strip().lower()
            if word in self.TRUE:
                return True
            if word in self.FALSE:
                return False
        self.fail("invalid")

    def to_representation(self, value: Any) -> bool:
        return bool(value)


def account_id(value: Any) -> str:
    """An account id: a non-empty string of up to 64 characters; JSON integers become strings."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise serializers.ValidationError("An account id must be a string or an integer.")
    text = str(value)
    if not text or len(text) > ACCOUNT_MAX_LENGTH or text.strip() != text:
        raise serializers.ValidationError(
            f"An account id must be 1 to {ACCOUNT_MAX_LENGTH} characters without surrounding spaces."
        )
    if not storable_text(text):
        raise serializers.ValidationError("An account id may not contain NUL characters or unpaired surrogates.")
    return text


class AccountField(serializers.Field):
    default_error_messages = {"invalid": "Not a valid account id."}

    def to_internal_value(self, data: Any) -> str:
        return account_id(data)

    def to_representation(self, value: Any) -> str:
        return str(value)
