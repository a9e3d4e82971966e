"""The operator's tool for games, versions, game server configurations and rooms."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from gamemaster.admin_forms import json_object, json_string_list, json_string_map
from rooms.models import Application, ApplicationVersion, GameServerConfiguration, ServerSettingsOverride

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
