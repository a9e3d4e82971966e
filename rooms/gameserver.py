"""`/gameserver/<room_id>/session`: a game server's socket (spec/game-servers.md).

The game server authenticates with its room secret, calls `inited` once ready, then `joined` and
`left` as players come and go. The master sends `status` heartbeats and, when the room is removed,
a `terminate` notification."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings
from rest_framework import serializers

from gamemaster import jsonrpc
from gamemaster.args import storable_json
from gamemaster.sockets import JsonRpcConsumer, SessionRefused, in_db, refusals, scope_token
from rooms import services

logger = logging.getLogger(__name__)

dispatcher = jsonrpc.Dispatcher()


class GameServerConsumer(JsonRpcConsumer):
    dispatcher = dispatcher
    room_id: int = 0  # set once the room secret is checked

    async def connect(self) -> None:
        try:
            self.room_id = await self.authenticate()
        except SessionRefused as refusal:
            await self.refuse(refusal)
            return
        self.replaced = self.removed = False
        group = services.gameserver_group(self.room_id)
        # A game server that reconnects before its old socket was noticed closing: the old
        # session must not record a disconnect after this one connected.
        await self.channel_layer.group_send(group, {"type": "session.replaced", "by": self.channel_name})
        await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await in_db(services.room_connected)(room_id=self.room_id)
        self.heartbeat = asyncio.get_running_loop().create_task(self.beat())

    async def authenticate(self) -> int:
        room = await in_db(services.gameserver_room)(self.scope["url_route"]["kwargs"]["room_id"])
        if room is None:
            raise SessionRefused(404, "No such room.")
        secret = scope_token(self.scope, argument="secret")
        if secret is None:
            raise SessionRefused(401, "The room secret is required (Authorization: Bearer or secret argument).")
        if not room.check_secret(secret):
            raise SessionRefused(403, "Wrong room secret.")
        return room.pk

    async def disconnect(self, code: int) -> None:
        if not self.room_id or not hasattr(self, "heartbeat"):
            return
        self.heartbeat.cancel()
        await self.channel_layer.group_discard(services.gameserver_group(self.room_id), self.channel_name)
        if not self.replaced and not self.removed:
            await in_db(services.room_disconnected)(room_id=self.room_id)
            services.schedule_prune(settings.GAMESERVER_GRACE_SECONDS + 0.1)

    async def beat(self) -> None:
        """`status` heartbeats; a game server that stops answering is disconnected."""
        interval = settings.GAMESERVER_HEARTBEAT_SECONDS
        while True:
            await asyncio.sleep(interval)
            try:
                response = await self.call("status", timeout=interval)
            except TimeoutError:
                logger.warning("Room %s: the game server stopped answering status", self.room_id)
                await self.close(code=4408, reason="No answer to status.")
                return
            if not response.is_error:
                await in_db(services.room_still_connected)(room_id=self.room_id)

    # Channel layer messages

    async def session_replaced(self, event: dict[str, Any]) -> None:
        if event["by"] != self.channel_name:
            self.replaced = True
            await self.close(code=4409, reason="Replaced by a newer session of the same room.")

    async def room_removed(self, event: dict[str, Any]) -> None:
        self.removed = True
        await self.notify("terminate")
        await self.close(code=4410, reason="The room was removed.")


class InitedParams(serializers.Serializer):
    settings = serializers.DictField(required=False, validators=[storable_json])


class KeyParams(serializers.Serializer):
    key = serializers.CharField(max_length=200, trim_whitespace=False)


class SettingsParams(serializers.Serializer):
    settings = serializers.DictField(validators=[storable_json])


@dispatcher.method("inited", params=InitedParams)
@refusals
async def inited(consumer: GameServerConsumer, params: dict[str, Any]) -> dict[str, Any]:
    starting = await in_db(services.room_inited)(room_id=consumer.room_id, settings=params.get("settings"))
    if starting:
        await consumer.channel_layer.group_send(services.room_ready_group(consumer.room_id), {"type": "room.ready"})
    return {}


@dispatcher.method("joined", params=KeyParams)
@refusals
async def joined(consumer: GameServerConsumer, params: dict[str, Any]) -> dict[str, Any]:
    slot = await in_db(services.slot_joined)(room_id=consumer.room_id, key=params["key"])
    return {"account": slot.account, "info": slot.info}


@dispatcher.method("left", params=KeyParams)
@refusals
async def left(consumer: GameServerConsumer, params: dict[str, Any]) -> dict[str, Any]:
    await in_db(services.slot_left)(room_id=consumer.room_id, key=params["key"])
    return {}


@dispatcher.method("update_settings", params=SettingsParams)
@refusals
async def update_settings(consumer: GameServerConsumer, params: dict[str, Any]) -> dict[str, Any]:
    await in_db(services.room_settings_update)(room_id=consumer.room_id, settings=params["settings"])
    return {}


@dispatcher.method("check_version")
@refusals
async def check_version(consumer: GameServerConsumer, params: Any) -> dict[str, Any]:
    await in_db(services.room_version_check)(room_id=consumer.room_id)
    return {}
