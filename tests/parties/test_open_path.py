"""The session open path (bench/RESULTS.md, scenario 5): few queries, and no change told twice."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from parties import events, services
from parties.models import Party, PartyMember, PartySession

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_opening_a_joining_session_takes_four_statements_in_its_transaction(party, django_assert_num_queries):
    # BEGIN, lock (and touch) the party, read its members, insert the member and the session, COMMIT.
    with django_assert_num_queries(6):
        opened = services.session_open(
            party_id=party.pk, account="bob", channel_name="test.bob", join=services.JoinRequest(profile={"clan": "Y"})
        )
    assert opened.info == {
        "party": {"id": party.pk, "num_members": 2, "max_members": 3, "settings": {}},
        "members": [
            {"account": "alice", "role": 1000, "profile": {}},
            {"account": "bob", "role": 0, "profile": {"clan": "Y"}},
        ],
    }
    assert opened.change == Party.objects.get(pk=party.pk).changes == 1
    assert PartySession.objects.filter(party=party, account="bob", channel_name="test.bob").exists()
    assert PartyMember.objects.get(party=party, account="bob").profile == {"clan": "Y"}


def test_every_locked_change_counts(party):
    first = services.session_open(party_id=party.pk, account="bob", channel_name="test.bob", join=None)
    services.party_join(party_id=party.pk, account="bob", join=services.JoinRequest())
    services.party_leave(party_id=party.pk, account="bob")
    assert Party.objects.get(pk=party.pk).changes == first.change + 2


async def test_a_session_drops_what_its_party_call_already_showed(sessions, party):
    # The pub/sub layer hands a process's sessions what Redis sends back after they joined the
    # group, so a change made before the open can reach a session that already shows it.
    session = sessions.connect("bob", party.pk, auto_join=False)
    await session.open()
    shown = (await database_sync_to_async(Party.objects.get)(pk=party.pk)).changes
    told = {"type": "party.message", "message_type": "player_left", "payload": {"account": "x", "profile": {}}}
    layer = get_channel_layer()
    await layer.group_send(events.party_group(party.pk), {**told, "change": shown})
    await session.silent()
    await layer.group_send(events.party_group(party.pk), {**told, "change": shown + 1})
    assert await session.message() == ("player_left", {"account": "x", "profile": {}})
