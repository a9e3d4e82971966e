"""A dropped session counts as leave_party only after the reconnect grace period (spec/parties.md)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from parties import services
from parties.models import Party, PartyMember, PartySession

from .test_sessions import db, party_with

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(region, version, configuration):
    return configuration


async def test_a_member_reconnecting_within_the_grace_keeps_its_membership(sessions, demo, settings):
    settings.PARTY_RECONNECT_GRACE_SECONDS = 30
    party_id, [alice, bob] = await party_with(sessions, "alice", "bob", max_members=3)
    await db(PartyMember.objects.filter(account="bob").update, role=500)

    await bob.disconnect()
    again = sessions.connect("bob", party_id, member_profile={"new": True})
    info = await again.open()

    assert info["party"]["num_members"] == 2
    assert info["members"][1] == {"account": "bob", "role": 500, "profile": {}}
    await alice.silent()
    [check] = list(services._background)
    check.cancel()  # the grace check would find bob connected; it need not wait 30 s to say so
    settings.PARTY_RECONNECT_GRACE_SECONDS = 0.01


async def test_the_grace_check_finds_the_reconnected_member_and_keeps_it(sessions, demo, settings):
    settings.PARTY_RECONNECT_GRACE_SECONDS = 0.3
    party_id, [alice, bob] = await party_with(sessions, "alice", "bob", max_members=3)

    await bob.disconnect()
    await sessions.connect("bob", party_id).open()
    await services.background_idle()

    assert await db(PartyMember.objects.filter(party_id=party_id, account="bob").exists)
    await alice.silent()


async def test_a_member_that_does_not_come_back_leaves_after_the_grace(sessions, demo):
    party_id, [alice, bob] = await party_with(sessions, "alice", "bob", max_members=3)

    await bob.disconnect()

    assert await alice.message() == ("player_left", {"account": "bob", "profile": {}})
    assert not await db(PartyMember.objects.filter(party_id=party_id, account="bob").exists)


async def test_a_member_with_another_session_open_does_not_leave(sessions, demo):
    party_id, [alice, bob] = await party_with(sessions, "alice", "bob", max_members=3)
    second = sessions.connect("bob", party_id)
    await second.open()

    await bob.disconnect()
    await services.background_idle()

    assert await db(PartyMember.objects.filter(party_id=party_id, account="bob").exists)
    await alice.silent()
    assert await db(PartySession.objects.filter(party_id=party_id, account="bob").count) == 1


async def test_the_last_member_dropping_closes_an_auto_close_party(sessions, demo):
    party_id, [alice] = await party_with(sessions, "alice")
    watcher = sessions.connect("carol", party_id, auto_join=False)
    await watcher.open()

    await alice.disconnect()

    assert await watcher.messages(2) == [("player_left", {"account": "alice", "profile": {}}), ("party_closed", None)]
    assert await watcher.closed() == (4410, "The party is closed.")
    assert not await db(Party.objects.filter(pk=party_id).exists)


async def test_a_watcher_dropping_changes_nothing(sessions, demo):
    party_id, [alice] = await party_with(sessions, "alice")
    watcher = sessions.connect("carol", party_id, auto_join=False)
    await watcher.open()

    await watcher.disconnect()
    await services.background_idle()

    await alice.silent()
    assert not await db(PartySession.objects.filter(account="carol").exists)


async def test_open_sessions_are_marked_seen_and_a_closed_one_no_longer(sessions, demo, settings):
    settings.PARTY_SESSION_HEARTBEAT_SECONDS = 0.05
    long_ago = timezone.now() - timedelta(hours=1)
    _, [_alice, bob] = await party_with(sessions, "alice", "bob", max_members=3)
    await bob.disconnect()
    await db(PartySession.objects.update, seen_at=long_ago)  # alice's row, and nothing else

    async def refreshed() -> bool:
        seen = await db(lambda: list(PartySession.objects.values_list("account", "seen_at")))
        return [account for account, at in seen if at > long_ago] == ["alice"]

    for _ in range(100):
        if await refreshed():
            break
        await asyncio.sleep(0.02)
    assert await refreshed()
    assert await db(lambda: list(PartySession.objects.values_list("account", flat=True))) == ["alice"]
