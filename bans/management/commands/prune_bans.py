"""Delete bans that expired or were lifted long ago (nothing enforces them any more)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from bans.models import Ban


class Command(BaseCommand):
    help = "Delete bans expired or lifted more than --days days ago (default BAN_PRUNE_AFTER_DAYS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=f"Keep bans that ended less than this many days ago (default {settings.BAN_PRUNE_AFTER_DAYS}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, days: int | None, dry_run: bool, **options: Any) -> None:
        days = settings.BAN_PRUNE_AFTER_DAYS if days is None else days
        if days < 0:
            raise CommandError("--days must be 0 or more.")
        prunable = Ban.objects.prunable(older_than=timedelta(days=days))
        if dry_run:
            count = prunable.count()
            self.stdout.write(f"Would delete {count} ban(s) expired or lifted more than {days} day(s) ago.")
            return
        with transaction.atomic():
            count, _ = prunable.delete()
        self.stdout.write(f"Deleted {count} ban(s) expired or lifted more than {days} day(s) ago.")
