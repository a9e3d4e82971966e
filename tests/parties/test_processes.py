"""Parties end to end with real processes: masters (uvicorn), a host agent, the example game
server, and members on real WebSockets (the `websockets` client), possibly on different masters."""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from gamemaster.auth import encode_token
from hosts.models import Host
from parties.models import Party
from rooms.models import Room, Slot
from tests.hosts.processes import Player, wait_for

from .conftest import party_url

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

TIMEOUT = 30


class Member:
    """A party session on a master, over a real WebSocket."""

    def __init__(self, port: int, path: str, account: str, **query: Any) -> None:
        token = encode_token(account=account, scopes=["party", "party_create"])
        self.account = account
        self.stack = ExitStack()
        self.ws: ClientConnection = self.stack.enter_context(
            connect(f"ws://127.0.0.1:{port}{party_url(path, access_token=token, **query)}", open_timeout=TIMEOUT)
        )

    def next(self) -> dict[str, Any]:
        return json.loads(self.ws.recv(timeout=TIMEOUT))

    def open(self) -> dict[str, Any]:
        first = self.next()
        assert first["method"] == "party", first
        return first["params"]["party_info"]

    def message(self) -> tuple[str, Any]:
        found = self.next()
        assert found["method"] == "message", found
        return found["params"]["message_type"], found["params"]["payload"]

    def closed(self) -> tuple[int, str]:
        try:
            while True:
                self.ws.recv(timeout=TIMEOUT)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code, closed.rcvd.reason

    def close(self) -> None:
        self.stack.close()


def connected_host() -> Host | None:
    return Host.objects.filter(connected=True).first()


def play_together(alice_port: int, bob_port: int) -> None:
    """Alice creates a party of 2 with auto_start, Bob joins: both get their own game and key."""
    alice = Member(
        alice_port,
        "/party/create/demo/1.0/default/session",
        "alice",
        max_members=2,
        room_settings={"map": "dust"},
        member_profile={"clan": "X"},
    )
    members = [alice]
    try:
        party_id = alice.open()["party"]["id"]
        bob = Member(bob_port, f"/party/{party_id}/session", "bob", member_profile={"clan": "Y"})
        members.append(bob)
        assert bob.open()["party"]["num_members"] == 2
        assert alice.message() == ("player_joined", {"account": "bob", "profile": {"clan": "Y"}})

        started = {}
        for member in members:
            assert member.message() == ("game_starting", {"auto_start": True})
            message_type, started[member.account] = member.message()
            assert message_type == "game_started"
            assert member.closed() == (4411, "The game started.")

        room = Room.objects.get()
        for account, game in started.items():
            slot = Slot.objects.get(account=account)
            assert game == {
                "id": str(room.pk),
                "slot": str(slot.pk),
                "key": game["key"],
                "location": {"host": "127.0.0.1", "ports": room.ports},
                "settings": {"map": "dust"},
            }
        assert started["alice"]["key"] != started["bob"]["key"]
        assert not Party.objects.filter(pk=party_id).exists()

        for account, role, clan in (("alice", 1000, "X"), ("bob", 0, "Y")):
            player = Player(started[account]["location"], started[account]["key"])
            assert player.line() == f"WELCOME {account}"
            player.close()
            assert Slot.objects.get(account=account).info == {
                "party_id": party_id,
                "party_profile": {"clan": clan},
                "party_role": role,
            }
    finally:
        for member in members:
            member.close()


def test_two_members_start_a_game_together_and_each_is_greeted(cluster, region, version, chat):
    master = cluster.master()
    cluster.agent(master)
    wait_for(connected_host, what="the agent")

    play_together(master.port, master.port)


@pytest.mark.redis
@pytest.mark.postgres
def test_members_on_two_masters_start_a_game_together(cluster, region, version, chat):
    first, second = cluster.master(), cluster.master()
    cluster.agent(first)
    wait_for(connected_host, what="the agent")

    play_together(first.port, second.port)


@pytest.mark.redis
@pytest.mark.postgres
def test_members_on_two_masters_hear_each_other(cluster, region, version, configuration):
    first, second = cluster.master(), cluster.master()
    alice = Member(first.port, "/party/create/demo/1.0/default/session", "alice", max_members=3)
    party_id = alice.open()["party"]["id"]
    bob = Member(second.port, f"/party/{party_id}/session", "bob")
    try:
        bob.open()
        assert alice.message() == ("player_joined", {"account": "bob", "profile": {}})

        bob.ws.send(json.dumps({"jsonrpc": "2.0", "method": "send_message", "params": {"payload": "hi"}, "id": 1}))

        assert bob.next() == {"jsonrpc": "2.0", "result": "OK", "id": 1}
        assert alice.message() == ("custom", "hi")
        assert bob.message() == ("custom", "hi")
    finally:
        alice.close()
        bob.close()
