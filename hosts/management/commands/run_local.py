"""The quick start: the master (uvicorn) and one host agent for region `local`, on this machine."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gamemaster.auth import encode_token
from hosts.agent import parse_ports

AGENT_TOKEN_TTL = 365 * 24 * 3600


class Command(BaseCommand):
    help = "Serve the master on --bind:--port and run one host agent for region 'local'; Ctrl-C stops both."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1", help="Address the master listens on.")
        parser.add_argument("--port", type=int, default=8000, help="Port the master listens on.")
        parser.add_argument("--region", default="local", help="Region of the local host.")
        parser.add_argument(
            "--address", default=None, help="Address players reach game servers at (default: --bind, or 127.0.0.1)."
        )
        parser.add_argument("--game-ports", default="7100-7199", help="Ports for game servers, FROM-TO.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            parse_ports(options["game_ports"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        bind, port = options["bind"], options["port"]
        local = "127.0.0.1" if bind in ("0.0.0.0", "::", "") else bind
        address = options["address"] or local
        # uvicorn, as in production (docs/deploy.md): it also passes WebSocket close reasons on.
        master = [
            sys.executable, "-m", "uvicorn", "gamemaster.asgi:application",
            "--host", bind, "--port", str(port), "--lifespan", "off",
        ]  # fmt: skip
        agent = [
            sys.executable, str(settings.BASE_DIR / "manage.py"), "run_host",
            "--master", f"http://{local}:{port}",
            "--region", options["region"],
            "--address", address,
            "--ports", options["game_ports"],
            "--token", encode_token(account=f"host-{address}", scopes=["game_host"], ttl=AGENT_TOKEN_TTL),
        ]  # fmt: skip
        # Own sessions, so a Ctrl-C reaches only us and we stop them in order: the agent first (it
        # stops its game servers and reports their exits), then the master.
        processes: list[subprocess.Popen[bytes]] = []
        stop = False
        ended = ""

        def on_signal(signum: int, frame: Any) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            processes.append(subprocess.Popen(master, cwd=settings.BASE_DIR, start_new_session=True))
            processes.append(subprocess.Popen(agent, cwd=settings.BASE_DIR, start_new_session=True))
            self.stdout.write(
                f"master on http://{local}:{port}/ (admin at /admin/), host agent for '{options['region']}'"
            )
            self.stdout.write("Ctrl-C stops both.")
            while not stop and not ended:
                time.sleep(0.2)
                ended = next(
                    (
                        name
                        for name, p in zip(("master", "host agent"), processes, strict=False)
                        if p.poll() is not None
                    ),
                    "",
                )
        finally:
            for process in reversed(processes):
                _stop(process)
        if ended:
            raise CommandError(f"The {ended} stopped unexpectedly; see its output above.")


def _stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
