"""Run the host agent: start and stop game servers on this machine for the master."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hosts.agent import Agent, AgentError, parse_ports, websocket_base


class Command(BaseCommand):
    help = "Connect this machine to the master as a host of --region and run its game servers until SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--master", required=True, help="The master's URL, e.g. http://gm.example.com:8000.")
        parser.add_argument("--region", required=True, help="Name of the region this host belongs to.")
        parser.add_argument("--address", required=True, help="Address players connect to (host name or IP).")
        parser.add_argument("--ports", required=True, help="Ports for game servers, FROM-TO (inclusive).")
        parser.add_argument("--token", required=True, help="A token with the game_host scope (issue_token).")
        parser.add_argument(
            "--capacity", type=int, default=None, help="Most game servers at once (default: the admin's)."
        )
        parser.add_argument(
            "--state-dir",
            default=None,
            help="Where game server logs and the agent's state live (default var/host-agent/<region>-<ports>).",
        )
        parser.add_argument("--load-interval", type=float, default=5.0, help="Seconds between load reports.")
        parser.add_argument("--kill-timeout", type=float, default=10.0, help="Seconds between SIGTERM and SIGKILL.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ports = parse_ports(options["ports"])
            websocket_base(options["master"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["capacity"] is not None and options["capacity"] < 1:
            raise CommandError("--capacity must be at least 1")
        state_dir = Path(
            options["state_dir"] or settings.BASE_DIR / "var" / "host-agent" / f"{options['region']}-{options['ports']}"
        )
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s host-agent: %(message)s")

        async def main() -> None:
            agent = Agent(
                master=options["master"],
                region=options["region"],
                address=options["address"],
                ports=ports,
                token=options["token"],
                capacity=options["capacity"],
                state_dir=state_dir,
                load_interval=options["load_interval"],
                kill_timeout=options["kill_timeout"],
            )
            await agent.run()

        try:
            asyncio.run(main())
        except AgentError as exc:
            raise CommandError(str(exc)) from None
