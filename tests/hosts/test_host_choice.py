"""Host choice under real concurrency: a host never gets more rooms than its capacity."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from gamemaster.errors import Unavailable
from hosts.models import Host
from rooms.lookup import GameTarget
from rooms.models import Room
from rooms.services import Entrant, _room_place


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_creates_never_put_a_host_past_its_capacity(region, version, configuration):
    Host.objects.create(region=region, address="a", capacity=3, connected=True, channel_name="x")
    Host.objects.create(region=region, address="b", capacity=2, connected=True, channel_name="y")
    target = GameTarget(application=version.application, version=version, configuration=configuration)
    start = threading.Barrier(12)
    outcomes: list[str] = []

    def create(n: int) -> None:
        start.wait()
        try:
            _room_place(target=target, region=region, settings={}, entrants=[Entrant(account=str(n))],
                        created_by=str(n), party=None)  # fmt: skip
            outcomes.append("placed")
        except Unavailable as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["no_host"] * 7 + ["placed"] * 5
    assert Room.objects.filter(host__address="a").count() == 3
    assert Room.objects.filter(host__address="b").count() == 2
