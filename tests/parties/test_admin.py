from __future__ import annotations

import pytest

from parties.models import CloseCallback, Party, PartyMember

pytestmark = pytest.mark.django_db


@pytest.fixture
def party(region, version, configuration):
    party = Party.objects.create(
        application=configuration.application, version=version, configuration=configuration, region=region,
        created_by="alice",
    )  # fmt: skip
    PartyMember.objects.create(party=party, account="alice", role=1000, profile={"clan": "X"})
    return party


def test_the_party_list_shows_state_and_members(admin_client, party):
    response = admin_client.get("/admin/parties/party/")

    assert response.status_code == 200
    row = response.content.decode()
    assert party.pk in row
    assert '<td class="field-members_count">1</td>' in row
    assert '<td class="field-state">open</td>' in row


def test_a_party_page_shows_its_members(admin_client, party):
    response = admin_client.get(f"/admin/parties/party/{party.pk}/change/")

    assert response.status_code == 200
    assert 'value="alice"' in response.content.decode()


def test_the_close_action_closes_the_parties_and_calls_their_callback(admin_client, party, callback_server):
    party.close_callback = CloseCallback.objects.create(name="scores", url=callback_server.url, secret="s")
    party.save()

    response = admin_client.post(
        "/admin/parties/party/", {"action": "close_parties", "_selected_action": [party.pk]}, follow=True
    )

    assert response.status_code == 200
    assert "Closed 1 parties." in response.content.decode()
    assert not Party.objects.exists()
    assert b'"reason":"closed_by_operator"' in callback_server.calls[0]["body"]


def test_close_callbacks_are_configured_in_the_admin(admin_client):
    response = admin_client.post(
        "/admin/parties/closecallback/add/",
        {"name": "scores", "url": "https://game.example/closed", "secret": "s3cret", "timeout": "2.5"},
    )

    assert response.status_code == 302
    callback = CloseCallback.objects.get()
    assert (callback.name, callback.url, callback.secret, callback.timeout) == (
        "scores", "https://game.example/closed", "s3cret", 2.5,
    )  # fmt: skip
