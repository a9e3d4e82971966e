"""GET /rooms/<game>/<version>/<configuration>: running rooms, my region first, fuller first, paged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rooms.models import Room, Slot
from tests.geoip import FRANKFURT
from tests.rooms.factories import add_slots, make_room, room_body

pytestmark = pytest.mark.django_db
URL = "/rooms/demo/1.0/default"
FRANKFURT_IP = FRANKFURT.replace("0/24", "10")

UNSTORABLE = "Strings may not contain NUL characters or unpaired surrogates."


body = room_body


def search(api, url=URL, ip="127.0.0.1", **args):
    return api.as_("alice", ["game"]).from_ip(ip).get(url, args)


def test_search_lists_running_rooms_fuller_first(api, configuration, version, region):
    emptier = make_room(configuration, version, region, settings={"mode": "dm"})
    fuller = make_room(configuration, version, region, settings={"mode": "ctf"})
    add_slots(fuller, 3)
    add_slots(emptier, 1)
    make_room(configuration, version, region, state=Room.SPAWNING)

    response = search(api)

    assert response.status_code == 200
    assert response.json() == {"rooms": [body(fuller, 3), body(emptier, 1)]}


def test_search_filters_by_settings(api, configuration, version, region):
    ctf = make_room(configuration, version, region, settings={"mode": "ctf", "size": 5})
    make_room(configuration, version, region, settings={"mode": "dm", "size": 5.0})

    response = search(api, settings='{"mode": "ctf", "size": {"@func": ">=", "@value": 5}}')

    assert response.status_code == 200
    assert response.json() == {"rooms": [body(ctf, 0)]}


def test_search_hides_other_pools(api, game, configuration, version, region):
    other_version = version.application.versions.create(name="2.0")
    make_room(configuration, other_version, region)

    response = search(api)

    assert response.json() == {"rooms": []}


def test_search_show_full_false_leaves_full_rooms_out(api, configuration, version, region):
    full = make_room(configuration, version, region, max_players=2)
    add_slots(full, 2)
    free = make_room(configuration, version, region, max_players=2)

    assert search(api, show_full="false").json() == {"rooms": [body(free, 0)]}
    assert search(api).json() == {"rooms": [body(full, 2), body(free, 0)]}


def test_expired_reservation_stops_counting_without_cleanup(api, configuration, version, region):
    room = make_room(configuration, version, region, max_players=2)
    add_slots(room, 1, account="joined")
    add_slots(room, 1, account="late", state=Slot.RESERVED, expires_in=-1)

    assert search(api).json() == {"rooms": [body(room, 1)]}
    assert search(api, show_full="0").json() == {"rooms": [body(room, 1)]}
    assert Slot.objects.count() == 2  # nothing was pruned


def test_search_lists_my_region_first(api, geoip, configuration, version, region, eu):
    local_full = make_room(configuration, version, region)
    add_slots(local_full, 5)
    mine = make_room(configuration, version, eu)

    response = search(api, ip=FRANKFURT_IP)

    assert response.json() == {"rooms": [body(mine, 0), body(local_full, 5)]}


def test_search_my_region_only(api, geoip, configuration, version, region, eu):
    make_room(configuration, version, region)
    mine = make_room(configuration, version, eu)

    assert search(api, ip=FRANKFURT_IP, my_region_only="true").json() == {"rooms": [body(mine, 0)]}


def test_search_in_a_region(api, configuration, version, region, eu):
    make_room(configuration, version, region)
    there = make_room(configuration, version, eu)

    assert search(api, region="eu").json() == {"rooms": [body(there, 0)]}


def test_search_pages_across_my_region_and_the_rest(api, geoip, configuration, version, region, eu):
    mine = [make_room(configuration, version, eu) for _ in range(3)]
    rest = [make_room(configuration, version, region) for _ in range(3)]
    everything = [room.pk for room in mine + rest]

    def ids(**args):
        return [int(room["id"]) for room in search(api, ip=FRANKFURT_IP, **args).json()["rooms"]]

    assert ids() == everything
    assert ids(limit=2) == everything[:2]
    assert ids(limit=2, offset=2) == everything[2:4]
    assert ids(limit=2, offset=4) == everything[4:]
    assert ids(limit=10, offset=3) == everything[3:]
    assert ids(offset=6) == []


def test_search_default_page_is_rooms_page_default(api, configuration, version, region, settings):
    settings.ROOMS_PAGE_DEFAULT = 2
    for _ in range(3):
        make_room(configuration, version, region)

    assert len(search(api).json()["rooms"]) == 2


@pytest.mark.parametrize(
    ("args", "fields"),
    [
        ({"limit": "0"}, {"limit": ["Ensure this value is greater than or equal to 1."]}),
        ({"limit": "1001"}, {"limit": ["Ensure this value is less than or equal to 1000."]}),
        ({"offset": "-1"}, {"offset": ["Ensure this value is greater than or equal to 0."]}),
        ({"limit": "x"}, {"limit": ["A valid integer is required."]}),
        ({"show_full": "maybe"}, {"show_full": ["Must be true, false, 1 or 0."]}),
        (
            {"settings": "{"},
            {
                "settings": [
                    "Not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)."
                ]
            },
        ),
        ({"settings": "[1]"}, {"settings": ["Must be a JSON object."]}),
        (
            {"settings": '{"a": {"@func": "like"}}'},
            {
                "settings": [
                    "Filter 'a': unknown @func \"like\"; use one of =, !=, >, >=, <, <=, between, in, "
                    "exists, not_exists."
                ]
            },
        ),
        # A filter no database can compare was a 500 (PostgreSQL: every case; SQLite: the surrogate);
        # one nested beyond Python's recursion limit was a 500 on both.
        ({"settings": '{"a": "\\ud800"}'}, {"settings": [UNSTORABLE]}),
        ({"settings": '{"\\ud83d": 1}'}, {"settings": [UNSTORABLE]}),
        ({"settings": '{"a": NaN}'}, {"settings": ["Not valid JSON: NaN is not valid JSON."]}),
        ({"settings": "[" * 2000 + "]" * 2000}, {"settings": ["Not valid JSON: nested deeper than 32 levels."]}),
    ],
)
def test_search_bad_arguments_are_400(api, configuration, version, region, args, fields):
    response = search(api, **args)

    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_arguments",
        "detail": "Some arguments are missing or wrong.",
        "fields": fields,
    }


def test_search_region_and_my_region_only_is_400(api, configuration, version, region):
    response = search(api, region="local", my_region_only="1")

    assert response.status_code == 400
    assert response.json() == {
        "code": "region_conflict",
        "detail": "Give either 'region' or 'my_region_only', not both.",
    }


def test_search_unknown_region_is_400(api, configuration, version, region):
    response = search(api, region="mars")

    assert response.status_code == 400
    assert response.json() == {"code": "unknown_region", "detail": "No region named 'mars'."}


@pytest.mark.parametrize(
    ("url", "code", "detail"),
    [
        ("/rooms/nope/1.0/default", "unknown_game", "No game named 'nope'."),
        ("/rooms/demo/9.9/default", "unknown_version", "Game 'demo' has no version '9.9'."),
        ("/rooms/demo/1.0/nope", "unknown_configuration", "Game 'demo' has no game server configuration 'nope'."),
        # A NUL in the URL was a 500 on PostgreSQL, which cannot hold one.
        ("/rooms/de%00mo/1.0/default", "unknown_game", "No game named 'de\x00mo'."),
        ("/rooms/demo/%00/default", "unknown_version", "Game 'demo' has no version '\x00'."),
        ("/rooms/demo/1.0/%00", "unknown_configuration", "Game 'demo' has no game server configuration '\x00'."),
    ],
)
def test_search_unknown_game_is_404(api, configuration, version, region, url, code, detail):
    response = search(api, url=url)

    assert response.status_code == 404
    assert response.json() == {"code": code, "detail": detail}


def test_search_needs_scope_game(api, configuration, version, region):
    response = api.as_("alice", ["party"]).get(URL)

    assert response.status_code == 403
    assert response.json() == {"code": "missing_scope", "detail": "This request needs the scope 'game'."}


def test_search_needs_a_token(api, configuration, version, region):
    assert api.get(URL).status_code == 401


def test_search_trailing_slash_is_optional(api, configuration, version, region):
    room = make_room(configuration, version, region)

    assert search(api, url=URL + "/").json() == {"rooms": [body(room, 0)]}


def test_search_costs_a_fixed_number_of_queries(api, configuration, version, region, django_assert_max_num_queries):
    for n in range(20):
        room = make_room(configuration, version, region)
        add_slots(room, n % 4)
        add_slots(room, 1, account=f"late{n}", state=Slot.RESERVED, expires_in=-1)
    client = api.as_("alice", ["game"])

    with django_assert_max_num_queries(6):
        response = client.get(URL)

    assert len(response.json()["rooms"]) == 20


def test_slot_count_follows_every_slot_change(configuration, version, region):
    room = make_room(configuration, version, region)
    (slot, _), (other, _) = add_slots(room, 2, state=Slot.RESERVED)
    room.refresh_from_db()
    assert (room.slot_count, room.next_expiry) == (2, min(slot.expires_at, other.expires_at))

    Slot.objects.filter(pk=slot.pk).update(state=Slot.JOINED)
    room.refresh_from_db()
    assert (room.slot_count, room.next_expiry) == (2, other.expires_at)

    other.delete()
    room.refresh_from_db()
    assert (room.slot_count, room.next_expiry) == (1, None)

    room.settings = {"changed": True}
    room.slot_count = 99  # a stale copy: saving the room must not write it back
    room.save()
    room.refresh_from_db()
    assert (room.slot_count, room.settings) == (1, {"changed": True})
    assert room.next_expiry is None or room.next_expiry < timezone.now() + timedelta(days=1)
