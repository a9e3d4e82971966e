"""The operator's tool for games, versions, game server configurations and rooms."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.timesince import timesince

from gamemaster.admin_forms import json_object, json_string_list, json_string_map
from rooms.models import Application, ApplicationVersion, GameServerConfiguration, Room, ServerSettingsOverride, Slot

# --- games, versions, configurations (foundation) ---


class ApplicationVersionInline(admin.TabularInline):
    model = ApplicationVersion
    extra = 0
    fields = ["name", "enabled"]


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ["name", "title", "version_count", "configuration_count"]
    search_fields = ["name", "title"]
    inlines = [ApplicationVersionInline]

    @admin.display(description="versions")
    def version_count(self, obj: Application) -> int:
        return obj.versions.count()

    @admin.display(description="configurations")
    def configuration_count(self, obj: Application) -> int:
        return obj.configurations.count()


@admin.register(ApplicationVersion)
class ApplicationVersionAdmin(admin.ModelAdmin):
    list_display = ["application", "name", "enabled"]
    list_filter = ["enabled", "application"]
    list_editable = ["enabled"]
    search_fields = ["application__name", "name"]
    actions = ["enable", "disable"]

    @admin.action(description="Enable selected versions")
    def enable(self, request, queryset) -> None:
        self.message_user(request, f"{queryset.update(enabled=True)} version(s) enabled.")

    @admin.action(description="Disable selected versions (no new rooms start for them)")
    def disable(self, request, queryset) -> None:
        self.message_user(request, f"{queryset.update(enabled=False)} version(s) disabled.")


class GameServerConfigurationForm(forms.ModelForm):
    class Meta:
        model = GameServerConfiguration
        fields = "__all__"

    def clean_arguments(self) -> list:
        return json_string_list(self.cleaned_data["arguments"], name="Arguments")

    def clean_env(self) -> dict:
        return json_string_map(self.cleaned_data["env"], name="Env")

    def clean_server_settings(self) -> dict:
        return json_object(self.cleaned_data["server_settings"], name="Server settings")


class ServerSettingsOverrideForm(forms.ModelForm):
    class Meta:
        model = ServerSettingsOverride
        fields = "__all__"

    def clean_server_settings(self) -> dict:
        return json_object(self.cleaned_data["server_settings"], name="Server settings")

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        configuration, version = cleaned.get("configuration"), cleaned.get("version")
        if configuration and version and version.application_id != configuration.application_id:
            raise forms.ValidationError("The version must belong to the configuration's game.")
        return cleaned


class ServerSettingsOverrideInline(admin.TabularInline):
    model = ServerSettingsOverride
    form = ServerSettingsOverrideForm
    extra = 0


@admin.register(GameServerConfiguration)
class GameServerConfigurationAdmin(admin.ModelAdmin):
    form = GameServerConfigurationForm
    list_display = ["application", "name", "command", "max_players", "ports", "reservation_ttl", "spawn_timeout"]
    list_filter = ["application"]
    search_fields = ["application__name", "name", "command"]
    inlines = [ServerSettingsOverrideInline]


# --- rooms and slots (hosting) ---


class SlotInline(admin.TabularInline):
    model = Slot
    fields = ["account", "state", "expires_at", "joined_at", "info"]  # never the key (only its hash exists)
    readonly_fields = ["account", "state", "expires_at", "joined_at", "info"]
    extra = 0
    can_delete = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = [
        "id", "application", "version", "configuration", "region", "host", "state", "players", "age",
    ]  # fmt: skip
    list_filter = ["state", "region", "application", "version", "configuration", "host"]
    search_fields = ["=id", "settings", "created_by", "party_id"]
    list_select_related = ["application", "version", "configuration", "region", "host"]
    readonly_fields = [
        "application", "version", "configuration", "region", "host", "state", "max_players", "ports", "pid",
        "created_by", "party_id", "created_at", "started_at", "disconnected_at",
    ]  # fmt: skip
    fields = [*readonly_fields[:6], "settings", *readonly_fields[6:]]
    inlines = [SlotInline]
    actions = ["terminate"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Room]:
        return super().get_queryset(request).with_players()  # type: ignore[attr-defined]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rooms start through the API, with a game server

    @admin.display(description="players", ordering="num_players")
    def players(self, room: Room) -> str:
        return f"{room.num_players}/{room.max_players}"  # type: ignore[attr-defined]

    @admin.display(description="age", ordering="created_at")
    def age(self, room: Room) -> str:
        return timesince(room.created_at, timezone.now())

    @admin.action(description="Terminate selected rooms (their host agent stops the game server)")
    def terminate(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        layer = get_channel_layer()
        asked = 0
        for room_id, channel in queryset.values_list("pk", "host__channel_name"):
            if channel:
                # The agent stops the process; its `exited` report removes the room.
                async_to_sync(layer.send)(channel, {"type": "host.terminate", "room_id": room_id})
                asked += 1
        self.message_user(
            request,
            f"Asked the host agents to stop {asked} game servers; their rooms go when they exit."
            + ("" if asked == queryset.count() else " Rooms whose host is not connected go after its grace period."),
            messages.SUCCESS,
        )
