from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from parties.models import CloseCallback, Party, PartySession

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_party(region, version, configuration):
    def make(idle_seconds: int) -> Party:
        return Party.objects.create(
            application=configuration.application,
            version=version,
            configuration=configuration,
            region=region,
            last_activity_at=timezone.now() - timedelta(seconds=idle_seconds),
        )

    return make


def test_prune_parties_removes_only_parties_idle_and_unwatched(make_party, settings):
    settings.PARTY_ABANDONED_SECONDS = 3600
    abandoned = make_party(7200)
    recent = make_party(60)
    watched = make_party(7200)
    PartySession.objects.create(party=watched, account="bob", channel_name="c1")
    dead_session = make_party(7200)
    PartySession.objects.create(
        party=dead_session, account="bob", channel_name="c2", seen_at=timezone.now() - timedelta(hours=2)
    )
    out = StringIO()

    call_command("prune_parties", stdout=out)

    assert out.getvalue() == "Deleted 2 abandoned parties (idle for 3600 s).\n"
    assert set(Party.objects.values_list("pk", flat=True)) == {recent.pk, watched.pk}
    assert not Party.objects.filter(pk__in=[abandoned.pk, dead_session.pk]).exists()


def test_prune_parties_tells_a_pruned_partys_close_callback(make_party, callback_server):
    party = make_party(7200)
    party.close_callback = CloseCallback.objects.create(name="lobby", url=callback_server.url, secret="s")
    party.save()

    call_command("prune_parties", stdout=StringIO())

    assert not Party.objects.exists()
    assert [json.loads(call["body"]) for call in callback_server.calls] == [
        {
            "party": {"id": party.pk, "num_members": 0, "max_members": 8, "settings": {}},
            "message": None,
            "reason": "abandoned",
        }
    ]


def test_prune_parties_dry_run_deletes_nothing(make_party):
    make_party(7200)
    out = StringIO()

    call_command("prune_parties", "--dry-run", "--seconds", "600", stdout=out)

    assert out.getvalue() == "Would delete 1 abandoned parties (idle for 600 s).\n"
    assert Party.objects.count() == 1
