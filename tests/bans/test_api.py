"""The ban endpoints of the spec: POST /ban/issue, GET/POST/DELETE /ban/<id> (scope game_ban)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bans.models import Ban
from bans.services import find_bans

pytestmark = pytest.mark.django_db

BAD_ARGUMENTS = "Some arguments are missing or wrong."
BAD_DATE = "Not a date: use %Y-%m-%d %H:%M:%S (UTC) or ISO 8601."
UNKNOWN_BAN = {"code": "unknown_ban", "detail": "No such ban."}


@pytest.fixture
def admin_api(api):
    return api.as_("moderator", ["game_ban"])


def issue(client, **args):
    body = {"account": "cheater", "reason": "aimbot", "expires": "2030-01-02 12:00:00", **args}
    return client.post("/ban/issue", body, format="json")


def bad_arguments(**fields):
    return {"code": "bad_arguments", "detail": BAD_ARGUMENTS, "fields": fields}


# --- issue and get ---


def test_issue_answers_the_id_and_get_answers_the_ban_without_ip(admin_api, clock):
    response = issue(admin_api)

    assert response.status_code == 200
    ban = Ban.objects.get()
    assert response.json() == {"id": str(ban.pk)}
    response = admin_api.get(f"/ban/{ban.pk}")
    assert response.status_code == 200
    assert response.json() == {
        "id": str(ban.pk),
        "reason": "aimbot",
        "expires": "2030-01-02 12:00:00",
        "account": "cheater",
        "ip": None,
    }
    assert ban.created_at == clock.now and ban.lifted_at is None


def test_get_shows_the_ip_once_a_refused_attempt_attached_it(admin_api, clock):
    ban_id = issue(admin_api).json()["id"]
    find_bans([("cheater", "203.0.113.7")])

    response = admin_api.get(f"/ban/{ban_id}/")

    assert response.status_code == 200
    assert response.json()["ip"] == "203.0.113.7"


def test_issue_takes_form_fields_and_a_number_account(admin_api, clock):
    response = admin_api.post(
        "/ban/issue/", {"account": 42, "reason": "spam", "expires": "2030-06-01 00:00:00"}, format="json"
    )
    assert response.status_code == 200
    form = admin_api.post("/ban/issue", {"account": "7", "reason": "", "expires": "2030-06-01 00:00:00"})
    assert form.status_code == 200

    assert sorted(Ban.objects.values_list("account", "reason")) == [("42", "spam"), ("7", "")]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2030-01-02T03:04:05+02:00", "2030-01-02 01:04:05"),
        ("2030-01-02T03:04:05Z", "2030-01-02 03:04:05"),
        ("2030-01-02T03:04:05", "2030-01-02 03:04:05"),
        ("2030-01-03", "2030-01-03 00:00:00"),
        (" 2030-01-02 03:04:05 ", "2030-01-02 03:04:05"),
    ],
)
def test_issue_accepts_iso_8601_and_stores_utc(admin_api, clock, given, stored):
    ban_id = issue(admin_api, expires=given).json()["id"]

    assert admin_api.get(f"/ban/{ban_id}").json()["expires"] == stored


def test_issue_refuses_an_account_with_an_active_ban_406(admin_api, clock):
    first = issue(admin_api).json()["id"]

    response = issue(admin_api, expires="2031-01-01 00:00:00", reason="again")

    assert response.status_code == 406
    assert response.json() == {
        "code": "already_banned",
        "detail": f"Account 'cheater' already has an active ban (id {first}) until 2030-01-02 12:00:00 UTC.",
    }
    assert Ban.objects.count() == 1


def test_issue_accepts_an_account_whose_ban_expired_or_was_lifted(admin_api, clock):
    first = issue(admin_api, expires="2030-01-01 13:00:00").json()["id"]
    clock.advance(hours=1)  # exactly at expiry: the ban no longer applies
    second = issue(admin_api, expires="2030-01-05 00:00:00").json()["id"]
    admin_api.delete(f"/ban/{second}")

    response = issue(admin_api, expires="2030-01-06 00:00:00")

    assert response.status_code == 200
    assert len({first, second, response.json()["id"]}) == 3


@pytest.mark.parametrize(
    ("args", "fields"),
    [
        ({"account": None}, {"account": ["This field may not be null."]}),
        ({"account": ""}, {"account": ["An account id must be 1 to 64 characters without surrounding spaces."]}),
        ({"account": "x" * 65}, {"account": ["An account id must be 1 to 64 characters without surrounding spaces."]}),
        ({"account": ["a"]}, {"account": ["An account id must be a string or an integer."]}),
        ({"account": True}, {"account": ["An account id must be a string or an integer."]}),
        # Was a 500 on PostgreSQL, which cannot hold a NUL.
        ({"account": "a\x00"}, {"account": ["An account id may not contain NUL characters or unpaired surrogates."]}),
        ({"reason": "x" * 501}, {"reason": ["Ensure this field has no more than 500 characters."]}),
        ({"expires": "tomorrow"}, {"expires": [BAD_DATE]}),
        ({"expires": "2030-13-01 00:00:00"}, {"expires": [BAD_DATE]}),
        ({"expires": "0001-01-01T00:00:00+01:00"}, {"expires": [BAD_DATE]}),
        ({"expires": 1900000000}, {"expires": [BAD_DATE]}),
        ({"expires": ""}, {"expires": [BAD_DATE]}),
    ],
)
def test_issue_refuses_bad_arguments(admin_api, clock, args, fields):
    response = issue(admin_api, **args)

    assert response.status_code == 400
    assert response.json() == bad_arguments(**fields)
    assert not Ban.objects.exists()


@pytest.mark.parametrize("missing", ["account", "reason", "expires"])
def test_issue_needs_every_argument(admin_api, clock, missing):
    body = {"account": "cheater", "reason": "aimbot", "expires": "2030-01-02 12:00:00"}
    del body[missing]

    response = admin_api.post("/ban/issue", body, format="json")

    assert response.status_code == 400
    assert response.json() == bad_arguments(**{missing: ["This field is required."]})


@pytest.mark.parametrize("expires", ["2030-01-01 12:00:00", "2029-12-31 23:59:59", "2020-01-01T00:00:00+00:00"])
def test_issue_refuses_a_date_not_in_the_future(admin_api, clock, expires):
    response = issue(admin_api, expires=expires)

    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_arguments",
        "detail": "The ban must expire in the future.",
        "fields": {"expires": ["Must be in the future."]},
    }
    assert not Ban.objects.exists()


def test_issue_refuses_a_body_that_is_not_an_object(admin_api, clock):
    response = admin_api.post("/ban/issue", "[1]", content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"code": "bad_arguments", "detail": "A JSON body must be an object of arguments."}


# --- update ---


def test_update_changes_the_reason_and_the_expiry(admin_api, clock):
    ban_id = issue(admin_api).json()["id"]

    reason = admin_api.post(f"/ban/{ban_id}", {"reason": "wallhack"}, format="json")
    expires = admin_api.post(f"/ban/{ban_id}/", {"expires": "2030-02-01T10:00:00+01:00"})

    assert (reason.status_code, reason.json()) == (200, {})
    assert (expires.status_code, expires.json()) == (200, {})
    assert admin_api.get(f"/ban/{ban_id}").json() == {
        "id": ban_id,
        "reason": "wallhack",
        "expires": "2030-02-01 09:00:00",
        "account": "cheater",
        "ip": None,
    }


def test_update_of_expires_into_the_past_ends_the_ban_at_once(admin_api, clock):
    ban_id = issue(admin_api).json()["id"]
    assert find_bans([("cheater", "203.0.113.7")])  # refused, and the IP attached

    response = admin_api.post(f"/ban/{ban_id}", {"expires": "2020-01-01 00:00:00", "reason": "appeal"}, format="json")

    assert (response.status_code, response.json()) == (200, {})
    assert find_bans([("cheater", "203.0.113.7"), ("friend", "203.0.113.7")]) == {}
    # An expired ban stays visible (its date says it ended) until pruned.
    assert admin_api.get(f"/ban/{ban_id}").json() == {
        "id": ban_id,
        "reason": "appeal",
        "expires": "2020-01-01 00:00:00",
        "account": "cheater",
        "ip": "203.0.113.7",
    }


def test_update_into_the_future_revives_an_expired_ban(admin_api, clock):
    ban_id = issue(admin_api, expires="2030-01-01 13:00:00").json()["id"]
    clock.advance(hours=2)
    assert find_bans([("cheater", None)]) == {}

    response = admin_api.post(f"/ban/{ban_id}", {"expires": "2030-01-03 00:00:00"}, format="json")

    assert response.status_code == 200
    assert find_bans([("cheater", None)])["cheater"].pk == int(ban_id)


def test_update_refuses_to_revive_a_ban_while_the_account_has_another_406(admin_api, clock):
    old = issue(admin_api, expires="2030-01-01 13:00:00").json()["id"]
    clock.advance(hours=2)
    new = issue(admin_api, expires="2030-01-05 00:00:00").json()["id"]

    response = admin_api.post(f"/ban/{old}", {"expires": "2030-01-09 00:00:00"}, format="json")

    assert response.status_code == 406
    assert response.json() == {
        "code": "already_banned",
        "detail": f"Account 'cheater' already has an active ban (id {new}) until 2030-01-05 00:00:00 UTC.",
    }
    assert admin_api.get(f"/ban/{old}").json()["expires"] == "2030-01-01 13:00:00"


def test_update_needs_reason_or_expires(admin_api, clock):
    ban_id = issue(admin_api).json()["id"]

    response = admin_api.post(f"/ban/{ban_id}", {}, format="json")

    assert response.status_code == 400
    assert response.json() == bad_arguments(non_field_errors=["Give `reason`, `expires` or both."])


@pytest.mark.parametrize(
    ("args", "fields"),
    [
        ({"expires": "soon"}, {"expires": [BAD_DATE]}),
        ({"expires": None}, {"expires": ["This field may not be null."]}),
        ({"reason": "x" * 501}, {"reason": ["Ensure this field has no more than 500 characters."]}),
    ],
)
def test_update_refuses_bad_arguments(admin_api, clock, args, fields):
    ban_id = issue(admin_api).json()["id"]

    response = admin_api.post(f"/ban/{ban_id}", args, format="json")

    assert response.status_code == 400
    assert response.json() == bad_arguments(**fields)
    assert admin_api.get(f"/ban/{ban_id}").json()["reason"] == "aimbot"


# --- lift ---


def test_delete_lifts_the_ban_and_keeps_it_as_history(admin_api, clock):
    ban_id = issue(admin_api).json()["id"]
    find_bans([("cheater", "203.0.113.7")])
    clock.advance(minutes=5)

    response = admin_api.delete(f"/ban/{ban_id}")

    assert (response.status_code, response.json()) == (200, {})
    assert find_bans([("cheater", "203.0.113.7"), ("friend", "203.0.113.7")]) == {}
    ban = Ban.objects.get()
    assert (ban.lifted_at, ban.ip) == (clock.now, "203.0.113.7")


def test_a_lifted_ban_is_unknown_to_every_method(admin_api, clock):
    ban_id = issue(admin_api).json()["id"]
    admin_api.delete(f"/ban/{ban_id}")

    answers = [
        admin_api.get(f"/ban/{ban_id}"),
        admin_api.post(f"/ban/{ban_id}", {"expires": "2030-03-01 00:00:00"}, format="json"),
        admin_api.delete(f"/ban/{ban_id}"),
    ]

    assert [(a.status_code, a.json()) for a in answers] == [(404, UNKNOWN_BAN)] * 3
    assert Ban.objects.get().expires_at == datetime(2030, 1, 2, 12, tzinfo=UTC)


def test_delete_lifts_an_expired_ban_too(admin_api, clock):
    ban_id = issue(admin_api, expires="2030-01-01 13:00:00").json()["id"]
    clock.advance(days=1)

    response = admin_api.delete(f"/ban/{ban_id}")

    assert (response.status_code, response.json()) == (200, {})
    assert admin_api.get(f"/ban/{ban_id}").status_code == 404


# --- unknown ids, auth ---


@pytest.mark.parametrize("ban_id", ["999", "0", "-1", "abc", "1.5", "99999999999999999999999", "9223372036854775808"])
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_ban_is_404_on_every_method(admin_api, clock, ban_id, method):
    issue(admin_api)

    response = getattr(admin_api, method)(f"/ban/{ban_id}", {"reason": "x"} if method == "post" else None)

    assert response.status_code == 404
    assert response.json() == UNKNOWN_BAN


def test_update_of_an_unknown_ban_is_404_even_without_arguments(admin_api):
    response = admin_api.post("/ban/12345", {}, format="json")

    assert (response.status_code, response.json()) == (404, UNKNOWN_BAN)


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/ban/issue"), ("get", "/ban/1"), ("post", "/ban/1"), ("delete", "/ban/1")],
)
def test_every_ban_endpoint_needs_scope_game_ban(api, make_ban, method, path):
    ban = make_ban()
    path = path.replace("/1", f"/{ban.pk}")

    anonymous = getattr(api, method)(path)
    player = getattr(api.as_("alice", ["game", "game_multi", "party"]), method)(path)

    assert anonymous.status_code == 401
    assert anonymous.json() == {"code": "not_authenticated", "detail": "Authentication credentials were not provided."}
    assert player.status_code == 403
    assert player.json() == {"code": "missing_scope", "detail": "This request needs the scope 'game_ban'."}
    assert Ban.objects.get().lifted_at is None


def test_get_on_issue_is_not_allowed(admin_api):
    response = admin_api.get("/ban/issue")

    assert response.status_code == 405
    assert response.json() == {"code": "method_not_allowed", "detail": 'Method "GET" not allowed.'}
