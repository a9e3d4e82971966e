"""The operator's pages for hosts and rooms."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import User

from hosts.models import Host
from rooms.models import Room, Slot

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    client.force_login(User.objects.create_superuser("op", "op@example.com", "pw"))
    return client


@pytest.fixture
def room(region, version, configuration):
    host = Host.objects.create(region=region, address="10.0.0.1", connected=True, channel_name="agent-channel")
    room = Room(application=version.application, version=version, configuration=configuration, region=region,
                host=host, state=Room.RUNNING, settings={"map": "dust"})  # fmt: skip
    room.set_secret()
    room.save()
    slot, key = Slot.reserve(room=room, account="alice", ttl=30)
    slot.save()
    room.key = key
    return room


def test_hosts_list_shows_health_and_rooms_and_can_disable(operator, room):
    page = operator.get("/admin/hosts/host/")
    assert page.status_code == 200
    assert b"10.0.0.1" in page.content

    response = operator.post("/admin/hosts/host/", {"action": "disable", "_selected_action": [room.host.pk]})

    assert response.status_code == 302
    assert not Host.objects.get().enabled


def test_rooms_list_searches_settings_and_a_room_shows_its_slots_without_keys(operator, room):
    found = operator.get("/admin/rooms/room/", {"q": "dust"})
    missed = operator.get("/admin/rooms/room/", {"q": "nowhere"})
    page = operator.get(f"/admin/rooms/room/{room.pk}/change/")

    assert found.status_code == missed.status_code == page.status_code == 200
    assert found.context["cl"].result_count == 1
    assert missed.context["cl"].result_count == 0
    assert b"alice" in page.content
    assert room.key.encode() not in page.content
    assert Slot.objects.get().key_hash.encode() not in page.content


def test_terminating_rooms_asks_their_host_agent(operator, room, settings):
    # This sync test sends and receives from short-lived event loops one after the other, which
    # only a queueing layer can carry; the pub/sub Redis layer delivers to a channel while its
    # loop listens, as a host session does (the process tests cover it).
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()
    agent_channel = async_to_sync(layer.new_channel)()
    Host.objects.update(channel_name=agent_channel)

    response = operator.post("/admin/rooms/room/", {"action": "terminate", "_selected_action": [room.pk]})

    assert response.status_code == 302
    message = async_to_sync(layer.receive)(agent_channel)
    assert message == {"type": "host.terminate", "room_id": room.pk}
