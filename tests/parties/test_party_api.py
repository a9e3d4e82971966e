from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from parties.models import CloseCallback, Party, PartyMember
from regions.models import Region

pytestmark = pytest.mark.django_db

CREATE = "/party/create/demo/1.0/default"
UNSTORABLE = "Strings may not contain NUL characters or unpaired surrogates."


@pytest.fixture
def party(region, version, configuration):
    return Party.objects.create(
        application=configuration.application,
        version=version,
        configuration=configuration,
        region=region,
        settings={"map": "dust"},
        max_members=4,
        created_by="alice",
    )


def test_create_answers_the_party_object(api, region, version, configuration):
    response = api.as_("alice", ["party_create"]).post(CREATE, {}, format="json")

    assert response.status_code == 200
    party_id = response.json()["party"]["id"]
    assert response.json() == {"party": {"id": party_id, "num_members": 0, "max_members": 8, "settings": {}}}
    party = Party.objects.get(pk=party_id)
    assert (party.region, party.created_by, party.auto_start, party.auto_close) == (region, "alice", True, True)
    assert (party.room_settings, party.room_filters, party.close_callback, party.state) == ({}, None, None, "open")


def test_create_takes_every_property_as_form_fields(api, region, version, configuration):
    eu = Region.objects.create(name="eu")
    CloseCallback.objects.create(name="scores", url="http://127.0.0.1:9/", secret="s")

    response = api.as_("alice", ["party_create"]).post(
        CREATE + "/",
        {
            "party_settings": '{"map": "dust", "mode": 2}',
            "room_settings": '{"map": "dust"}',
            "room_filters": '{"map": "dust"}',
            "max_members": "3",
            "region": "eu",
            "auto_start": "false",
            "auto_close": "0",
            "close_callback": "scores",
        },
    )

    assert response.status_code == 200
    party_id = response.json()["party"]["id"]
    assert response.json() == {
        "party": {"id": party_id, "num_members": 0, "max_members": 3, "settings": {"map": "dust", "mode": 2}}
    }
    party = Party.objects.get(pk=party_id)
    assert (party.region, party.room_settings, party.room_filters) == (eu, {"map": "dust"}, {"map": "dust"})
    assert (party.auto_start, party.auto_close, party.close_callback.name) == (False, False, "scores")


@pytest.mark.parametrize(
    ("args", "fields"),
    [
        ({"max_members": 1}, {"max_members": ["Ensure this value is greater than or equal to 2."]}),
        ({"max_members": 101}, {"max_members": ["Ensure this value is less than or equal to 100."]}),
        ({"max_members": 9}, {"max_members": ["A room of 'default' holds at most 8 players."]}),
        ({"max_members": "many"}, {"max_members": ["A valid integer is required."]}),
        (
            {"party_settings": "{nope"},
            {
                "party_settings": [
                    "Not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)."
                ]
            },
        ),
        ({"room_settings": "[1]"}, {"room_settings": ["Must be a JSON object."]}),
        ({"auto_start": "yes"}, {"auto_start": ["Must be true, false, 1 or 0."]}),
        ({"region": "mars"}, {"region": ["No region named 'mars'."]}),
        ({"close_callback": "nope"}, {"close_callback": ["No close callback named 'nope' is configured."]}),
        # Values no database can store were a 500 on PostgreSQL (and stored on SQLite).
        ({"party_settings": '{"a": "\\u0000"}'}, {"party_settings": [UNSTORABLE]}),
        ({"room_settings": '{"a": Infinity}'}, {"room_settings": ["Not valid JSON: Infinity is not valid JSON."]}),
        ({"room_filters": '{"\\ud800": 1}'}, {"room_filters": [UNSTORABLE]}),
    ],
)
def test_create_refuses_bad_arguments(api, region, version, configuration, args, fields):
    response = api.as_("alice", ["party_create"]).post(CREATE, args)

    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_arguments",
        "detail": "Some arguments are missing or wrong.",
        "fields": fields,
    }
    assert not Party.objects.exists()


def test_create_needs_scope_party_create(api, region, version, configuration):
    response = api.as_("alice", ["party"]).post(CREATE)

    assert response.status_code == 403
    assert response.json() == {"code": "missing_scope", "detail": "This request needs the scope 'party_create'."}


def test_create_needs_a_token(api, region, version, configuration):
    response = api.post(CREATE)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_create_refuses_an_unknown_game_and_a_disabled_version(api, region, version, configuration):
    unknown = api.as_("alice", ["party_create"]).post("/party/create/nope/1.0/default")
    version.enabled = False
    version.save()
    disabled = api.as_("alice", ["party_create"]).post(CREATE)

    assert unknown.status_code == 404
    assert unknown.json() == {"code": "unknown_game", "detail": "No game named 'nope'."}
    assert disabled.status_code == 404
    assert disabled.json() == {
        "code": "version_disabled",
        "detail": "Version '1.0' of 'demo' is disabled: no new rooms start for it.",
    }


def test_get_answers_the_party_and_its_members(api, party):
    PartyMember.objects.create(party=party, account="alice", role=1000, profile={"clan": "X"})
    PartyMember.objects.create(party=party, account="bob", profile={})

    response = api.as_("carol", ["party"]).get(f"/party/{party.pk}")

    assert response.status_code == 200
    assert response.json() == {
        "party": {"id": party.pk, "num_members": 2, "max_members": 4, "settings": {"map": "dust"}},
        "members": [
            {"account": "alice", "role": 1000, "profile": {"clan": "X"}},
            {"account": "bob", "role": 0, "profile": {}},
        ],
    }


def test_get_needs_scope_party(api, party):
    response = api.as_("carol", ["party_create"]).get(f"/party/{party.pk}/")

    assert response.status_code == 403
    assert response.json() == {"code": "missing_scope", "detail": "This request needs the scope 'party'."}


@pytest.mark.parametrize("method", ["get", "delete"])
@pytest.mark.parametrize(("path", "party_id"), [("nope", "nope"), ("no%00pe", "no\x00pe")])  # a NUL: was a 500
def test_an_unknown_party_is_a_404(api, region, method, path, party_id):
    response = getattr(api.as_("carol", ["party", "party_close"]), method)(f"/party/{path}")

    assert response.status_code == 404
    assert response.json() == {"code": "unknown_party", "detail": f"No party '{party_id}'."}


def test_create_for_a_version_named_with_a_nul_is_a_404(api, region, version, configuration):
    response = api.as_("alice", ["party_create"]).post("/party/create/demo/1.0%00/default")

    assert response.status_code == 404
    assert response.json() == {"code": "unknown_version", "detail": "Game 'demo' has no version '1.0\x00'."}


@pytest.mark.parametrize(
    ("body", "error"), [('{"message": 1e400}', "Value must be valid JSON."), ('{"message": ["\\u0000"]}', UNSTORABLE)]
)
def test_delete_refuses_a_message_no_one_could_receive(api, party, body, error):
    response = api.as_("op", ["party_close"]).delete(f"/party/{party.pk}", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_arguments",
        "detail": "Some arguments are missing or wrong.",
        "fields": {"message": [error]},
    }
    assert Party.objects.filter(pk=party.pk).exists()


def test_delete_closes_the_party_and_answers_an_empty_object(api, party):
    response = api.as_("op", ["party_close"]).delete(f"/party/{party.pk}")

    assert response.status_code == 200
    assert response.json() == {}
    assert not Party.objects.filter(pk=party.pk).exists()


def test_delete_needs_scope_party_close(api, party):
    response = api.as_("alice", ["party", "party_create"]).delete(f"/party/{party.pk}")

    assert response.status_code == 403
    assert response.json() == {"code": "missing_scope", "detail": "This request needs the scope 'party_close'."}
    assert Party.objects.filter(pk=party.pk).exists()


def test_delete_calls_the_close_callback_signed_and_answers_its_answer(api, party, callback_server):
    party.close_callback = CloseCallback.objects.create(name="scores", url=callback_server.url, secret="s3cret")
    party.save()
    PartyMember.objects.create(party=party, account="alice", role=1000)
    callback_server.answer = b'{"saved": 3}'

    response = api.as_("op", ["party_close"]).delete(f"/party/{party.pk}", {"message": {"why": "late"}}, format="json")

    assert response.status_code == 200
    assert response.json() == {"saved": 3}
    [call] = callback_server.calls
    assert call["path"] == "/closed"
    assert json.loads(call["body"]) == {
        "party": {"id": party.pk, "num_members": 1, "max_members": 4, "settings": {"map": "dust"}},
        "message": {"why": "late"},
        "reason": "closed",
    }
    expected = hmac.new(b"s3cret", call["body"], hashlib.sha256).hexdigest()
    assert call["headers"]["X-Signature"] == f"sha256={expected}"
    assert call["headers"]["Content-Type"] == "application/json"
    assert not Party.objects.filter(pk=party.pk).exists()


def test_delete_still_closes_when_the_callback_fails(api, party, callback_server):
    party.close_callback = CloseCallback.objects.create(name="scores", url=callback_server.url, secret="s")
    party.save()
    callback_server.status = 500

    response = api.as_("op", ["party_close"]).delete(f"/party/{party.pk}")

    assert response.status_code == 200
    assert response.json() == {"callback_error": "the callback answered HTTP 500"}
    assert not Party.objects.filter(pk=party.pk).exists()


def test_delete_gives_up_on_a_slow_callback_after_its_timeout(api, party, callback_server):
    party.close_callback = CloseCallback.objects.create(name="slow", url=callback_server.url, secret="s", timeout=0.2)
    party.save()
    callback_server.delay = 1.0

    response = api.as_("op", ["party_close"]).delete(f"/party/{party.pk}")

    assert response.status_code == 200
    assert response.json() == {"callback_error": "the callback could not be reached: timed out"}
    assert not Party.objects.filter(pk=party.pk).exists()


def test_delete_answers_a_callback_error_for_an_answer_that_is_not_json(api, party, callback_server):
    party.close_callback = CloseCallback.objects.create(name="scores", url=callback_server.url, secret="s")
    party.save()
    callback_server.answer = b"<html>"

    response = api.as_("op", ["party_close"]).delete(f"/party/{party.pk}")

    assert response.json() == {"callback_error": "the callback's answer is not JSON"}
