"""Everything a party tells its sessions goes through here, after the transaction commits, so no
session hears about a change that rolled back; the channel layer carries it to every process."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

# Set by `in_db_then_send` while its service runs: the broadcasts committed meanwhile wait here.
_outbox: ContextVar[list[tuple[str, dict[str, Any]]] | None] = ContextVar("party_outbox", default=None)

# What a channel layer accepts in a group name (ASCII letters, digits, "-", "_", "."; < 100 chars).
_GROUP_SAFE = re.compile(r"[A-Za-z0-9_.-]{1,60}")


def party_group(party_id: str) -> str:
    """Every session on the party."""
    return f"party.{party_id}"


def account_group(party_id: str, account: str) -> str:
    """Every session of one account on the party (its own key goes only there). Account ids may
    hold any character; group names may not, so the account is hashed."""
    digest = hashlib.sha256(account.encode()).hexdigest()[:32]
    return f"party.{party_id}.{digest}"


def can_name_groups(party_id: str) -> bool:
    """Whether `party_id` (maybe straight from a URL) can name the party's groups."""
    return _GROUP_SAFE.fullmatch(party_id) is not None


def in_db_then_send(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """`gamemaster.sockets.in_db` for a party service whose broadcasts can wait until it returns:
    they go out from the event loop then (or when it raised, for what had committed), instead of
    each holding the process's one database thread while the channel layer answers (async_to_sync)."""

    async def call(*args: Any, **kwargs: Any) -> Any:
        outbox: list[tuple[str, dict[str, Any]]] = []

        def run() -> Any:
            token = _outbox.set(outbox)
            try:
                return func(*args, **kwargs)
            finally:
                _outbox.reset(token)

        try:
            return await database_sync_to_async(run)()
        finally:
            layer = get_channel_layer()
            if layer is not None:
                for group, event in outbox:
                    await layer.group_send(group, event)

    return call


def _send_on_commit(group: str, event: dict[str, Any]) -> None:
    def send() -> None:
        outbox = _outbox.get()
        if outbox is not None:
            outbox.append((group, event))
            return
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, event)

    transaction.on_commit(send)


def send_message(party_id: str, message_type: str, payload: Any, *, change: int) -> None:
    """A `message` server call to every session of the party; `change` is the party's change
    (`Party.changes`) that it tells of. A session drops the changes its `party` call already
    showed: the pub/sub layer fans a message out to the process's sessions when Redis hands it
    back, so a session added to the group just after the send still gets it (its own join too)."""
    event = {"type": "party.message", "message_type": message_type, "payload": payload, "change": change}
    _send_on_commit(party_group(party_id), event)


async def send_message_now(party_id: str, message_type: str, payload: Any) -> None:
    """`send_message` from async code, outside any transaction (the caller's change committed)."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(
            party_group(party_id), {"type": "party.message", "message_type": message_type, "payload": payload}
        )


def send_closed(party_id: str, message: Any, *, started: list[str] | None = None) -> None:
    """`party_closed` to every session, then close them (4410); the sessions of `started`
    accounts are left alone: they get their own `game_started`."""
    _send_on_commit(party_group(party_id), {"type": "party.closed", "message": message, "started": started or []})


def send_game_started(party_id: str, account: str, payload: dict[str, Any]) -> None:
    """One member's `game_started` (its own slot and key), to that member's sessions only."""
    _send_on_commit(account_group(party_id, account), {"type": "party.started", "payload": payload})
