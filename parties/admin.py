"""The operator's view of parties: their members, sessions and state; close callbacks to configure."""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from gamemaster.errors import ApiError
from parties.models import CloseCallback, Party, PartyMember, PartySession
from parties.services import party_close


@admin.register(CloseCallback)
class CloseCallbackAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "timeout"]
    search_fields = ["name", "url"]

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "url":
            kwargs["assume_scheme"] = "https"  # a URL typed without a scheme is https (Django 6's default)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class PartyMemberInline(admin.TabularInline):
    model = PartyMember
    extra = 0
    fields = ["account", "role", "profile", "joined_at"]
    readonly_fields = ["joined_at"]


class PartySessionInline(admin.TabularInline):
    model = PartySession
    extra = 0
    fields = ["account", "channel_name", "connected_at", "seen_at"]
    readonly_fields = ["account", "channel_name", "connected_at", "seen_at"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Party)
class PartyAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "application",
        "version",
        "configuration",
        "region",
        "state",
        "members_count",
        "max_members",
        "created_by",
        "created_at",
        "last_activity_at",
    ]
    list_filter = ["state", "application", "region"]
    search_fields = ["id", "created_by", "members__account"]
    readonly_fields = ["id", "state", "starting_at", "created_at", "last_activity_at"]
    inlines = [PartyMemberInline, PartySessionInline]
    actions = ["close_parties"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Party]:
        return super().get_queryset(request).annotate(members_count=Count("members"))

    @admin.display(description="members", ordering="members_count")
    def members_count(self, party: Any) -> int:
        return party.members_count

    @admin.action(description="Close the selected parties (sessions are told; callbacks are called)")
    def close_parties(self, request: HttpRequest, queryset: QuerySet[Party]) -> None:
        closed = 0
        for party_id in list(queryset.values_list("pk", flat=True)):
            try:
                party_close(party_id=party_id, account=None, message=None, reason="closed_by_operator")
            except ApiError:
                continue  # closed by someone else meanwhile
            closed += 1
        self.message_user(request, f"Closed {closed} parties.", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: Party) -> None:
        # Deleting from the admin is a close: sessions are told and the callback is called.
        with contextlib.suppress(ApiError):
            party_close(party_id=obj.pk, account=None, message=None, reason="closed_by_operator")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Party]) -> None:
        for party_id in list(queryset.values_list("pk", flat=True)):
            try:
                party_close(party_id=party_id, account=None, message=None, reason="closed_by_operator")
            except ApiError:
                continue
