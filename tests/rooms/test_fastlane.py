"""The fast lane (gamemaster/fastlane.py, rooms/fastlane.py) through the real ASGI application.

For each lane route: the lane answers the common case itself, with the body the Django view gives
for the same state (compared by running the view with FAST_LANE off); every other case reaches
the view and gets its answer. Racing joins through the lane never overfill a room.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as sync_to_async  # closes its thread's connection
from django.test import override_settings
from django.utils import timezone

from bans.models import Ban
from gamemaster.asgi import application, http_app
from rooms.models import GameServerConfiguration, Room, Slot, hash_secret
from tests.asgi import Answer, call
from tests.geoip import FRANKFURT
from tests.rooms.factories import add_slots, make_room, room_body

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

QUICK = "/join/demo/1.0/default"
SEARCH = "/rooms/demo/1.0/default"
FRANKFURT_IP = FRANKFURT.replace("0/24", "10")
FILTER = {"mode": "ffa", "tier": {"@func": ">=", "@value": 2}}


@pytest.fixture(autouse=True)
async def lane_pools():
    """The lane keeps a pool per event loop; every test has its own loop: close it after."""
    yield
    await http_app.close()


async def through_lane(method: str, path: str, **kwargs) -> Answer:
    """The request through the application; fails unless the lane itself answered it."""
    before = http_app.answered
    answer = await call(application, method, path, **kwargs)
    assert http_app.answered == before + 1, f"the lane handed {method} {path} to Django: {answer.body!r}"
    return answer


async def through_view(method: str, path: str, **kwargs) -> Answer:
    """The request through the application; fails unless Django's view answered it."""
    before = http_app.answered
    answer = await call(application, method, path, **kwargs)
    assert http_app.answered == before
    return answer


async def view_only(method: str, path: str, **kwargs) -> Answer:
    """The same request with the lane switched off: the view's answer, the reference."""
    with override_settings(FAST_LANE=False):
        return await through_view(method, path, **kwargs)


@sync_to_async
def slot_of(answer: Answer) -> Slot:
    return Slot.objects.get(key_hash=hash_secret(answer.json()["key"]))


def without_length(headers: dict) -> dict:
    return {name: value for name, value in headers.items() if name != "content-length"}


def without_slot(body: dict) -> dict:
    """A join answer without what differs between two joins: the slot id and its key."""
    return {name: value for name, value in body.items() if name not in ("slot", "key")}


def joined(room: Room, players: int, slot: Slot, key: str) -> dict:
    return {**room_body(room, players), "slot": str(slot.pk), "key": key}


# --- join by id ---


async def test_join_by_id_is_answered_by_the_lane_as_the_view_answers(configuration, version, region):
    room = await sync_to_async(make_room)(configuration, version, region, settings={"mode": "ffa"}, max_players=4)
    await sync_to_async(add_slots)(room, 1)

    answer = await through_lane("POST", f"/rooms/demo/{room.pk}/join", account="bob")
    reference = await view_only("POST", f"/rooms/demo/{room.pk}/join", account="carol")

    assert answer.status == 200
    slot = await slot_of(answer)
    assert answer.json() == joined(room, 2, slot, answer.json()["key"])
    assert (slot.account, slot.state, slot.room_id) == ("bob", Slot.RESERVED, room.pk)
    assert timedelta(seconds=29) < slot.expires_at - timezone.now() <= timedelta(seconds=30)
    assert reference.status == 200
    assert without_slot(reference.json()) == {**without_slot(answer.json()), "players": 3}
    assert answer.headers["content-type"] == "application/json"
    assert without_length(answer.headers) == without_length(reference.headers)  # Django's middleware headers too


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("full", 404, "room_full"),
        ("spawning", 404, "room_not_running"),
        ("unknown room", 404, "unknown_room"),
        ("unknown game", 404, "unknown_game"),
        ("not a room id", 404, "unknown_room"),
    ],
)
async def test_join_by_id_refusals_are_the_views(configuration, version, region, case, status, code):
    state = Room.SPAWNING if case == "spawning" else Room.RUNNING
    room = await sync_to_async(make_room)(configuration, version, region, max_players=2, state=state)
    if case == "full":
        await sync_to_async(add_slots)(room, 2)
    path = {
        "unknown room": f"/rooms/demo/{room.pk + 1000}/join",
        "unknown game": f"/rooms/other/{room.pk}/join",
        "not a room id": "/rooms/demo/x1/join",
    }.get(case, f"/rooms/demo/{room.pk}/join")

    answer = await through_view("POST", path)

    assert (answer.status, answer.json()["code"]) == (status, code)
    assert answer.json() == (await view_only("POST", path)).json()


async def test_a_banned_account_or_ip_gets_the_views_423(configuration, version, region):
    room = await sync_to_async(make_room)(configuration, version, region)
    expires = timezone.now() + timedelta(hours=1)
    ban = await Ban.objects.acreate(account="mallory", reason="cheating", expires_at=expires)

    refused = await through_view("POST", f"/rooms/demo/{room.pk}/join", account="mallory", ip="203.0.113.9")
    # The view attached the IP on that refusal: another account from it is refused too.
    same_ip = await through_view("POST", f"/rooms/demo/{room.pk}/join", account="mallory2", ip="203.0.113.9")
    elsewhere = await through_lane("POST", f"/rooms/demo/{room.pk}/join", account="mallory2", ip="203.0.113.10")

    assert refused.status == same_ip.status == 423
    assert refused.headers["x-ban-id"] == same_ip.headers["x-ban-id"] == str(ban.pk)
    assert refused.json()["code"] == "banned"
    assert elsewhere.status == 200


async def test_a_room_whose_reservation_expired_is_counted_by_the_view(configuration, version, region):
    room = await sync_to_async(make_room)(configuration, version, region, max_players=2)
    await sync_to_async(add_slots)(room, 2, state=Slot.RESERVED, expires_in=-1)  # both expired: 0 players

    answer = await through_view("POST", f"/rooms/demo/{room.pk}/join")

    assert answer.status == 200
    assert answer.json()["players"] == 1
    # The view deleted the expired reservations: the count is exact again and the lane takes over.
    assert (await through_lane("POST", f"/rooms/demo/{room.pk}/join", account="bob")).json()["players"] == 2


async def test_racing_joins_through_the_lane_fill_a_room_exactly(configuration, version, region):
    room = await sync_to_async(make_room)(configuration, version, region, max_players=10)
    await sync_to_async(add_slots)(room, 2)

    before = http_app.answered
    answers = await asyncio.gather(
        *(call(application, "POST", f"/rooms/demo/{room.pk}/join", account=f"a{n}") for n in range(100))
    )

    assert Counter(answer.status for answer in answers) == {200: 8, 404: 92}
    assert http_app.answered - before == 8  # the lane, opening its pool under the race, took them all
    assert {answer.json()["code"] for answer in answers if answer.status == 404} == {"room_full"}
    assert await Slot.objects.filter(room=room).acount() == 10
    await room.arefresh_from_db()
    assert room.slot_count == 10


# --- quick-join ---


async def test_quick_join_takes_the_fullest_matching_room_in_the_lane(configuration, version, region):
    make = sync_to_async(make_room)
    emptier = await make(configuration, version, region, settings={"mode": "ffa", "tier": 3})
    fuller = await make(configuration, version, region, settings={"mode": "ffa", "tier": 2})
    other = await make(configuration, version, region, settings={"mode": "ctf", "tier": 3})
    await sync_to_async(add_slots)(fuller, 3)
    await sync_to_async(add_slots)(other, 5)

    answer = await through_lane("POST", QUICK, body={"settings": FILTER, "auto_create": False})
    reference = await view_only("POST", QUICK, account="bob", body={"settings": FILTER, "auto_create": False})

    slot = await slot_of(answer)
    fuller.slot_count = 4
    assert answer.status == 200
    assert answer.json() == joined(fuller, 4, slot, answer.json()["key"])
    assert without_slot(reference.json()) == {**without_slot(answer.json()), "players": 5}
    assert emptier.pk != fuller.pk


async def test_a_fullest_room_whose_reservation_expired_goes_to_the_view(configuration, version, region, eu):
    make = sync_to_async(make_room)
    stale = await make(configuration, version, region)
    await sync_to_async(add_slots)(stale, 3, account="j")
    await sync_to_async(add_slots)(stale, 2, state=Slot.RESERVED, expires_in=-1, account="r")  # stored 5, live 3
    fresh = await make(configuration, version, region)
    await sync_to_async(add_slots)(fresh, 4)
    await make(configuration, version, eu)  # another region: the view would not pick it either

    answer = await through_view("POST", QUICK, body={"auto_create": False})

    # The view picks the same room the lane found first (fullest by the stored count), counts it exactly.
    assert (answer.json()["id"], answer.json()["players"]) == (str(stale.pk), 4)
    assert await Slot.objects.filter(room=stale).acount() == 4


async def test_quick_join_tries_the_callers_region_first(configuration, version, region, eu, geoip):
    make = sync_to_async(make_room)
    elsewhere = await make(configuration, version, region)
    await sync_to_async(add_slots)(elsewhere, 5)
    mine = await make(configuration, version, eu)

    from_frankfurt = await through_lane("POST", QUICK, ip=FRANKFURT_IP, body={})
    asked_region = await through_lane("POST", QUICK, account="bob", ip=FRANKFURT_IP, body={"region": "local"})
    only_mine = await through_lane("POST", QUICK, account="carol", ip=FRANKFURT_IP, query={"my_region_only": "true"})

    assert from_frankfurt.json()["id"] == str(mine.pk)
    assert asked_region.json()["id"] == str(elsewhere.pk)
    assert only_mine.json()["id"] == str(mine.pk)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"auto_create": False, "settings": {"mode": "none"}}, 404, "no_room"),
        ({"settings": {"mode": {"@func": "nope"}}}, 400, "bad_arguments"),
        ({"region": "mars"}, 400, "unknown_region"),
        ({"region": "local", "my_region_only": True}, 400, "region_conflict"),
    ],
)
async def test_quick_join_refusals_are_the_views(configuration, version, region, body, status, code):
    await sync_to_async(make_room)(configuration, version, region, settings={"mode": "ffa"})

    answer = await through_view("POST", QUICK, body=body)

    assert (answer.status, answer.json()["code"]) == (status, code)
    assert answer.json() == (await view_only("POST", QUICK, body=body)).json()


async def test_quick_join_for_an_unknown_version_is_the_views_404(configuration, version, region):
    answer = await through_view("POST", "/join/demo/9.9/default", body={})

    assert (answer.status, answer.json()["code"]) == (404, "unknown_version")


async def test_racing_quick_joins_through_the_lane_never_overfill(configuration, version, region):
    rooms = [await sync_to_async(make_room)(configuration, version, region, max_players=8) for _ in range(4)]

    answers = await asyncio.gather(
        *(call(application, "POST", QUICK, account=f"q{n}", body={"auto_create": False}) for n in range(40))
    )

    assert Counter(answer.status for answer in answers) == {200: 32, 404: 8}
    counts = [await Slot.objects.filter(room=room).acount() for room in rooms]
    assert counts == [8, 8, 8, 8]


# --- search ---


async def test_search_is_answered_by_the_lane_as_the_view_answers(configuration, version, region, eu, geoip):
    make = sync_to_async(make_room)
    full = await make(configuration, version, region, settings={"mode": "ffa", "tier": 2}, max_players=2)
    await sync_to_async(add_slots)(full, 2)
    stale = await make(configuration, version, region, settings={"mode": "ffa", "tier": 5}, max_players=4)
    await sync_to_async(add_slots)(stale, 3, state=Slot.RESERVED, expires_in=-1)  # expired: 0 players
    mine = await make(configuration, version, eu, settings={"mode": "ffa", "tier": 9})
    await make(configuration, version, region, settings={"mode": "ctf", "tier": 9})
    query = {"settings": '{"mode": "ffa", "tier": {"@func": ">=", "@value": 2}}'}

    answer = await through_lane("GET", SEARCH, query=query, ip=FRANKFURT_IP)
    not_full = await through_lane("GET", SEARCH, query={**query, "show_full": "false", "limit": "1"}, ip=FRANKFURT_IP)

    listed = room_body
    assert answer.status == 200
    # Mine first, then fuller first by the stored count (3 for the stale room), players exact.
    assert answer.json() == {"rooms": [listed(mine, 0), listed(stale, 0), listed(full, 2)]}
    assert not_full.json() == {"rooms": [listed(mine, 0)]}
    reference = await view_only("GET", SEARCH, query=query, ip=FRANKFURT_IP)
    assert answer.json() == reference.json()
    assert without_length(answer.headers) == without_length(reference.headers)


async def test_later_pages_and_bad_arguments_are_the_views(configuration, version, region):
    for tier in range(3):
        await sync_to_async(make_room)(configuration, version, region, settings={"tier": tier})

    page = await through_view("GET", SEARCH, query={"offset": "1", "limit": "1"})
    bad = await through_view("GET", SEARCH, query={"limit": "0"})

    assert len(page.json()["rooms"]) == 1
    assert page.json() == (await view_only("GET", SEARCH, query={"offset": "1", "limit": "1"})).json()
    assert (bad.status, bad.json()["code"]) == (400, "bad_arguments")


# --- what the lane leaves to Django ---


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"account": None}, 401, "not_authenticated"),
        ({"headers": {"authorization": "Bearer not-a-token"}}, 401, "invalid_token"),
        ({"scopes": ["party"]}, 403, "missing_scope"),
    ],
)
async def test_tokens_the_lane_does_not_accept_get_the_views_answer(
    configuration, version, region, kwargs, status, code
):
    room = await sync_to_async(make_room)(configuration, version, region)

    answer = await through_view("POST", f"/rooms/demo/{room.pk}/join", **kwargs)

    assert (answer.status, answer.json()["code"]) == (status, code)


async def test_a_body_the_lane_does_not_read_reaches_the_view_whole(configuration, version, region):
    await sync_to_async(make_room)(configuration, version, region, settings={"mode": "ffa"})
    padding = "x" * 200_000  # over the lane's 64 KiB: the view reads the rest of the stream

    big = await through_view("POST", QUICK, body={"settings": {"mode": "ffa"}, "padding": padding}, chunk=8192)
    not_json = await through_view("POST", QUICK, raw_body=b"{nope", headers={"content-type": "application/json"})
    deep = await through_view("POST", QUICK, raw_body=b"[" * 100_000, headers={"content-type": "application/json"})
    form = await through_view(
        "POST", QUICK, raw_body=b"auto_create=false", headers={"content-type": "application/x-www-form-urlencoded"}
    )

    assert big.status == 200
    assert (not_json.status, not_json.json()["code"]) == (400, "bad_arguments")
    assert (deep.status, deep.json()["code"]) == (400, "bad_arguments")
    assert form.status == 200


async def test_other_routes_and_sqlite_go_to_django(configuration, version, region):
    room = await sync_to_async(make_room)(configuration, version, region)

    regions = await through_view("GET", "/regions")
    with override_settings(FAST_LANE=False):
        joined_by_view = await through_view("POST", f"/rooms/demo/{room.pk}/join")

    assert regions.status == 200
    assert joined_by_view.status == 200


# --- what the lane keeps ---


async def test_an_edit_in_this_process_reaches_the_lane_at_once(configuration, version, region, eu, geoip):
    room = await sync_to_async(make_room)(configuration, version, region)
    await through_lane("POST", f"/rooms/demo/{room.pk}/join")  # the lane has read the game and regions

    configuration.reservation_ttl = 90
    await configuration.asave()
    joined_after_edit = await through_lane("POST", f"/rooms/demo/{room.pk}/join", account="bob")
    nearer = await sync_to_async(make_room)(configuration, version, eu)
    from_frankfurt = await through_lane("POST", QUICK, account="carol", ip=FRANKFURT_IP, body={})

    slot = await slot_of(joined_after_edit)
    assert timedelta(seconds=89) < slot.expires_at - timezone.now() <= timedelta(seconds=90)
    assert from_frankfurt.json()["id"] == str(nearer.pk)


async def test_an_edit_by_another_process_reaches_the_lane_within_its_cache_time(
    configuration, version, region, settings
):
    room = await sync_to_async(make_room)(configuration, version, region, max_players=8)
    quick = {"body": {"auto_create": False}}
    await through_lane("POST", QUICK, **quick)

    @sync_to_async
    def edit_elsewhere(ttl: int) -> None:  # no signal reaches this process: as another master's edit
        GameServerConfiguration.objects.filter(pk=configuration.pk).update(reservation_ttl=ttl)

    await edit_elsewhere(90)
    kept = await slot_of(await through_lane("POST", QUICK, account="bob", **quick))
    settings.FAST_LANE_CACHE_SECONDS = 0
    await edit_elsewhere(120)
    reread = await slot_of(await through_lane("POST", QUICK, account="carol", **quick))

    assert kept.expires_at - timezone.now() <= timedelta(seconds=30)
    assert timedelta(seconds=119) < reread.expires_at - timezone.now() <= timedelta(seconds=120)
    assert {kept.room_id, reread.room_id} == {room.pk}


# --- odd arguments: the lane and the view answer alike ---

ODD_JOIN_BODIES = [
    {},
    {"settings": "{}"},
    {"settings": "not json"},
    {"settings": []},
    {"settings": {"tier": {"@func": "in", "@values": [0, 2]}}},
    {"settings": {"a.b": 1}},
    {"settings": {"mode": None}},
    {"settings": {"tier": 1.0}},
    {"settings": {"tier": {"@func": "between", "@a": 1, "@b": 3}}},
    {"settings": {"tier": {"@func": "exists"}}},
    {"settings": {"k": 2**70}},
    {"settings": {"\u0000": 1}},
    {"auto_create": "maybe"},
    {"region": 5},
    {"region": ""},
    {"region": None},
    {"my_region_only": "yes"},
    {"my_region_only": 1},
    {"create_settings": []},
    {"unknown": 1},
]
ODD_SEARCH_QUERIES = [
    {"settings": "["},
    {"settings": '{"tier": {"@func": "<", "@value": "z"}}'},
    {"limit": "0"},
    {"limit": "5000"},
    {"limit": "x"},
    {"offset": "-1"},
    {"show_full": "no"},
    {"show_full": "maybe"},
    {"region": "nope"},
    {"my_region_only": "true"},
    {"limit": "1", "offset": "0"},
]


def comparable(answer: Answer) -> tuple:
    """Status and body, without what two joins never share (slot, key) or change (players)."""
    body = answer.json()
    if isinstance(body, dict):
        body = {name: value for name, value in body.items() if name not in ("slot", "key", "players")}
    return answer.status, body


@pytest.fixture
def three_rooms(configuration, version, region):
    for tier in range(3):
        make_room(configuration, version, region, settings={"mode": "ffa", "tier": tier, "a": {"b": 1}}, max_players=50)


@pytest.mark.parametrize("body", ODD_JOIN_BODIES, ids=lambda body: json.dumps(body)[:40])
async def test_odd_quick_join_arguments_get_the_views_answer(three_rooms, body):
    # Never create a room here: there is no host to start it on (that path is the view's anyway).
    body = {"auto_create": False, **body}

    lane = await call(application, "POST", QUICK, body=body)
    view = await view_only("POST", QUICK, account="bob", body=body)

    assert comparable(lane) == comparable(view)


@pytest.mark.parametrize("query", ODD_SEARCH_QUERIES, ids=lambda query: json.dumps(query)[:40])
async def test_odd_search_arguments_get_the_views_answer(three_rooms, query):
    lane = await call(application, "GET", SEARCH, query=query)
    view = await view_only("GET", SEARCH, query=query)

    assert comparable(lane) == comparable(view)
