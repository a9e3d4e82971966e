"""Races between processes, with real concurrency on PostgreSQL (threads, one connection each)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from gamemaster.errors import ApiError
from parties.models import Party, PartyMember
from parties.services import JoinRequest, _start_begin, party_join

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at once; each one's result or the ApiError it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except ApiError as error:
            results[index] = error.code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_players_racing_for_the_last_places_never_overfill_the_party(party):
    joins = [
        (lambda account=f"p{n}": party_join(party_id=party.pk, account=account, join=JoinRequest())) for n in range(8)
    ]

    results = race(joins)

    assert sorted(map(str, results)) == ["False"] * 2 + ["party_full"] * 6
    assert PartyMember.objects.filter(party=party).count() == 3


def test_two_starts_at_once_start_the_party_once(party):
    starts = [lambda: _start_begin(party_id=party.pk, account="alice", message=None) for _ in range(4)]

    results = race(starts)

    assert sorted(type(result).__name__ for result in results) == ["StartPlan", "str", "str", "str"]
    assert [result for result in results if isinstance(result, str)] == ["party_starting"] * 3
    assert Party.objects.get(pk=party.pk).state == Party.STARTING
