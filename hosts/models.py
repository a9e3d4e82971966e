from __future__ import annotations

from django.db import models
from django.utils import timezone


class HostQuerySet(models.QuerySet["Host"]):
    def available(self, region) -> HostQuerySet:
        """Enabled hosts of the region whose agent is connected."""
        return self.filter(region=region, enabled=True, connected=True)


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
