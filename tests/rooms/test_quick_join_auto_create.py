"""Quick-join when no running room fits: create (host machines faked), or wait for a starting room."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from rooms.models import Room, Slot, hash_secret
from tests.geoip import FRANKFURT
from tests.rooms.factories import add_slots, make_room

QUICK = "/join/demo/1.0/default"
FRANKFURT_IP = FRANKFURT.replace("0/24", "10")


def created_answer(response, created):
    room = Room.objects.select_related("host").get(pk=created["room"])
    key = response.json()["key"]
    slot = Slot.objects.get(key_hash=hash_secret(key))
    return {
        "id": str(room.pk),
        "settings": created["settings"],
        "players": 1,
        "max_players": 8,
        "game_name": "demo",
        "game_version": "1.0",
        "location": {"host": room.host.address, "ports": [9001]},
        "slot": str(slot.pk),
        "key": key,
    }


@pytest.mark.django_db
def test_quick_join_creates_with_create_settings_when_nothing_fits(
    api, configuration, version, region, instant_room_create
):
    make_room(configuration, version, region, settings={"mode": "dm"})

    response = api.as_("alice", ["game"]).post(
        QUICK, {"settings": {"mode": "ctf"}, "create_settings": {"mode": "ctf", "map": "dust"}}, format="json"
    )

    assert response.status_code == 200
    assert instant_room_create == [
        {
            "room": instant_room_create[0]["room"],
            "region": "local",
            "settings": {"mode": "ctf", "map": "dust"},
            "created_by": "alice",
            "accounts": ["alice"],
        }
    ]
    assert response.json() == created_answer(response, instant_room_create[0])


@pytest.mark.django_db
def test_quick_join_creates_in_my_region(api, geoip, configuration, version, region, eu, instant_room_create):
    response = api.as_("alice", ["game"]).from_ip(FRANKFURT_IP).post(QUICK)

    assert response.status_code == 200
    assert [created["region"] for created in instant_room_create] == ["eu"]


@pytest.mark.django_db
def test_quick_join_creates_in_the_asked_region(
    api, geoip, configuration, version, region, eu, us, instant_room_create
):
    response = api.as_("alice", ["game"]).from_ip(FRANKFURT_IP).post(QUICK, {"region": "us"})

    assert response.status_code == 200
    assert [created["region"] for created in instant_room_create] == ["us"]


@pytest.mark.django_db
def test_multi_join_creates_one_room_for_everyone(api, configuration, version, region, instant_room_create):
    response = api.as_("server", ["game", "game_multi"]).post(
        "/join/multi/demo/1.0/default", {"accounts": ["a", "b"], "create_settings": {"x": 1}}, format="json"
    )

    assert response.status_code == 200
    assert [(c["accounts"], c["created_by"], c["settings"]) for c in instant_room_create] == [
        (["a", "b"], "server", {"x": 1})
    ]
    assert set(response.json()["slots"]) == {"a", "b"}


@pytest.mark.django_db
def test_quick_join_without_any_region_is_503(api, configuration, version, instant_room_create):
    response = api.as_("alice", ["game"]).post(QUICK)

    assert response.status_code == 503
    assert response.json() == {"code": "no_host", "detail": "There is no region to start a room in."}
    assert instant_room_create == []


def flip_when_joined(room, state, *, delete=False):
    """What the game server session does once the waiter holds its place: run (or fail) the room."""

    def work():
        try:
            while not Slot.objects.filter(room=room, account="alice").exists():
                time.sleep(0.005)
            if delete:
                Room.objects.filter(pk=room.pk).delete()
            else:
                Room.objects.filter(pk=room.pk).update(state=state)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_quick_join_waits_for_a_starting_room_instead_of_creating(
    api, configuration, version, region, instant_room_create
):
    starting = make_room(configuration, version, region, state=Room.SPAWNING)
    add_slots(starting, 1, account="creator", state=Slot.RESERVED)
    thread = flip_when_joined(starting, Room.RUNNING)

    response = api.as_("alice", ["game"]).post(QUICK)
    thread.join()

    assert response.status_code == 200
    assert response.json()["id"] == str(starting.pk)
    assert response.json()["players"] == 2
    assert instant_room_create == []
    slot = Slot.objects.get(key_hash=hash_secret(response.json()["key"]))
    assert (slot.room_id, slot.account, slot.state) == (starting.pk, "alice", Slot.RESERVED)


@pytest.mark.django_db(transaction=True)
def test_quick_join_creates_when_the_starting_room_fails(api, configuration, version, region, instant_room_create):
    starting = make_room(configuration, version, region, state=Room.SPAWNING)
    thread = flip_when_joined(starting, None, delete=True)

    response = api.as_("alice", ["game"]).post(QUICK)
    thread.join()

    assert response.status_code == 200
    assert [created["accounts"] for created in instant_room_create] == [["alice"]]
    assert response.json()["id"] == str(instant_room_create[0]["room"])


@pytest.mark.django_db
def test_quick_join_does_not_wait_for_a_full_or_unmatched_starting_room(
    api, configuration, version, region, instant_room_create
):
    full = make_room(configuration, version, region, state=Room.SPAWNING, max_players=1, settings={"mode": "ctf"})
    add_slots(full, 1, account="creator", state=Slot.RESERVED)
    make_room(configuration, version, region, state=Room.SPAWNING, settings={"mode": "dm"})

    response = api.as_("alice", ["game"]).post(QUICK, {"settings": {"mode": "ctf"}}, format="json")

    assert response.status_code == 200
    assert len(instant_room_create) == 1
