"""Checks the admin applies to JSON fields, so an operator gets a clear message, not a broken row."""

from __future__ import annotations

from typing import Any

from django import forms


def json_object(value: Any, *, name: str) -> dict:
    if not isinstance(value, dict):
        raise forms.ValidationError(f'{name} must be a JSON object, like {{"key": "value"}}.')
    return value


def json_string_list(value: Any, *, name: str) -> list:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise forms.ValidationError(f'{name} must be a JSON list of strings, like ["--port", "{{port0}}"].')
    return value


def json_string_map(value: Any, *, name: str) -> dict:
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise forms.ValidationError(f"{name} must be a JSON object whose values are strings.")
    return value
