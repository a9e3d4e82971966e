from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from rooms.models import Room, Slot
from tests.rooms.factories import add_slots, make_host, make_room

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(configuration, version, region, settings):
    settings.GAMESERVER_GRACE_SECONDS = 30
    settings.HOST_GRACE_SECONDS = 30
    now = timezone.now()
    live = make_room(configuration, version, region)
    add_slots(live, 1, account="joined")
    add_slots(live, 1, account="coming", state=Slot.RESERVED)
    add_slots(live, 1, account="late", state=Slot.RESERVED, expires_in=-1)
    brief_disconnect = make_room(configuration, version, region)
    Room.objects.filter(pk=brief_disconnect.pk).update(disconnected_at=now - timedelta(seconds=5))
    gone = make_room(configuration, version, region)
    add_slots(gone, 2)
    Room.objects.filter(pk=gone.pk).update(disconnected_at=now - timedelta(seconds=60))
    lost_host = make_host(region, address="10.0.0.2")
    lost_host.connected, lost_host.disconnected_at = False, now - timedelta(seconds=60)
    lost_host.save()
    on_lost_host = make_room(configuration, version, region, host=lost_host)
    stuck = make_room(configuration, version, region, state=Room.SPAWNING)
    Room.objects.filter(pk=stuck.pk).update(created_at=now - timedelta(hours=1))
    starting = make_room(configuration, version, region, state=Room.SPAWNING)
    return {"keep": {live.pk, brief_disconnect.pk, starting.pk}, "dead": {gone.pk, on_lost_host.pk, stuck.pk}}


def test_prune_slots_deletes_expired_reservations_and_dead_rooms(fleet):
    out = StringIO()

    call_command("prune_slots", stdout=out)

    assert out.getvalue() == "Deleted 1 expired reservation(s) and 3 dead room(s).\n"
    assert set(Room.objects.values_list("pk", flat=True)) == fleet["keep"]
    assert sorted(Slot.objects.values_list("account", flat=True)) == ["coming", "joined"]
    live = Room.objects.get(slots__account="joined")
    assert (live.slot_count, live.next_expiry) == (2, Slot.objects.get(account="coming").expires_at)


def test_prune_slots_dry_run_deletes_nothing(fleet):
    out = StringIO()

    call_command("prune_slots", "--dry-run", stdout=out)

    assert out.getvalue() == "Would delete 1 expired reservation(s) and 3 dead room(s).\n"
    assert Room.objects.count() == 6
    assert Slot.objects.count() == 5
