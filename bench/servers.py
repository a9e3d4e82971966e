"""Start and stop the servers under test, and read their memory."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def server_command(kind: str, port: int, *, workers: int = 1, app: str = "gamemaster.asgi:application") -> list[str]:
    if kind == "daphne":
        return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), app]
    if kind == "uvicorn":
        return [
            str(BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
    if kind == "gunicorn":
        wsgi = app.replace("asgi:application", "wsgi:application")
        return [
            str(BIN / "gunicorn"), wsgi, "-b", f"127.0.0.1:{port}", "-w", str(workers),
            "--keep-alive", "30", "--log-level", "warning",
        ]  # fmt: skip
    raise ValueError(f"unknown server {kind!r}")


@dataclass
class Servers:
    """A set of server processes (one per port for daphne, or one with workers), stopped together."""

    kind: str
    ports: list[int]
    processes: list[subprocess.Popen] = field(default_factory=list)

    @classmethod
    def start(
        cls, kind: str, *, env: dict[str, str], processes: int = 1, app: str = "gamemaster.asgi:application"
    ) -> Servers:
        # daphne has no worker option: N processes on N ports, clients spread over them.
        # uvicorn and gunicorn fork N workers sharing one port.
        ports = [free_port() for _ in range(processes if kind == "daphne" else 1)]
        servers = cls(kind=kind, ports=ports)
        for port in ports:
            command = server_command(kind, port, workers=processes, app=app)
            with open(f"/tmp/bench-{kind}-{port}.log", "w") as log:  # the child keeps its own copy
                servers.processes.append(
                    subprocess.Popen(
                        command,
                        cwd=ROOT,
                        env=server_env(env),
                        start_new_session=True,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )
                )
        for port in ports:
            wait_for_port(port)
        time.sleep(0.5)  # let forked workers finish booting
        return servers

    def memory_kb(self) -> int:
        """Resident memory of every server process and its workers."""
        return sum(rss_kb(pid) for process in self.processes for pid in process_tree(process.pid))

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def server_env(extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **extra}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids += process_tree(int(child))
    return pids


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
