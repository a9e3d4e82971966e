"""Racing joins on PostgreSQL, with real threads through the real API (DESIGN.md §6)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, connections
from django.db.models import Count

from rooms.models import Room, Slot
from tests.conftest import Api
from tests.rooms.factories import add_slots, make_room

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
# Other test runs share the PostgreSQL server: stay well under its 100 connections.
THREADS = 32


def race(requests: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
    """Send every request from THREADS threads at once (each with its own connection)."""
    start = threading.Barrier(THREADS)

    def send(chunk: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
        try:
            start.wait()
            answers = []
            for account, path, data in chunk:
                response = Api().as_(account, ["game", "game_multi"]).post(path, data, format="json")
                answers.append((response.status_code, response.json()))
            return answers
        finally:
            connection.close()

    chunks = [requests[n::THREADS] for n in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        return [answer for answers in pool.map(send, chunks) for answer in answers]


def test_200_racing_joins_by_id_fill_8_places_exactly(configuration, version, region):
    room = make_room(configuration, version, region, max_players=10)
    add_slots(room, 2)

    answers = race([(f"a{n}", f"/rooms/demo/{room.pk}/join", {}) for n in range(200)])

    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: 8, 404: 192}
    assert {body["code"] for status, body in answers if status == 404} == {"room_full"}
    assert room.slots.count() == 10
    room.refresh_from_db()
    assert room.slot_count == 10


def test_racing_quick_joins_never_overfill(configuration, version, region):
    rooms = [make_room(configuration, version, region, max_players=8) for _ in range(5)]
    for room in rooms:
        add_slots(room, 2)

    answers = race([(f"a{n}", "/join/demo/1.0/default", {"auto_create": False}) for n in range(100)])

    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: 30, 404: 70}
    assert {body["code"] for status, body in answers if status == 404} == {"no_room"}
    assert dict(Room.objects.annotate(n=Count("slots")).values_list("pk", "n")) == {room.pk: 8 for room in rooms}


def test_racing_multi_joins_are_all_or_nothing(configuration, version, region):
    rooms = [make_room(configuration, version, region, max_players=8) for _ in range(3)]

    answers = race(
        [
            (
                "server",
                "/join/multi/demo/1.0/default",
                {"accounts": [f"g{n}-{m}" for m in range(3)], "auto_create": False},
            )
            for n in range(30)
        ]
    )

    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: 6, 404: 24}  # two groups of 3 fit in each room of 8
    per_room = dict(Room.objects.annotate(n=Count("slots")).values_list("pk", "n"))
    assert per_room == {room.pk: 6 for room in rooms}
    groups = Counter(account.split("-")[0] for account in Slot.objects.values_list("account", flat=True))
    assert set(groups.values()) == {3}


def test_512_quick_joins_into_an_empty_pool_create_at_most_71_rooms(
    configuration, version, region, instant_room_create
):
    answers = race([(f"p{n}", "/join/demo/1.0/default", {}) for n in range(512)])

    assert Counter(status for status, _ in answers) == {200: 512}
    rooms = dict(Room.objects.annotate(n=Count("slots")).values_list("pk", "n"))
    assert len(rooms) == len(instant_room_create) <= 71
    assert max(rooms.values()) <= 8
    assert sum(rooms.values()) == 512
    assert Slot.objects.values("account").distinct().count() == 512
    for name in list(connections):
        connections[name].close()
