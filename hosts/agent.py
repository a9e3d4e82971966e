"""The host agent (`manage.py run_host`): runs game servers on this machine for the master.

It dials out to the master's `/host/session`, announces itself and the rooms it still runs, then
answers `spawn` and `terminate`, reports `load` every few seconds and `exited` when a game server
ends. Game servers run in their own process groups with their output in a log file, and the agent
keeps a small state file, so that an agent restarted after a crash adopts the game servers still
running instead of losing their rooms.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import random
import signal
import socket
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rest_framework import serializers
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from gamemaster import jsonrpc

logger = logging.getLogger("gamemaster.host_agent")

TAIL_BYTES = 4000
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0
CLOSE_REPLACED = 4409  # the master took a newer session of the same host: that agent is the host now


class AgentError(Exception):
    """The agent cannot run (its state directory is in use)."""


def websocket_base(master: str) -> str:
    """`http://host:8000` (or ws://, https://, wss://) -> `ws://host:8000`."""
    parts = urlsplit(master if "://" in master else f"http://{master}")
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"--master must be an http(s):// or ws(s):// URL, not {master!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def parse_ports(text: str) -> range:
    """`FROM-TO` (inclusive) as a range."""
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise ValueError(f"--ports must look like 7000-7999, not {text!r}") from None
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"--ports {text!r} is not a range of TCP ports")
    return range(low, high + 1)


def machine_load() -> dict[str, float]:
    """CPU (load average per core) and memory in use, both in percent."""
    cpu = os.getloadavg()[0] / (os.cpu_count() or 1) * 100
    memory = 0.0
    with contextlib.suppress(OSError, ValueError, KeyError, ZeroDivisionError):
        info = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, value = line.partition(":")
            info[name] = int(value.split()[0])
        memory = (info["MemTotal"] - info["MemAvailable"]) / info["MemTotal"] * 100
    return {"cpu": round(min(cpu, 100.0), 1), "memory": round(memory, 1)}


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of a process (field 22 of /proc/<pid>/stat), None if it is gone or
    a zombie: with the pid, it tells our game server from a process that reused its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


@dataclass
class GameServer:
    room_id: str
    pid: int
    ports: list[int]
    started: str  # process_start_time
    log: str


class PortPool:
    def __init__(self, ports: range, *, bind_address: str = "0.0.0.0") -> None:
        self.ports, self.bind_address = ports, bind_address
        self.used: set[int] = set()

    def take(self, count: int) -> list[int] | None:
        taken: list[int] = []
        for port in self.ports:
            if len(taken) == count:
                break
            if port not in self.used and self._bindable(port):
                taken.append(port)
        if len(taken) < count:
            return None
        self.used.update(taken)
        return taken

    def give_back(self, ports: Iterable[int]) -> None:
        self.used.difference_update(ports)

    def _bindable(self, port: int) -> bool:
        # Another program may hold a port of our range: skip it rather than hand it out.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.bind_address, port))
            except OSError:
                return False
        return True


class SpawnParams(serializers.Serializer):
    room_id = serializers.CharField(max_length=32)
    room_secret = serializers.CharField(trim_whitespace=False)
    command = serializers.CharField(trim_whitespace=False)
    arguments = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False), default=list
    )
    env = serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False), default=dict)
    ports = serializers.IntegerField(min_value=0, max_value=64, default=1)


class TerminateParams(serializers.Serializer):
    room_id = serializers.CharField(max_length=32)


dispatcher = jsonrpc.Dispatcher()


class Agent:
    def __init__(
        self,
        *,
        master: str,
        region: str,
        address: str,
        ports: range,
        token: str,
        capacity: int | None = None,
        state_dir: Path,
        load_interval: float = 5.0,
        kill_timeout: float = 10.0,
    ) -> None:
        self.base_url = websocket_base(master)
        self.region, self.address, self.token, self.capacity = region, address, token, capacity
        self.pool = PortPool(ports)
        self.state_dir = state_dir
        self.load_interval, self.kill_timeout = load_interval, kill_timeout
        self.servers: dict[str, GameServer] = {}
        self.exited: dict[str, asyncio.Event] = {}
        self.ws: ClientConnection | None = None
        self.pending = jsonrpc.PendingCalls()
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()

    # Lifecycle

    async def run(self) -> None:
        """Serve until SIGTERM/SIGINT, then stop every game server and leave."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.lock_state_dir()
        self.adopt()
        sessions = self.background(self.stay_connected())
        await self.stopping.wait()
        logger.info("Stopping: terminating %d game servers", len(self.servers))
        await asyncio.gather(*(self.stop_server(room_id) for room_id in list(self.servers)))
        sessions.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sessions
        for task in list(self.tasks):
            task.cancel()
        logger.info("Stopped")

    def background(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def stay_connected(self) -> None:
        """Reconnect with exponential backoff (and jitter) for as long as the agent runs."""
        delay = BACKOFF_FIRST
        url = f"{self.base_url}/host/session"
        while not self.stopping.is_set():
            announced = False
            try:
                async with connect(
                    url, additional_headers={"Authorization": f"Bearer {self.token}"}, open_timeout=10
                ) as ws:
                    announced = await self.session(ws)
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                logger.warning("Cannot reach the master at %s: %s", url, exc)
            except ConnectionClosed as exc:
                logger.warning("The master closed the session: %s", exc)
            if announced:
                delay = BACKOFF_FIRST
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, BACKOFF_MAX)

    async def session(self, ws: ClientConnection) -> bool:
        """One connection: announce, then serve requests and report load until it closes."""
        self.ws = ws
        reader = self.background(self.read(ws))
        try:
            response = await self.pending.wait(
                await self.send_request(
                    "announce",
                    {
                        "region": self.region,
                        "address": self.address,
                        "capacity": self.capacity,
                        "ports": [self.pool.ports.start, self.pool.ports.stop - 1],
                        "rooms": list(self.servers),
                    },
                ),
                timeout=30,
            )
            response.raise_for_error()
        except jsonrpc.RpcError as exc:
            logger.error("The master refused the announce: %s (%s)", exc.message, exc.code)
            await ws.close()
            return False
        except (TimeoutError, asyncio.CancelledError):
            if (task := asyncio.current_task()) is not None and task.cancelling():
                raise
            # No answer, or the socket closed first (a refused token closes it with 4401/4403).
            await ws.close()
            logger.warning("The master did not take the announce: %s %s", ws.close_code, ws.close_reason or "")
            return False
        logger.info(
            "Connected to the master as host %s (%s, %s)", response.result.get("host_id"), self.region, self.address
        )
        loads = self.background(self.report_load())
        try:
            await reader
        finally:
            loads.cancel()
            self.ws = None
            self.pending.cancel_all()
        logger.warning("Lost the master connection (%s %s)", ws.close_code, ws.close_reason)
        if ws.close_code == CLOSE_REPLACED:
            logger.error("Another agent announced itself as this host (%s, %s): stopping", self.region, self.address)
            self.stopping.set()
        return True

    async def read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                reply = await dispatcher.handle_frame(self, frame, on_response=self.resolve)
                if reply is not None:
                    await ws.send(reply)
        except ConnectionClosed:
            pass
        finally:
            self.pending.cancel_all()

    def resolve(self, response: jsonrpc.Response) -> None:
        self.pending.resolve(response)

    async def send_request(self, method: str, params: dict[str, Any]) -> asyncio.Future[jsonrpc.Response]:
        _, message, future = self.pending.new(method, params)
        await self.send(message)
        return future

    async def send(self, message: dict[str, Any]) -> bool:
        """Send if connected; reports made while disconnected are rebuilt by the next announce."""
        if self.ws is None:
            return False
        try:
            await self.ws.send(jsonrpc.encode(message))
        except ConnectionClosed:
            return False
        return True

    async def report_load(self) -> None:
        while True:
            await self.send(jsonrpc.notification("load", {**machine_load(), "rooms": list(self.servers)}))
            await asyncio.sleep(self.load_interval)

    # Game servers

    async def spawn(self, params: dict[str, Any]) -> dict[str, Any]:
        room_id = params["room_id"]
        if room_id in self.servers:  # a repeated request: same answer
            server = self.servers[room_id]
            return {"pid": server.pid, "ports": server.ports}
        if self.capacity is not None and len(self.servers) >= self.capacity:
            raise jsonrpc.RpcError(503, f"This host runs {len(self.servers)} game servers, its capacity.")
        ports = self.pool.take(params["ports"])
        if ports is None:
            raise jsonrpc.RpcError(503, "Not enough free ports on this host.")
        listed = ",".join(map(str, ports))
        substitutions = {"{ports}": listed, "{port0}": str(ports[0]) if ports else "", "{room_id}": room_id}
        arguments = [_substitute(argument, substitutions) for argument in params["arguments"]]
        env = {
            **os.environ,
            **params["env"],
            "room_id": room_id,
            "room_secret": params["room_secret"],
            "gamemaster_url": f"{self.base_url}/gameserver/{room_id}/session",
            "ports": listed,
        }
        log_path = self.state_dir / "logs" / f"{room_id}.log"
        try:
            with open(log_path, "wb") as output:
                process = await asyncio.create_subprocess_exec(
                    params["command"],
                    *arguments,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=output,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,  # its own process group: signals reach its children too
                )
        except OSError as exc:
            self.pool.give_back(ports)
            raise jsonrpc.RpcError(500, f"Cannot start {params['command']}: {exc.strerror or exc}") from None
        server = GameServer(
            room_id=room_id,
            pid=process.pid,
            ports=ports,
            started=process_start_time(process.pid) or "",
            log=str(log_path),
        )
        self.track(server)
        self.background(self.watch_child(server, process))
        logger.info("Room %s: started pid %s on ports %s", room_id, process.pid, listed)
        return {"pid": process.pid, "ports": ports}

    def track(self, server: GameServer) -> None:
        self.servers[server.room_id] = server
        self.exited[server.room_id] = asyncio.Event()
        self.save_state()

    async def watch_child(self, server: GameServer, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        await self.on_exit(server, code)

    async def watch_adopted(self, server: GameServer) -> None:
        # Not our child any more (a previous agent started it): poll until it is gone.
        while process_start_time(server.pid) == server.started:
            await asyncio.sleep(0.5)
        await self.on_exit(server, None)

    async def on_exit(self, server: GameServer, code: int | None) -> None:
        self.servers.pop(server.room_id, None)
        self.pool.give_back(server.ports)
        self.save_state()
        tail = read_tail(Path(server.log))
        with contextlib.suppress(OSError):
            os.unlink(server.log)
        logger.info("Room %s: pid %s exited with code %s", server.room_id, server.pid, code)
        if tail:
            logger.info("Room %s output ends with:\n%s", server.room_id, tail)
        self.exited.pop(server.room_id, asyncio.Event()).set()
        await self.send(jsonrpc.notification("exited", {"room_id": server.room_id, "code": code, "output_tail": tail}))

    async def stop_server(self, room_id: str) -> None:
        """SIGTERM to the game server's process group, SIGKILL if it is still there after kill_timeout."""
        server, exited = self.servers.get(room_id), self.exited.get(room_id)
        if server is None or exited is None:
            return
        _signal_group(server.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(exited.wait(), self.kill_timeout)
        except TimeoutError:
            logger.warning(
                "Room %s: pid %s ignored SIGTERM for %gs, killing it", room_id, server.pid, self.kill_timeout
            )
            _signal_group(server.pid, signal.SIGKILL)
            await exited.wait()

    # State across agent restarts

    def lock_state_dir(self) -> None:
        # Two agents sharing a state directory would adopt each other's game servers.
        self._lock = open(self.state_dir / "agent.lock", "w")  # noqa: SIM115 - held for the agent's life
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise AgentError(f"Another host agent uses {self.state_dir}; give this one its own --state-dir.") from None

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def save_state(self) -> None:
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps({"servers": [asdict(server) for server in self.servers.values()]}))
        temporary.replace(self.state_file)

    def adopt(self) -> None:
        """Take over the game servers a previous agent left running."""
        try:
            saved = json.loads(self.state_file.read_text())["servers"]
        except (OSError, ValueError, KeyError, TypeError):
            saved = []
        for item in saved:
            try:
                server = GameServer(**item)
            except TypeError:
                continue
            if server.started and process_start_time(server.pid) == server.started:
                self.pool.used.update(server.ports)
                self.track(server)
                self.background(self.watch_adopted(server))
                logger.info("Room %s: adopted running pid %s", server.room_id, server.pid)
        self.save_state()


def _substitute(argument: str, substitutions: dict[str, str]) -> str:
    for name, value in substitutions.items():
        argument = argument.replace(name, value)
    return argument


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def read_tail(path: Path) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - TAIL_BYTES))
            return log.read().decode("utf-8", "replace")
    except OSError:
        return ""


@dispatcher.method("spawn", params=SpawnParams)
async def spawn(agent: Agent, params: dict[str, Any]) -> dict[str, Any]:
    return await agent.spawn(params)


@dispatcher.method("terminate", params=TerminateParams)
async def terminate(agent: Agent, params: dict[str, Any]) -> dict[str, Any]:
    if params["room_id"] in agent.servers:
        agent.background(agent.stop_server(params["room_id"]))
    return {}
