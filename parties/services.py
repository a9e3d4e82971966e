"""Party use cases (spec/parties.md): create, open sessions, join, leave, start, close, prune.

Every change locks the party row (`_lock`), so members on different processes agree on who is
in and on a single start; every broadcast goes out through `parties.events` after commit; the
close callback (slow outside I/O) is called after the transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, F, IntegerField, Value, When
from django.utils import timezone

from bans.services import Banned, find_bans
from gamemaster.args import storable_text
from gamemaster.errors import ApiError, BadArguments, Conflict, NotFound, Unavailable
from parties import events
from parties.callbacks import callback_call
from parties.checks import check_failure
from parties.models import CloseCallback, Party, PartyMember, PartySession, new_party_id
from regions.models import Region
from regions.services import region_for_ip
from rooms.filters import settings_filter_q
from rooms.lookup import GameTarget, require_enabled
from rooms.matchmaking import RegionRule, room_find_and_join
from rooms.services import Entrant, RoomGrant, room_create

logger = logging.getLogger(__name__)

FIND_CANDIDATES = 20


class RoleTooLow(ApiError):
    status_code = 403
    code = "role_too_low"


class PartyFull(ApiError):
    status_code = 406
    code = "party_full"
    default_detail = "The party is full."


@dataclass(frozen=True)
class PartyOptions:
    """The properties a new party gets (spec/parties.md, "Properties")."""

    settings: dict = field(default_factory=dict)
    room_settings: dict = field(default_factory=dict)
    room_filters: dict | None = None
    max_members: int = 8
    auto_start: bool = True
    auto_close: bool = True
    close_callback: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class JoinRequest:
    profile: dict = field(default_factory=dict)
    check_members: dict | None = None


@dataclass(frozen=True)
class Opened:
    """A session registered on a party; `info` is its `party` call, read under the party's lock,
    which shows the party's changes up to `change`; `start` when its join filled an auto-start party."""

    party_id: str
    info: dict[str, Any]
    change: int
    start: bool = False


@dataclass(frozen=True)
class Closing:
    """What is left to do once a close committed: call the callback, outside the transaction."""

    callback: CloseCallback | None
    party: dict[str, Any]
    message: Any
    reason: str


@dataclass(frozen=True)
class StartPlan:
    party_id: str
    starting_at: datetime
    target: GameTarget
    region: Region
    settings: dict
    room_settings: dict
    room_filters: dict | None
    created_by: str
    message: Any
    members: list[dict[str, Any]]


# --- reading -----------------------------------------------------------------------------------


def party_get(*, party_id: str) -> Party:
    party = Party.objects.with_id(party_id).first()
    if party is None:
        raise NotFound(f"No party '{party_id}'.", code="unknown_party")
    return party


def party_info(party: Party) -> dict[str, Any]:
    """`{"party": {...}, "members": [...]}`: the GET answer and the `party` call of a session."""
    members = _members(party)
    return {"party": party.as_api(len(members)), "members": members}


def session_party(*, party_id: str) -> tuple[dict[str, Any], int]:
    """The `party` call of a session that joined the party's groups after its open, and the
    change (`Party.changes`) it shows."""
    party = party_get(party_id=party_id)
    return party_info(party), party.changes


# The session open path (bench/RESULTS.md, scenario 5) runs a few statements written by hand:
# building them with the ORM cost more CPU than PostgreSQL spent running them. They are plain SQL
# that SQLite runs too (UPDATE ... RETURNING since SQLite 3.35).


def _lock(party_id: str) -> Party:
    """The party row, locked until the transaction ends, for a change (a refusal rolls it back).
    A start whose process died is over."""
    party = _lock_for_change(party_id) if storable_text(party_id) else None
    if party is None:
        raise NotFound(f"No party '{party_id}'.", code="unknown_party")
    if party.state == Party.STARTING and not party.is_starting():
        logger.warning("Party %s was left starting since %s: it is open again", party.pk, party.starting_at)
        party.state, party.starting_at = Party.OPEN, None
        party.save(update_fields=["state", "starting_at"])
    return party


def _lock_for_change(party_id: str, *, starting_at: datetime | None = None) -> Party | None:
    """Lock the party row for a change (only while it is still starting since `starting_at`,
    when given): one UPDATE locks it as SELECT ... FOR UPDATE would, counts the change (its
    events carry the number) and touches the party."""
    if starting_at is None:
        changed = Party.objects.raw(
            "UPDATE parties_party SET last_activity_at = %s, changes = changes + 1 WHERE id = %s RETURNING *",
            [timezone.now(), party_id],
        )
    else:
        changed = Party.objects.raw(
            "UPDATE parties_party SET last_activity_at = %s, changes = changes + 1"
            " WHERE id = %s AND state = %s AND starting_at = %s RETURNING *",
            [timezone.now(), party_id, Party.STARTING, starting_at],
        )
    return next(iter(changed), None)


def _members(party: Party) -> list[dict[str, Any]]:
    """The joined members as the API shows them (`PartyMember.as_api`), oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT account, role, profile FROM parties_partymember WHERE party_id = %s ORDER BY joined_at, id",
            [party.pk],
        )
        return [{"account": account, "role": role, "profile": json.loads(profile)} for account, role, profile in cursor]


def _execute(sql: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- creating and opening sessions -------------------------------------------------------------


def party_create(
    *, target: GameTarget, account: str, ip: str | None, options: PartyOptions, party_id: str | None = None
) -> Party:
    """A new open party of `target` in the named region, else the caller's; `party_id` when the
    caller chose the new party's id (a session joins its groups before the party exists)."""
    require_enabled(target)
    if options.max_members > target.configuration.max_players:
        # Every joined member gets a slot in one room: a bigger party could never start.
        raise BadArguments(
            fields={
                "max_members": [
                    f"A room of '{target.configuration.name}' holds at most {target.configuration.max_players} players."
                ]
            }
        )
    if options.region:
        region = Region.objects.filter(name=options.region).first()
        if region is None:
            raise BadArguments(fields={"region": [f"No region named '{options.region}'."]})
    else:
        region = region_for_ip(ip)
        if region is None:
            raise Unavailable("No region is configured.", code="no_region")
    callback = None
    if options.close_callback:
        callback = CloseCallback.objects.filter(name=options.close_callback).first()
        if callback is None:
            raise BadArguments(
                fields={"close_callback": [f"No close callback named '{options.close_callback}' is configured."]}
            )
    return Party.objects.create(
        id=party_id or new_party_id(),
        application=target.application,
        version=target.version,
        configuration=target.configuration,
        region=region,
        settings=options.settings,
        room_settings=options.room_settings,
        room_filters=options.room_filters,
        max_members=options.max_members,
        auto_start=options.auto_start,
        auto_close=options.auto_close,
        close_callback=callback,
        created_by=account,
    )


def session_open(*, party_id: str, account: str, channel_name: str, join: JoinRequest | None) -> Opened:
    """Register a session on a party, joining it first when asked (an account that is already a
    member resumes its membership: it never counts twice)."""
    with transaction.atomic():
        party = _lock(party_id)
        members = _members(party)
        start = _join(party, members, account, join, resume=True) if join is not None else False
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        _execute(
            "INSERT INTO parties_partysession (party_id, account, channel_name, connected_at, seen_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            [party.pk, account, channel_name, now, now],
        )
    return Opened(party.pk, {"party": party.as_api(len(members)), "members": members}, party.changes, start)


def session_create(
    *,
    target: GameTarget,
    account: str,
    ip: str | None,
    options: PartyOptions,
    channel_name: str,
    join: JoinRequest | None,
    party_id: str | None = None,
) -> Opened:
    """Create a party (with the id `party_id` when given) and open a session on it."""
    with transaction.atomic():
        party = party_create(target=target, account=account, ip=ip, options=options, party_id=party_id)
        return session_open(party_id=party.pk, account=account, channel_name=channel_name, join=join)


def session_find(
    *,
    target: GameTarget,
    party_filter: dict,
    account: str,
    ip: str | None,
    channel_name: str,
    join: JoinRequest,
    create: PartyOptions | None,
) -> Opened:
    """Join the first open party matching `party_filter` with a free place (the caller's region
    first, then the oldest), else create one when `create` is given, else 404 no_party."""
    mine = region_for_ip(ip)
    for party_id in _find_candidates(target=target, party_filter=party_filter, mine=mine):
        try:
            return session_open(party_id=party_id, account=account, channel_name=channel_name, join=join)
        except (NotFound, PartyFull, Conflict):
            continue  # closed, filled or started since the search: try the next one
    if create is None:
        raise NotFound("No party matches party_filter.", code="no_party")
    return session_create(target=target, account=account, ip=ip, options=create, channel_name=channel_name, join=join)


def _find_candidates(*, target: GameTarget, party_filter: dict, mine: Region | None) -> list[str]:
    # Imported here: the filter language lives with the room search (rooms/filters.py).

    parties = (
        Party.objects.searchable(target=target)
        .filter(settings_filter_q(party_filter, field="settings"))
        .annotate(joined=Count("members"))
        .filter(joined__lt=F("max_members"))
        .annotate(elsewhere=Case(When(region=mine, then=Value(0)), default=Value(1), output_field=IntegerField()))
        .order_by("elsewhere", "created_at")
    )
    return list(parties.values_list("pk", flat=True)[:FIND_CANDIDATES])


SEEN_BATCH = 1000


def sessions_seen(*, channel_names: list[str]) -> None:
    """These sessions are still there (heartbeat): one update per batch of sessions."""
    now = timezone.now()
    for start in range(0, len(channel_names), SEEN_BATCH):
        PartySession.objects.filter(channel_name__in=channel_names[start : start + SEEN_BATCH]).update(seen_at=now)


def session_close(*, channel_name: str) -> tuple[str, str] | None:
    """Forget a closed session; (party_id, account) when that was the last live session of a
    joined member, who leaves unless it reconnects within the grace period."""
    session = PartySession.objects.filter(channel_name=channel_name).first()
    if session is None:
        return None  # the party was closed and took its sessions with it
    session.delete()
    Party.objects.filter(pk=session.party_id).update(last_activity_at=timezone.now())
    party_id, account = session.party_id, session.account
    if not PartyMember.objects.filter(party_id=party_id, account=account).exists():
        return None
    if PartySession.objects.live().filter(party_id=party_id, account=account).exists():
        return None
    return party_id, account


def member_lost(*, party_id: str, account: str) -> Any:
    """After the grace period: a member with no live session left for good (counts as leave_party)."""
    with transaction.atomic():
        try:
            party = _lock(party_id)
        except NotFound:
            return None
        if party.is_starting():
            return None  # a failed start checks its members again
        if PartySession.objects.live().filter(party=party, account=account).exists():
            return None  # reconnected in time
        member = party.members.filter(account=account).first()
        if member is None:
            return None
        closing = _leave_locked(party, member)
    return _finish_close(closing)


# --- the session methods -----------------------------------------------------------------------


def party_join(*, party_id: str, account: str, join: JoinRequest) -> bool:
    """`join_party`; True when the join filled an auto-start party, which must start now."""
    with transaction.atomic():
        party = _lock(party_id)
        return _join(party, _members(party), account, join, resume=False)


def _join(party: Party, members: list[dict[str, Any]], account: str, join: JoinRequest, *, resume: bool) -> bool:
    """Join `account` to the locked party, whose `members` (`_members`) gain it."""
    if any(member["account"] == account for member in members):
        if not resume:
            raise Conflict("You already joined this party.", code="already_joined")
        return False
    if party.is_starting():
        raise Conflict("The party is starting its game.", code="party_starting")
    if len(members) >= party.max_members:
        raise PartyFull(f"The party is full ({party.max_members} members).")
    if join.check_members is not None:
        failure = check_failure(join.check_members, {"members": members})
        if failure:
            raise Conflict(f"The member check failed: {failure}", code="member_check_failed")
    role = party.role_for(account)
    _execute(
        "INSERT INTO parties_partymember (party_id, account, role, profile, joined_at) VALUES (%s, %s, %s, %s, %s)",
        [
            party.pk,
            account,
            role,
            connection.ops.adapt_json_value(join.profile, None),
            connection.ops.adapt_datetimefield_value(timezone.now()),
        ],
    )
    members.append({"account": account, "role": role, "profile": join.profile})
    events.send_message(party.pk, "player_joined", {"account": account, "profile": join.profile}, change=party.changes)
    return party.auto_start and len(members) >= party.max_members


def party_leave(*, party_id: str, account: str) -> Any:
    """`leave_party`: the member leaves; the last one out closes an auto-close party."""
    with transaction.atomic():
        party = _lock(party_id)
        member = party.members.filter(account=account).first()
        if member is None:
            raise Conflict("You have not joined this party.", code="not_joined")
        if party.is_starting():
            raise Conflict("The party is starting its game.", code="party_starting")
        closing = _leave_locked(party, member)
    return _finish_close(closing)


def _leave_locked(party: Party, member: PartyMember) -> Closing | None:
    """`member` leaves the party `_lock` locked (and touched)."""
    member.delete()
    events.send_message(
        party.pk, "player_left", {"account": member.account, "profile": member.profile}, change=party.changes
    )
    if party.auto_close and not party.members.exists():
        return _close_locked(party, message=None, reason="empty")
    return None


# A party's last activity is kept to within this many seconds by the messages its sessions send
# (prune_parties counts in hours): most messages then skip the database (bench/RESULTS.md, 4).
MESSAGE_TOUCH_SECONDS = 5.0
_message_touched: dict[str, float] = {}


async def party_send(*, party_id: str, payload: Any) -> None:
    """`send_message`: every session, the sender's included, gets `custom`. The broadcast goes
    from the event loop once the touch committed: sent from the database thread it would hold
    that thread (one a process) until the channel layer answered (bench/RESULTS.md, 4). A closed
    party has already ended its sessions, so between touches nothing needs checking."""
    now = time.monotonic()
    if now - _message_touched.get(party_id, -MESSAGE_TOUCH_SECONDS) >= MESSAGE_TOUCH_SECONDS:
        if not await database_sync_to_async(_touch_by_id)(party_id):
            _message_touched.pop(party_id, None)
            raise NotFound(f"No party '{party_id}'.", code="unknown_party")
        if len(_message_touched) > 10000:
            for stale in [key for key, at in _message_touched.items() if now - at >= MESSAGE_TOUCH_SECONDS]:
                del _message_touched[stale]
        _message_touched[party_id] = now
    await events.send_message_now(party_id, "custom", payload)


def _touch_by_id(party_id: str) -> bool:
    return bool(Party.objects.filter(pk=party_id).update(last_activity_at=timezone.now()))


# --- closing -----------------------------------------------------------------------------------


def party_close(*, party_id: str, account: str | None, message: Any = None, reason: str = "closed") -> Any:
    """Close a party (`DELETE`, or `close_party` by a member of role 1000 when `account` is
    given); returns the close callback's answer, or None when the party has no callback."""
    with transaction.atomic():
        party = _lock(party_id)
        if account is not None:
            member = party.members.filter(account=account).first()
            if member is None or member.role < PartyMember.ROLE_OWNER:
                raise RoleTooLow(f"Closing the party needs role {PartyMember.ROLE_OWNER}.")
        closing = _close_locked(party, message=message, reason=reason)
    return _finish_close(closing)


def _close_locked(party: Party, *, message: Any, reason: str, started: list[str] | None = None) -> Closing:
    callback = CloseCallback.objects.filter(pk=party.close_callback_id).first() if party.close_callback_id else None
    rendered = party.as_api(party.members.count())
    party.delete()
    events.send_closed(rendered["id"], message, started=started)
    return Closing(callback=callback, party=rendered, message=message, reason=reason)


def _finish_close(closing: Closing | None) -> Any:
    if closing is None or closing.callback is None:
        return None
    return callback_call(callback=closing.callback, party=closing.party, message=closing.message, reason=closing.reason)


# --- starting ----------------------------------------------------------------------------------


async def party_start(*, party_id: str, account: str | None, message: Any = None) -> None:
    """Start the game: one slot per joined member in one room (an existing one matching
    `room_filters` in the party's region, else a new game server); each member gets its own
    `game_started` and the party closes. `account` None is an auto start (no role check).
    On any failure everyone gets `game_start_failed`, the party is open again and the error is
    raised."""
    plan = await database_sync_to_async(_start_begin)(party_id=party_id, account=account, message=message)
    try:
        grant = await _start_grant(plan)
    except BaseException as exc:
        if isinstance(exc, ApiError):
            code, reason, error = exc.code, str(exc.detail), exc
        else:
            if not isinstance(exc, asyncio.CancelledError):
                logger.exception("Starting party %s failed", party_id)
            code, reason = "start_failed", "The game could not be started."
            error = Unavailable(reason, code=code)
        # Shielded: even a cancelled start must leave the party open, never half-started.
        lost = await asyncio.shield(database_sync_to_async(_start_failed)(plan, code, reason))
        for member_account in lost:
            member_check_later(party_id=party_id, account=member_account)
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise error from exc
    closing = await database_sync_to_async(_start_done)(plan, grant)
    if closing is not None:
        await database_sync_to_async(_finish_close)(closing)


def _start_begin(*, party_id: str, account: str | None, message: Any) -> StartPlan:
    with transaction.atomic():
        party = _lock(party_id)
        members = _members(party)
        if account is not None:
            role = next((member["role"] for member in members if member["account"] == account), None)
            if role is None or role < PartyMember.ROLE_START:
                raise RoleTooLow(f"Starting the game needs role {PartyMember.ROLE_START}.")
        if party.is_starting():
            raise Conflict("The party is already starting its game.", code="party_starting")
        if not members:
            raise Conflict("The party has no joined member to start with.", code="no_members")
        party.state, party.starting_at = Party.STARTING, timezone.now()
        party.last_activity_at = party.starting_at
        party.save(update_fields=["state", "starting_at", "last_activity_at"])
        announced = {"auto_start": True} if account is None else (message if message is not None else {})
        events.send_message(party.pk, "game_starting", announced, change=party.changes)
        # `_lock` reads the party row alone: what the start needs besides, in one query.
        related = Party.objects.select_related("application", "version", "configuration", "region").get(pk=party.pk)
    return StartPlan(
        party_id=party.pk,
        starting_at=party.starting_at,
        target=GameTarget(
            application=related.application, version=related.version, configuration=related.configuration
        ),
        region=related.region,
        settings=party.settings,
        room_settings=party.room_settings,
        room_filters=party.room_filters,
        created_by=party.created_by,
        message=message,
        members=members,
    )


async def _start_grant(plan: StartPlan) -> RoomGrant:
    # A member banned since joining gets no slot (as the multi endpoints leave banned accounts out);
    # the party closes for them as for a watcher. Outside any transaction: find_bans may attach.
    banned = await database_sync_to_async(find_bans)([(member["account"], None) for member in plan.members])
    if len(banned) == len(plan.members):
        raise Banned(next(iter(banned.values())))
    entrants = [
        Entrant(
            account=member["account"],
            info={"party_id": plan.party_id, "party_profile": member["profile"], "party_role": member["role"]},
        )
        for member in plan.members
        if member["account"] not in banned
    ]
    if plan.room_filters is not None:
        found = await database_sync_to_async(room_find_and_join)(
            target=plan.target, filters=plan.room_filters, regions=RegionRule(region=plan.region), entrants=entrants
        )
        if found is not None:
            return found
    return await room_create(
        target=plan.target,
        region=plan.region,
        settings=plan.room_settings,
        entrants=entrants,
        created_by=plan.created_by,
        party={
            "party_id": plan.party_id,
            "party_settings": plan.settings,
            "party_members": {m["account"]: {"profile": m["profile"], "role": m["role"]} for m in plan.members},
        },
    )


def _still_starting(plan: StartPlan) -> Party | None:
    # Only this start may finish or undo it: not one a DELETE ended or a later start replaced.
    return _lock_for_change(plan.party_id, starting_at=plan.starting_at)


def _start_done(plan: StartPlan, grant: RoomGrant) -> Closing | None:
    with transaction.atomic():
        party = _still_starting(plan)
        if party is None:
            logger.warning("Party %s ended during its start: room %s keeps unused slots", plan.party_id, grant.room.pk)
            return None
        room = grant.room
        for account, slot in grant.slots.items():
            events.send_game_started(
                party.pk,
                account,
                {
                    "id": str(room.pk),
                    "slot": str(slot.slot_id),
                    "key": slot.key,
                    "location": room.location,
                    "settings": room.settings,
                },
            )
        return _close_locked(party, message=plan.message, reason="game_started", started=list(grant.slots))


def _start_failed(plan: StartPlan, code: str, reason: str) -> list[str]:
    """Open the party again; the members without a live session, to check after the grace."""
    with transaction.atomic():
        party = _still_starting(plan)
        if party is None:
            return []
        party.state, party.starting_at, party.last_activity_at = Party.OPEN, None, timezone.now()
        party.save(update_fields=["state", "starting_at", "last_activity_at"])
        events.send_message(party.pk, "game_start_failed", {"code": code, "reason": reason}, change=party.changes)
        connected = set(PartySession.objects.live().filter(party=party).values_list("account", flat=True))
        return [account for account in party.members.values_list("account", flat=True) if account not in connected]


# --- background work ---------------------------------------------------------------------------

# Strong references: the event loop keeps only weak ones to tasks.
_background: set[asyncio.Task[Any]] = set()


def in_background(coroutine: Any) -> asyncio.Task[Any]:
    """Run work that must outlive the session that asked for it (a start, a grace check)."""
    task = asyncio.get_running_loop().create_task(coroutine)
    _background.add(task)
    task.add_done_callback(_forget)
    return task


def _forget(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: whoever cares awaited it, the rest was logged or announced


def member_check_later(*, party_id: str, account: str, delay: float | None = None) -> asyncio.Task[Any]:
    """After the reconnect grace period, remove the member unless a session of it is back. The
    decision is re-read from the database, so it is right whichever process the member is on."""

    async def check() -> None:
        await asyncio.sleep(settings.PARTY_RECONNECT_GRACE_SECONDS if delay is None else delay)
        try:
            await database_sync_to_async(member_lost)(party_id=party_id, account=account)
        except Exception:
            logger.exception("Checking lost member %s of party %s failed", account, party_id)

    return in_background(check())


async def background_idle() -> None:
    """Wait until every background start and grace check ended (tests, shutdown)."""
    while _background:
        await asyncio.gather(*list(_background), return_exceptions=True)


# --- pruning -----------------------------------------------------------------------------------


def party_prune(*, older_than: timedelta, dry_run: bool = False) -> int:
    """Delete parties nobody touched or watched for `older_than`; returns how many."""
    cutoff = timezone.now() - older_than
    abandoned = Party.objects.abandoned(cutoff=cutoff)
    if dry_run:
        return abandoned.count()
    with transaction.atomic():
        # Locked, so a party someone touches meanwhile is either pruned before or kept after.
        doomed = list(abandoned.select_for_update(of=("self",)).select_related("close_callback"))
        closings = [
            Closing(
                callback=party.close_callback,
                party=party.as_api(party.members.count()),
                message=None,
                reason="abandoned",
            )
            for party in doomed
            if party.close_callback is not None
        ]
        _, by_model = Party.objects.filter(pk__in=[party.pk for party in doomed]).delete()
    for closing in closings:  # the callbacks are slow outside calls: after the commit
        _finish_close(closing)
    return by_model.get(Party._meta.label, 0)
