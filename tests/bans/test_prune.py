"""prune_bans: deletes bans expired or lifted more than N days ago, nothing else."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from bans.models import Ban

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(clock, make_ban):
    now = clock.now
    return {
        "active": make_ban("active", hours=1),
        "active_long_ago_issued": make_ban("veteran", created_at=now - timedelta(days=400), hours=24),
        "expired_31d": make_ban("expired_31d", expires_at=now - timedelta(days=31)),
        "expired_29d": make_ban("expired_29d", expires_at=now - timedelta(days=29)),
        "lifted_40d": make_ban("lifted_40d", hours=24 * 365, lifted_at=now - timedelta(days=40)),
        "lifted_5d": make_ban("lifted_5d", hours=24 * 365, lifted_at=now - timedelta(days=5)),
    }


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune_bans", *args, stdout=out)
    return out.getvalue()


def remaining() -> set[str]:
    return set(Ban.objects.values_list("account", flat=True))


def test_prune_deletes_what_ended_before_the_default_days(history, settings, django_assert_max_num_queries):
    settings.BAN_PRUNE_AFTER_DAYS = 30

    with django_assert_max_num_queries(3) as captured:
        assert prune() == "Deleted 2 ban(s) expired or lifted more than 30 day(s) ago.\n"
    assert [q["sql"] for q in captured.captured_queries if q["sql"].startswith("DELETE")] == [
        q["sql"] for q in captured.captured_queries if "bans_ban" in q["sql"]
    ]
    assert sum(q["sql"].startswith("DELETE") for q in captured.captured_queries) == 1
    assert remaining() == {"active", "veteran", "expired_29d", "lifted_5d"}


def test_prune_days_overrides_the_setting(history, settings):
    settings.BAN_PRUNE_AFTER_DAYS = 30

    assert prune("--days", "1") == "Deleted 4 ban(s) expired or lifted more than 1 day(s) ago.\n"
    assert remaining() == {"active", "veteran"}


def test_prune_zero_days_deletes_every_ended_ban_and_keeps_active_ones(history, clock):
    clock.advance(seconds=1)

    prune("--days", "0")

    assert remaining() == {"active", "veteran"}


def test_prune_dry_run_deletes_nothing(history, settings):
    settings.BAN_PRUNE_AFTER_DAYS = 30

    assert prune("--dry-run") == "Would delete 2 ban(s) expired or lifted more than 30 day(s) ago.\n"
    assert len(remaining()) == 6


def test_prune_refuses_negative_days(history):
    with pytest.raises(CommandError, match=r"--days must be 0 or more\."):
        prune("--days", "-1")
    assert len(remaining()) == 6


def test_prune_with_nothing_to_delete(db, settings):
    settings.BAN_PRUNE_AFTER_DAYS = 30
    assert prune() == "Deleted 0 ban(s) expired or lifted more than 30 day(s) ago.\n"
