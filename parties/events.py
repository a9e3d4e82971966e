"""Everything a party tells its sessions goes through here, after the transaction commits, so no
session hears about a change that rolled back; the channel layer carries it to every process."""

from __future__ import annotations

import hashlib
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def party_group(party_id: str) -> str:
    """Every session on the party."""
    return f"party.{party_id}"


def account_group(party_id: str, account: str) -> str:
    """Every session of one account on the party (its own key goes only there). Account ids may
    hold any character; group names may not, so the account is hashed."""
    digest = hashlib.sha256(account.encode()).hexdigest()[:32]
    return f"party.{party_id}.{digest}"


def _send_on_commit(group: str, event: dict[str, Any]) -> None:
    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, event)

    transaction.on_commit(send)


def send_message(party_id: str, message_type: str, payload: Any, *, origin: str | None = None) -> None:
    """A `message` server call to every session of the party but the one whose channel is
    `origin`. That session skips it on receipt rather than by joining the group later: the pub/sub
    layer fans a message out to the process's sessions when Redis hands it back, so a session
    added to the group just after the send still gets it."""
    event = {"type": "party.message", "message_type": message_type, "payload": payload}
    if origin:
        event["origin"] = origin
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
