"""POST /create and /create/multi through the real ASGI app, with an in-process host agent and game
server speaking the real protocol (tests/hosts/test_processes.py runs the real programs)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from django.test import AsyncClient, override_settings
from django.utils import timezone

from bans.models import Ban
from gamemaster.auth import encode_token
from hosts.models import Host
from rooms.models import Room, Slot
from tests.hosts.fakes import FakeAgent, fresh_layer, serve_one_spawn  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layer")]

CREATE = "/create/demo/1.0/default"
MULTI = "/create/multi/demo/1.0/default"


async def post(path: str, account: str = "alice", scopes: list[str] | None = None, **data):
    token = encode_token(account=account, scopes=scopes or ["game"])
    response = await AsyncClient().post(
        path, data, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code, response.json(), response


@pytest.fixture
def setup(region, version, configuration):
    configuration.spawn_timeout = 2
    configuration.save()
    return configuration


async def test_create_answers_once_the_game_server_is_ready(setup):
    agent = FakeAgent()
    await agent.announce()

    (status, body, _), server = await asyncio.gather(
        post(CREATE, settings={"map": "dust", "mode": "ffa"}),
        serve_one_spawn(agent, ports=[7001, 7002], inited={"mode": "ctf", "round": 1}),
    )

    assert status == 200, body
    room = await Room.objects.aget()
    slot = await Slot.objects.aget()
    assert body == {
        "id": str(room.pk),
        "settings": {"map": "dust", "mode": "ctf", "round": 1},
        "players": 1,
        "max_players": 8,
        "game_name": "demo",
        "game_version": "1.0",
        "location": {"host": "10.0.0.1", "ports": [7001, 7002]},
        "slot": str(slot.pk),
        "key": body["key"],
    }
    assert (room.state, room.pid, room.created_by) == (Room.RUNNING, 4242, "alice")
    assert len(body["key"]) >= 22 and slot.key_hash != body["key"]
    # The reservation's clock starts when the game server is ready.
    assert slot.expires_at > timezone.now() + timedelta(seconds=setup.reservation_ttl - 3)
    assert slot.expires_at <= timezone.now() + timedelta(seconds=setup.reservation_ttl)
    params = server.spawn_params
    assert params["command"] == "/bin/true" and params["ports"] == 1
    assert params["env"] == {
        "game_max_players": "8",
        "room_settings": '{"map": "dust", "mode": "ffa"}',
        "server_settings": "{}",
    }
    assert room.check_secret(params["room_secret"])
    await server.close()
    await agent.close()


async def test_create_multi_reserves_a_slot_per_account_and_leaves_banned_ones_out(setup):
    ban = await Ban.objects.acreate(account="3", reason="cheating", expires_at=timezone.now() + timedelta(days=1))
    agent = FakeAgent()
    await agent.announce()

    (status, body, _), server = await asyncio.gather(
        post(MULTI, "lobby", ["game", "game_multi"], accounts=["1", 2, {"account": "3", "ip": "10.1.1.1"}]),
        serve_one_spawn(agent),
    )

    assert status == 200, body
    room = await Room.objects.aget()
    slots = {slot.account: slot async for slot in Slot.objects.all()}
    assert set(slots) == {"1", "2"}
    assert body == {
        "id": str(room.pk),
        "settings": {},
        "slots": {
            account: {"slot": str(slots[account].pk), "key": body["slots"][account]["key"]} for account in ("1", "2")
        },
        "location": {"host": "10.0.0.1", "ports": [7000]},
        "banned": {"3": {"id": str(ban.pk), "until": body["banned"]["3"]["until"], "reason": "cheating"}},
    }
    assert room.created_by == "lobby"
    await server.close()
    await agent.close()


async def test_create_multi_with_every_account_banned_is_423(setup):
    await Ban.objects.acreate(account="1", reason="spam", expires_at=timezone.now() + timedelta(days=1))

    status, body, response = await post(MULTI, "lobby", ["game", "game_multi"], accounts=["1"])

    assert status == 423
    assert body["code"] == "banned"
    assert response["X-Ban-Reason"] == "spam"
    assert not await Room.objects.aexists()


async def test_create_refuses_a_banned_account(setup):
    await Ban.objects.acreate(account="alice", reason="spam", expires_at=timezone.now() + timedelta(days=1))

    status, body, response = await post(CREATE)

    assert status == 423
    assert body["code"] == "banned"
    assert response["X-Ban-Id"]


@pytest.mark.parametrize(
    ("path", "code", "detail"),
    [
        ("/create/nope/1.0/default", "unknown_game", "No game named 'nope'."),
        ("/create/demo/9.9/default", "unknown_version", "Game 'demo' has no version '9.9'."),
        ("/create/demo/1.0/nope", "unknown_configuration", "Game 'demo' has no game server configuration 'nope'."),
    ],
)
async def test_create_unknown_game_version_or_configuration_is_404(setup, path, code, detail):
    status, body, _ = await post(path)

    assert (status, body) == (404, {"code": code, "detail": detail})


async def test_create_for_a_disabled_version_is_404(setup, version):
    version.enabled = False
    await version.asave()

    status, body, _ = await post(CREATE)

    assert status == 404
    assert body == {
        "code": "version_disabled",
        "detail": "Version '1.0' of 'demo' is disabled: no new rooms start for it.",
    }


async def test_create_without_a_connected_host_is_503_at_once(setup, region):
    await Host.objects.acreate(region=region, address="gone", connected=False)
    await Host.objects.acreate(region=region, address="off", connected=True, enabled=False)

    status, body, _ = await post(CREATE)

    assert (status, body) == (503, {"code": "no_host", "detail": "No host in region 'local' can take a new room now."})
    assert not await Room.objects.aexists()


async def test_create_picks_the_least_loaded_host_and_never_goes_past_capacity(setup, region):
    busy, idle = FakeAgent(address="busy"), FakeAgent(address="idle")
    await busy.announce(capacity=2)
    await idle.announce(capacity=1)
    host = await Host.objects.aget(address="busy")
    await Room.objects.acreate(
        application=setup.application, version=await setup.application.versions.aget(), configuration=setup,
        region=region, host=host, state=Room.RUNNING,
    )  # fmt: skip

    # busy: 1 of 2 used (50%); idle: 0 of 1: idle first, then busy, then nobody.
    (status, body, _), _server = await asyncio.gather(post(CREATE), serve_one_spawn(idle))
    assert (status, body["location"]["host"]) == (200, "idle")
    (status, body, _), _server = await asyncio.gather(post(CREATE, "bob"), serve_one_spawn(busy))
    assert (status, body["location"]["host"]) == (200, "busy")
    status, body, _ = await post(CREATE, "carol")
    assert (status, body["code"]) == (503, "no_host")
    await busy.close()
    await idle.close()


async def test_a_spawn_the_agent_refuses_is_503_and_leaves_nothing(setup):
    agent = FakeAgent()
    await agent.announce()

    async def refuse():
        spawn = await agent.next_request("spawn")
        await agent.answer(spawn, error={"code": 500, "message": "Cannot start /bin/nope: No such file"})

    (status, body, _), _ = await asyncio.gather(post(CREATE), refuse())

    assert status == 503
    assert body == {
        "code": "spawn_failed",
        "detail": "The host could not start the game server: Cannot start /bin/nope: No such file",
    }
    assert not await Room.objects.aexists()
    assert not await Slot.objects.aexists()
    await agent.close()


async def test_a_game_server_exiting_before_inited_is_503_at_once(setup):
    agent = FakeAgent()
    await agent.announce()

    async def crash():
        spawn = await agent.next_request("spawn")
        await agent.answer(spawn, {"pid": 7, "ports": [7000]})
        room_id = spawn["params"]["room_id"]
        await agent.ws.send_json_to(
            {"jsonrpc": "2.0", "method": "exited", "params": {"room_id": room_id, "code": 3, "output_tail": "boom"}}
        )

    (status, body, _), _ = await asyncio.gather(post(CREATE), crash())

    assert status == 503
    assert body == {"code": "spawn_failed", "detail": "The game server exited with code 3 before it was ready."}
    assert not await Room.objects.aexists()
    await agent.close()


async def test_a_game_server_that_never_inits_is_503_and_its_process_is_stopped(setup):
    agent = FakeAgent()
    await agent.announce()

    async def spawn_only():
        spawn = await agent.next_request("spawn")
        await agent.answer(spawn, {"pid": 7, "ports": [7000]})
        return spawn["params"]["room_id"]

    (status, body, _), room_id = await asyncio.gather(post(CREATE), spawn_only())

    assert (status, body) == (
        503,
        {"code": "spawn_timeout", "detail": "The game server did not become ready within 2 seconds."},
    )
    assert not await Room.objects.aexists()
    terminate = await agent.next_request("terminate")
    assert terminate["params"] == {"room_id": room_id}
    await agent.close()


async def test_create_is_rate_limited_per_account(setup):
    with override_settings(CREATE_RATE="2/min"):
        for _ in range(2):
            status, body, _ = await post("/create/demo/1.0/nope")
            assert status == 404
        status, body, response = await post("/create/demo/1.0/nope")
        other, _, _ = await post("/create/demo/1.0/nope", "bob")

    assert status == 429
    assert body["code"] == "rate_limited"
    assert body["detail"].startswith("Request was throttled.")
    assert 0 < int(response["Retry-After"]) <= 60
    assert other == 404


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"settings": "[1]"}, {"settings": ["Must be a JSON object."]}),
        (
            {"settings": "{nope"},
            {"settings": ["Not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)."]},  # noqa: E501
        ),
    ],
)  # fmt: skip
async def test_create_with_bad_settings_is_400(setup, data, fields):
    status, body, _ = await post(CREATE, **data)

    assert (status, body) == (
        400,
        {"code": "bad_arguments", "detail": "Some arguments are missing or wrong.", "fields": fields},
    )


UNSTORABLE = "Strings may not contain NUL characters or unpaired surrogates."
TOO_DEEP = "JSON nested deeper than 32 levels."


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


# Settings no database can store were a 500 on PostgreSQL (and stored on SQLite); JSON nested
# beyond Python's recursion limit was a 500 on both.
@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('{"settings": {"a": "\\u0000"}}', UNSTORABLE),
        ('{"settings": {"\\u0000": 1}}', UNSTORABLE),
        ('{"settings": {"a": ["\\ud800"]}}', UNSTORABLE),
        ('{"settings": {"a": 1e400}}', "Numbers must be finite."),
        ('{"settings": "{\\"a\\": NaN}"}', "Not valid JSON: NaN is not valid JSON."),
        ('{"settings": "{\\"a\\": -Infinity}"}', "Not valid JSON: -Infinity is not valid JSON."),
        (json.dumps({"settings": nested(33)}), TOO_DEEP),
        (json.dumps({"settings": "[" * 5000 + "]" * 5000}), "Not valid JSON: nested deeper than 32 levels."),
    ],
)
async def test_create_with_settings_no_database_can_store_is_400(setup, body, error):
    token = encode_token(account="alice", scopes=["game"])
    response = await AsyncClient().post(
        CREATE, body, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )

    assert (response.status_code, response.json()) == (
        400,
        {"code": "bad_arguments", "detail": "Some arguments are missing or wrong.", "fields": {"settings": [error]}},
    )


async def test_create_takes_settings_32_levels_deep(setup):
    agent = FakeAgent()
    await agent.announce()

    (status, body, _), server = await asyncio.gather(post(CREATE, settings=nested(32)), serve_one_spawn(agent))

    assert (status, body["settings"]) == (200, nested(32))
    await server.close()
    await agent.close()


@pytest.mark.parametrize(
    ("accounts", "error"),
    [
        (None, "This field is required."),
        ([], "Give at least one account."),
        (["1", 1], "An account is listed twice."),
        ([{"account": "1", "ip": "nope"}], "'nope' is not an IP address."),
        ([True], "An account id must be a string or an integer."),
        (["a\x00"], "Strings may not contain NUL characters or unpaired surrogates."),
        ([{"account": "\ud800"}], "Strings may not contain NUL characters or unpaired surrogates."),
    ],
)
async def test_create_multi_with_bad_accounts_is_400(setup, accounts, error):
    data = {} if accounts is None else {"accounts": accounts}
    status, body, _ = await post(MULTI, "lobby", ["game", "game_multi"], **data)

    assert (status, body) == (
        400,
        {"code": "bad_arguments", "detail": "Some arguments are missing or wrong.", "fields": {"accounts": [error]}},
    )


async def test_create_multi_with_more_accounts_than_places_is_400(setup, region):
    agent = FakeAgent()
    await agent.announce()

    status, body, _ = await post(MULTI, "lobby", ["game", "game_multi"], accounts=[str(n) for n in range(9)])

    assert (status, body) == (400, {"code": "bad_arguments", "detail": "9 players do not fit in a room of 8 players."})
    await agent.close()


async def test_create_needs_a_token_and_the_scopes(setup):
    response = await AsyncClient().post(CREATE)
    assert response.status_code == 401
    status, body, _ = await post(MULTI, "lobby", ["game"], accounts=["1"])
    assert (status, body) == (403, {"code": "missing_scope", "detail": "This request needs the scope 'game_multi'."})
