from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Case, Count, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

NAME_VALIDATOR = RegexValidator(r"^[A-Za-z0-9_.-]+$", "Letters, digits, '_', '.' and '-' only.")
SPAWN_TIMEOUT_MAX = 600
# A room id in a URL: ASCII digits that fit a bigint (18 always do).
ROOM_ID_DIGITS = 18


def room_pk(text: str) -> int | None:
    """The room id a URL names, or None if no room can have it ("x", "²", a 5000-digit number)."""
    if text.isascii() and text.isdigit() and len(text) <= ROOM_ID_DIGITS:
        return int(text)
    return None


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
        validators=[MinValueValidator(1), MaxValueValidator(SPAWN_TIMEOUT_MAX)],
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


def fresh_count_q(now=None, prefix: str = "") -> Q:
    """Rooms whose stored `slot_count` is exact: no reservation of theirs has expired yet."""
    now = now or timezone.now()
    return Q(**{f"{prefix}next_expiry__isnull": True}) | Q(**{f"{prefix}next_expiry__gt": now})


def players_expression(now=None, prefix: str = "") -> Case:
    """The live players of a room (DESIGN.md §4) without a COUNT over every room.

    `slot_count` (all slot rows) and `next_expiry` (earliest expiry of a reservation) are kept by
    database triggers (migration 0002) whoever inserts, updates or deletes a slot. While no
    reservation has expired, `slot_count` IS the number of live players; only a room with an
    expired, not yet pruned reservation falls back to counting its live slots. So an expired
    reservation stops counting at once, and listing 100 rooms costs no aggregate over the fleet.
    """
    now = now or timezone.now()
    room = OuterRef(f"{prefix}pk") if prefix else OuterRef("pk")
    live = (
        Slot.objects.filter(room=room)
        .filter(live_slots_q(now))
        .order_by()
        .values("room")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Case(
        When(fresh_count_q(now, prefix), then=F(f"{prefix}slot_count")),
        default=Coalesce(Subquery(live, output_field=models.IntegerField()), Value(0)),
        output_field=models.IntegerField(),
    )


# players_expression as SQL on `rooms_room`, for the fast lane's search (rooms/fastlane.py); the
# same rule, tested equal to it. Parameter: now.
PLAYERS_SQL = """
    CASE WHEN rooms_room.next_expiry IS NULL OR rooms_room.next_expiry > %(now)s THEN rooms_room.slot_count
    ELSE (SELECT count(*) FROM rooms_slot
          WHERE rooms_slot.room_id = rooms_room.id
            AND (rooms_slot.state = 'joined' OR rooms_slot.expires_at > %(now)s))
    END
"""


class RoomQuerySet(models.QuerySet["Room"]):
    def running(self) -> RoomQuerySet:
        return self.filter(state=Room.RUNNING)

    def pool(self, *, configuration_id: int, version_id: int) -> RoomQuerySet:
        """Rooms of one game server configuration and game version (`room_pool` index)."""
        return self.filter(configuration_id=configuration_id, version_id=version_id)

    def with_players(self, now=None) -> RoomQuerySet:
        """Annotates `num_players`: joined players and unexpired reservations."""
        return self.annotate(num_players=players_expression(now))

    def with_free_places(self, places: int, now=None) -> RoomQuerySet:
        """Rooms that may have `places` free: exact for rooms whose count is fresh; rooms with an
        expired reservation stay candidates (the caller counts them exactly under the row lock)."""
        now = now or timezone.now()
        return self.filter(
            (fresh_count_q(now) & Q(slot_count__lte=F("max_players") - places)) | Q(next_expiry__lte=now)
        )

    def not_full(self, now=None) -> RoomQuerySet:
        """Rooms with at least one free place, exactly (the fallback count runs for stale rooms only)."""
        return self.alias(_players=players_expression(now)).filter(_players__lt=F("max_players"))

    def dead(self, now=None) -> RoomQuerySet:
        """Rooms to remove: game server gone past its grace, host lost past its grace, or stuck spawning."""
        now = now or timezone.now()
        gameserver_gone = now - timedelta(seconds=settings.GAMESERVER_GRACE_SECONDS)
        host_lost = now - timedelta(seconds=settings.HOST_GRACE_SECONDS)
        # spawn_timeout is at most SPAWN_TIMEOUT_MAX: a room spawning longer than that (plus the grace)
        # lost the master that was creating it.
        stuck_since = now - timedelta(seconds=SPAWN_TIMEOUT_MAX + settings.GAMESERVER_GRACE_SECONDS)
        stuck = Q(state=Room.SPAWNING, created_at__lt=stuck_since)
        return self.filter(
            Q(disconnected_at__lt=gameserver_gone)
            | Q(host__connected=False, host__disconnected_at__lt=host_lost)
            | stuck
        )


def room_location(host_address: str | None, ports: list) -> dict:
    """Where players connect (the API's `location`); a room without a host has no address yet."""
    return {"host": host_address or "", "ports": list(ports)}


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
    # Kept by database triggers on the slot table (migration 0002), never by Python code: the number
    # of slot rows, and the earliest expiry of a reservation among them (see players_expression).
    slot_count = models.PositiveIntegerField(default=0, editable=False)
    next_expiry = models.DateTimeField(null=True, blank=True, editable=False)

    objects = RoomQuerySet.as_manager()

    TRIGGER_FIELDS = frozenset({"slot_count", "next_expiry"})

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["configuration", "version", "state"], name="room_pool"),
            models.Index(fields=["state", "created_at"], name="room_state_age"),
            # Search and quick-join walk these in order (fuller rooms first) and stop at the page's
            # end, instead of sorting every room of a big pool.
            models.Index(
                "configuration",
                "version",
                "region",
                F("slot_count").desc(),
                "id",
                name="room_running_by_region",
                condition=Q(state="running"),
            ),
            models.Index(
                "configuration",
                "version",
                F("slot_count").desc(),
                "id",
                name="room_running_fullest",
                condition=Q(state="running"),
            ),
        ]

    def __str__(self) -> str:
        return f"room {self.pk} ({self.configuration})"

    def save(self, *args, **kwargs) -> None:
        # The triggers own slot_count and next_expiry: saving a room loaded a moment ago must not
        # write back counts that slots have changed since.
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields if not f.primary_key and f.name not in self.TRIGGER_FIELDS
            ]
        elif kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = [name for name in kwargs["update_fields"] if name not in self.TRIGGER_FIELDS]
        super().save(*args, **kwargs)

    @property
    def location(self) -> dict:
        return room_location(self.host.address if self.host else None, self.ports)

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
