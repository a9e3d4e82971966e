from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Count, Q
from django.utils import timezone

NAME_VALIDATOR = RegexValidator(r"^[A-Za-z0-9_.-]+$", "Letters, digits, '_', '.' and '-' only.")


def new_secret() -> str:
    """At least 128 bits from `secrets`, URL-safe."""
    return secrets.token_urlsafe(24)


def hash_secret(secret: str) -> str:
    # Keys and room secrets are long random strings: a plain SHA-256 is enough to make a leaked
    # database useless without slowing every join down with a password hash.
    return hashlib.sha256(secret.encode()).hexdigest()


class Application(models.Model):
    """A game (`application_name` in the URLs)."""

    name = models.CharField(max_length=64, unique=True, validators=[NAME_VALIDATOR])
    title = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApplicationVersion(models.Model):
    """A version of a game (`application_version`); a disabled version starts no new rooms."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="versions")
    name = models.CharField(max_length=64, validators=[NAME_VALIDATOR])
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["application__name", "name"]
        constraints = [models.UniqueConstraint(fields=["application", "name"], name="unique_version_per_game")]

    def __str__(self) -> str:
        return f"{self.application.name} {self.name}"


class GameServerConfiguration(models.Model):
    """How to start a game server for a game (`game_server_name`); see spec/game-servers.md."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="configurations")
    name = models.CharField(max_length=64, validators=[NAME_VALIDATOR])
    command = models.CharField(max_length=500, help_text="Program to start on the host.")
    arguments = models.JSONField(
        default=list, blank=True, help_text="List of arguments; {ports}, {port0} and {room_id} are substituted."
    )
    env = models.JSONField(default=dict, blank=True, help_text="Extra environment variables (object of strings).")
    ports = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(64)])
    max_players = models.PositiveIntegerField(default=8, validators=[MinValueValidator(1), MaxValueValidator(100000)])
    server_settings = models.JSONField(default=dict, blank=True, help_text="JSON handed to the game server.")
    reservation_ttl = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1)], help_text="Seconds a joined player has to reach the game server."
    )
    spawn_timeout = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(600)],
        help_text="Seconds the game server has to call inited.",
    )

    class Meta:
        ordering = ["application__name", "name"]
        constraints = [models.UniqueConstraint(fields=["application", "name"], name="unique_configuration_per_game")]

    def __str__(self) -> str:
        return f"{self.application.name}/{self.name}"

    def server_settings_for(self, version: ApplicationVersion) -> dict:
        override = self.overrides.filter(version=version).first()
        return override.server_settings if override else self.server_settings


class ServerSettingsOverride(models.Model):
    """A game version's own `server_settings` for a configuration."""

    configuration = models.ForeignKey(GameServerConfiguration, on_delete=models.CASCADE, related_name="overrides")
    version = models.ForeignKey(ApplicationVersion, on_delete=models.CASCADE, related_name="overrides")
    server_settings = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["configuration", "version"], name="one_override_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.configuration} @ {self.version.name}"


def live_slots_q(now=None, prefix: str = "") -> Q:
    """Slots that count toward `players`: joined, or reserved and not yet expired."""
    now = now or timezone.now()
    return Q(**{f"{prefix}state": Slot.JOINED}) | Q(**{f"{prefix}expires_at__gt": now})


class RoomQuerySet(models.QuerySet["Room"]):
    def running(self) -> RoomQuerySet:
        return self.filter(state=Room.RUNNING)

    def with_players(self, now=None) -> RoomQuerySet:
        return self.annotate(num_players=Count("slots", filter=live_slots_q(now, prefix="slots__")))


class Room(models.Model):
    """A game server instance players join; exists from spawn request until its game server exits."""

    SPAWNING = "spawning"
    RUNNING = "running"
    STATES = [(SPAWNING, "spawning"), (RUNNING, "running")]

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="rooms")
    version = models.ForeignKey(ApplicationVersion, on_delete=models.CASCADE, related_name="rooms")
    configuration = models.ForeignKey(GameServerConfiguration, on_delete=models.CASCADE, related_name="rooms")
    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="rooms")
    host = models.ForeignKey("hosts.Host", on_delete=models.SET_NULL, null=True, blank=True, related_name="rooms")
    state = models.CharField(max_length=16, choices=STATES, default=SPAWNING)
    settings = models.JSONField(default=dict, blank=True)
    max_players = models.PositiveIntegerField(default=8)
    ports = models.JSONField(default=list, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_by = models.CharField(max_length=64, blank=True, help_text="Account that asked for the room.")
    party_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Set while the game server's socket is closed; the room is removed after the grace period.
    disconnected_at = models.DateTimeField(null=True, blank=True)

    objects = RoomQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["configuration", "version", "state"], name="room_pool"),
            models.Index(fields=["state", "created_at"], name="room_state_age"),
        ]

    def __str__(self) -> str:
        return f"room {self.pk} ({self.configuration})"

    @property
    def location(self) -> dict:
        return {"host": self.host.address if self.host else "", "ports": list(self.ports)}

    def set_secret(self) -> str:
        secret = new_secret()
        self.secret_hash = hash_secret(secret)
        return secret

    def check_secret(self, secret: str) -> bool:
        return secrets.compare_digest(self.secret_hash, hash_secret(secret))


class SlotQuerySet(models.QuerySet["Slot"]):
    def live(self, now=None) -> SlotQuerySet:
        return self.filter(live_slots_q(now))

    def dead(self, now=None) -> SlotQuerySet:
        now = now or timezone.now()
        return self.filter(state=Slot.RESERVED, expires_at__lte=now)

    def by_key(self, key: str) -> SlotQuerySet:
        return self.filter(key_hash=hash_secret(key))


class Slot(models.Model):
    """A player's place in a room: reserved with a one-time key, then joined (DESIGN.md §6)."""

    RESERVED = "reserved"
    JOINED = "joined"
    STATES = [(RESERVED, "reserved"), (JOINED, "joined")]

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="slots")
    account = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=STATES, default=RESERVED)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="When an unused reservation stops counting.")
    created_at = models.DateTimeField(default=timezone.now)
    joined_at = models.DateTimeField(null=True, blank=True)
    info = models.JSONField(default=dict, blank=True, help_text="Party info handed to the game server on join.")

    objects = SlotQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["account"], name="slot_account"),
            models.Index(fields=["room", "state", "expires_at"], name="slot_room_live"),
        ]

    def __str__(self) -> str:
        return f"slot {self.pk} {self.account} in room {self.room_id}"

    @classmethod
    def reserve(cls, *, room: Room, account: str, ttl: int, info: dict | None = None) -> tuple[Slot, str]:
        """A new reserved slot (not saved) and its key; only the key's hash is kept."""
        key = new_secret()
        slot = cls(
            room=room,
            account=account,
            key_hash=hash_secret(key),
            expires_at=timezone.now() + timedelta(seconds=ttl),
            info=info or {},
        )
        return slot, key
