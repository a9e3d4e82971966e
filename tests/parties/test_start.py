"""Starting a party in process: into an existing room that matches `room_filters`, or failing
cleanly when no host can take a new room (spec/parties.md, "Starting")."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from bans.models import Ban
from hosts.models import Host
from parties.models import CloseCallback, Party
from rooms.models import Room, Slot

from .test_sessions import db, party_with

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(region, version, configuration):
    return configuration


@pytest.fixture
def running_room(region, version, configuration):
    host = Host.objects.create(region=region, address="10.1.1.1", connected=True, last_seen=timezone.now())
    return Room.objects.create(
        application=configuration.application,
        version=version,
        configuration=configuration,
        region=region,
        host=host,
        state=Room.RUNNING,
        settings={"map": "dust"},
        max_players=8,
        ports=[7000],
    )


async def test_start_game_puts_every_member_in_the_matching_room(sessions, demo, running_room, callback_server):
    await db(CloseCallback.objects.create, name="scores", url=callback_server.url, secret="s")
    party_id, [alice, bob] = await party_with(
        sessions, "alice", "bob", max_members=3, room_filters={"map": "dust"}, close_callback="scores"
    )
    watcher = sessions.connect("carol", party_id, auto_join=False)
    await watcher.open()

    assert await alice.ok("start_game", {"message": {"go": 1}}) == "OK"

    games = {}
    for name, session in (("alice", alice), ("bob", bob)):
        assert await session.message() == ("game_starting", {"go": 1})
        message_type, games[name] = await session.message()
        assert message_type == "game_started"
        assert await session.closed() == (4411, "The game started.")
    for name, game in games.items():
        slot = await db(Slot.objects.get, account=name)
        assert game == {
            "id": str(running_room.pk),
            "slot": str(slot.pk),
            "key": game["key"],
            "location": {"host": "10.1.1.1", "ports": [7000]},
            "settings": {"map": "dust"},
        }
        assert slot.room_id == running_room.pk
        assert slot.info == {"party_id": party_id, "party_profile": {}, "party_role": 1000 if name == "alice" else 0}
    assert await watcher.messages(2) == [("game_starting", {"go": 1}), ("party_closed", {"go": 1})]
    assert await watcher.closed() == (4410, "The party is closed.")
    assert not await db(Party.objects.filter(pk=party_id).exists)
    assert json.loads(callback_server.calls[0]["body"]) == {
        "party": {"id": party_id, "num_members": 2, "max_members": 3, "settings": {}},
        "message": {"go": 1},
        "reason": "game_started",
    }


async def test_a_full_auto_start_party_starts_by_itself(sessions, demo, running_room):
    party_id, [alice] = await party_with(sessions, "alice", max_members=2, auto_start=True, room_filters={})
    bob = sessions.connect("bob", party_id)
    await bob.open()

    assert await alice.message() == ("player_joined", {"account": "bob", "profile": {}})
    for session in (alice, bob):
        assert await session.message() == ("game_starting", {"auto_start": True})
        message_type, game = await session.message()
        assert (message_type, game["id"]) == ("game_started", str(running_room.pk))
    assert await db(Slot.objects.filter(room=running_room).count) == 2


async def test_without_a_host_everyone_hears_the_start_failed_and_the_party_is_open_again(sessions, demo):
    party_id, [alice, bob] = await party_with(sessions, "alice", "bob", max_members=3)

    response = await alice.call("start_game")

    assert response["error"]["code"] == 503
    assert response["error"]["data"] == {"code": "no_host"}
    for session in (alice, bob):
        assert await session.message() == ("game_starting", {})
        message_type, payload = await session.message()
        assert message_type == "game_start_failed"
        assert payload == {"code": "no_host", "reason": response["error"]["message"]}
    party = await db(Party.objects.get, pk=party_id)
    assert (party.state, party.starting_at) == ("open", None)
    assert not await db(Room.objects.exists)
    assert await bob.ok("send_message", {"payload": "again?"}) == "OK"


async def test_a_failed_auto_start_leaves_the_party_open_with_its_members(sessions, demo):
    party_id, [alice] = await party_with(sessions, "alice", max_members=2, auto_start=True)
    bob = sessions.connect("bob", party_id)
    await bob.open()

    assert await alice.message() == ("player_joined", {"account": "bob", "profile": {}})
    for session in (alice, bob):
        assert await session.message() == ("game_starting", {"auto_start": True})
        message_type, payload = await session.message()
        assert (message_type, payload["code"]) == ("game_start_failed", "no_host")
    info = await db(lambda: Party.objects.get(pk=party_id).members.count())
    assert info == 2


async def test_a_member_banned_since_joining_gets_no_slot_and_the_others_start(sessions, demo, running_room):
    _, [alice, bob] = await party_with(sessions, "alice", "bob", max_members=3, room_filters={"map": "dust"})
    await db(Ban.objects.create, account="bob", reason="cheating", expires_at=timezone.now() + timedelta(days=1))

    assert await alice.ok("start_game") == "OK"

    assert await alice.message() == ("game_starting", {})
    message_type, game = await alice.message()
    assert (message_type, game["id"]) == ("game_started", str(running_room.pk))
    assert await bob.messages(2) == [("game_starting", {}), ("party_closed", None)]
    assert await bob.closed() == (4410, "The party is closed.")
    assert await db(lambda: list(Slot.objects.values_list("account", flat=True))) == ["alice"]


async def test_a_party_whose_every_member_is_banned_cannot_start(sessions, demo, running_room):
    party_id, [alice] = await party_with(sessions, "alice", max_members=3, room_filters={"map": "dust"})
    await db(Ban.objects.create, account="alice", reason="cheating", expires_at=timezone.now() + timedelta(days=1))

    reply = await alice.call("start_game")

    assert reply["error"]["code"] == 423
    assert reply["error"]["data"] == {"code": "banned"}
    assert await alice.messages(2) == [
        ("game_starting", {}),
        ("game_start_failed", {"code": "banned", "reason": reply["error"]["message"]}),
    ]
    assert await db(lambda: Party.objects.get(pk=party_id).state) == Party.OPEN
