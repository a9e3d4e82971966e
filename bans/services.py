"""Bans: issuing, updating and lifting them, and enforcing them wherever a player enters (DESIGN.md §8)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from bans.models import BAN_DATE_FORMAT, Ban
from gamemaster.errors import ApiError, BadArguments, NotFound

__all__ = [
    "BAN_DATE_FORMAT",
    "AlreadyBanned",
    "Banned",
    "ban_enforce",
    "ban_get",
    "ban_headers",
    "ban_issue",
    "ban_issue_many",
    "ban_lift",
    "ban_update",
    "banned_summary",
    "find_bans",
    "format_ban_date",
]

# Ban ids are BigAutoField keys: anything else (or out of range) is simply an unknown ban.
_BAN_ID = re.compile(r"[1-9][0-9]{0,18}")
_MAX_BAN_ID = 2**63 - 1
# Header values must be one line of latin-1: control characters would make Django refuse the response.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class Banned(ApiError):
    """423 for a player who may not enter: the error body plus X-Ban-Until, X-Ban-Id, X-Ban-Reason."""

    status_code = 423
    code = "banned"

    def __init__(self, ban: Ban) -> None:
        super().__init__(
            f"This account is banned until {format_ban_date(ban)} UTC: {ban.reason or 'no reason given'}.",
            headers=ban_headers(ban),
        )
        self.ban = ban


class AlreadyBanned(ApiError):
    status_code = 406
    code = "already_banned"

    def __init__(self, ban: Ban) -> None:
        super().__init__(f"Account '{ban.account}' already has an active ban (id {ban.pk}) until {ban.until} UTC.")
        self.ban = ban


class UnknownBan(NotFound):
    code = "unknown_ban"
    default_detail = "No such ban."


def format_ban_date(ban: Ban) -> str:
    return ban.until


def ban_headers(ban: Ban) -> dict[str, str]:
    # A reason in another script is sent with its characters escaped rather than refused.
    reason = ban.reason.encode("latin-1", "backslashreplace").decode("latin-1")
    return {"X-Ban-Until": ban.until, "X-Ban-Id": str(ban.pk), "X-Ban-Reason": _CONTROL.sub(" ", reason)}


# --- enforcement ---


# Is there an active ban for this account or IP? The same rule as Ban.objects.active(), written by
# hand for the hot paths (PostgreSQL): the fast lane's joins (gamemaster/fastlane.py; when one
# applies, the view refuses the request through find_bans) and find_bans' common case below.
ACTIVE_BAN_SQL = """
    SELECT 1 FROM bans_ban
    WHERE lifted_at IS NULL AND expires_at > %(now)s AND (account = %(account)s::text OR ip = %(ip)s::inet)
"""


def find_bans(entries: list[tuple[str, str | None]]) -> dict[str, Ban]:
    """Active bans for each (account, ip), attaching the IP to a banned account's ban that has none yet.

    Returns {account: ban} for the accounts refused; one query when nobody is banned. Call it
    outside a transaction: an attached IP must survive the refusal that usually follows.
    """
    if not entries:
        return {}
    entries = [(account, normal_ip(ip)) for account, ip in entries]
    if len(entries) == 1 and connection.vendor == "postgresql" and not _any_active_ban(*entries[0]):
        return {}  # nobody banned, the common case: building the ORM query cost more than running it
    condition = Q(account__in={account for account, _ in entries})
    ips = {ip for _, ip in entries if ip}
    if ips:
        condition |= Q(ip__in=ips)
    bans = list(Ban.objects.active().filter(condition).order_by("created_at"))
    if not bans:
        return {}
    # The oldest ban wins when several apply, so every refusal names the same one.
    by_account: dict[str, Ban] = {}
    by_ip: dict[str, Ban] = {}
    for ban in bans:
        by_account.setdefault(ban.account, ban)
        # The database may write an address its own way (PostgreSQL inet): compare one spelling.
        ban_ip = normal_ip(ban.ip)
        if ban_ip:
            by_ip.setdefault(ban_ip, ban)
    refused: dict[str, Ban] = {}
    for account, ip in entries:
        applying = by_account.get(account) or (by_ip.get(ip) if ip else None)
        if applying is None:
            continue
        refused[account] = applying
        if ip and applying.ip is None and applying.account == account:
            _attach_ip(applying, ip)
    return refused


def _any_active_ban(account: str, ip: str | None) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(ACTIVE_BAN_SQL, {"now": timezone.now(), "account": account, "ip": ip})
        return cursor.fetchone() is not None


def normal_ip(ip: str | None) -> str | None:
    """One spelling per client address, the one stored on the ban, so that every way of writing it matches.

    A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d, and a link-local address carries the
    zone of the listener's interface (fe80::1%eth0): both are the same client as the bare address. The
    caller of a multi endpoint supplies IPs: one that is not an address cannot match any ban.
    """
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        address = ipaddress.IPv6Address(int(address))  # without its %zone
    return str(address)


def _attach_ip(ban: Ban, ip: str) -> None:
    # Only the first refused attempt attaches its IP: two at once both try, the condition lets one win.
    now = timezone.now()
    updated = Ban.objects.filter(pk=ban.pk, ip__isnull=True).update(ip=ip, ip_attached_at=now)
    if updated:
        ban.ip, ban.ip_attached_at = ip, now


def banned_summary(refused: dict[str, Ban]) -> dict[str, dict[str, str]]:
    """The `banned` object of a multi answer: {account: {"id", "until", "reason"}} (DESIGN.md §8)."""
    return {account: ban.as_refusal() for account, ban in refused.items()}


def ban_enforce(*, account: str, ip: str | None) -> None:
    """Raise `Banned` (423 with the X-Ban-* headers) when the account or its IP is banned."""
    ban = find_bans([(account, ip)]).get(account)
    if ban is not None:
        raise Banned(ban)


# --- managing bans ---


def ban_issue(*, account: str, reason: str, expires_at: datetime) -> Ban:
    """Ban `account` until `expires_at` (in the future); AlreadyBanned (406) if it has an active ban."""
    now = timezone.now()
    if expires_at <= now:
        raise BadArguments("The ban must expire in the future.", fields={"expires": ["Must be in the future."]})
    with transaction.atomic():
        _lock_account(account)
        current = Ban.objects.active(at=now).filter(account=account).first()
        if current is not None:
            raise AlreadyBanned(current)
        return Ban.objects.create(account=account, reason=reason, expires_at=expires_at, created_at=now)


def ban_issue_many(*, accounts: Iterable[str], reason: str, expires_at: datetime) -> tuple[list[Ban], list[str]]:
    """Ban each account (duplicates once); returns (bans issued, accounts skipped as already banned)."""
    issued: list[Ban] = []
    skipped: list[str] = []
    for account in dict.fromkeys(accounts):
        try:
            issued.append(ban_issue(account=account, reason=reason, expires_at=expires_at))
        except AlreadyBanned:
            skipped.append(account)
    return issued, skipped


def ban_get(*, ban_id: str | int) -> Ban:
    """A ban the API knows (not lifted; expired ones included), or UnknownBan (404)."""
    pk = _ban_pk(ban_id)
    ban = Ban.objects.not_lifted().filter(pk=pk).first() if pk else None
    if ban is None:
        raise UnknownBan()
    return ban


def ban_update(*, ban: Ban, reason: str | None = None, expires_at: datetime | None = None) -> Ban:
    """Change the reason and/or the expiry of a ban from `ban_get`. An expiry in the past ends the ban
    at once; one in the future revives an expired ban unless the account has another active one."""
    if reason is None and expires_at is None:
        raise BadArguments("Give `reason`, `expires` or both.")
    changes: dict[str, object] = {}
    if reason is not None:
        changes["reason"] = reason
    if expires_at is not None:
        changes["expires_at"] = expires_at
    with transaction.atomic():
        now = timezone.now()
        if expires_at is not None and expires_at > now:
            _lock_account(ban.account)
            other = Ban.objects.active(at=now).filter(account=ban.account).exclude(pk=ban.pk).first()
            if other is not None:
                raise AlreadyBanned(other)
        # Conditional on not lifted: a lift racing this update wins, and this one answers 404.
        if not Ban.objects.not_lifted().filter(pk=ban.pk).update(**changes):
            raise UnknownBan()
    for name, value in changes.items():
        setattr(ban, name, value)
    return ban


def ban_lift(*, ban_id: str | int) -> None:
    """Lift a ban (it stays as history in the admin); UnknownBan (404) if unknown or lifted already."""
    pk = _ban_pk(ban_id)
    if not pk or not Ban.objects.filter(pk=pk).lift():
        raise UnknownBan()


def _ban_pk(ban_id: str | int) -> int | None:
    text = str(ban_id)
    if not _BAN_ID.fullmatch(text) or int(text) > _MAX_BAN_ID:
        return None
    return int(text)


def _lock_account(account: str) -> None:
    """Serialise issuing for one account until the transaction ends, so two issues cannot both pass
    the "no active ban" check. PostgreSQL: a transaction advisory lock (there may be no row to lock).
    SQLite lets one writer at a time anyway."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"ban:{account}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])
