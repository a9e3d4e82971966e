from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

# The spec's date format; every date the API answers is UTC in this format.
BAN_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class BanQuerySet(models.QuerySet["Ban"]):
    def active(self, at: datetime | None = None) -> BanQuerySet:
        """Not lifted and not yet expired: expiry applies at once, without any cleanup."""
        return self.filter(lifted_at__isnull=True, expires_at__gt=at or timezone.now())

    def not_lifted(self) -> BanQuerySet:
        """What the API still knows: a lifted ban stays in the admin as history only."""
        return self.filter(lifted_at__isnull=True)

    def matching(self, *, account: str, ip: str | None) -> BanQuerySet:
        condition = Q(account=account)
        if ip:
            condition |= Q(ip=ip)
        return self.filter(condition)

    def lift(self, at: datetime | None = None) -> int:
        """Lift the bans not lifted yet (kept as history); the count lifted. Safe against a racing lift."""
        return self.filter(lifted_at__isnull=True).update(lifted_at=at or timezone.now())

    def prunable(self, *, older_than: timedelta, at: datetime | None = None) -> BanQuerySet:
        """Bans that expired or were lifted more than `older_than` ago: nothing enforces them any more."""
        cutoff = (at or timezone.now()) - older_than
        return self.filter(Q(expires_at__lt=cutoff) | Q(lifted_at__lt=cutoff))


class Ban(models.Model):
    """Keeps an account, and then the IP it was used from, out of matchmaking until it expires."""

    account = models.CharField(max_length=64, db_index=True)
    reason = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True, help_text="Attached on the first refused attempt.")
    ip_attached_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    lifted_at = models.DateTimeField(null=True, blank=True)

    objects = BanQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["ip"], name="ban_ip")]

    def __str__(self) -> str:
        return f"ban {self.pk} of {self.account}"

    def is_active(self, at: datetime | None = None) -> bool:
        return self.lifted_at is None and self.expires_at > (at or timezone.now())

    @property
    def until(self) -> str:
        """The expiry as the API writes dates: `%Y-%m-%d %H:%M:%S`, UTC."""
        return self.expires_at.astimezone(UTC).strftime(BAN_DATE_FORMAT)

    def as_api(self) -> dict[str, Any]:
        """The ban as `GET /ban/<id>` answers it; `ip` is null until a refused attempt attached one."""
        return {
            "id": str(self.pk),
            "reason": self.reason,
            "expires": self.until,
            "account": self.account,
            "ip": self.ip,
        }

    def as_refusal(self) -> dict[str, str]:
        """How a multi endpoint lists an account it left out: `banned: {account: this}`."""
        return {"id": str(self.pk), "until": self.until, "reason": self.reason}
