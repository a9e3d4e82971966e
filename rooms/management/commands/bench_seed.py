"""Create running rooms on a stand-in host, so benchmarks and other tools load the same state."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from hosts.models import Host
from regions.models import Region
from rooms.models import Application, ApplicationVersion, GameServerConfiguration, Room

BATCH = 2000


class Command(BaseCommand):
    help = (
        "Create N running rooms of a game on a stand-in host whose game servers are not started "
        "(rows in the real schema, nothing else)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rooms", type=int, required=True, help="How many rooms to create.")
        # Django reserves --settings for the settings module, hence --room-settings.
        parser.add_argument("--room-settings", default="{}", help="JSON object: every room's settings.")
        parser.add_argument("--max-players", type=int, default=8)
        parser.add_argument("--game", default="bench")
        parser.add_argument("--game-version", default="1.0")
        parser.add_argument("--server", default="default", help="Game server configuration name.")
        parser.add_argument("--region", default="bench")
        parser.add_argument("--vary", default="", help="Settings key set to the room's index (makes rooms distinct).")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        try:
            settings = json.loads(options["room_settings"])
        except ValueError as exc:
            raise CommandError(f"--room-settings is not JSON: {exc}") from None
        if not isinstance(settings, dict):
            raise CommandError("--room-settings must be a JSON object")
        if options["rooms"] < 0:
            raise CommandError("--rooms must be 0 or more")
        region, _ = Region.objects.get_or_create(
            name=options["region"], defaults={"is_default": not Region.objects.filter(is_default=True).exists()}
        )
        game, _ = Application.objects.get_or_create(name=options["game"])
        version, _ = ApplicationVersion.objects.get_or_create(application=game, name=options["game_version"])
        configuration, _ = GameServerConfiguration.objects.get_or_create(
            application=game,
            name=options["server"],
            defaults={"command": "/bin/false", "max_players": options["max_players"]},
        )
        host, _ = Host.objects.update_or_create(
            region=region,
            address="stand-in.invalid",
            defaults={"capacity": 10**9, "enabled": False, "connected": False},
        )
        vary = options["vary"]
        rooms = []
        for index in range(options["rooms"]):
            room_settings = {**settings, vary: index} if vary else settings
            room = Room(
                application=game,
                version=version,
                configuration=configuration,
                region=region,
                host=host,
                state=Room.RUNNING,
                settings=room_settings,
                max_players=options["max_players"],
                ports=[20000 + index % 40000],
            )
            room.set_secret()
            rooms.append(room)
        Room.objects.bulk_create(rooms, batch_size=BATCH)
        self.stdout.write(f"{len(rooms)} running rooms of {game.name} {version.name}/{configuration.name} in {region}")
