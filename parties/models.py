"""Parties (spec/parties.md): a group of members gathered before a game, its members, the live
sessions watching it, and the close callbacks an operator configures."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from gamemaster.args import storable_text

NAME_VALIDATOR = RegexValidator(r"^[A-Za-z0-9_.-]+$", "Letters, digits, '_', '.' and '-' only.")

# A start that has not ended this long after the game server's spawn_timeout was abandoned by a
# process that died mid-start: the party counts as open again (never stuck half-started).
START_MARGIN_SECONDS = 30


def new_party_id() -> str:
    """A short random id, safe in URLs and channel group names."""
    return secrets.token_hex(8)


def session_heartbeat_seconds() -> float:
    return float(settings.PARTY_SESSION_HEARTBEAT_SECONDS)


class CloseCallback(models.Model):
    """A URL to POST `{party, message, reason}` to when a party closes; only these can be named."""

    name = models.CharField(max_length=64, unique=True, validators=[NAME_VALIDATOR])
    url = models.URLField(max_length=500)
    secret = models.CharField(
        max_length=200, help_text="Signs each call: X-Signature: sha256=<HMAC-SHA256 of the body, hex>."
    )
    timeout = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.1)],
        help_text="Seconds to wait for the answer; empty means PARTY_CALLBACK_TIMEOUT.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_timeout(self) -> float:
        return self.timeout if self.timeout else float(settings.PARTY_CALLBACK_TIMEOUT)


class PartyQuerySet(models.QuerySet["Party"]):
    def with_id(self, party_id: str) -> PartyQuerySet:
        """The party with this id, if any; an id no database can hold (a NUL from the URL) matches
        nothing rather than failing the query."""
        return self.filter(pk=party_id) if storable_text(party_id) else self.none()

    def abandoned(self, *, cutoff: datetime) -> PartyQuerySet:
        """Nothing happened since `cutoff` and no session was seen since: nobody will come back."""
        seen = PartySession.objects.filter(party=OuterRef("pk"), seen_at__gte=cutoff)
        return self.filter(last_activity_at__lt=cutoff).exclude(Exists(seen))

    def searchable(self, *, target: Any) -> PartyQuerySet:
        """Parties of a game server configuration that someone could join now."""
        now = timezone.now()
        return self.filter(
            application=target.application, version=target.version, configuration=target.configuration
        ).filter(Q(state=Party.OPEN) | Q(state=Party.STARTING, starting_at__lt=now - stale_start_after(target)))


def stale_start_after(target_or_party: Any) -> timedelta:
    return timedelta(seconds=target_or_party.configuration.spawn_timeout + START_MARGIN_SECONDS)


class Party(models.Model):
    """A group of members that starts a game together, or is closed."""

    OPEN = "open"
    STARTING = "starting"
    STATES = [(OPEN, "open"), (STARTING, "starting")]

    id = models.CharField(primary_key=True, max_length=32, default=new_party_id, editable=False)
    application = models.ForeignKey("rooms.Application", on_delete=models.CASCADE, related_name="parties")
    version = models.ForeignKey("rooms.ApplicationVersion", on_delete=models.CASCADE, related_name="parties")
    configuration = models.ForeignKey("rooms.GameServerConfiguration", on_delete=models.CASCADE, related_name="parties")
    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="parties")
    settings = models.JSONField(default=dict, blank=True, help_text="party_settings, searchable with party_filter.")
    room_settings = models.JSONField(default=dict, blank=True)
    room_filters = models.JSONField(null=True, blank=True)
    max_members = models.PositiveIntegerField(default=8, validators=[MinValueValidator(2)])
    auto_start = models.BooleanField(default=True)
    auto_close = models.BooleanField(default=True)
    close_callback = models.ForeignKey(
        CloseCallback, on_delete=models.SET_NULL, null=True, blank=True, related_name="parties"
    )
    state = models.CharField(max_length=16, choices=STATES, default=OPEN)
    starting_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)
    changes = models.PositiveBigIntegerField(
        default=0, editable=False, help_text="Counts the changes told to its sessions (each event carries its number)."
    )

    objects = PartyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "parties"
        indexes = [
            models.Index(fields=["configuration", "version", "state"], name="party_pool"),
            models.Index(fields=["last_activity_at"], name="party_activity"),
        ]

    def __str__(self) -> str:
        return f"party {self.pk} ({self.configuration})"

    def is_starting(self, now: datetime | None = None) -> bool:
        """Starting, unless the start outlived any spawn: then its process died and the party is open."""
        if self.state != Party.STARTING or self.starting_at is None:
            return False
        return self.starting_at > (now or timezone.now()) - stale_start_after(self)

    def role_for(self, account: str) -> int:
        """The creator who joins gets 1000, everyone else 0."""
        return PartyMember.ROLE_OWNER if account == self.created_by else PartyMember.ROLE_MEMBER

    def as_api(self, num_members: int) -> dict[str, Any]:
        return {"id": self.pk, "num_members": num_members, "max_members": self.max_members, "settings": self.settings}


class PartyMember(models.Model):
    """A joined member; sessions without a member row are watching."""

    ROLE_MEMBER = 0
    ROLE_START = 500
    ROLE_OWNER = 1000

    party = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="members")
    account = models.CharField(max_length=64)
    role = models.IntegerField(default=ROLE_MEMBER)
    profile = models.JSONField(default=dict, blank=True)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["joined_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["party", "account"], name="one_membership_per_account")]

    def __str__(self) -> str:
        return f"{self.account} in party {self.party_id}"

    def as_api(self) -> dict[str, Any]:
        return {"account": self.account, "role": self.role, "profile": self.profile}


class PartySessionQuerySet(models.QuerySet["PartySession"]):
    def live(self, now: datetime | None = None) -> PartySessionQuerySet:
        """Sessions whose process still refreshes them (a dead process' rows stop counting)."""
        cutoff = (now or timezone.now()) - timedelta(seconds=3 * session_heartbeat_seconds())
        return self.filter(seen_at__gte=cutoff)


class PartySession(models.Model):
    """One open WebSocket session on a party, wherever (whichever process) it is connected; lets
    every process tell whether a member dropped for good after the reconnect grace period."""

    party = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="sessions")
    account = models.CharField(max_length=64)
    channel_name = models.CharField(max_length=200, unique=True)
    connected_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now)

    objects = PartySessionQuerySet.as_manager()

    class Meta:
        ordering = ["connected_at"]
        indexes = [models.Index(fields=["party", "account"], name="party_session_account")]

    def __str__(self) -> str:
        return f"session of {self.account} on party {self.party_id}"
