"""/gameserver/<room_id>/session: the game server's JSON-RPC methods over the real ASGI app."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings
from django.utils import timezone

from hosts.models import Host
from rooms.models import Room, Slot
from tests.hosts.fakes import FakeGameServer, Peer, bearer, fresh_layer  # noqa: F401


async def in_thread(func, *args):
    return await database_sync_to_async(func)(*args)


pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layer")]


@pytest.fixture
def make_room(region, version, configuration):
    def make(state: str = Room.SPAWNING, **fields) -> tuple[Room, str]:
        host = Host.objects.get_or_create(region=region, address="10.0.0.1", defaults={"connected": True})[0]
        room = Room(
            application=version.application, version=version, configuration=configuration, region=region,
            host=host, state=state, settings={"map": "dust"}, ports=[7000], pid=1, **fields,
        )  # fmt: skip
        secret = room.set_secret()
        room.save()
        return room, secret

    return make


def reserve(room: Room, account: str = "alice", ttl: int = 30, info: dict | None = None) -> tuple[Slot, str]:
    slot, key = Slot.reserve(room=room, account=account, ttl=ttl, info=info)
    slot.save()
    return slot, key


async def session(room: Room, secret: str) -> FakeGameServer:
    server = FakeGameServer(room.pk, secret)
    connected, _ = await server.connect()
    assert connected
    return server


async def test_inited_marks_the_room_running_with_the_game_servers_settings(make_room):
    room, secret = await in_thread(make_room)
    server = await session(room, secret)

    reply = await server.call("inited", {"settings": {"mode": "ctf"}})

    assert reply == {"jsonrpc": "2.0", "result": {}, "id": 1}
    await room.arefresh_from_db()
    assert (room.state, room.settings) == (Room.RUNNING, {"map": "dust", "mode": "ctf"})
    assert room.started_at is not None
    # Again after a reconnect: fine, and nothing changes but the settings given.
    assert (await server.call("inited"))["result"] == {}
    await server.close()


async def test_joined_turns_the_reservation_into_a_player_once(make_room):
    room, secret = await in_thread(make_room, Room.RUNNING)
    slot, key = await in_thread(reserve, room, "alice", 30, {"party_id": "7", "party_role": 1})
    server = await session(room, secret)

    first = await server.call("joined", {"key": key})
    second = await server.call("joined", {"key": key})

    assert first["result"] == {"account": "alice", "info": {"party_id": "7", "party_role": 1}}
    assert second["error"] == {"code": 409, "message": "This key was used already.", "data": {"code": "key_used"}}
    await slot.arefresh_from_db()
    assert slot.state == Slot.JOINED and slot.joined_at is not None
    await server.close()


async def test_joined_refuses_unknown_expired_and_other_rooms_keys(make_room):
    room, secret = await in_thread(make_room, Room.RUNNING)
    other, _ = await in_thread(make_room, Room.RUNNING)
    _, expired = await in_thread(reserve, room, "bob", -1)
    _, elsewhere = await in_thread(reserve, other, "carol")
    server = await session(room, secret)

    assert (await server.call("joined", {"key": "made-up"}))["error"] == {
        "code": 404,
        "message": "Unknown key.",
        "data": {"code": "unknown_key"},
    }
    assert (await server.call("joined", {"key": expired}))["error"] == {
        "code": 404,
        "message": "This key has expired.",
        "data": {"code": "key_expired"},
    }
    assert (await server.call("joined", {"key": elsewhere}))["error"] == {
        "code": 404,
        "message": "Unknown key.",
        "data": {"code": "unknown_key"},
    }
    bad = await server.call("joined", {})
    assert bad["error"] == {"code": -32602, "message": "Invalid params", "data": {"key": ["This field is required."]}}
    await server.close()


async def test_left_frees_the_slot(make_room):
    room, secret = await in_thread(make_room, Room.RUNNING)
    _, key = await in_thread(reserve, room)
    server = await session(room, secret)
    await server.call("joined", {"key": key})

    assert (await server.call("left", {"key": key}))["result"] == {}
    assert not await Slot.objects.aexists()
    assert (await server.call("left", {"key": key}))["error"] == {
        "code": 404,
        "message": "Unknown key.",
        "data": {"code": "unknown_key"},
    }
    await server.close()


async def test_calls_before_inited_are_refused(make_room):
    room, secret = await in_thread(make_room)
    _, key = await in_thread(reserve, room)
    server = await session(room, secret)

    for method, params in [("joined", {"key": key}), ("update_settings", {"settings": {}}), ("check_version", None)]:
        reply = await server.call(method, params)
        assert reply["error"] == {"code": 409, "message": "Call inited first.", "data": {"code": "not_inited"}}, method
    await server.close()


async def test_update_settings_replaces_the_settings(make_room):
    room, secret = await in_thread(make_room, Room.RUNNING)
    server = await session(room, secret)

    assert (await server.call("update_settings", {"settings": {"round": 2}}))["result"] == {}
    await room.arefresh_from_db()
    assert room.settings == {"round": 2}
    reply = await server.call("update_settings", {"settings": [1]})
    assert reply["error"]["code"] == -32602
    await server.close()


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"a": "\x00"}, "Strings may not contain NUL characters or unpaired surrogates."),
        ({"a": 2**64}, "Integers must fit in 64 bits."),
    ],
)
async def test_update_settings_refuses_settings_no_database_can_store(make_room, settings, error):
    room, secret = await in_thread(make_room, Room.RUNNING)
    server = await session(room, secret)

    # Was an internal error (PostgreSQL refused the NUL) and the settings were lost.
    reply = await server.call("update_settings", {"settings": settings})

    assert reply["error"] == {"code": -32602, "message": "Invalid params", "data": {"settings": [error]}}
    await room.arefresh_from_db()
    assert room.settings == {"map": "dust"}
    assert (await server.call("check_version"))["result"] == {}
    await server.close()


async def test_check_version_is_410_once_the_version_is_disabled(make_room, version):
    room, secret = await in_thread(make_room, Room.RUNNING)
    server = await session(room, secret)
    assert (await server.call("check_version"))["result"] == {}

    version.enabled = False
    await version.asave()

    assert (await server.call("check_version"))["error"] == {
        "code": 410,
        "message": "Version '1.0' is disabled.",
        "data": {"code": "version_disabled"},
    }
    await server.close()


async def test_bad_frames_get_errors_and_the_session_stays_open(make_room):
    room, secret = await in_thread(make_room, Room.RUNNING)
    server = await session(room, secret)

    await server.ws.send_to(text_data="{nope")
    assert await server.receive() == {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}
    assert (await server.call("nope"))["error"] == {"code": -32601, "message": "Method not found"}
    assert (await server.call("check_version"))["result"] == {}
    await server.close()


@pytest.mark.parametrize(
    ("secret", "close_code", "reason"),
    [
        (None, 4401, "The room secret is required (Authorization: Bearer or secret argument)."),
        ("wrong", 4403, "Wrong room secret."),
    ],
)
async def test_a_session_needs_the_room_secret(make_room, secret, close_code, reason):
    room, _ = await in_thread(make_room)
    peer = Peer(f"/gameserver/{room.pk}/session", bearer(secret) if secret else [])
    await peer.connect()

    assert await peer.ws.receive_output(2) == {"type": "websocket.close", "code": close_code, "reason": reason}
    await peer.ws.wait()


@pytest.mark.parametrize("room_id", ["12345", "%C2%B2", "9" * 5000])  # "²" and 5000 digits failed int()
async def test_a_session_for_an_unknown_room_is_refused(db, room_id):
    peer = Peer(f"/gameserver/{room_id}/session", bearer("whatever"))
    await peer.connect()

    assert await peer.ws.receive_output(2) == {"type": "websocket.close", "code": 4404, "reason": "No such room."}


async def test_the_secret_may_come_as_an_argument(make_room):
    room, secret = await in_thread(make_room)
    peer = Peer(f"/gameserver/{room.pk}/session?secret={secret}")
    assert (await peer.connect())[0]
    assert (await peer.call("inited"))["result"] == {}
    await peer.close()


@override_settings(GAMESERVER_GRACE_SECONDS=0.3)
async def test_a_game_server_gone_past_the_grace_period_loses_its_room(make_room):
    room, secret = await in_thread(make_room, Room.RUNNING)
    await in_thread(reserve, room)
    server = await session(room, secret)

    await server.close()

    assert (await Room.objects.aget()).disconnected_at is not None
    for _ in range(100):
        if not await Room.objects.aexists():
            break
        await asyncio.sleep(0.05)
    assert not await Room.objects.aexists()
    assert not await Slot.objects.aexists()


@override_settings(GAMESERVER_GRACE_SECONDS=0.5)
async def test_a_game_server_back_within_the_grace_period_keeps_its_room(make_room):
    room, secret = await in_thread(make_room, Room.RUNNING)
    server = await session(room, secret)
    await server.close()

    again = await session(room, secret)
    await asyncio.sleep(0.8)

    assert (await Room.objects.aget()).disconnected_at is None
    await again.close()


async def test_a_removed_room_tells_its_game_server_to_terminate(make_room):
    from rooms.services import rooms_notify_removed, rooms_remove

    room, secret = await in_thread(make_room, Room.RUNNING)
    server = await session(room, secret)

    removals = await in_thread(rooms_remove, Room.objects.filter(pk=room.pk))
    await rooms_notify_removed(removals, reason="gone")

    assert await server.receive() == {"jsonrpc": "2.0", "method": "terminate"}
    assert await server.ws.receive_output(2) == {
        "type": "websocket.close",
        "code": 4410,
        "reason": "The room was removed.",
    }


async def test_an_answered_heartbeat_undoes_a_late_disconnect_of_a_replaced_session(make_room):
    room, secret = await in_thread(make_room, Room.RUNNING)
    with override_settings(GAMESERVER_HEARTBEAT_SECONDS=0.2):
        server = await session(room, secret)
        # The old session of this game server noticed its socket closing only now.
        await Room.objects.filter(pk=room.pk).aupdate(disconnected_at=timezone.now())
        status = await server.receive()
        assert status == {"jsonrpc": "2.0", "method": "status", "id": status["id"]}
        await server.ws.send_json_to({"jsonrpc": "2.0", "id": status["id"], "result": {"status": "ok"}})
        for _ in range(100):
            if (await Room.objects.aget()).disconnected_at is None:
                break
            await asyncio.sleep(0.02)
    assert (await Room.objects.aget()).disconnected_at is None
    await server.close()
