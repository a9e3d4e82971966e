"""Party sessions (spec/parties.md, "Sessions") over the shared JSON-RPC codec.

The consumer accepts, refuses, joins the party's groups and moves frames; every rule is in
`parties.services`. Client frames are handled one at a time, in order, by a worker task, so a
long `start_game` does not hold back the party's messages (`game_starting`, `game_started`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from bans.services import Banned, find_bans
from gamemaster import jsonrpc
from gamemaster.errors import ApiError
from gamemaster.net import scope_ip
from gamemaster.sockets import (
    JsonRpcConsumer,
    SessionRefused,
    authenticate_scope,
    in_db,
    query_args,
    refusals,
)
from parties import events, services
from parties.models import new_party_id, session_heartbeat_seconds
from parties.serializers import (
    CreateSessionArgs,
    FindSessionArgs,
    JoinArgs,
    JoinPartyParams,
    MessageParams,
    SendMessageParams,
)
from rooms.lookup import game_target

logger = logging.getLogger(__name__)

CLOSED = 4410
STARTED = 4411

dispatcher = jsonrpc.Dispatcher()


class Heartbeat:
    """One task per process marks every live session of the process seen, in bulk: a task and a
    timer per session would cost each of 10,000 sessions memory for nothing (bench/RESULTS.md, 5)."""

    def __init__(self) -> None:
        self.channels: set[str] = set()
        self.task: asyncio.Task[None] | None = None

    def add(self, channel_name: str) -> None:
        self.channels.add(channel_name)
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.task = loop.create_task(self.run())

    def discard(self, channel_name: str) -> None:
        self.channels.discard(channel_name)

    async def run(self) -> None:
        while self.channels:
            await asyncio.sleep(session_heartbeat_seconds())
            try:
                await in_db(services.sessions_seen)(channel_names=list(self.channels))
            except Exception:
                logger.exception("Refreshing %d party sessions failed", len(self.channels))


heartbeat = Heartbeat()


def refusal_from(error: ApiError) -> SessionRefused:
    if error.fields:
        return bad_arguments(error.fields)
    return SessionRefused(error.status_code, str(error.detail))


def bad_arguments(errors: dict[str, Any]) -> SessionRefused:
    described = "; ".join(
        f"{name}: {' '.join(str(message) for message in messages) if isinstance(messages, list) else messages}"
        for name, messages in errors.items()
    )
    return SessionRefused(400, f"Bad arguments: {described}")


class PartyConsumer(JsonRpcConsumer):
    """One party session: `endpoint` is "create", "connect" or "find" (the three URLs)."""

    dispatcher = dispatcher
    endpoint = "connect"

    party_id: str | None = None
    account: str = ""
    change = 0  # the party's change its `party` call showed (Party.changes)
    ended = False
    busy = False
    closing: tuple[int, str] | None = None
    listening = False  # frames are handled once the `party` call went out
    # Client frames wait here for the worker task, which runs only while there are frames: an
    # idle session holds neither a task nor a queue (10,000 idle sessions, bench/RESULTS.md, 5).
    frames: deque[str | bytes] | None = None
    worker: asyncio.Task[Any] | None = None

    def __init__(self, *args: Any, endpoint: str = "connect", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.endpoint = endpoint

    async def connect(self) -> None:
        try:
            serializer, ip = self.arguments()
        except SessionRefused as refusal:
            await self.refuse(refusal)
            return
        # When the party's id is known before the open (connect; create chooses the new party's
        # id), the session joins the party's groups first: then it hears everything said after the
        # open's transaction, and its `party` call is what that transaction read, in one database
        # hop. A found party is known only after the open: its groups are joined then, and the
        # party read again (bench/RESULTS.md, scenario 5).
        if self.endpoint == "create":
            early: str | None = new_party_id()
        elif self.endpoint == "connect":
            early = self.scope["url_route"]["kwargs"]["party_id"]
        else:
            early = None
        if early is not None and not events.can_name_groups(early):
            early = None  # no party has such an id: the open refuses it
        if early is not None:
            await self.groups_join(early)
        try:
            opened = await events.in_db_then_send(self.open)(serializer, ip, party_id=early)
        except BaseException as error:
            if early is not None:
                await self.groups_leave(early)  # whatever went wrong, no group keeps this channel
            if not isinstance(error, SessionRefused | ApiError):
                raise
            await self.refuse(error if isinstance(error, SessionRefused) else refusal_from(error))
            return
        info, self.change = opened.info, opened.change
        if early is None:
            await self.groups_join(opened.party_id)
        self.party_id = opened.party_id
        await self.accept()
        if early is None:
            try:
                info, self.change = await in_db(services.session_party)(party_id=opened.party_id)
            except ApiError:
                await self.end(CLOSED, "The party is closed.")
                return
        # The `party` call is the first message of every session: frames are handled after it.
        await self.send_request("party", {"party_info": info})
        self.listening = True
        heartbeat.add(self.channel_name)
        if opened.start:
            self.start_later()

    def arguments(self) -> tuple[Any, str | None]:
        """Authenticate (`self.account`) and read the arguments: (valid serializer, caller's IP)."""
        scopes = ["party_create"] if self.endpoint == "create" else ["party"]
        self.account = authenticate_scope(self.scope, scopes).account
        args = query_args(self.scope)
        serializer: Any
        if self.endpoint == "create":
            serializer = CreateSessionArgs(data=args)
        elif self.endpoint == "find":
            serializer = FindSessionArgs(data=args)
        else:
            serializer = JoinArgs(data=args)
        if not serializer.is_valid():
            raise bad_arguments(serializer.errors)
        if self.endpoint == "find" and serializer.validated_data["auto_create"]:
            authenticate_scope(self.scope, ["party", "party_create"])
        return serializer, scope_ip(self.scope)

    def open(self, serializer: Any, ip: str | None, *, party_id: str | None) -> services.Opened:
        """Refuse banned accounts, then open the session (in the database thread); `party_id` is
        the party to connect to or to create (None: find one)."""
        ban = find_bans([(self.account, ip)]).get(self.account)
        if ban is not None:
            raise refusal_from(Banned(ban))
        if self.endpoint == "connect":
            return services.session_open(
                party_id=party_id or self.scope["url_route"]["kwargs"]["party_id"],
                account=self.account,
                channel_name=self.channel_name,
                join=serializer.join(),
            )
        target = game_target(**self.scope["url_route"]["kwargs"])
        if self.endpoint == "create":
            return services.session_create(
                target=target,
                account=self.account,
                ip=ip,
                options=serializer.options(),
                channel_name=self.channel_name,
                join=serializer.join(),
                party_id=party_id,
            )
        return services.session_find(
            target=target,
            party_filter=serializer.validated_data["party_filter"],
            account=self.account,
            ip=ip,
            channel_name=self.channel_name,
            join=serializer.join(),
            create=serializer.create_options(),
        )

    async def groups_join(self, party_id: str) -> None:
        await self.channel_layer.group_add(events.party_group(party_id), self.channel_name)
        await self.channel_layer.group_add(events.account_group(party_id, self.account), self.channel_name)

    async def groups_leave(self, party_id: str) -> None:
        await self.channel_layer.group_discard(events.party_group(party_id), self.channel_name)
        await self.channel_layer.group_discard(events.account_group(party_id, self.account), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame = text_data if text_data is not None else bytes_data
        if frame is None or not self.listening or self.ended:
            return
        if self.frames is None:
            self.frames = deque()
        self.frames.append(frame)
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self.work())

    async def work(self) -> None:
        """Handle the queued frames one at a time, in order, then end until the next frame."""
        while self.frames:
            frame = self.frames.popleft()
            if self.ended:
                return  # closed: frames still queued get no answer
            self.busy = True
            try:
                reply = await self.dispatcher.handle_frame(self, frame, on_response=self.answered)
                if reply is not None:
                    await self.send(text_data=reply)
            finally:
                self.busy = False
            if self.closing is not None:
                # A close that arrived while this frame was handled waited for its answer.
                await self.close(code=self.closing[0], reason=self.closing[1])
                return
        self.frames = None

    def answered(self, response: jsonrpc.Response) -> None:
        # Server messages are never waited for; an answer to one is simply dropped.
        self.pending.resolve(response)

    def start_later(self) -> None:
        """The join filled an auto-start party: start it, whatever becomes of this session."""
        services.in_background(auto_start(self.party_id or ""))

    async def end(self, code: int, reason: str) -> None:
        """The session is over (party closed, game started): close once any answer is sent."""
        self.ended = True
        if self.busy:
            self.closing = (code, reason)
        else:
            await self.close(code=code, reason=reason)

    # --- events from the channel layer (parties.events) ---

    async def party_message(self, event: dict[str, Any]) -> None:
        if self.party_id is None:
            return  # refused after joining the groups early (`connect`)
        change = event.get("change")  # None: `custom`, which changes nothing
        if change is not None and change <= self.change:
            return  # already in its `party` call (its own join among them)
        await self.send_request("message", {"message_type": event["message_type"], "payload": event["payload"]})

    async def party_closed(self, event: dict[str, Any]) -> None:
        if self.party_id is None or self.ended or self.account in event["started"]:
            return  # a started member's sessions get their own game_started instead
        await self.send_request("message", {"message_type": "party_closed", "payload": event["message"]})
        await self.end(CLOSED, "The party is closed.")

    async def party_started(self, event: dict[str, Any]) -> None:
        if self.party_id is None or self.ended:
            return
        await self.send_request("message", {"message_type": "game_started", "payload": event["payload"]})
        await self.end(STARTED, "The game started.")

    async def disconnect(self, code: int) -> None:
        heartbeat.discard(self.channel_name)
        if self.worker is not None:
            self.worker.cancel()
        if self.party_id is None:
            return
        await self.groups_leave(self.party_id)
        lost = await in_db(services.session_close)(channel_name=self.channel_name)
        if lost is not None:
            services.member_check_later(party_id=lost[0], account=lost[1])


async def auto_start(party_id: str) -> None:
    try:
        await services.party_start(party_id=party_id, account=None)
    except ApiError as error:
        # Everyone was told game_start_failed (or someone else's start is running).
        logger.info("Auto start of party %s did not happen: %s", party_id, error.detail)


# --- methods (spec/parties.md, "Client → server") ----------------------------------------------


@dispatcher.method("send_message", params=SendMessageParams)
@refusals
async def send_message(session: PartyConsumer, params: dict[str, Any]) -> str:
    await services.party_send(party_id=session.party_id or "", payload=params["payload"])
    return "OK"


@dispatcher.method("join_party", params=JoinPartyParams)
@refusals
async def join_party(session: PartyConsumer, params: dict[str, Any]) -> str:
    join = services.JoinRequest(profile=params["member_profile"], check_members=params["check_members"])
    if await events.in_db_then_send(services.party_join)(party_id=session.party_id, account=session.account, join=join):
        session.start_later()
    return "OK"


@dispatcher.method("leave_party", params=MessageParams)
@refusals
async def leave_party(session: PartyConsumer, params: dict[str, Any]) -> str:
    await in_db(services.party_leave)(party_id=session.party_id, account=session.account)
    return "OK"


@dispatcher.method("start_game", params=MessageParams)
@refusals
async def start_game(session: PartyConsumer, params: dict[str, Any]) -> str:
    start = services.in_background(
        services.party_start(party_id=session.party_id or "", account=session.account, message=params["message"])
    )
    # Shielded: the members waiting for the game must get it even if this session drops.
    await asyncio.shield(start)
    return "OK"


@dispatcher.method("close_party", params=MessageParams)
@refusals
async def close_party(session: PartyConsumer, params: dict[str, Any]) -> Any:
    answer = await in_db(services.party_close)(
        party_id=session.party_id, account=session.account, message=params["message"]
    )
    return "OK" if answer is None else answer
