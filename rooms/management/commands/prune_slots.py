"""Delete expired reservations and dead rooms (DESIGN.md §6, §7)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from rooms.models import Room, Slot


class Command(BaseCommand):
    help = (
        "Delete expired reservations, and rooms whose game server or host is gone past its grace period "
        "or that never finished starting. Expired reservations stop counting without this; it keeps "
        "the tables small."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Only say what would be deleted.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        now = timezone.now()
        with transaction.atomic():
            slots = Slot.objects.dead(now)
            rooms = Room.objects.dead(now)
            if dry_run:
                slot_count, room_count = slots.count(), rooms.count()
            else:
                room_count = rooms.delete()[1].get(Room._meta.label, 0)
                slot_count = slots.delete()[0]
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"{verb} {slot_count} expired reservation(s) and {room_count} dead room(s).")
