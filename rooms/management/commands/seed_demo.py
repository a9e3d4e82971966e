"""Create the demo data the quick start uses; running it again changes nothing."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from regions.models import Region
from rooms.models import Application, ApplicationVersion, GameServerConfiguration


class Command(BaseCommand):
    help = "Create region 'local' (default), game 'demo' 1.0 and configuration 'default' (the example game server)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        region, _ = Region.objects.get_or_create(
            name="local", defaults={"is_default": not Region.objects.filter(is_default=True).exists()}
        )
        game, _ = Application.objects.get_or_create(name="demo", defaults={"title": "Demo chat game"})
        ApplicationVersion.objects.get_or_create(application=game, name="1.0")
        configuration, created = GameServerConfiguration.objects.get_or_create(
            application=game,
            name="default",
            defaults={
                # The example game server, run by this machine's Python (the host agent runs locally).
                "command": sys.executable,
                "arguments": [str(settings.BASE_DIR / "examples" / "gameserver.py")],
                "max_players": 8,
                "server_settings": {"empty_timeout": 300},
            },
        )
        self.stdout.write(
            f"demo ready: region {region.name}, game {game.name} 1.0, configuration {configuration.name}"
            + ("" if created else " (already there)")
        )
