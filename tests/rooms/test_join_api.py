"""Join by id, quick-join (find), join/multi and player status, through the real API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bans.models import Ban
from rooms.models import Room, Slot, hash_secret
from tests.geoip import FRANKFURT
from tests.rooms.factories import add_slots, make_room, room_body, room_record

pytestmark = pytest.mark.django_db
QUICK = "/join/demo/1.0/default"
MULTI = "/join/multi/demo/1.0/default"
FRANKFURT_IP = FRANKFURT.replace("0/24", "10")


def joined(room, players, slot):
    return {**room_body(room, players), "slot": str(slot.pk), "key": slot.key}


record = room_record


def the_slot(response, account="alice"):
    """The slot row the answer's key opens (its key attached for comparisons)."""
    data = response.json()
    key = data["key"] if "key" in data else data["slots"][account]["key"]
    slot = Slot.objects.get(key_hash=hash_secret(key))
    slot.key = key
    return slot


def ban(account, reason="cheating", ip=None):
    return Ban.objects.create(account=account, reason=reason, expires_at=timezone.now() + timedelta(days=1), ip=ip)


def assert_banned(response, the_ban):
    until = the_ban.expires_at.strftime("%Y-%m-%d %H:%M:%S")
    assert response.status_code == 423
    assert response.json() == {
        "code": "banned",
        "detail": f"This account is banned until {until} UTC: {the_ban.reason}.",
    }
    assert (response["X-Ban-Until"], response["X-Ban-Id"], response["X-Ban-Reason"]) == (
        until,
        str(the_ban.pk),
        the_ban.reason,
    )


# --- join by id ---


@pytest.mark.parametrize("prefix", ["rooms", "room"])
def test_join_by_id_reserves_a_slot(api, configuration, version, region, prefix):
    room = make_room(configuration, version, region, settings={"mode": "ctf"})
    add_slots(room, 2)

    response = api.as_("alice", ["game"]).post(f"/{prefix}/demo/{room.pk}/join")

    assert response.status_code == 200
    slot = the_slot(response)
    assert response.json() == joined(room, 3, slot)
    assert (slot.room_id, slot.account, slot.state) == (room.pk, "alice", Slot.RESERVED)
    expected_expiry = timezone.now() + timedelta(seconds=configuration.reservation_ttl)
    assert abs((slot.expires_at - expected_expiry).total_seconds()) < 5


@pytest.mark.parametrize(
    ("path", "code", "detail"),
    [
        ("/rooms/nope/1/join", "unknown_game", "No game named 'nope'."),
        ("/rooms/demo/999999/join", "unknown_room", "Game 'demo' has no room '999999'."),
        ("/rooms/demo/abc/join", "unknown_room", "Game 'demo' has no room 'abc'."),
        (
            "/rooms/demo/99999999999999999999999/join",
            "unknown_room",
            "Game 'demo' has no room '99999999999999999999999'.",
        ),
        ("/rooms/demo/%C2%B2/join", "unknown_room", "Game 'demo' has no room '\u00b2'."),
        # A NUL in the URL was a 500 on PostgreSQL, which cannot hold one.
        ("/rooms/%00/1/join", "unknown_game", "No game named '\x00'."),
    ],
)
def test_join_by_id_unknown_room_is_404(api, configuration, version, region, path, code, detail):
    response = api.as_("alice", ["game"]).post(path)

    assert response.status_code == 404
    assert response.json() == {"code": code, "detail": detail}


def test_join_by_id_of_another_game_is_404(api, game, configuration, version, region):
    room = make_room(configuration, version, region)
    game.__class__.objects.create(name="other")

    response = api.as_("alice", ["game"]).post(f"/rooms/other/{room.pk}/join")

    assert response.status_code == 404
    assert response.json() == {"code": "unknown_room", "detail": f"Game 'other' has no room '{room.pk}'."}


def test_join_by_id_of_a_starting_room_is_404(api, configuration, version, region):
    room = make_room(configuration, version, region, state=Room.SPAWNING)

    response = api.as_("alice", ["game"]).post(f"/rooms/demo/{room.pk}/join")

    assert response.status_code == 404
    assert response.json() == {"code": "room_not_running", "detail": f"Room '{room.pk}' is still starting."}


def test_join_by_id_of_a_full_room_is_404(api, configuration, version, region):
    room = make_room(configuration, version, region, max_players=2)
    add_slots(room, 2)

    response = api.as_("alice", ["game"]).post(f"/rooms/demo/{room.pk}/join")

    assert response.status_code == 404
    assert response.json() == {"code": "room_full", "detail": f"Room '{room.pk}' is full (2 players)."}


def test_join_by_id_takes_the_place_of_an_expired_reservation(api, configuration, version, region):
    room = make_room(configuration, version, region, max_players=2)
    add_slots(room, 1, account="bob")
    add_slots(room, 1, account="late", state=Slot.RESERVED, expires_in=-1)

    response = api.as_("alice", ["game"]).post(f"/rooms/demo/{room.pk}/join")

    assert response.status_code == 200
    assert response.json() == joined(room, 2, the_slot(response))
    assert sorted(room.slots.values_list("account", flat=True)) == ["alice", "bob"]


def test_join_by_id_banned_is_423(api, configuration, version, region):
    room = make_room(configuration, version, region)
    the_ban = ban("alice")

    response = api.as_("alice", ["game"]).post(f"/rooms/demo/{room.pk}/join")

    assert_banned(response, the_ban)
    assert room.slots.count() == 0


def test_join_by_id_needs_scope_game(api, configuration, version, region):
    room = make_room(configuration, version, region)

    response = api.as_("alice", ["party"]).post(f"/rooms/demo/{room.pk}/join")

    assert response.status_code == 403
    assert response.json() == {"code": "missing_scope", "detail": "This request needs the scope 'game'."}


# --- quick-join (finding) ---


def test_quick_join_takes_the_fullest_matching_room(api, configuration, version, region):
    make_room(configuration, version, region, settings={"mode": "ctf"})
    fuller = make_room(configuration, version, region, settings={"mode": "ctf"})
    add_slots(fuller, 3)
    other = make_room(configuration, version, region, settings={"mode": "dm"})
    add_slots(other, 5)

    response = api.as_("alice", ["game"]).post(QUICK, {"settings": {"mode": "ctf"}}, format="json")

    assert response.status_code == 200
    assert response.json() == joined(fuller, 4, the_slot(response))


def test_quick_join_skips_full_rooms(api, configuration, version, region):
    full = make_room(configuration, version, region, max_players=2)
    add_slots(full, 2)
    free = make_room(configuration, version, region, max_players=2)

    response = api.as_("alice", ["game"]).post(QUICK, {"auto_create": "false"})

    assert response.status_code == 200
    assert response.json() == joined(free, 1, the_slot(response))


def test_quick_join_prefers_my_region(api, geoip, configuration, version, region, eu):
    local = make_room(configuration, version, region)
    add_slots(local, 5)
    mine = make_room(configuration, version, eu)

    response = api.as_("alice", ["game"]).from_ip(FRANKFURT_IP).post(QUICK)

    assert response.json() == joined(mine, 1, the_slot(response))


def test_quick_join_falls_back_to_other_regions(api, geoip, configuration, version, region, eu):
    local = make_room(configuration, version, region)

    response = api.as_("alice", ["game"]).from_ip(FRANKFURT_IP).post(QUICK, {"auto_create": "0"})

    assert response.json() == joined(local, 1, the_slot(response))


def test_quick_join_my_region_only_finds_nothing_elsewhere(api, geoip, configuration, version, region, eu):
    make_room(configuration, version, region)

    response = api.as_("alice", ["game"]).from_ip(FRANKFURT_IP).post(QUICK, {"auto_create": "0", "my_region_only": "1"})

    assert response.status_code == 404
    assert response.json() == {"code": "no_room", "detail": "No running room matches with enough free places."}


def test_quick_join_in_a_region(api, configuration, version, region, eu):
    make_room(configuration, version, region)
    there = make_room(configuration, version, eu)

    response = api.as_("alice", ["game"]).post(QUICK, {"region": "eu", "auto_create": False}, format="json")

    assert response.json() == joined(there, 1, the_slot(response))


def test_quick_join_without_auto_create_is_404_when_nothing_fits(api, configuration, version, region):
    make_room(configuration, version, region, settings={"mode": "dm"})
    make_room(configuration, version, region, state=Room.SPAWNING, settings={"mode": "ctf"})

    response = api.as_("alice", ["game"]).post(QUICK, {"settings": '{"mode": "ctf"}', "auto_create": "false"})

    assert response.status_code == 404
    assert response.json() == {"code": "no_room", "detail": "No running room matches with enough free places."}
    assert Slot.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "status", "body"),
    [
        (
            {"auto_create": "perhaps"},
            400,
            {
                "code": "bad_arguments",
                "detail": "Some arguments are missing or wrong.",
                "fields": {"auto_create": ["Must be true, false, 1 or 0."]},
            },
        ),
        (
            {"create_settings": "[]"},
            400,
            {
                "code": "bad_arguments",
                "detail": "Some arguments are missing or wrong.",
                "fields": {"create_settings": ["Must be a JSON object."]},
            },
        ),
        (
            {"settings": '{"a": {"@func": ">", "@value": null}}'},
            400,
            {
                "code": "bad_arguments",
                "detail": "Some arguments are missing or wrong.",
                "fields": {"settings": ["Filter 'a': '@value' must be a number or a string."]},
            },
        ),
        (
            {"region": "mars"},
            400,
            {"code": "unknown_region", "detail": "No region named 'mars'."},
        ),
        (
            {"region": "local", "my_region_only": "true"},
            400,
            {"code": "region_conflict", "detail": "Give either 'region' or 'my_region_only', not both."},
        ),
    ],
)
def test_quick_join_bad_arguments(api, configuration, version, region, args, status, body):
    response = api.as_("alice", ["game"]).post(QUICK, args)

    assert response.status_code == status
    assert response.json() == body


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/join/nope/1.0/default", "unknown_game"),
        ("/join/demo/9.9/default", "unknown_version"),
        ("/join/demo/1.0/nope", "unknown_configuration"),
        ("/join/demo/1.0/no%00pe", "unknown_configuration"),
    ],
)
def test_quick_join_unknown_game_is_404(api, configuration, version, region, url, code):
    response = api.as_("alice", ["game"]).post(url)

    assert response.status_code == 404
    assert response.json()["code"] == code


def test_quick_join_banned_is_423(api, configuration, version, region):
    make_room(configuration, version, region)
    the_ban = ban("alice")

    response = api.as_("alice", ["game"]).post(QUICK)

    assert_banned(response, the_ban)
    assert Slot.objects.count() == 0


def test_quick_join_from_a_banned_ip_is_423(api, configuration, version, region):
    make_room(configuration, version, region)
    the_ban = ban("mallory", ip="10.9.9.9")

    response = api.as_("alice", ["game"]).from_ip("10.9.9.9").post(QUICK)

    assert_banned(response, the_ban)


# --- join/multi ---


def test_multi_join_puts_every_account_in_one_room(api, configuration, version, region):
    make_room(configuration, version, region, max_players=4)  # one place short
    room = make_room(configuration, version, region, max_players=5)
    add_slots(room, 1, account="x")
    room_small = Room.objects.exclude(pk=room.pk).get()
    add_slots(room_small, 1, account="y")

    response = api.as_("server", ["game", "game_multi"]).post(
        MULTI, {"accounts": [1, "b", {"account": "c", "ip": "10.0.0.3"}, {"account": "d"}]}, format="json"
    )

    assert response.status_code == 200
    data = response.json()
    slots = {account: Slot.objects.get(key_hash=hash_secret(grant["key"])) for account, grant in data["slots"].items()}
    assert data == {
        "id": str(room.pk),
        "settings": room.settings,
        "slots": {
            account: {"slot": str(slot.pk), "key": data["slots"][account]["key"]} for account, slot in slots.items()
        },
        "location": {"host": room.host.address, "ports": room.ports},
    }
    assert sorted(slots) == ["1", "b", "c", "d"]
    assert {slot.room_id for slot in slots.values()} == {room.pk}


def test_multi_join_all_or_nothing(api, configuration, version, region):
    room = make_room(configuration, version, region, max_players=3)
    add_slots(room, 1)

    response = api.as_("server", ["game", "game_multi"]).post(
        MULTI, {"accounts": '["a", "b", "c"]', "auto_create": "false"}
    )

    assert response.status_code == 404
    assert response.json() == {"code": "no_room", "detail": "No running room matches with enough free places."}
    assert room.slots.count() == 1


def test_multi_join_leaves_banned_accounts_out(api, configuration, version, region):
    room = make_room(configuration, version, region)
    the_ban = ban("b", reason="spam")

    response = api.as_("server", ["game", "game_multi"]).post(MULTI, {"accounts": ["a", "b"]}, format="json")

    assert response.status_code == 200
    data = response.json()
    assert list(data["slots"]) == ["a"]
    assert data["banned"] == {
        "b": {"id": str(the_ban.pk), "until": the_ban.expires_at.strftime("%Y-%m-%d %H:%M:%S"), "reason": "spam"}
    }
    assert list(room.slots.values_list("account", flat=True)) == ["a"]


def test_multi_join_bans_by_the_items_ip(api, configuration, version, region):
    make_room(configuration, version, region)
    ban("mallory", ip="10.6.6.6")

    response = api.as_("server", ["game", "game_multi"]).post(
        MULTI, {"accounts": ["a", {"account": "b", "ip": "10.6.6.6"}]}, format="json"
    )

    assert response.status_code == 200
    assert list(response.json()["slots"]) == ["a"]
    assert list(response.json()["banned"]) == ["b"]


def test_multi_join_everyone_banned_is_423_for_the_first(api, configuration, version, region):
    make_room(configuration, version, region)
    ban("b")
    first = ban("a", reason="first")

    response = api.as_("server", ["game", "game_multi"]).post(MULTI, {"accounts": ["a", "b"]}, format="json")

    assert_banned(response, first)
    assert Slot.objects.count() == 0


@pytest.mark.parametrize(
    ("accounts", "error"),
    [
        ([], "Give at least one account."),
        (["a", "a"], "An account is listed twice."),
        (["a", {"account": "a", "ip": "10.0.0.1"}], "An account is listed twice."),
        ([{"ip": "10.0.0.1"}], 'An item must be an account id or {"account": ..., "ip": ...}.'),
        ([{"account": "a", "ip": "nope"}], "'nope' is not an IP address."),
        ([True], "An account id must be a string or an integer."),
        ([f"p{n}" for n in range(101)], "Give at most 100 accounts."),
        ("a", "Not valid JSON: Expecting value: line 1 column 1 (char 0)."),
    ],
)
def test_multi_join_bad_accounts_are_400(api, configuration, version, region, accounts, error):
    response = api.as_("server", ["game", "game_multi"]).post(MULTI, {"accounts": accounts}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_arguments",
        "detail": "Some arguments are missing or wrong.",
        "fields": {"accounts": [error]},
    }


def test_multi_join_needs_accounts(api, configuration, version, region):
    response = api.as_("server", ["game", "game_multi"]).post(MULTI)

    assert response.status_code == 400
    assert response.json()["fields"] == {"accounts": ["This field is required."]}


def test_multi_join_needs_scope_game_multi(api, configuration, version, region):
    response = api.as_("server", ["game"]).post(MULTI, {"accounts": ["a"]}, format="json")

    assert response.status_code == 403
    assert response.json() == {"code": "missing_scope", "detail": "This request needs the scope 'game_multi'."}


def test_multi_join_unknown_game_is_404(api, configuration, version, region):
    response = api.as_("server", ["game", "game_multi"]).post(
        "/join/multi/demo/9.9/default", {"accounts": ["a"]}, format="json"
    )

    assert response.status_code == 404
    assert response.json() == {"code": "unknown_version", "detail": "Game 'demo' has no version '9.9'."}


# --- player status ---


def test_player_shows_rooms_joined_or_on_the_way_in(api, configuration, version, region):
    lobby = make_room(configuration, version, region, settings={"lobby": True})
    add_slots(lobby, 1, account="alice")
    match = make_room(configuration, version, region)
    add_slots(match, 1, account="alice", state=Slot.RESERVED)
    add_slots(match, 2)
    expired = make_room(configuration, version, region)
    add_slots(expired, 1, account="alice", state=Slot.RESERVED, expires_in=-1)
    starting = make_room(configuration, version, region, state=Room.SPAWNING)
    add_slots(starting, 1, account="alice", state=Slot.RESERVED)

    response = api.as_("bob", ["game"]).get("/player/alice")

    assert response.status_code == 200
    assert response.json() == {"records": [record(lobby, 1), record(match, 3)]}


def test_player_not_playing_has_no_records(api, configuration, version, region):
    response = api.as_("bob", ["game"]).get("/player/nobody")

    assert response.status_code == 200
    assert response.json() == {"records": []}


def test_player_bad_account_is_400(api, db):
    response = api.as_("bob", ["game"]).get("/player/" + "x" * 65)

    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_arguments",
        "detail": "Some arguments are missing or wrong.",
        "fields": {"account_id": ["An account id must be 1 to 64 characters without surrounding spaces."]},
    }


def test_player_account_with_a_nul_is_400(api, db):
    # Was a 500 on PostgreSQL, which cannot hold a NUL.
    response = api.as_("bob", ["game"]).get("/player/a%00")

    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_arguments",
        "detail": "Some arguments are missing or wrong.",
        "fields": {"account_id": ["An account id may not contain NUL characters or unpaired surrogates."]},
    }


def test_player_leaves_the_records_when_its_slot_goes(api, configuration, version, region):
    room = make_room(configuration, version, region)
    joined_response = api.as_("alice", ["game"]).post(f"/rooms/demo/{room.pk}/join")
    assert api.as_("bob", ["game"]).get("/player/alice").json() == {"records": [record(room, 1)]}

    the_slot(joined_response).delete()  # what the game server's `left` does

    assert api.as_("bob", ["game"]).get("/player/alice").json() == {"records": []}


def test_players_answers_every_account(api, configuration, version, region, django_assert_max_num_queries):
    room = make_room(configuration, version, region)
    add_slots(room, 1, account="1")
    other = make_room(configuration, version, region)
    add_slots(other, 1, account="1")
    add_slots(other, 1, account="444")
    client = api.as_("bob", ["game"])

    with django_assert_max_num_queries(2):
        response = client.get("/players", {"accounts": '[1, "444", 888]'})

    assert response.status_code == 200
    assert response.json() == {
        "records": {"1": [record(room, 1), record(other, 2)], "444": [record(other, 2)], "888": []}
    }


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({}, "This field is required."),
        ({"accounts": "[]"}, "Give at least one account."),
        ({"accounts": '{"a": 1}'}, "Must be a JSON list."),
        ({"accounts": str([f"p{n}" for n in range(101)]).replace("'", '"')}, "Give at most 100 accounts."),
        ({"accounts": '[{"account": "a"}]'}, "An account id must be a string or an integer."),
        # An account no database can hold was a 500 (PostgreSQL: both; SQLite: the surrogate).
        ({"accounts": '["\\ud800"]'}, "Strings may not contain NUL characters or unpaired surrogates."),
        ({"accounts": '["a\\u0000"]'}, "Strings may not contain NUL characters or unpaired surrogates."),
    ],
)
def test_players_bad_accounts_are_400(api, db, query, error):
    response = api.as_("bob", ["game"]).get("/players", query)

    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_arguments",
        "detail": "Some arguments are missing or wrong.",
        "fields": {"accounts": [error]},
    }


def test_players_limit_is_players_max_accounts(api, db, settings):
    settings.PLAYERS_MAX_ACCOUNTS = 2

    response = api.as_("bob", ["game"]).get("/players", {"accounts": "[1, 2, 3]"})

    assert response.status_code == 400
    assert response.json()["fields"] == {"accounts": ["Give at most 2 accounts."]}
