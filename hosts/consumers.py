"""`/host/session`: the host agent's socket (spec/game-servers.md, "Host agent").

The consumer moves frames: spawn and terminate requests arrive from any master worker through the
channel layer (the host's `channel_name`) and go to the agent as JSON-RPC; the agent's calls go to
hosts/services.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings
from rest_framework import serializers

from gamemaster import jsonrpc
from gamemaster.sockets import JsonRpcConsumer, SessionRefused, authenticate_scope, in_db, refusals
from hosts import services
from rooms.models import Room
from rooms.services import (
    room_ready_group,
    rooms_notify_removed,
    rooms_remove,
    rooms_sweep,
    schedule_prune,
)

logger = logging.getLogger(__name__)

dispatcher = jsonrpc.Dispatcher()


class HostConsumer(JsonRpcConsumer):
    dispatcher = dispatcher
    host_id: int | None = None

    async def connect(self) -> None:
        try:
            authenticate_scope(self.scope, ["game_host"])
        except SessionRefused as refusal:
            await self.refuse(refusal)
            return
        self.tasks: set[asyncio.Task[Any]] = set()
        self.replaced = False
        await self.accept()

    async def disconnect(self, code: int) -> None:
        # Spawns in flight are not cancelled: their pending calls were, and they report the failure.
        if (
            self.host_id is not None
            and not self.replaced
            and await in_db(services.host_disconnected)(host_id=self.host_id, channel_name=self.channel_name)
        ):
            logger.warning("Host %s lost its agent; its rooms go in %gs", self.host_id, settings.HOST_GRACE_SECONDS)
            schedule_prune(settings.HOST_GRACE_SECONDS + 0.1)

    def background(self, coroutine: Any) -> None:
        # Channel-layer handlers run one at a time: waiting for the agent's answer inside one would
        # block the frames that carry that answer.
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # Channel layer messages

    async def host_spawn(self, event: dict[str, Any]) -> None:
        self.background(self.spawn(event["room_id"], event["params"], event["timeout"]))

    async def host_terminate(self, event: dict[str, Any]) -> None:
        await self.notify("terminate", {"room_id": str(event["room_id"])})

    async def host_replaced(self, event: dict[str, Any]) -> None:
        # The same host announced itself on a newer socket: that one is the host now.
        self.replaced = True
        await self.close(code=4409, reason="Replaced by a newer session of the same host.")

    async def spawn(self, room_id: int, params: dict[str, Any], timeout: float) -> None:
        try:
            response = await self.call("spawn", params, timeout=timeout)
            response.raise_for_error()
            pid, ports = int(response.result["pid"]), [int(port) for port in response.result["ports"]]
        except jsonrpc.RpcError as exc:
            await self.spawn_failed(room_id, f"The host could not start the game server: {exc.message}")
            return
        except TimeoutError:
            await self.spawn_failed(room_id, "The host agent did not answer the spawn request.")
            return
        except asyncio.CancelledError:
            if (task := asyncio.current_task()) is not None and task.cancelling():
                raise
            # The pending call was cancelled: the agent disconnected.
            await self.spawn_failed(room_id, "The host agent disconnected during the spawn.")
            return
        except (TypeError, ValueError, KeyError):
            await self.spawn_failed(room_id, "The host agent answered the spawn request with nonsense.")
            return
        if await in_db(services.host_room_spawned)(host_id=self.host_id, room_id=room_id, pid=pid, ports=ports):
            await self.channel_layer.group_send(room_ready_group(room_id), {"type": "room.spawned"})
        else:
            await self.notify("terminate", {"room_id": str(room_id)})

    async def spawn_failed(self, room_id: int, reason: str) -> None:
        logger.warning("Room %s: %s", room_id, reason)
        removals = await in_db(rooms_remove)(Room.objects.filter(pk=room_id))
        await rooms_notify_removed(removals, reason=reason)
        # A creator whose room was already removed still hears why.
        await self.channel_layer.group_send(room_ready_group(room_id), {"type": "room.failed", "detail": reason})


def announced(handler: Any) -> Any:
    async def wrapped(consumer: HostConsumer, params: Any) -> Any:
        if consumer.host_id is None:
            raise jsonrpc.RpcError(409, "Call announce first.")
        return await handler(consumer, params)

    return wrapped


class AnnounceParams(serializers.Serializer):
    region = serializers.CharField(max_length=64)
    address = serializers.CharField(max_length=255)
    capacity = serializers.IntegerField(min_value=1, max_value=100000, required=False, allow_null=True)
    ports = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=65535), min_length=2, max_length=2, required=False
    )
    rooms = serializers.ListField(child=serializers.CharField(max_length=32), required=False, default=list)


class LoadParams(serializers.Serializer):
    cpu = serializers.FloatField(min_value=0)
    memory = serializers.FloatField(min_value=0)
    rooms = serializers.ListField(child=serializers.CharField(max_length=32), required=False, default=list)


class ExitedParams(serializers.Serializer):
    room_id = serializers.CharField(max_length=32)
    code = serializers.IntegerField(allow_null=True, required=False)
    output_tail = serializers.CharField(allow_blank=True, trim_whitespace=False, required=False, default="")


@dispatcher.method("announce", params=AnnounceParams)
@refusals
async def announce(consumer: HostConsumer, params: dict[str, Any]) -> dict[str, Any]:
    result = await in_db(services.host_announce)(
        region=params["region"],
        address=params["address"],
        capacity=params.get("capacity"),
        ports=params.get("ports"),
        rooms=params["rooms"],
        channel_name=consumer.channel_name,
    )
    consumer.host_id = result.host.pk
    if result.previous_channel:
        await consumer.channel_layer.send(result.previous_channel, {"type": "host.replaced"})
    if result.removed:
        logger.warning("Host %s no longer runs rooms %s", result.host.pk, [r.room_id for r in result.removed])
        await rooms_notify_removed(result.removed, reason="The host no longer runs this game server.", terminate=False)
    for room_id in result.unknown:
        await consumer.notify("terminate", {"room_id": room_id})
    logger.info("Host %s (%s, %s) connected", result.host.pk, params["region"], params["address"])
    return {"host_id": str(result.host.pk)}


@dispatcher.method("load", params=LoadParams)
@announced
async def load(consumer: HostConsumer, params: dict[str, Any]) -> dict[str, Any]:
    await in_db(services.host_load)(
        host_id=consumer.host_id, cpu=params["cpu"], memory=params["memory"], rooms=params["rooms"]
    )
    await rooms_sweep()
    return {}


@dispatcher.method("exited", params=ExitedParams)
@announced
async def exited(consumer: HostConsumer, params: dict[str, Any]) -> dict[str, Any]:
    room_id, code = params["room_id"], params.get("code")
    logger.info("Room %s: game server exited with code %s; output ends with:\n%s", room_id, code, params["output_tail"])
    removals = await in_db(services.host_room_exited)(host_id=consumer.host_id, room_id=room_id)
    await rooms_notify_removed(
        removals, reason=f"The game server exited with code {code} before it was ready.", terminate=False
    )
    return {}
