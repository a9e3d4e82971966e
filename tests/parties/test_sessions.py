"""Party sessions through real WebSockets on the ASGI app (spec/parties.md, "Sessions")."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from bans.models import Ban
from parties.models import CloseCallback, Party, PartyMember, PartySession

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(region, version, configuration):
    return configuration


@database_sync_to_async
def db(func, *args, **kwargs):
    return func(*args, **kwargs)


def party_of(info):
    return info["party"]["id"]


async def party_with(sessions, *accounts, **query):
    """A party created by the first account, joined by the others; every session drained."""
    query.setdefault("auto_start", False)
    first = sessions.create(accounts[0], **query)
    info = await first.open()
    party_id = party_of(info)
    opened = [first]
    for account in accounts[1:]:
        session = sessions.connect(account, party_id)
        await session.open()
        for earlier in opened:
            assert await earlier.message() == ("player_joined", {"account": account, "profile": {}})
        opened.append(session)
    return party_id, opened


# --- opening sessions ---------------------------------------------------------------------------


async def test_create_session_opens_with_the_party_call_and_the_creator_joined(sessions, demo):
    alice = sessions.create("alice", max_members=3, party_settings={"map": "dust"}, member_profile={"clan": "X"})

    info = await alice.open()

    assert info == {
        "party": {"id": party_of(info), "num_members": 1, "max_members": 3, "settings": {"map": "dust"}},
        "members": [{"account": "alice", "role": 1000, "profile": {"clan": "X"}}],
    }
    await alice.silent()


async def test_a_second_member_joins_and_everyone_is_told(sessions, demo):
    alice = sessions.create("alice", max_members=3)
    party_id = party_of(await alice.open())

    bob = sessions.connect("bob", party_id, member_profile={"level": 3})
    info = await bob.open()

    assert info == {
        "party": {"id": party_id, "num_members": 2, "max_members": 3, "settings": {}},
        "members": [
            {"account": "alice", "role": 1000, "profile": {}},
            {"account": "bob", "role": 0, "profile": {"level": 3}},
        ],
    }
    assert await alice.message() == ("player_joined", {"account": "bob", "profile": {"level": 3}})


async def test_the_token_may_come_in_the_authorization_header(sessions, demo, make_token):
    alice = sessions.create(None)
    alice.communicator.scope["headers"] = [(b"authorization", f"Bearer {make_token('alice')}".encode())]

    info = await alice.open()

    assert info["members"] == [{"account": "alice", "role": 1000, "profile": {}}]


async def test_a_watching_session_does_not_count_and_can_join_later(sessions, demo):
    party_id, [alice] = await party_with(sessions, "alice", max_members=2)
    carol = sessions.connect("carol", party_id, auto_join="false")

    info = await carol.open()

    assert info["party"]["num_members"] == 1
    await alice.silent()
    assert await carol.ok("join_party", {"member_profile": {"x": 1}}) == "OK"
    assert await carol.message() == ("player_joined", {"account": "carol", "profile": {"x": 1}})
    assert await alice.message() == ("player_joined", {"account": "carol", "profile": {"x": 1}})


async def test_the_creator_watching_first_gets_role_1000_when_it_joins(sessions, demo):
    alice = sessions.create("alice", auto_join="false")
    party_id = party_of(await alice.open())

    assert await alice.ok("join_party") == "OK"

    member = await db(PartyMember.objects.get, party_id=party_id, account="alice")
    assert member.role == 1000


@pytest.mark.parametrize(
    ("scopes", "code", "reason"),
    [
        ([], 4403, "This session needs the scope 'party_create'."),
        (["party"], 4403, "This session needs the scope 'party_create'."),
    ],
)
async def test_create_session_needs_scope_party_create(sessions, demo, scopes, code, reason):
    assert await sessions.create("alice", scopes).refused() == (code, reason)


async def test_sessions_need_a_token(sessions, demo):
    assert await sessions.create(None).refused() == (
        4401,
        "A token is required (access_token argument or Authorization header).",
    )


async def test_an_invalid_token_is_refused(sessions, demo):
    session = sessions.raw("/party/create/demo/1.0/default/session?access_token=garbage")

    code, reason = await session.refused()

    assert (code, reason) == (4401, "The token is not valid: Not enough segments.")


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"max_members": 1}, "Bad arguments: max_members: Ensure this value is greater than or equal to 2."),
        ({"member_profile": "[1]"}, "Bad arguments: member_profile: Must be a JSON object."),
        ({"auto_join": "maybe"}, "Bad arguments: auto_join: Must be true, false, 1 or 0."),
        ({"region": "mars"}, "Bad arguments: region: No region named 'mars'."),
        # Values no database can store failed the handshake with a 500.
        (
            {"member_profile": '{"a": "\\u0000"}'},
            "Bad arguments: member_profile: Strings may not contain NUL characters or unpaired surrogates.",
        ),
        ({"party_settings": '{"a": NaN}'}, "Bad arguments: party_settings: Not valid JSON: NaN is not valid JSON."),
        ({"room_settings": {"a": 2**64}}, "Bad arguments: room_settings: Integers must fit in 64 bits."),
    ],
)
async def test_create_session_refuses_bad_arguments_with_4400(sessions, demo, query, reason):
    assert await sessions.create("alice", **query).refused() == (4400, reason)
    assert not await db(Party.objects.exists)


async def test_create_session_refuses_an_unknown_game_with_4404(sessions, demo):
    assert await sessions.create("alice", game="nope/1.0/default").refused() == (4404, "No game named 'nope'.")


@pytest.mark.parametrize(("path", "party_id"), [("nope", "nope"), ("no%00pe", "no\x00pe")])  # a NUL: was a 500
async def test_connecting_to_an_unknown_party_is_refused_with_4404(sessions, demo, path, party_id):
    assert await sessions.connect("bob", path).refused() == (4404, f"No party '{party_id}'.")


async def test_connect_session_needs_scope_party(sessions, demo):
    party_id, _ = await party_with(sessions, "alice")

    assert await sessions.connect("bob", party_id, ["party_create"]).refused() == (
        4403,
        "This session needs the scope 'party'.",
    )


async def test_a_full_party_refuses_a_joining_session_with_4406_but_lets_it_watch(sessions, demo):
    party_id, [alice, _bob] = await party_with(sessions, "alice", "bob", max_members=2)

    assert await sessions.connect("carol", party_id).refused() == (4406, "The party is full (2 members).")
    watcher = sessions.connect("carol", party_id, auto_join=False)
    assert (await watcher.open())["party"]["num_members"] == 2
    await alice.silent()


async def test_a_failed_member_check_refuses_the_session_with_4409(sessions, demo):
    alice = sessions.create("alice", member_profile={"clan": "X"}, auto_start=False)
    party_id = party_of(await alice.open())
    check = {
        "members": {
            "@func": "<",
            "@cond": 1,
            "@value": {"@func": "num_child_where", "@test": "==", "@field": "clan", "@cond": "X"},
        }
    }

    refused = await sessions.connect("bob", party_id, check_members=check).refused()

    assert refused == (4409, "The member check failed: the count of members where clan == 'X' is 1, not < 1.")
    assert await db(PartyMember.objects.filter(party_id=party_id).count) == 1


async def test_a_malformed_member_check_is_refused_with_4400(sessions, demo):
    party_id, _ = await party_with(sessions, "alice")

    refused = await sessions.connect(
        "bob", party_id, check_members={"members": {"@func": "like", "@cond": 1}}
    ).refused()

    assert refused[0] == 4400
    assert refused[1].startswith("Bad arguments: check_members: members: unknown @func 'like'")


async def test_a_banned_account_is_refused_with_4423(sessions, demo):
    party_id, _ = await party_with(sessions, "alice")
    await db(Ban.objects.create, account="bob", reason="cheating", expires_at=timezone.now() + timedelta(days=1))

    code, reason = await sessions.connect("bob", party_id).refused()

    assert code == 4423
    assert reason.startswith("This account is banned until ")
    assert reason.endswith(" UTC: cheating.")


async def test_a_banned_ip_is_refused_with_4423(sessions, demo):
    await db(Ban.objects.create, account="mallory", ip="10.0.0.9", expires_at=timezone.now() + timedelta(days=1))
    session = sessions.create("bob")
    session.communicator.scope["client"] = ("10.0.0.9", 4000)

    code, _ = await session.refused()

    assert code == 4423


async def test_a_starting_party_refuses_joining_with_4409(sessions, demo):
    party_id, _ = await party_with(sessions, "alice")
    await db(Party.objects.filter(pk=party_id).update, state=Party.STARTING, starting_at=timezone.now())

    assert await sessions.connect("bob", party_id).refused() == (4409, "The party is starting its game.")


async def test_a_party_left_starting_by_a_dead_process_counts_as_open(sessions, demo):
    party_id, _ = await party_with(sessions, "alice")
    long_ago = timezone.now() - timedelta(seconds=demo.spawn_timeout + 31)
    await db(Party.objects.filter(pk=party_id).update, state=Party.STARTING, starting_at=long_ago)

    info = await sessions.connect("bob", party_id).open()

    assert info["party"]["num_members"] == 2
    party = await db(Party.objects.get, pk=party_id)
    assert (party.state, party.starting_at) == ("open", None)


# --- methods ------------------------------------------------------------------------------------


async def test_send_message_reaches_everyone_the_sender_included(sessions, demo):
    party_id, [alice, bob] = await party_with(sessions, "alice", "bob", max_members=3)
    watcher = sessions.connect("carol", party_id, auto_join=False)
    await watcher.open()

    assert await bob.ok("send_message", {"payload": {"text": "gg"}}) == "OK"

    for session in (alice, bob, watcher):
        assert await session.message() == ("custom", {"text": "gg"})


async def test_join_party_refuses_an_account_that_already_joined(sessions, demo):
    _, [alice] = await party_with(sessions, "alice")

    response = await alice.call("join_party", {})

    assert response["error"] == {
        "code": 409,
        "message": "You already joined this party.",
        "data": {"code": "already_joined"},
    }


async def test_join_party_refuses_a_full_party(sessions, demo):
    party_id, [_alice, _bob] = await party_with(sessions, "alice", "bob", max_members=2)
    carol = sessions.connect("carol", party_id, auto_join=False)
    await carol.open()

    response = await carol.call("join_party", {"member_profile": {}})

    assert response["error"] == {
        "code": 406,
        "message": "The party is full (2 members).",
        "data": {"code": "party_full"},
    }


async def test_join_party_refuses_a_failed_member_check(sessions, demo):
    party_id, _ = await party_with(sessions, "alice", "bob", max_members=3)
    carol = sessions.connect("carol", party_id, auto_join=False)
    await carol.open()
    check = {
        "members": {
            "@func": "==",
            "@cond": 3,
            "@value": {"@func": "num_child_where", "@test": "exists", "@field": "account"},
        }
    }

    response = await carol.call("join_party", {"check_members": check})

    assert response["error"] == {
        "code": 409,
        "message": "The member check failed: the count of members where account exists is 2, not == 3.",
        "data": {"code": "member_check_failed"},
    }


async def test_join_party_refuses_a_starting_party(sessions, demo):
    party_id, _ = await party_with(sessions, "alice")
    carol = sessions.connect("carol", party_id, auto_join=False)
    await carol.open()
    await db(Party.objects.filter(pk=party_id).update, state=Party.STARTING, starting_at=timezone.now())

    response = await carol.call("join_party", {})

    assert response["error"] == {
        "code": 409,
        "message": "The party is starting its game.",
        "data": {"code": "party_starting"},
    }


async def test_join_party_refuses_bad_params_and_the_session_stays_open(sessions, demo):
    _, [alice] = await party_with(sessions, "alice")

    response = await alice.call("join_party", {"member_profile": [1]})

    assert response["error"] == {
        "code": -32602,
        "message": "Invalid params",
        "data": {"member_profile": ['Expected a dictionary of items but got type "list".']},
    }
    assert await alice.ok("send_message", {"payload": 1}) == "OK"


@pytest.mark.parametrize(
    ("method", "params", "error"),
    [
        # Over the Redis channel layer (msgpack) a 70-bit integer was an internal error.
        ("send_message", {"payload": [2**70]}, {"payload": ["Integers must fit in 64 bits."]}),
        # PostgreSQL refused the NUL: an internal error.
        (
            "join_party",
            {"member_profile": {"name": "\x00"}},
            {"member_profile": ["Strings may not contain NUL characters or unpaired surrogates."]},
        ),
    ],
)
async def test_params_no_database_or_channel_layer_can_carry_are_invalid(sessions, demo, method, params, error):
    party_id, [alice] = await party_with(sessions, "alice", auto_join=False)

    response = await alice.call(method, params)

    assert response["error"] == {"code": -32602, "message": "Invalid params", "data": error}
    assert not await db(PartyMember.objects.filter(party_id=party_id).exists)
    assert await alice.ok("send_message", {"payload": "alive"}) == "OK"


async def test_leave_party_tells_everyone_and_the_session_stays_open(sessions, demo):
    party_id, [alice, bob] = await party_with(sessions, "alice", "bob", max_members=3)

    assert await bob.ok("leave_party") == "OK"

    assert await alice.message() == ("player_left", {"account": "bob", "profile": {}})
    assert await bob.message() == ("player_left", {"account": "bob", "profile": {}})
    assert await bob.ok("send_message", {"payload": "still here"}) == "OK"
    assert await db(PartyMember.objects.filter(party_id=party_id).count) == 1


async def test_leave_party_refuses_a_session_that_has_not_joined(sessions, demo):
    party_id, _ = await party_with(sessions, "alice")
    carol = sessions.connect("carol", party_id, auto_join=False)
    await carol.open()

    response = await carol.call("leave_party")

    assert response["error"] == {
        "code": 409,
        "message": "You have not joined this party.",
        "data": {"code": "not_joined"},
    }


async def test_the_last_member_leaving_closes_an_auto_close_party(sessions, demo):
    party_id, [alice] = await party_with(sessions, "alice")
    carol = sessions.connect("carol", party_id, auto_join=False)
    await carol.open()

    assert await alice.ok("leave_party") == "OK"

    assert await carol.messages(2) == [("player_left", {"account": "alice", "profile": {}}), ("party_closed", None)]
    assert await carol.closed() == (4410, "The party is closed.")
    assert await alice.closed() == (4410, "The party is closed.")
    assert not await db(Party.objects.filter(pk=party_id).exists)


async def test_the_last_member_leaving_keeps_a_party_without_auto_close(sessions, demo):
    party_id, [alice] = await party_with(sessions, "alice", auto_close=False)

    assert await alice.ok("leave_party") == "OK"

    assert await alice.message() == ("player_left", {"account": "alice", "profile": {}})
    await alice.silent()
    assert await db(Party.objects.filter(pk=party_id).exists)


async def test_start_game_needs_role_500(sessions, demo):
    party_id, [alice, bob] = await party_with(sessions, "alice", "bob", max_members=3)
    carol = sessions.connect("carol", party_id, auto_join=False)
    await carol.open()

    for session in (bob, carol):
        response = await session.call("start_game", {"message": "go"})
        assert response["error"] == {
            "code": 403,
            "message": "Starting the game needs role 500.",
            "data": {"code": "role_too_low"},
        }
    party = await db(Party.objects.get, pk=party_id)
    assert party.state == "open"
    await alice.silent()


async def test_start_game_refuses_a_party_already_starting(sessions, demo):
    party_id, [alice] = await party_with(sessions, "alice")
    await db(Party.objects.filter(pk=party_id).update, state=Party.STARTING, starting_at=timezone.now())

    response = await alice.call("start_game")

    assert response["error"] == {
        "code": 409,
        "message": "The party is already starting its game.",
        "data": {"code": "party_starting"},
    }


async def test_close_party_needs_role_1000(sessions, demo):
    party_id, [_alice, bob] = await party_with(sessions, "alice", "bob", max_members=3)
    await db(PartyMember.objects.filter(account="bob").update, role=500)

    response = await bob.call("close_party")

    assert response["error"] == {
        "code": 403,
        "message": "Closing the party needs role 1000.",
        "data": {"code": "role_too_low"},
    }
    assert await db(Party.objects.filter(pk=party_id).exists)


async def test_close_party_tells_everyone_and_closes_every_session(sessions, demo):
    party_id, [alice, bob] = await party_with(sessions, "alice", "bob", max_members=3)
    carol = sessions.connect("carol", party_id, auto_join=False)
    await carol.open()

    assert await alice.ok("close_party", {"message": {"bye": 1}}) == "OK"

    for session in (alice, bob, carol):
        assert await session.message() == ("party_closed", {"bye": 1})
        assert await session.closed() == (4410, "The party is closed.")
    assert not await db(Party.objects.filter(pk=party_id).exists)
    assert not await db(PartySession.objects.exists)


async def test_close_party_answers_the_close_callback_answer(sessions, demo, callback_server):
    await db(CloseCallback.objects.create, name="scores", url=callback_server.url, secret="s")
    callback_server.answer = b'{"saved": true}'
    alice = sessions.create("alice", close_callback="scores")
    party_id = party_of(await alice.open())

    assert await alice.ok("close_party", {"message": "done"}) == {"saved": True}

    assert json.loads(callback_server.calls[0]["body"]) == {
        "party": {"id": party_id, "num_members": 1, "max_members": 8, "settings": {}},
        "message": "done",
        "reason": "closed",
    }
    assert await alice.message() == ("party_closed", "done")


async def test_delete_tells_every_session_party_closed(sessions, demo, api):
    party_id, [alice] = await party_with(sessions, "alice")

    response = await database_sync_to_async(api.as_("op", ["party_close"]).delete)(f"/party/{party_id}")

    assert response.status_code == 200
    assert await alice.message() == ("party_closed", None)
    assert await alice.closed() == (4410, "The party is closed.")


# --- bad frames ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "reply"),
    [
        ("{not json", {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}),
        (
            '{"jsonrpc": "2.0", "id": 7}',
            {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": 7},
        ),
        (
            '{"jsonrpc": "2.0", "method": "fly", "id": 8}',
            {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": 8},
        ),
        (
            '{"jsonrpc": "2.0", "method": "send_message", "params": {}, "id": 9}',
            {
                "jsonrpc": "2.0",
                "error": {
                    "code": -32602,
                    "message": "Invalid params",
                    "data": {"payload": ["This field is required."]},
                },
                "id": 9,
            },
        ),
    ],
)
async def test_bad_frames_get_json_rpc_errors_and_the_session_stays_open(sessions, demo, frame, reply):
    _, [alice] = await party_with(sessions, "alice")

    await alice.send_raw(frame)

    assert await alice.reply() == reply
    assert await alice.ok("send_message", {"payload": "alive"}) == "OK"
    assert await alice.message() == ("custom", "alive")


async def test_the_client_may_answer_server_messages(sessions, demo):
    _, [alice] = await party_with(sessions, "alice")

    await alice.send_raw('{"jsonrpc": "2.0", "result": "thanks", "id": "s1"}')

    assert await alice.ok("send_message", {"payload": 1}) == "OK"
