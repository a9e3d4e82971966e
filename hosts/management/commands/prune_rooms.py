"""Remove rooms whose game server or host is gone for longer than its grace period."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from rooms.models import Room
from rooms.services import gone_rooms_q, rooms_notify_removed, rooms_prune


class Command(BaseCommand):
    help = (
        "Remove rooms whose game server stayed disconnected past GAMESERVER_GRACE_SECONDS or whose host "
        "was lost for HOST_GRACE_SECONDS (the master does this itself; this is for a master that was down)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count the rooms, remove nothing.")

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        if dry_run:
            count = Room.objects.filter(gone_rooms_q(timezone.now())).count()
            self.stdout.write(f"{count} rooms would be removed")
            return
        removals = rooms_prune()
        async_to_sync(rooms_notify_removed)(removals, reason="The game server or its host is gone.")
        self.stdout.write(f"{len(removals)} rooms removed")
