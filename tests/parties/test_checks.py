from __future__ import annotations

import pytest

from parties.checks import CheckError, check_failure, validate_check

CLAN_X_AT_MOST_TWO = {
    "members": {
        "@func": "<",
        "@cond": 2,
        "@value": {"@func": "num_child_where", "@test": "==", "@field": "clan", "@cond": "X"},
    }
}


def members(*profiles: dict, role: int = 0) -> dict:
    return {"members": [{"account": str(i), "role": role, "profile": p} for i, p in enumerate(profiles)]}


def test_the_spec_example_passes_with_one_member_of_the_clan():
    assert check_failure(CLAN_X_AT_MOST_TWO, members({"clan": "X"}, {"clan": "Y"})) is None


def test_the_spec_example_fails_with_two_members_of_the_clan_and_says_why():
    failure = check_failure(CLAN_X_AT_MOST_TWO, members({"clan": "X"}, {"clan": "X"}))

    assert failure == "the count of members where clan == 'X' is 2, not < 2."


def test_a_field_path_in_the_member_is_used_before_the_profile():
    check = {
        "members": {
            "@func": ">=",
            "@cond": 1,
            "@value": {"@func": "num_child_where", "@test": ">=", "@field": "role", "@cond": 1000},
        }
    }

    assert check_failure(check, members({"role": 1000})) == "the count of members where role >= 1000 is 0, not >= 1."
    assert check_failure(check, members({}, role=1000)) is None


def test_num_child_where_with_exists_and_dotted_paths():
    check = {
        "members": {
            "@func": "==",
            "@cond": 0,
            "@value": {"@func": "num_child_where", "@test": "exists", "@field": "profile.banned"},
        }
    }

    assert check_failure(check, members({}, {})) is None
    assert check_failure(check, members({"banned": False})) is not None


def test_numbers_compare_as_numbers_and_strings_exactly():
    check = {
        "members": {
            "@func": "==",
            "@cond": 2,
            "@value": {"@func": "num_child_where", "@test": ">", "@field": "level", "@cond": 4.5},
        }
    }

    assert check_failure(check, members({"level": 5}, {"level": 10.0}, {"level": "9"}, {"level": True})) is None


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ([], "A check must be a non-empty JSON object of paths to tests."),
        ({}, "A check must be a non-empty JSON object of paths to tests."),
        (
            {"members": {"@func": "like", "@cond": 1}},
            "members: unknown @func 'like'; use one of ==, !=, >, >=, <, <=, exists, not_exists.",
        ),
        ({"members": {"@func": "<"}}, "members: '<' needs @cond."),
        (
            {"members": {"@func": "<", "@cond": 1, "@value": 3}},
            "members: @value must be {'@func': 'num_child_where', ...}.",
        ),
        (
            {"members": {"@func": "<", "@cond": 1, "@value": {"@func": "num_child_where", "@field": "a"}}},
            "members: num_child_where needs @test, one of ==, !=, >, >=, <, <=, exists, not_exists.",
        ),
        ({"members": {"@func": "exists", "@cond": 1}}, "members: unexpected @cond."),
    ],
)
def test_malformed_checks_say_what_is_wrong(check, message):
    with pytest.raises(CheckError) as raised:
        validate_check(check)

    assert str(raised.value) == message
