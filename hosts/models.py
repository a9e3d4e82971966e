from __future__ import annotations

from django.db import models
from django.db.models import Count, ExpressionWrapper, F, FloatField, Q
from django.utils import timezone

# Rooms a host is busy with: running ones and spawns in flight.
ACTIVE_ROOM_STATES = ("spawning", "running")


class HostQuerySet(models.QuerySet["Host"]):
    def available(self, region) -> HostQuerySet:
        """Enabled hosts of the region whose agent is connected."""
        return self.filter(region=region, enabled=True, connected=True)

    def with_active_rooms(self) -> HostQuerySet:
        return self.annotate(active_rooms=Count("rooms", filter=Q(rooms__state__in=ACTIVE_ROOM_STATES)))

    def by_load(self) -> HostQuerySet:
        """Least loaded first: share of capacity in use (spawns in flight count), then reported CPU;
        hosts already full are left out."""
        return (
            self.with_active_rooms()
            .filter(active_rooms__lt=F("capacity"))  # type: ignore[misc]
            .annotate(used=ExpressionWrapper(F("active_rooms") * 1.0 / F("capacity"), output_field=FloatField()))
            .order_by("used", "cpu", "memory", "pk")
        )


class Host(models.Model):
    """A machine that runs game servers, driven by one host agent (`run_host`)."""

    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="hosts")
    address = models.CharField(max_length=255, help_text="Address players connect to.")
    capacity = models.PositiveIntegerField(default=32, help_text="Most game servers it runs at once.")
    enabled = models.BooleanField(default=True, help_text="Disabled hosts get no new rooms.")
    connected = models.BooleanField(default=False, editable=False)
    channel_name = models.CharField(max_length=200, blank=True, editable=False)
    ports_from = models.PositiveIntegerField(null=True, blank=True)
    ports_to = models.PositiveIntegerField(null=True, blank=True)
    cpu = models.FloatField(default=0.0, help_text="CPU load reported by the agent (0-100).")
    memory = models.FloatField(default=0.0, help_text="Memory use reported by the agent (0-100).")
    rooms_running = models.PositiveIntegerField(default=0)
    last_seen = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = HostQuerySet.as_manager()

    class Meta:
        ordering = ["region__name", "address"]
        constraints = [models.UniqueConstraint(fields=["region", "address"], name="unique_host_address")]

    def __str__(self) -> str:
        return f"{self.address} ({self.region.name})"

    @property
    def healthy(self) -> bool:
        return self.connected
