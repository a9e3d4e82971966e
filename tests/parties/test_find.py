"""WEB SOCKET /parties/.../session: find a party by `party_filter` (DESIGN.md §5), maybe create one."""

from __future__ import annotations

import pytest

from parties.models import Party

from .test_sessions import db, party_of, party_with

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(region, version, configuration):
    return configuration


async def test_find_joins_the_open_party_whose_settings_match(sessions, demo):
    _, [other] = await party_with(sessions, "olga", party_settings={"mode": "duel", "level": 9})
    party_id, [alice] = await party_with(sessions, "alice", party_settings={"mode": "duel", "level": 3})

    bob = sessions.find(
        "bob", party_filter={"mode": "duel", "level": {"@func": "<", "@value": 5}}, member_profile={"x": 1}
    )
    info = await bob.open()

    assert party_of(info) == party_id
    assert info["members"] == [
        {"account": "alice", "role": 1000, "profile": {}},
        {"account": "bob", "role": 0, "profile": {"x": 1}},
    ]
    assert await alice.message() == ("player_joined", {"account": "bob", "profile": {"x": 1}})
    await other.silent()


async def test_find_skips_full_parties(sessions, demo):
    await party_with(sessions, "alice", "bob", max_members=2, party_settings={"mode": "duel"})

    refused = await sessions.find("carol", party_filter={"mode": "duel"}).refused()

    assert refused == (4404, "No party matches party_filter.")


async def test_find_needs_a_party_filter(sessions, demo):
    refused = await sessions.find("bob").refused()

    assert refused == (4400, "Bad arguments: party_filter: This field is required.")


async def test_find_refuses_a_malformed_party_filter(sessions, demo):
    code, reason = await sessions.find("bob", party_filter={"mode": {"@func": "like"}}).refused()

    assert code == 4400
    assert reason.startswith("Bad arguments: party_filter: ")


async def test_find_with_auto_create_needs_scope_party_create(sessions, demo):
    refused = await sessions.find("bob", ["party"], party_filter={"mode": "duel"}, auto_create=True).refused()

    assert refused == (4403, "This session needs the scope 'party_create'.")


async def test_find_creates_a_party_with_the_create_arguments_when_none_matches(sessions, demo):
    bob = sessions.find(
        "bob",
        party_filter={"mode": "duel"},
        auto_create=True,
        create_party_settings={"mode": "duel"},
        create_room_settings={"map": "dust"},
        create_room_filters={"map": "dust"},
        max_members=4,
        create_auto_start=False,
        create_auto_close=False,
        member_profile={"x": 1},
    )

    info = await bob.open()

    assert info == {
        "party": {"id": party_of(info), "num_members": 1, "max_members": 4, "settings": {"mode": "duel"}},
        "members": [{"account": "bob", "role": 1000, "profile": {"x": 1}}],
    }
    party = await db(Party.objects.get, pk=party_of(info))
    assert (party.room_settings, party.room_filters, party.auto_start, party.auto_close) == (
        {"map": "dust"},
        {"map": "dust"},
        False,
        False,
    )
