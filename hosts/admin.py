"""Hosts in the operator's tool: live health and load, enable/disable."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from hosts.models import Host


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = [
        "address", "region", "enabled", "healthy", "active_rooms", "capacity", "cpu", "memory", "last_seen",
    ]  # fmt: skip
    list_filter = ["region", "enabled", "connected"]
    search_fields = ["address"]
    readonly_fields = [
        "connected", "cpu", "memory", "rooms_running", "ports_from", "ports_to", "last_seen", "disconnected_at",
        "created_at",
    ]  # fmt: skip
    fields = ["region", "address", "capacity", "enabled", *readonly_fields]
    actions = ["enable", "disable"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Host]:
        return super().get_queryset(request).select_related("region").with_active_rooms()  # type: ignore[attr-defined]

    @admin.display(boolean=True, description="healthy", ordering="connected")
    def healthy(self, host: Host) -> bool:
        return host.healthy

    @admin.display(description="rooms", ordering="active_rooms")
    def active_rooms(self, host: Host) -> int:
        return host.active_rooms  # type: ignore[attr-defined]

    @admin.action(description="Enable selected hosts (they get new rooms)")
    def enable(self, request: HttpRequest, queryset: QuerySet[Host]) -> None:
        count = queryset.update(enabled=True)
        self.message_user(request, f"{count} hosts enabled.", messages.SUCCESS)

    @admin.action(description="Disable selected hosts (no new rooms; running ones stay)")
    def disable(self, request: HttpRequest, queryset: QuerySet[Host]) -> None:
        count = queryset.update(enabled=False)
        self.message_user(request, f"{count} hosts disabled.", messages.SUCCESS)
