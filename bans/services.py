"""Ban enforcement: every place a player enters matchmaking asks here first (DESIGN.md §8)."""

from __future__ import annotations

from datetime import UTC

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bans.models import Ban
from gamemaster.errors import ApiError

BAN_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class Banned(ApiError):
    status_code = 423
    code = "banned"

    def __init__(self, ban: Ban) -> None:
        super().__init__(
            f"This account is banned until {format_ban_date(ban)} UTC: {ban.reason or 'no reason given'}.",
            headers=ban_headers(ban),
        )
        self.ban = ban


def format_ban_date(ban: Ban) -> str:
    return ban.expires_at.astimezone(UTC).strftime(BAN_DATE_FORMAT)


def ban_headers(ban: Ban) -> dict[str, str]:
    # Header values must be latin-1: a reason in another script is sent with its characters escaped.
    reason = ban.reason.encode("latin-1", "backslashreplace").decode("latin-1").replace("\n", " ")
    return {"X-Ban-Until": format_ban_date(ban), "X-Ban-Id": str(ban.pk), "X-Ban-Reason": reason}


def find_bans(entries: list[tuple[str, str | None]]) -> dict[str, Ban]:
    """Active bans for each (account, ip), attaching the IP to a ban that has none yet.

    Returns {account: ban} for the accounts refused; one query when nobody is banned.
    """
    if not entries:
        return {}
    condition = Q(account__in=[account for account, _ in entries])
    ips = {ip for _, ip in entries if ip}
    if ips:
        condition |= Q(ip__in=ips)
    bans = list(Ban.objects.active().filter(condition))
    if not bans:
        return {}
    by_account = {ban.account: ban for ban in bans}
    by_ip = {ban.ip: ban for ban in bans if ban.ip}
    refused: dict[str, Ban] = {}
    for account, ip in entries:
        ban = by_account.get(account) or (by_ip.get(ip) if ip else None)
        if ban is None:
            continue
        refused[account] = ban
        if ip and ban.ip is None and ban.account == account:
            _attach_ip(ban, ip)
    return refused


def _attach_ip(ban: Ban, ip: str) -> None:
    # Only the first refused attempt attaches its IP; a racing second attempt leaves it alone.
    now = timezone.now()
    with transaction.atomic():
        updated = Ban.objects.filter(pk=ban.pk, ip__isnull=True).update(ip=ip, ip_attached_at=now)
    if updated:
        ban.ip, ban.ip_attached_at = ip, now


def ban_enforce(*, account: str, ip: str | None) -> None:
    """Raise `Banned` (423 with the X-Ban-* headers) when the account or its IP is banned."""
    ban = find_bans([(account, ip)]).get(account)
    if ban is not None:
        raise Banned(ban)
