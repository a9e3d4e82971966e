"""Delete abandoned parties: nothing happened and no session was seen for a while."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from parties.services import party_prune


class Command(BaseCommand):
    help = "Delete parties with no activity and no live session for PARTY_ABANDONED_SECONDS (or --seconds)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seconds", type=int, default=None, help="Idle time that makes a party abandoned.")
        parser.add_argument("--dry-run", action="store_true", help="Count the parties; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        seconds = options["seconds"] if options["seconds"] is not None else settings.PARTY_ABANDONED_SECONDS
        count = party_prune(older_than=timedelta(seconds=seconds), dry_run=options["dry_run"])
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(f"{verb} {count} abandoned parties (idle for {seconds} s).")
