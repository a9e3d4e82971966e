"""The settings filter language (DESIGN.md §5): one table of cases, run on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from rooms.filters import FilterError, settings_filter_q, validate_filter
from rooms.models import Room
from tests.rooms.factories import make_room

pytestmark = pytest.mark.django_db

SETTINGS = {
    "r1": {"mode": "ctf", "size": 5, "ranked": True, "map": {"name": "dust", "size": 3}, "tags": ["a", "b"], "n": None},
    "r2": {"mode": "dm", "size": 5.0, "ranked": False, "map": {"name": "Dust"}, "level": 10},
    "r3": {"mode": "ctf", "size": 12, "ranked": 1, "map": "dust", "level": 2.5, "0": "zero"},
    "r4": {"mode": "Ctf", "size": "5", "list": [5], "unicode": "é"},
    "r5": {},
    "r6": {"mode": "a", "size": -3, "unicode": "z", "big": 9007199254740993},
}


def f(func, **args):
    return {"@func": func, **{f"@{name}": value for name, value in args.items()}}


CASES = [
    # plain values: equal, typed; numbers as numbers
    ({"mode": "ctf"}, {"r1", "r3"}),
    ({"size": 5}, {"r1", "r2"}),
    ({"size": 5.0}, {"r1", "r2"}),
    ({"size": "5"}, {"r4"}),
    ({"ranked": True}, {"r1"}),
    ({"ranked": 1}, {"r3"}),
    ({"ranked": False}, {"r2"}),
    ({"n": None}, {"r1"}),
    ({"big": 9007199254740993}, {"r6"}),
    ({"big": 9007199254740992}, set()),
    # paths walk object keys only, never array indexes
    ({"map.name": "dust"}, {"r1"}),
    ({"map.size": 3}, {"r1"}),
    ({"map": "dust"}, {"r3"}),
    ({"0": "zero"}, {"r3"}),
    ({"tags.0": "a"}, set()),
    ({"list": 5}, set()),
    ({"missing.deeper": 1}, set()),
    # lists: any of
    ({"mode": ["ctf", "dm"]}, {"r1", "r2", "r3"}),
    ({"size": [12, "5"]}, {"r3", "r4"}),
    ({"mode": []}, set()),
    # all keys must match
    ({"mode": "ctf", "size": 12}, {"r3"}),
    ({"mode": "ctf", "size": 13}, set()),
    # operators
    ({"size": f("=", value=5)}, {"r1", "r2"}),
    ({"size": f("!=", value=5)}, {"r3", "r4", "r6"}),
    ({"ranked": f("!=", value=True)}, {"r2", "r3"}),
    ({"n": f("!=", value=None)}, set()),
    ({"size": f(">", value=5)}, {"r3"}),
    ({"size": f(">=", value=5)}, {"r1", "r2", "r3"}),
    ({"size": f("<", value=5)}, {"r6"}),
    ({"size": f("<=", value=5)}, {"r1", "r2", "r6"}),
    ({"size": f(">", value="4")}, {"r4"}),
    ({"level": f("between", a=2.5, b=10)}, {"r2", "r3"}),
    ({"level": f("between", a=3, b=9)}, set()),
    # strings order by code point on both databases ("C" < "Z" < "a" < "z" < "é")
    ({"mode": f("between", a="a", b="ct")}, {"r6"}),
    ({"mode": f(">", value="Z")}, {"r1", "r2", "r3", "r6"}),
    ({"unicode": f(">", value="z")}, {"r4"}),
    ({"mode": f("<", value="a")}, {"r4"}),
    ({"mode": f("in", values=["dm", "Ctf"])}, {"r2", "r4"}),
    ({"mode": f("in", values=[])}, set()),
    ({"level": f("exists")}, {"r2", "r3"}),
    ({"n": f("exists")}, {"r1"}),
    ({"level": f("not_exists")}, {"r1", "r4", "r5", "r6"}),
    ({"map.name": f("not_exists")}, {"r3", "r4", "r5", "r6"}),
    ({}, {"r1", "r2", "r3", "r4", "r5", "r6"}),
]


@pytest.fixture
def rooms(configuration, version, region):
    return {
        make_room(configuration, version, region, settings=settings).pk: name for name, settings in SETTINGS.items()
    }


@pytest.mark.parametrize(("filters", "expected"), CASES, ids=[str(case[0]) for case in CASES])
def test_filter_matches_the_same_rooms_on_every_database(rooms, filters, expected):
    matched = Room.objects.filter(settings_filter_q(filters)).values_list("pk", flat=True)

    assert {rooms[pk] for pk in matched} == expected


def test_filter_negated_is_the_complement(rooms):
    matched = Room.objects.exclude(settings_filter_q({"size": f(">", value=5)})).values_list("pk", flat=True)

    assert {rooms[pk] for pk in matched} == {"r1", "r2", "r4", "r5", "r6"}


BAD = [
    ([], "A filter must be a JSON object of {path: condition}."),
    ("mode", "A filter must be a JSON object of {path: condition}."),
    ({"": 1}, "A filter key must be a non-empty path like 'mode' or 'map.size'."),
    ({"a..b": 1}, "Filter key 'a..b' has an empty part: write nested keys as 'a.b'."),
    ({'a"b': 1}, "Filter key 'a\"b' may not contain quotes, backslashes or NUL characters."),
    (
        {"a": {"b": 1}},
        "Filter 'a': an object condition needs '@func' (one of =, !=, >, >=, <, <=, between, in, exists, "
        "not_exists); to match inside an object use a dotted key like 'a.b'.",
    ),
    (
        {"a": {"@func": "like", "@value": 1}},
        "Filter 'a': unknown @func \"like\"; use one of =, !=, >, >=, <, <=, between, in, exists, not_exists.",
    ),
    ({"a": {"@func": ">", "@value": True}}, "Filter 'a': '@value' must be a number or a string."),
    ({"a": {"@func": ">"}}, "Filter 'a': @func '>' takes @value; missing @value."),
    ({"a": {"@func": "between", "@a": 1}}, "Filter 'a': @func 'between' takes @a, @b; missing @b."),
    (
        {"a": {"@func": "between", "@a": 1, "@b": "x"}},
        "Filter 'a': '@a' and '@b' must both be numbers or both be strings.",
    ),
    ({"a": {"@func": "=", "@value": 1, "@b": 2}}, "Filter 'a': @func '=' takes @value; unexpected @b."),
    ({"a": {"@func": "exists", "@value": 1}}, "Filter 'a': @func 'exists' takes no arguments; unexpected @value."),
    ({"a": {"@func": "in", "@values": "x"}}, "Filter 'a': '@values' must be a list."),
    (
        {"a": [[1]]},
        "Filter 'a': expected a string, number, boolean, null, a list of them, or an object with '@func'; "
        "to match inside an object use a dotted key like 'a.b'.",
    ),
    ({"a": float("inf")}, "Filter 'a': numbers must be finite."),
    ({"a": 2**70}, f"Filter 'a': the number {2**70} is out of range."),
    ({"a": "x\x00"}, "Filter 'a': strings may not contain NUL characters."),
    ({f"k{n}": n for n in range(33)}, "A filter may hold at most 32 conditions."),
    ({"a": list(range(101))}, "Filter 'a': a list may hold at most 100 values."),
]


@pytest.mark.parametrize(("filters", "detail"), BAD, ids=[detail[:40] for _, detail in BAD])
def test_malformed_filter_says_what_is_wrong(filters, detail):
    with pytest.raises(FilterError) as raised:
        validate_filter(filters)

    assert raised.value.status_code == 400
    assert raised.value.code == "bad_filter"
    assert str(raised.value.detail) == detail
