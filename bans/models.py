from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class BanQuerySet(models.QuerySet["Ban"]):
    def active(self, at=None) -> BanQuerySet:
        """Not lifted and not yet expired: expiry applies at once, without any cleanup."""
        return self.filter(lifted_at__isnull=True, expires_at__gt=at or timezone.now())

    def matching(self, *, account: str, ip: str | None) -> BanQuerySet:
        condition = Q(account=account)
        if ip:
            condition |= Q(ip=ip)
        return self.filter(condition)


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
