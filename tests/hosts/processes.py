"""Real processes for the tests: master (uvicorn, as in production), host agents (run_host) and the example game server.

Every process started here runs in its own process group and carries a marker in its environment
(inherited by the game servers the agents start), so that teardown kills all of them, whatever a
test left behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import Request, urlopen

import pytest
from django.conf import settings
from django.db import connection

from gamemaster.auth import encode_token

BASE_DIR = Path(settings.BASE_DIR)
GAMESERVER = BASE_DIR / "examples" / "gameserver.py"
MARKER = "GM_TEST_PROCESSES"


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll until `condition()` is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_port_range(size: int = 10) -> str:
    """A range of ports starting at a free one (the agent skips any taken since)."""
    first = free_port()
    first = min(first, 65535 - size)
    return f"{first}-{first + size - 1}"


def database_url() -> str:
    """The test database pytest-django made, for the processes to share with the test."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def marked_pids(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"{MARKER}={marker}".encode() in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


@dataclass
class Master:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, path: str, *, account: str = "alice", scopes: list[str] | None = None, **args: Any) -> Any:
        """POST a JSON body; returns (status, body, headers)."""
        return self.request("POST", path, account=account, scopes=scopes, body=json.dumps(args).encode())

    def get(self, path: str, *, account: str = "alice", scopes: list[str] | None = None) -> Any:
        """GET; returns (status, body, headers)."""
        return self.request("GET", path, account=account, scopes=scopes)

    def request(
        self, method: str, path: str, *, account: str, scopes: list[str] | None, body: bytes | None = None
    ) -> Any:
        token = encode_token(account=account, scopes=scopes or ["game"])
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = Request(self.url + path, data=body, headers=headers, method=method)
        try:
            with urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read()), response.headers
        except HTTPError as error:
            return error.code, json.loads(error.read()), error.headers


class Cluster:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.marker = uuid.uuid4().hex
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            MARKER: self.marker,
            "DATABASE_URL": database_url(),
            "GAMESERVER_GRACE_SECONDS": "1",
            "HOST_GRACE_SECONDS": "1",
            "GAMESERVER_HEARTBEAT_SECONDS": "2",
            "CREATE_RATE": "1000/min",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, args: list[str], name: str, **env: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp_path / f"{name}.log", "ab")  # noqa: SIM115 - the process holds it
        process = subprocess.Popen(
            args, cwd=BASE_DIR, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.processes.append(process)
        return process

    def master(self, **env: str) -> Master:
        port = free_port()
        command = [
            sys.executable, "-m", "uvicorn", "gamemaster.asgi:application",
            "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off",
        ]  # fmt: skip
        process = self.start(command, f"master-{port}", **env)

        def listening() -> bool:
            assert process.poll() is None, self.logs()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
            return True

        wait_for(listening, 30, "the master to listen")
        return Master(process=process, port=port)

    def agent(
        self,
        master: Master,
        *,
        region: str = "local",
        state_dir: Path | None = None,
        ports: str | None = None,
        capacity: int | None = None,
    ) -> subprocess.Popen[bytes]:
        state_dir = state_dir or self.tmp_path / f"agent-{uuid.uuid4().hex[:8]}"
        args = [
            sys.executable, str(BASE_DIR / "manage.py"), "run_host",
            "--master", master.url, "--region", region, "--address", "127.0.0.1",
            "--ports", ports or free_port_range(), "--state-dir", str(state_dir),
            "--token", encode_token(account="host", scopes=["game_host"]),
            "--load-interval", "0.5", "--kill-timeout", "3",
        ]  # fmt: skip
        if capacity is not None:
            args += ["--capacity", str(capacity)]
        return self.start(args, f"agent-{state_dir.name}")

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')}" for log in self.tmp_path.glob("*.log"))

    def stop(self) -> None:
        # Agents first, gently: they stop their game servers. Then anything left, by force.
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pid in marked_pids(self.marker):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(tmp_path)
    try:
        yield running
    finally:
        running.stop()


class Player:
    """A TCP client of the example game server."""

    def __init__(self, location: dict[str, Any], key: str) -> None:
        self.sock = socket.create_connection((location["host"], location["ports"][0]), timeout=10)
        self.file = self.sock.makefile("rwb")
        self.file.write(key.encode() + b"\n")
        self.file.flush()

    def line(self) -> str:
        return self.file.readline().decode().rstrip("\n")

    def close(self) -> None:
        self.file.close()
        self.sock.close()
