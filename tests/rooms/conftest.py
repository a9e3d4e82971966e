from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from regions.models import Region
from rooms import services
from rooms.matchmaking import reserve_slots
from rooms.models import Room
from tests.rooms.factories import make_host


@pytest.fixture
def eu(db):
    return Region.objects.create(name="eu", x=8.68, y=50.11)


@pytest.fixture
def us(db):
    return Region.objects.create(name="us", x=-74.0, y=40.71)


@pytest.fixture
def instant_room_create(monkeypatch):
    """Stands in for the host machines: a room that is running at once, slots reserved the same way."""
    created = []

    def create(target, region, settings, entrants, created_by):
        with transaction.atomic():
            room = Room(
                application=target.application,
                version=target.version,
                configuration=target.configuration,
                region=region,
                host=make_host(region),
                state=Room.RUNNING,
                settings=settings,
                max_players=target.configuration.max_players,
                ports=[9001],
                created_by=created_by,
            )
            room.set_secret()
            room.save()
            created.append(
                {
                    "room": room.pk,
                    "region": region.name,
                    "settings": settings,
                    "created_by": created_by,
                    "accounts": [entrant.account for entrant in entrants],
                }
            )
            return reserve_slots(room=room, players=0, entrants=entrants, ttl=target.configuration.reservation_ttl)

    async def room_create(*, target, region, settings, entrants, created_by, party=None):
        return await sync_to_async(create)(target, region, settings, entrants, created_by)

    monkeypatch.setattr(services, "room_create", room_create, raising=False)
    return created
