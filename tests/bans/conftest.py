"""Fixtures of the ban tests: a clock the test moves, and bans made directly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from bans.models import Ban

START = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    """What `timezone.now()` answers while the fixture is active; `advance()` moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(START)
    monkeypatch.setattr(timezone, "now", fake)
    return fake


@pytest.fixture
def make_ban(db: Any) -> Callable[..., Ban]:
    def make(account: str = "cheater", *, hours: float = 24, **fields: Any) -> Ban:
        fields.setdefault("reason", "aimbot")
        fields.setdefault("expires_at", timezone.now() + timedelta(hours=hours))
        fields.setdefault("created_at", timezone.now())
        return Ban.objects.create(account=account, **fields)

    return make
