"""Host agent sessions (spec/game-servers.md): announce, load, exits, disconnects, reconciliation."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from gamemaster.errors import NotFound
from hosts.models import Host
from regions.models import Region
from rooms.models import Room, room_pk
from rooms.services import Removal, rooms_remove


@dataclass
class Announced:
    host: Host
    previous_channel: str  # another session of the same host, to close
    removed: list[Removal]  # rooms the master had but the agent no longer runs
    unknown: list[str]  # rooms the agent runs that the master does not know: to stop


def host_announce(
    *,
    region: str,
    address: str,
    capacity: int | None,
    ports: list[int] | None,
    rooms: list[str],
    channel_name: str,
) -> Announced:
    """A host agent (re)connected: register the host as healthy and reconcile its rooms."""
    found = Region.objects.filter(name=region).first()
    if found is None:
        raise NotFound(f"No region named '{region}'.", code="unknown_region")
    now = timezone.now()
    with transaction.atomic():
        host, _ = Host.objects.select_for_update().get_or_create(region=found, address=address)
        previous = host.channel_name
        host.connected, host.channel_name = True, channel_name
        host.disconnected_at, host.last_seen = None, now
        if capacity is not None:
            host.capacity = capacity
        if ports:
            host.ports_from, host.ports_to = ports[0], ports[-1]
        host.rooms_running = len(rooms)
        host.save()
        reported = {pk for pk in map(room_pk, rooms) if pk is not None}
        known = set(Room.objects.filter(host=host).values_list("pk", flat=True))
    removed = rooms_remove(Room.objects.filter(host=host, pk__in=known - reported))
    unknown = [room_id for room_id in rooms if room_pk(room_id) not in known]
    return Announced(
        host=host,
        previous_channel=previous if previous != channel_name else "",
        removed=removed,
        unknown=unknown,
    )


def host_load(*, host_id: int, cpu: float, memory: float, rooms: list[str]) -> None:
    Host.objects.filter(pk=host_id).update(cpu=cpu, memory=memory, rooms_running=len(rooms), last_seen=timezone.now())


def host_disconnected(*, host_id: int, channel_name: str) -> bool:
    """The agent's socket closed: unhealthy until it comes back (unless a newer session took over)."""
    updated = Host.objects.filter(pk=host_id, channel_name=channel_name).update(
        connected=False, channel_name="", disconnected_at=timezone.now()
    )
    return bool(updated)


def host_room_exited(*, host_id: int, room_id: str) -> list[Removal]:
    """A game server process ended: its room goes."""
    pk = room_pk(room_id)
    if pk is None:
        return []
    return rooms_remove(Room.objects.filter(pk=pk, host_id=host_id))


def host_room_spawned(*, host_id: int, room_id: int, pid: int, ports: list[int]) -> bool:
    """The agent started the process: keep its pid and ports (the room's location). False when the
    room is gone meanwhile (its creator gave up), and the process must be stopped."""
    return bool(Room.objects.filter(pk=room_id, host_id=host_id).update(pid=pid, ports=ports))
