"""Bans enforced where players enter (DESIGN.md §8), through the real API against running rooms:
join by id, quick-join and join/multi. Room creation (/create/...) is tested on its own branch."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from bans.models import Ban
from rooms.models import Room, Slot, hash_secret
from tests.bans.conftest import Clock
from tests.conftest import Api
from tests.rooms import conftest as rooms_conftest
from tests.rooms.factories import add_slots, make_room

pytestmark = pytest.mark.django_db

QUICK = "/join/demo/1.0/default"
MULTI = "/join/multi/demo/1.0/default"
UNTIL = "2030-01-02 12:00:00"  # a day after the test clock's start
CHEATER_IP = "203.0.113.7"
OTHER_IP = "198.51.100.9"
JOINS = ["join_by_id", "quick_join", "multi"]
SINGLE_JOINS = ["join_by_id", "quick_join"]

# The matchmaking tests' stand-in for room creation (a room running at once), used by name.
instant_room_create = rooms_conftest.instant_room_create


@pytest.fixture
def moderator(api: Api) -> Api:
    return api.as_("moderator", ["game_ban"])


@pytest.fixture
def room(configuration, version, region) -> Room:
    """A running room with one player in it and places to spare."""
    room = make_room(configuration, version, region, max_players=8)
    add_slots(room, 1, account="regular")
    return room


def issue(moderator: Api, account: str = "cheater", reason: str = "aimbot", expires: str = UNTIL) -> str:
    response = moderator.post("/ban/issue", {"account": account, "reason": reason, "expires": expires}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["id"]


def attempt(how: str, room: Room, account: str, ip: str | None = CHEATER_IP) -> Any:
    """One join of `account` from `ip`; for multi the lobby asks for it and gives the IP in the item."""
    if how == "multi":
        item: Any = {"account": account, "ip": ip} if ip else account
        lobby = Api().as_("lobby", ["game", "game_multi"]).from_ip(OTHER_IP)
        return lobby.post(MULTI, {"accounts": [item], "auto_create": False}, format="json")
    player = Api().as_(account, ["game"]).from_ip(ip or OTHER_IP)
    if how == "join_by_id":
        return player.post(f"/rooms/demo/{room.pk}/join")
    return player.post(QUICK, {"auto_create": False}, format="json")


def assert_refused(response: Any, ban_id: str, reason: str = "aimbot", until: str = UNTIL) -> None:
    assert response.status_code == 423, response.content
    assert response.json() == {"code": "banned", "detail": f"This account is banned until {until} UTC: {reason}."}
    headers = {name: response.get(name) for name in ("X-Ban-Until", "X-Ban-Id", "X-Ban-Reason")}
    assert headers == {"X-Ban-Until": until, "X-Ban-Id": ban_id, "X-Ban-Reason": reason}


def slot_of(key: str) -> Slot:
    return Slot.objects.get(key_hash=hash_secret(key))


def assert_let_in(response: Any, room: Room, account: str) -> None:
    """200 with the whole answer of the endpoint, and the slot it names is the account's, in `room`."""
    assert response.status_code == 200, response.content
    data = response.json()
    key = data["slots"][account]["key"] if "slots" in data else data["key"]
    slot = slot_of(key)
    assert (slot.account, slot.room_id, slot.state) == (account, room.pk, Slot.RESERVED)
    location = {"host": room.host.address, "ports": room.ports}
    if "slots" in data:
        assert data == {
            "id": str(room.pk),
            "settings": room.settings,
            "slots": {account: {"slot": str(slot.pk), "key": key}},
            "location": location,
        }
        return
    assert data == {
        "id": str(room.pk),
        "settings": room.settings,
        "players": room.slots.count(),
        "max_players": room.max_players,
        "game_name": "demo",
        "game_version": "1.0",
        "location": location,
        "slot": str(slot.pk),
        "key": key,
    }


def accounts_in(room: Room) -> list[str]:
    return sorted(room.slots.values_list("account", flat=True))


# --- a banned account is refused, and no slot is made ---


@pytest.mark.parametrize("how", JOINS)
def test_banned_account_is_refused_with_423_and_gets_no_slot(clock, moderator, room, how):
    ban_id = issue(moderator)

    response = attempt(how, room, "cheater")

    assert_refused(response, ban_id)
    assert accounts_in(room) == ["regular"]
    assert Slot.objects.count() == 1


def test_multi_refuses_a_banned_account_given_without_an_ip(clock, moderator, room):
    ban_id = issue(moderator)

    assert_refused(attempt("multi", room, "cheater", ip=None), ban_id)

    assert Slot.objects.count() == 1
    assert Ban.objects.get().ip is None  # nothing to attach


def test_a_banned_quick_joiner_never_gets_a_room_created(
    clock, moderator, configuration, version, region, instant_room_create
):
    ban_id = issue(moderator)

    response = Api().as_("cheater", ["game"]).post(QUICK)  # auto_create defaults to true, and no room runs

    assert_refused(response, ban_id)
    assert instant_room_create == []
    assert (Room.objects.count(), Slot.objects.count()) == (0, 0)


# --- the first refusal attaches the caller's IP; then that IP is banned for every account ---


@pytest.mark.parametrize("first", JOINS)
@pytest.mark.parametrize("second", SINGLE_JOINS)
def test_the_first_refusal_attaches_the_ip_and_then_refuses_other_accounts_from_it(
    clock, moderator, room, first, second
):
    ban_id = issue(moderator)
    assert moderator.get(f"/ban/{ban_id}").json()["ip"] is None

    assert_refused(attempt(first, room, "cheater", ip=CHEATER_IP), ban_id)

    assert moderator.get(f"/ban/{ban_id}").json() == {
        "id": ban_id,
        "reason": "aimbot",
        "expires": UNTIL,
        "account": "cheater",
        "ip": CHEATER_IP,
    }
    assert_refused(attempt(second, room, "friend", ip=CHEATER_IP), ban_id)
    assert_let_in(attempt(second, room, "stranger", ip=OTHER_IP), room, "stranger")
    assert accounts_in(room) == ["regular", "stranger"]
    assert Ban.objects.get().ip == CHEATER_IP  # the friend's refusal changed nothing


def test_a_refused_multi_item_from_the_banned_ip_names_the_original_ban(clock, moderator, room):
    ban_id = issue(moderator, reason="wallhack")
    assert_refused(attempt("join_by_id", room, "cheater"), ban_id, reason="wallhack")
    lobby = Api().as_("lobby", ["game", "game_multi"])

    response = lobby.post(
        MULTI, {"accounts": [{"account": "friend", "ip": CHEATER_IP}, "clean"], "auto_create": False}, format="json"
    )

    assert response.status_code == 200
    data = response.json()
    clean = slot_of(data["slots"]["clean"]["key"])
    assert data == {
        "id": str(room.pk),
        "settings": room.settings,
        "slots": {"clean": {"slot": str(clean.pk), "key": data["slots"]["clean"]["key"]}},
        "location": {"host": room.host.address, "ports": room.ports},
        "banned": {"friend": {"id": ban_id, "until": UNTIL, "reason": "wallhack"}},
    }
    assert accounts_in(room) == ["clean", "regular"]


def test_the_ip_of_a_banned_account_that_was_never_refused_bans_nobody(clock, moderator, room):
    issue(moderator)

    assert_let_in(attempt("join_by_id", room, "friend", ip=CHEATER_IP), room, "friend")


def test_multi_ignores_the_callers_own_ip(clock, moderator, room):
    """The lobby calling join/multi is not a player: only the items' IPs count."""
    ban_id = issue(moderator)
    assert_refused(attempt("join_by_id", room, "cheater"), ban_id)
    lobby = Api().as_("lobby", ["game", "game_multi"]).from_ip(CHEATER_IP)

    response = lobby.post(MULTI, {"accounts": ["clean"], "auto_create": False}, format="json")

    assert_let_in(response, room, "clean")


@pytest.mark.parametrize(
    ("refused_from", "then_from"),
    [
        ("2001:db8::7", "2001:0db8:0:0::0007"),
        # A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d: the same client either way.
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("203.0.113.7", "::ffff:203.0.113.7"),
        ("::ffff:203.0.113.7", "::ffff:203.0.113.7"),
        # PostgreSQL writes this deprecated IPv4-compatible form back differently from Python.
        ("::203.0.113.7", "::cb00:7107"),
        # The zone of a link-local address names the server's interface, not the client.
        ("fe80::7%eth0", "fe80::7"),
        ("fe80::7%eth0", "fe80::7%eth0"),
    ],
)
@pytest.mark.parametrize("how", JOINS)
def test_every_spelling_of_the_attached_ip_is_refused(clock, moderator, room, refused_from, then_from, how):
    ban_id = issue(moderator)
    assert_refused(attempt("join_by_id", room, "cheater", ip=refused_from), ban_id)

    response = attempt(how, room, "friend", ip=then_from)

    if how == "multi":
        assert response.status_code == 423  # every account of the request is banned
    assert_refused(response, ban_id)
    assert accounts_in(room) == ["regular"]


# --- lifting, shortening and expiry end the ban for the account and its IP at once ---


def refused_with_ip(room: Room, ban_id: str) -> None:
    assert_refused(attempt("join_by_id", room, "cheater"), ban_id)
    assert Ban.objects.get(pk=ban_id).ip == CHEATER_IP


@pytest.mark.parametrize("how", JOINS)
def test_lifting_the_ban_lets_the_account_and_its_ip_in_at_once(clock, moderator, room, how):
    ban_id = issue(moderator)
    refused_with_ip(room, ban_id)

    lifted = moderator.delete(f"/ban/{ban_id}")

    assert (lifted.status_code, lifted.json()) == (200, {})
    assert_let_in(attempt(how, room, "cheater"), room, "cheater")
    assert_let_in(attempt(how, room, "friend"), room, "friend")
    assert accounts_in(room) == ["cheater", "friend", "regular"]


@pytest.mark.parametrize("how", JOINS)
def test_moving_expires_into_the_past_lets_the_account_and_its_ip_in_at_once(clock, moderator, room, how):
    ban_id = issue(moderator)
    refused_with_ip(room, ban_id)

    updated = moderator.post(f"/ban/{ban_id}", {"expires": "2030-01-01 11:59:59"}, format="json")

    assert (updated.status_code, updated.json()) == (200, {})
    assert_let_in(attempt(how, room, "cheater"), room, "cheater")
    assert_let_in(attempt(how, room, "friend"), room, "friend")


def test_an_updated_reason_and_expiry_show_in_the_next_refusal(clock, moderator, room):
    ban_id = issue(moderator)
    refused_with_ip(room, ban_id)

    updated = moderator.post(f"/ban/{ban_id}", {"reason": "smurfing", "expires": "2030-03-01 00:00:00"})

    assert updated.status_code == 200
    assert_refused(attempt("quick_join", room, "friend"), ban_id, reason="smurfing", until="2030-03-01 00:00:00")


@pytest.mark.parametrize("how", JOINS)
def test_an_expired_ban_stops_applying_to_the_account_and_its_ip(clock: Clock, moderator, room, how):
    ban_id = issue(moderator)
    refused_with_ip(room, ban_id)
    clock.advance(hours=24, seconds=-1)  # the ban's last second
    assert_refused(attempt(how, room, "friend"), ban_id)

    clock.advance(seconds=1)  # expires_at itself: no longer banned, no cleanup needed

    assert_let_in(attempt(how, room, "cheater"), room, "cheater")
    assert_let_in(attempt(how, room, "friend"), room, "friend")
    assert Ban.objects.filter(pk=ban_id, lifted_at=None).exists()


def test_a_new_ban_after_an_expired_one_starts_without_the_old_ip(clock: Clock, moderator, room):
    old_id = issue(moderator)
    refused_with_ip(room, old_id)
    clock.advance(days=2)

    new_id = issue(moderator, expires="2030-01-10 00:00:00")

    assert_let_in(attempt("join_by_id", room, "friend"), room, "friend")
    assert_refused(attempt("join_by_id", room, "cheater", ip=OTHER_IP), new_id, until="2030-01-10 00:00:00")
    assert Ban.objects.get(pk=new_id).ip == OTHER_IP


# --- join/multi: banned accounts are left out and listed ---


def test_multi_gives_slots_to_the_others_and_lists_the_banned(clock, moderator, room):
    cheater_id = issue(moderator)
    spammer_id = issue(moderator, account="spammer", reason="spam", expires="2030-02-01 00:00:00")
    lobby = Api().as_("lobby", ["game", "game_multi"])

    response = lobby.post(
        MULTI,
        {"accounts": ["a", "cheater", {"account": "b", "ip": OTHER_IP}, {"account": "spammer", "ip": CHEATER_IP}]},
        format="json",
    )

    assert response.status_code == 200
    data = response.json()
    keys = {account: grant["key"] for account, grant in data["slots"].items()}
    assert data == {
        "id": str(room.pk),
        "settings": room.settings,
        "slots": {account: {"slot": str(slot_of(key).pk), "key": key} for account, key in keys.items()},
        "location": {"host": room.host.address, "ports": room.ports},
        "banned": {
            "cheater": {"id": cheater_id, "until": UNTIL, "reason": "aimbot"},
            "spammer": {"id": spammer_id, "until": "2030-02-01 00:00:00", "reason": "spam"},
        },
    }
    assert sorted(keys) == ["a", "b"]
    assert accounts_in(room) == ["a", "b", "regular"]
    # The item's IP was attached to the spammer's ban; the cheater's item had none to attach.
    assert dict(Ban.objects.values_list("account", "ip")) == {"cheater": None, "spammer": CHEATER_IP}


def test_multi_with_every_account_banned_is_423_for_the_first(clock, moderator, room):
    cheater_id = issue(moderator)
    issue(moderator, account="spammer", reason="spam")
    refused_with_ip(room, cheater_id)
    lobby = Api().as_("lobby", ["game", "game_multi"])

    # "friend" is banned only through the cheater's IP, and comes first.
    response = lobby.post(
        MULTI, {"accounts": [{"account": "friend", "ip": CHEATER_IP}, "spammer"], "auto_create": False}, format="json"
    )

    assert_refused(response, cheater_id)
    assert accounts_in(room) == ["regular"]


def test_multi_with_every_account_banned_creates_no_room(
    clock, moderator, configuration, version, region, instant_room_create
):
    ban_id = issue(moderator)
    lobby = Api().as_("lobby", ["game", "game_multi"])

    response = lobby.post(MULTI, {"accounts": ["cheater"]}, format="json")  # auto_create defaults to true

    assert_refused(response, ban_id)
    assert (instant_room_create, Room.objects.count(), Slot.objects.count()) == ([], 0, 0)


def test_multi_auto_create_gives_places_to_the_unbanned_only(
    clock, moderator, configuration, version, region, instant_room_create
):
    issue(moderator)
    lobby = Api().as_("lobby", ["game", "game_multi"])

    response = lobby.post(MULTI, {"accounts": ["a", "cheater", "b"]}, format="json")

    assert response.status_code == 200
    assert [created["accounts"] for created in instant_room_create] == [["a", "b"]]
    assert sorted(response.json()["slots"]) == ["a", "b"]
    assert list(response.json()["banned"]) == ["cheater"]


# --- the attached IP is committed, whatever the request answers ---


def committed_ban_ip(ban_id: str) -> str | None:
    """The ban's IP as another database connection sees it: only what was committed."""
    seen: dict[str, str | None] = {}

    def read() -> None:
        try:
            seen["ip"] = Ban.objects.values_list("ip", flat=True).get(pk=ban_id)
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    reader.join()
    return seen["ip"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", JOINS)
def test_the_attached_ip_survives_the_refusal(clock, moderator, room, how):
    ban_id = issue(moderator)

    assert_refused(attempt(how, room, "cheater"), ban_id)

    assert committed_ban_ip(ban_id) == CHEATER_IP
    assert not connection.in_atomic_block


# --- no endpoint answers 500 to a banned caller ---


@pytest.mark.parametrize(
    ("method", "path", "data", "status"),
    [
        ("post", "/rooms/demo/{room}/join", {}, 423),
        ("post", "/room/demo/{room}/join/", {}, 423),
        ("post", "/rooms/demo/999999/join", {}, 423),
        ("post", "/rooms/nogame/{room}/join", {}, 423),
        ("post", "/rooms/demo/not-a-room/join", {}, 423),
        ("post", QUICK, {}, 423),
        ("post", QUICK, {"settings": {"mode": "ctf"}, "auto_create": False}, 423),
        ("post", "/join/nogame/1.0/default", {}, 404),  # the game is looked up before the ban
        ("post", QUICK, {"settings": "not json"}, 400),
        ("post", QUICK, {"region": "mars"}, 400),
        ("get", "/rooms/demo/1.0/default", None, 200),  # searching is not joining
        ("get", "/player/cheater", None, 200),
        ("get", '/players?accounts=["cheater"]', None, 200),
        ("get", "/ban/{ban}", None, 403),
    ],
)
def test_no_endpoint_answers_500_to_a_banned_caller(clock, moderator, room, method, path, data, status):
    ban_id = issue(moderator, reason="bad\r\nX-Injected: 1 \u2014 \u0447\u0438\u0442\u044b \u00e7\u00e0")
    assert Ban.objects.filter(pk=ban_id).update(ip=CHEATER_IP)
    player = Api().as_("cheater", ["game"]).from_ip(CHEATER_IP)

    response = getattr(player, method)(path.format(room=room.pk, ban=ban_id), data, format="json")

    assert response.status_code == status, response.content
    if status == 423:
        assert response.json() == {
            "code": "banned",
            "detail": f"This account is banned until {UNTIL} UTC: bad\r\nX-Injected: 1 \u2014 читы çà.",
        }
        # One header line, latin-1: what does not fit is escaped, not refused.
        assert response["X-Ban-Reason"] == "bad X-Injected: 1 \\u2014 \\u0447\\u0438\\u0442\\u044b çà"
        assert response.get("X-Injected") is None
    assert Slot.objects.count() == 1


@pytest.mark.parametrize(
    ("accounts", "status"),
    [
        (["cheater"], 423),
        ([{"account": "friend", "ip": CHEATER_IP}], 423),
        ([{"account": "friend", "ip": "::ffff:203.0.113.7"}, "cheater"], 423),
        ([{"account": "friend", "ip": "fe80::1%eth0"}, "cheater"], 200),
        ([{"account": "cheater", "ip": "fe80::1%eth0"}, {"account": "friend", "ip": "2001:db8::1"}], 200),
        ([{"account": "cheater", "ip": "not an ip"}], 400),
    ],
)
def test_no_multi_request_answers_500_for_banned_accounts(clock, moderator, room, accounts, status):
    ban_id = issue(moderator, reason="bad\nreason \u20ac")
    assert Ban.objects.filter(pk=ban_id).update(ip=CHEATER_IP)
    lobby = Api().as_("lobby", ["game", "game_multi"])

    response = lobby.post(MULTI, {"accounts": accounts, "auto_create": False}, format="json")

    assert response.status_code == status, response.content
    if status == 423:
        assert response["X-Ban-Reason"] == "bad reason \\u20ac"
    if status == 200:
        assert response.json()["banned"] == {"cheater": {"id": ban_id, "until": UNTIL, "reason": "bad\nreason \u20ac"}}
    if status == 400:
        assert response.json()["code"] == "bad_arguments"
    assert Slot.objects.count() == 1 + (status == 200)
