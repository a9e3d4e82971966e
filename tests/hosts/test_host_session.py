"""/host/session: the host agent protocol over the real ASGI app."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from hosts.models import Host
from rooms.models import Room, Slot
from tests.hosts.fakes import FakeAgent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layer")]


@pytest.fixture
def make_room(region, version, configuration):
    def make(host: Host, state: str = Room.RUNNING) -> Room:
        room = Room(
            application=version.application, version=version, configuration=configuration, region=region,
            host=host, state=state, ports=[7000], pid=1,
        )  # fmt: skip
        room.set_secret()
        room.save()
        Slot.reserve(room=room, account="alice", ttl=30)[0].save()
        return room

    return database_sync_to_async(make)


async def eventually(condition, timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_announce_registers_a_healthy_host(region):
    agent = FakeAgent(address="10.0.0.9")

    reply = await agent.announce(capacity=4)

    host = await Host.objects.aget()
    assert reply == {"jsonrpc": "2.0", "result": {"host_id": str(host.pk)}, "id": 1}
    assert (host.address, host.capacity, host.connected, host.enabled) == ("10.0.0.9", 4, True, True)
    assert host.channel_name and host.last_seen is not None
    await agent.close()
    await eventually(lambda: Host.objects.filter(connected=False, channel_name="").aexists())


async def test_announce_for_an_unknown_region_is_refused(region):
    agent = FakeAgent(region="mars")

    reply = await agent.announce()

    assert reply["error"] == {"code": 404, "message": "No region named 'mars'.", "data": {"code": "unknown_region"}}
    assert not await Host.objects.aexists()
    await agent.close()


async def test_calls_before_announce_are_refused(region):
    agent = FakeAgent()
    await agent.connect()

    reply = await agent.call("load", {"cpu": 1, "memory": 2})

    assert reply["error"] == {"code": 409, "message": "Call announce first."}
    await agent.close()


@pytest.mark.parametrize(("scopes", "code"), [(["game"], 4403)])
async def test_a_host_session_needs_the_game_host_scope(region, scopes, code):
    agent = FakeAgent(scopes=scopes)
    await agent.connect()

    assert await agent.ws.receive_output(2) == {
        "type": "websocket.close",
        "code": code,
        "reason": "This session needs the scope 'game_host'.",
    }


async def test_load_reports_update_the_host(region):
    agent = FakeAgent()
    await agent.announce()

    reply = await agent.call("load", {"cpu": 12.5, "memory": 40, "rooms": ["1", "2"]})

    assert reply["result"] == {}
    host = await Host.objects.aget()
    assert (host.cpu, host.memory, host.rooms_running) == (12.5, 40.0, 2)
    bad = await agent.call("load", {"cpu": "high"})
    assert bad["error"]["code"] == -32602
    await agent.close()


async def test_an_exited_game_server_loses_its_room(region, make_room):
    agent = FakeAgent()
    await agent.announce()
    room = await make_room(await Host.objects.aget())

    reply = await agent.call("exited", {"room_id": str(room.pk), "code": 0, "output_tail": "bye"})

    assert reply["result"] == {}
    assert not await Room.objects.aexists()
    assert not await Slot.objects.aexists()
    await agent.close()


async def test_an_exit_of_a_room_id_that_is_no_number_changes_nothing(region, make_room):
    agent = FakeAgent()
    await agent.announce()
    await make_room(await Host.objects.aget())

    # "²" is a digit to str.isdigit() but not to int(): it was an internal error.
    reply = await agent.call("exited", {"room_id": "\u00b2", "code": 0})

    assert reply == {"jsonrpc": "2.0", "result": {}, "id": 2}
    assert await Room.objects.acount() == 1
    await agent.close()


async def test_a_frame_with_a_number_beyond_a_float_gets_a_parse_error_and_the_session_stays_open(region):
    agent = FakeAgent()
    await agent.announce()

    # The id decoded to inf: answering it failed and the socket closed with 1011.
    await agent.ws.send_to(text_data='{"jsonrpc": "2.0", "method": "load", "id": 1e400}')

    assert await agent.receive() == {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}
    assert (await agent.call("load", {"cpu": 0.5, "memory": 0.25}))["result"] == {}
    await agent.close()


async def test_a_reconnecting_agent_reconciles_its_rooms(region, make_room):
    agent = FakeAgent()
    await agent.announce()
    host = await Host.objects.aget()
    kept, lost = await make_room(host), await make_room(host)
    await agent.close()

    again = FakeAgent()
    reply = await again.announce(rooms=[str(kept.pk), "999"])

    # Rooms it no longer runs go; a game server the master does not know is stopped.
    assert reply["result"] == {"host_id": str(host.pk)}
    assert [room.pk async for room in Room.objects.all()] == [kept.pk]
    assert not await Room.objects.filter(pk=lost.pk).aexists()
    assert await again.next_request("terminate") == {
        "jsonrpc": "2.0",
        "method": "terminate",
        "params": {"room_id": "999"},
    }
    await again.close()


@override_settings(HOST_GRACE_SECONDS=0.3)
async def test_a_lost_host_loses_its_rooms_after_the_grace_period(region, make_room):
    agent = FakeAgent()
    await agent.announce()
    await make_room(await Host.objects.aget())

    await agent.close()

    await eventually(lambda: Host.objects.filter(connected=False).aexists())
    await eventually(lambda: _no_rooms())


async def _no_rooms() -> bool:
    return not await Room.objects.aexists()


async def test_a_newer_session_of_the_same_host_replaces_the_old_one(region):
    old, new = FakeAgent(), FakeAgent()
    await old.announce()

    await new.announce()

    assert await old.ws.receive_output(2) == {
        "type": "websocket.close",
        "code": 4409,
        "reason": "Replaced by a newer session of the same host.",
    }
    await asyncio.sleep(0.1)
    host = await Host.objects.aget()
    assert host.connected
    await new.close()
