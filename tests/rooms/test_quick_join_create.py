"""Matchmaking end to end with real processes: quick-join creates through a real host agent and
game server, and player status follows what the game server confirms."""

from __future__ import annotations

import pytest

from hosts.models import Host
from rooms.models import Room, Slot
from tests.hosts.processes import Player, wait_for
from tests.rooms.factories import room_body

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def master(cluster, region, version, chat):
    master = cluster.master()
    cluster.agent(master)
    wait_for(lambda: Host.objects.filter(connected=True).exists(), what="the agent")
    return master


def records(master, account: str) -> list[dict]:
    status, body, _ = master.get(f"/player/{account}", account="viewer")
    assert status == 200, body
    return body["records"]


def test_quick_join_into_an_empty_pool_starts_a_game_server_and_the_key_works(master):
    status, body, _ = master.post(
        "/join/demo/1.0/default", account="alice", settings={"map": "dust"}, create_settings={"map": "dust"}
    )

    assert status == 200, body
    room = Room.objects.get()
    assert (room.settings, room.max_players, room.host.address) == ({"map": "dust"}, 8, "127.0.0.1")
    assert body == {**room_body(room, 1), "slot": str(Slot.objects.get().pk), "key": body["key"]}
    alice = Player(body["location"], body["key"])
    assert alice.line() == "WELCOME alice"
    alice.close()


def test_a_second_quick_join_takes_the_running_room_instead_of_starting_another(master):
    _, first, _ = master.post("/join/demo/1.0/default", account="alice", settings={"map": "dust"},
                              create_settings={"map": "dust"})  # fmt: skip
    alice = Player(first["location"], first["key"])
    assert alice.line() == "WELCOME alice"

    status, second, _ = master.post("/join/demo/1.0/default", account="bob", settings={"map": "dust"})

    assert status == 200, second
    assert (second["id"], second["players"]) == (first["id"], 2)
    assert Room.objects.count() == 1
    bob = Player(second["location"], second["key"])
    assert bob.line() == "WELCOME bob"
    assert alice.line() == "JOINED bob"
    alice.close()
    bob.close()


def test_player_status_shows_a_confirmed_player_until_the_game_server_says_left(master):
    _, created, _ = master.post("/create/demo/1.0/default", account="alice")
    status, joined, _ = master.post(f"/rooms/demo/{created['id']}/join", account="bob")
    assert status == 200, joined
    bob = Player(joined["location"], joined["key"])
    assert bob.line() == "WELCOME bob"
    wait_for(lambda: Slot.objects.filter(account="bob", state=Slot.JOINED).exists(), what="joined")

    assert records(master, "bob") == [
        {
            "id": created["id"],
            "settings": {},
            "players": 2,
            "max_players": 8,
            "game_name": "demo",
            "game_version": "1.0",
        }
    ]

    bob.close()  # the game server calls `left`

    wait_for(lambda: not Slot.objects.filter(account="bob").exists(), what="left")
    assert records(master, "bob") == []


def test_multi_quick_join_creates_one_room_where_every_key_works_once(master):
    status, body, _ = master.post(
        "/join/multi/demo/1.0/default", account="lobby", scopes=["game", "game_multi"], accounts=["p1", "p2", "p3"]
    )

    assert status == 200, body
    assert sorted(body["slots"]) == ["p1", "p2", "p3"]
    players = {account: Player(body["location"], slot["key"]) for account, slot in body["slots"].items()}
    assert {account: player.line() for account, player in players.items()} == {
        "p1": "WELCOME p1",
        "p2": "WELCOME p2",
        "p3": "WELCOME p3",
    }
    again = Player(body["location"], body["slots"]["p1"]["key"])
    assert again.line().startswith("ERROR ")
    for player in [*players.values(), again]:
        player.close()
