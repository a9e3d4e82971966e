"""The settings filter language (DESIGN.md §5), evaluated in the database.

One implementation for search and join `settings`, party `room_filters` and `party_filter`. Each
condition compiles to SQL we write ourselves for PostgreSQL (JSONB) and SQLite (JSON1) rather than
Django's key lookups, because those differ between the two: Django turns a key like "0" into an
array index on PostgreSQL, SQLite's json_extract turns `true` into 1 (so `true` would equal `1`),
and JSON text compares by collation on PostgreSQL but by bytes on SQLite. Here:

- a path only ever walks object keys (never array indexes), on both databases;
- a value matches only a value of the same JSON type; numbers compare as numbers (5 equals 5.0);
- strings compare by code point on both (PostgreSQL with the "C" collation);
- a missing field never matches (except `not_exists`), and `null` only matches a JSON null.

On PostgreSQL, equality conditions also add `settings @> {...}` so a GIN index on the column
(jsonb_path_ops, migration rooms 0002) can find the rooms; the exact typed condition stays too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Expression, F, Q
from rest_framework import serializers

from gamemaster.args import JSONArgField
from gamemaster.errors import BadArguments
from rooms.models import Room

COMPARISONS = ("=", "!=", ">", ">=", "<", "<=")
FUNCS = (*COMPARISONS, "between", "in", "exists", "not_exists")
MAX_CONDITIONS = 32
MAX_VALUES = 100
MAX_PATH_DEPTH = 8
INT_LIMIT = 2**63
FORBIDDEN_KEY_CHARACTERS = set('"\\\x00')


class FilterError(BadArguments):
    """A malformed filter: the detail says what is wrong (400)."""

    code = "bad_filter"


# --- validation: a filter becomes a list of (path, op, operand) conditions ---


def validate_filter(filters: Any) -> dict:
    """Check a filter and return it unchanged; FilterError (400) says what is wrong."""
    _conditions(filters)
    return filters


def _conditions(filters: Any) -> list[tuple[list[str], str, Any]]:
    if not isinstance(filters, dict):
        raise FilterError("A filter must be a JSON object of {path: condition}.")
    if len(filters) > MAX_CONDITIONS:
        raise FilterError(f"A filter may hold at most {MAX_CONDITIONS} conditions.")
    return [_condition(key, value) for key, value in filters.items()]


def _condition(key: Any, value: Any) -> tuple[list[str], str, Any]:
    path = _path(key)
    where = f"Filter '{key}'"
    if isinstance(value, list):
        return path, "in", _values(value, where)
    if isinstance(value, dict):
        return (path, *_func(value, where))
    return path, "=", _scalar(value, where)


def _path(key: Any) -> list[str]:
    if not isinstance(key, str) or not key:
        raise FilterError("A filter key must be a non-empty path like 'mode' or 'map.size'.")
    parts = key.split(".")
    if any(not part for part in parts):
        raise FilterError(f"Filter key '{key}' has an empty part: write nested keys as 'a.b'.")
    if len(parts) > MAX_PATH_DEPTH:
        raise FilterError(f"Filter key '{key}' is deeper than {MAX_PATH_DEPTH} levels.")
    if any(FORBIDDEN_KEY_CHARACTERS & set(part) for part in parts):
        raise FilterError(f"Filter key '{key}' may not contain quotes, backslashes or NUL characters.")
    return parts


def _scalar(value: Any, where: str) -> Any:
    """A string, number, boolean or null that both databases can compare."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -INT_LIMIT < value < INT_LIMIT:
            raise FilterError(f"{where}: the number {value} is out of range.")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FilterError(f"{where}: numbers must be finite.")
        return value
    if isinstance(value, str):
        if "\x00" in value:
            raise FilterError(f"{where}: strings may not contain NUL characters.")
        return value
    raise FilterError(
        f"{where}: expected a string, number, boolean, null, a list of them, or an object with '@func'; "
        "to match inside an object use a dotted key like 'a.b'."
    )


def _values(values: Any, where: str) -> list[Any]:
    if not isinstance(values, list):
        raise FilterError(f"{where}: '@values' must be a list.")
    if len(values) > MAX_VALUES:
        raise FilterError(f"{where}: a list may hold at most {MAX_VALUES} values.")
    return [_scalar(value, where) for value in values]


def _ordered(value: Any, where: str, name: str) -> float | int | str:
    """An operand of >, <, between: a number or a string (booleans and null have no order)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise FilterError(f"{where}: '{name}' must be a number or a string.")
    return _scalar(value, where)


def _func(spec: dict, where: str) -> tuple[str, Any]:
    func = spec.get("@func")
    if func is None:
        raise FilterError(
            f"{where}: an object condition needs '@func' (one of {', '.join(FUNCS)}); "
            "to match inside an object use a dotted key like 'a.b'."
        )
    if func not in FUNCS:
        raise FilterError(f"{where}: unknown @func {json.dumps(func)}; use one of {', '.join(FUNCS)}.")
    expected = {
        "between": {"@a", "@b"},
        "in": {"@values"},
        "exists": set(),
        "not_exists": set(),
    }.get(func, {"@value"})
    given = set(spec) - {"@func"}
    if given != expected:
        missing = sorted(expected - given)
        extra = sorted(given - expected)
        problem = f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}"
        raise FilterError(f"{where}: @func '{func}' takes {', '.join(sorted(expected)) or 'no arguments'}; {problem}.")
    if func in ("exists", "not_exists"):
        return func, None
    if func == "in":
        return "in", _values(spec["@values"], where)
    if func == "between":
        low, high = _ordered(spec["@a"], where, "@a"), _ordered(spec["@b"], where, "@b")
        if isinstance(low, str) != isinstance(high, str):
            raise FilterError(f"{where}: '@a' and '@b' must both be numbers or both be strings.")
        return "between", (low, high)
    if func in ("=", "!="):
        return func, _scalar(spec["@value"], where)
    return func, _ordered(spec["@value"], where, "@value")


# --- SQL ---


def settings_filter_q(filters: dict | None, *, field: str = "settings") -> Q:
    """The filter as a Q on a JSONField, with the same results on PostgreSQL and SQLite."""
    if not filters:
        return Q()
    q = Q()
    for path, func, operand in _conditions(filters):
        q &= Q(JsonCondition(F(field), path, func, operand))
    return q


def settings_filter_sql(filters: dict | None) -> tuple[str, dict[str, Any]]:
    """The filter as a WHERE fragment on `rooms_room`, for the fast lane's hand-written SQL:
    exactly what Django sends for `settings_filter_q` (compiled by Django's own compiler), with
    named parameters `filter_0`, `filter_1`... Compiled once per distinct filter."""
    if not filters:
        return "TRUE", {}
    sql, params = _compiled_filter(json.dumps(filters, sort_keys=True))
    return sql, dict(params)


@lru_cache(maxsize=512)
def _compiled_filter(canonical: str) -> tuple[str, tuple[tuple[str, Any], ...]]:
    query = Room.objects.filter(settings_filter_q(json.loads(canonical))).query
    sql, params = query.get_compiler(connection=connection).compile(query.where)
    names = iter(f"filter_{index}" for index in range(len(params)))
    named = re.sub(r"%([%s])", lambda found: "%%" if found.group(1) == "%" else f"%({next(names)})s", sql)
    return named, tuple((f"filter_{index}", value) for index, value in enumerate(params))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def _nest(path: list[str], value: Any) -> dict:
    for part in reversed(path):
        value = {part: value}
    return value


class JsonCondition(Expression):
    """One condition on one path of a JSON column: TRUE or FALSE, never NULL."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, column: Any, path: list[str], func: str, operand: Any) -> None:
        super().__init__(output_field=BooleanField())
        self.column, self.path, self.func, self.operand = column, path, func, operand

    def get_source_expressions(self) -> list[Any]:
        return [self.column]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.column,) = exprs

    def as_sql(self, compiler: Any, connection: Any) -> Any:  # pragma: no cover
        raise NotImplementedError(f"Settings filters support PostgreSQL and SQLite, not {connection.vendor}.")

    # PostgreSQL: v is the JSONB value at the path (SQL NULL when missing); `->` with a text key
    # only ever reads object members.
    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        column, params = compiler.compile(self.column)
        value = column + "".join(" -> %s::text" for _ in self.path)
        path_params = list(self.path)

        def v() -> tuple[str, list[Any]]:
            return f"({value})", [*params, *path_params]

        sql, sql_params = self._pg(v, (column, list(params)))
        return f"COALESCE(({sql}), false)", sql_params

    def _pg(self, v: Any, col: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
        func, operand = self.func, self.operand
        vs, vp = v()
        if func == "exists":
            return f"{vs} IS NOT NULL", vp
        if func == "not_exists":
            return f"{vs} IS NULL", vp
        if func == "in":
            if not operand:
                return "false", []
            parts, params = [], []
            for item in operand:
                sql, item_params = self._pg_equal(v, col, item)
                parts.append(sql)
                params += item_params
            return " OR ".join(f"({part})" for part in parts), params
        if func == "=":
            return self._pg_equal(v, col, operand)
        if func == "!=":
            return f"{vs} IS NOT NULL AND {vs} <> %s::jsonb", [*vp, *vp, json.dumps(operand)]
        if func == "between":
            low, high = operand
            low_sql, low_params = self._pg_compare(v, ">=", low)
            high_sql, high_params = self._pg_compare(v, "<=", high)
            return f"({low_sql}) AND ({high_sql})", [*low_params, *high_params]
        return self._pg_compare(v, func, operand)

    def _pg_equal(self, v: Any, col: tuple[str, list[Any]], operand: Any) -> tuple[str, list[Any]]:
        # jsonb equality is typed, and numeric for numbers: exactly the language's `=`. The
        # containment test in front lets a GIN index narrow the rows first.
        vs, vp = v()
        column_sql, column_params = col
        return (
            f"{column_sql} @> %s::jsonb AND {vs} = %s::jsonb",
            [*column_params, json.dumps(_nest(self.path, operand)), *vp, json.dumps(operand)],
        )

    def _pg_compare(self, v: Any, op: str, operand: Any) -> tuple[str, list[Any]]:
        vs, vp = v()
        if _kind(operand) == "number":
            # CASE: the cast must only ever see numbers.
            return (
                f"CASE WHEN jsonb_typeof({vs}) = 'number' THEN ({vs})::numeric {op} %s::numeric ELSE false END",
                [*vp, *vp, repr(operand)],
            )
        return (
            f"CASE WHEN jsonb_typeof({vs}) = 'string' THEN ({vs} #>> '{{}}') COLLATE \"C\" {op} %s ELSE false END",
            [*vp, *vp, operand],
        )

    # SQLite: json_type() tells the JSON type ('integer', 'real', 'text', 'true', 'false', 'null',
    # NULL when missing) and json_extract() the SQL value; keys are quoted so they never index arrays.
    def as_sqlite(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        column, params = compiler.compile(self.column)
        json_path = "$" + "".join(f'."{part}"' for part in self.path)

        def typ() -> tuple[str, list[Any]]:
            return f"json_type({column}, %s)", [*params, json_path]

        def val() -> tuple[str, list[Any]]:
            return f"json_extract({column}, %s)", [*params, json_path]

        sql, sql_params = self._sqlite(typ, val)
        return f"COALESCE(({sql}), 0)", sql_params

    def _sqlite(self, typ: Any, val: Any) -> tuple[str, list[Any]]:
        func, operand = self.func, self.operand
        ts, tp = typ()
        if func == "exists":
            return f"{ts} IS NOT NULL", tp
        if func == "not_exists":
            return f"{ts} IS NULL", tp
        if func == "in":
            if not operand:
                return "0", []
            parts, params = [], []
            for item in operand:
                sql, item_params = self._sqlite_equal(typ, val, item)
                parts.append(f"COALESCE(({sql}), 0)")
                params += item_params
            return " OR ".join(parts), params
        if func == "=":
            return self._sqlite_equal(typ, val, operand)
        if func == "!=":
            sql, params = self._sqlite_equal(typ, val, operand)
            return f"{ts} IS NOT NULL AND NOT COALESCE(({sql}), 0)", [*tp, *params]
        if func == "between":
            low, high = operand
            low_sql, low_params = self._sqlite_compare(typ, val, ">=", low)
            high_sql, high_params = self._sqlite_compare(typ, val, "<=", high)
            return f"({low_sql}) AND ({high_sql})", [*low_params, *high_params]
        return self._sqlite_compare(typ, val, func, operand)

    def _sqlite_equal(self, typ: Any, val: Any, operand: Any) -> tuple[str, list[Any]]:
        ts, tp = typ()
        kind = _kind(operand)
        if kind == "null":
            return f"{ts} = 'null'", tp
        if kind == "boolean":
            return f"{ts} = %s", [*tp, "true" if operand else "false"]
        return self._sqlite_compare(typ, val, "=", operand)

    def _sqlite_compare(self, typ: Any, val: Any, op: str, operand: Any) -> tuple[str, list[Any]]:
        ts, tp = typ()
        vs, vp = val()
        types = "('integer', 'real')" if _kind(operand) == "number" else "('text')"
        return f"{ts} IN {types} AND {vs} {op} %s", [*tp, *vp, operand]

    def __repr__(self) -> str:
        return f"JsonCondition({self.column!r}, {self.path!r}, {self.func!r}, {self.operand!r})"


class FilterField(JSONArgField):
    """A filter argument (`settings`, `room_filters`, `party_filter`): a JSON object in the language
    of DESIGN.md §5, as a JSON value or a string holding JSON; a bad one is a 400 saying why."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(expected=dict, **kwargs)

    def to_internal_value(self, data: Any) -> dict:
        value = super().to_internal_value(data)
        try:
            return validate_filter(value)
        except FilterError as exc:
            raise serializers.ValidationError(str(exc.detail)) from None
