"""The operator's admin for bans: find, issue one, issue many, lift, see the attached IP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages

from bans.models import Ban
from bans.services import find_bans

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/bans/ban/"
IP = "203.0.113.7"


def listed(response) -> list[str]:
    assert response.status_code == 200
    return [ban.account for ban in response.context["cl"].result_list]


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture(autouse=True)
def _before_login(clock, settings):
    """Set before the operator logs in: the clock (or the session would be expired already) and a
    fast password hasher (the slow one would be most of this file's time)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def bans(clock, make_ban):
    cheater = make_ban("cheater", reason="aimbot")
    find_bans([("cheater", IP)])
    make_ban("smurf", reason="ban evasion", created_at=clock.now - timedelta(days=1))
    make_ban("old", reason="spam", expires_at=clock.now - timedelta(days=2), created_at=clock.now - timedelta(days=3))
    make_ban("forgiven", reason="aimbot", lifted_at=clock.now, created_at=clock.now - timedelta(days=4))
    return cheater


@pytest.mark.parametrize(
    ("query", "accounts"),
    [
        ("cheater", ["cheater"]),
        ("203.0.113", ["cheater"]),
        (IP, ["cheater"]),
        ("aimbot", ["cheater", "forgiven"]),
        ("evasion", ["smurf"]),
        ("nobody", []),
    ],
)
def test_changelist_finds_bans_by_account_ip_or_reason(admin_client, bans, query, accounts):
    assert listed(admin_client.get(CHANGELIST, {"q": query})) == accounts


@pytest.mark.parametrize(
    ("state", "accounts"),
    [("active", ["cheater", "smurf"]), ("expired", ["old"]), ("lifted", ["forgiven"]), (None, None)],
)
def test_changelist_filters_by_state(admin_client, bans, state, accounts):
    response = admin_client.get(CHANGELIST, {"state": state} if state else {})

    assert listed(response) == (accounts or ["cheater", "smurf", "old", "forgiven"])


def test_changelist_and_change_page_show_the_attached_ip_and_when(admin_client, bans, clock):
    changelist = admin_client.get(CHANGELIST).content.decode()
    change = admin_client.get(f"{CHANGELIST}{bans.pk}/change/").content.decode()

    for page in (changelist, change):
        assert IP in page
        assert "Jan. 1, 2030, noon" in page  # ip_attached_at
    assert "Issue many" in changelist


def test_add_issues_a_ban(admin_client, clock):
    response = admin_client.post(
        f"{CHANGELIST}add/",
        {"account": "cheater", "reason": "aimbot", "expires_at_0": "2030-01-05", "expires_at_1": "10:00:00"},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    ban = Ban.objects.get()
    assert (ban.account, ban.reason, ban.until, ban.ip) == ("cheater", "aimbot", "2030-01-05 10:00:00", None)
    assert find_bans([("cheater", None)]) == {"cheater": ban}


@pytest.mark.parametrize(
    ("account", "date", "field", "error"),
    [
        ("smurf", "2030-01-05", "account", "This account already has an active ban"),
        ("new", "2029-12-31", "expires_at", "A new ban must expire in the future."),
        ("x" * 65, "2030-01-05", "account", "Ensure this value has at most 64 characters (it has 65)."),
    ],
)
def test_add_keeps_the_api_rules(admin_client, bans, account, date, field, error):
    response = admin_client.post(
        f"{CHANGELIST}add/", {"account": account, "reason": "", "expires_at_0": date, "expires_at_1": "10:00:00"}
    )

    assert response.status_code == 200
    assert error in " ".join(response.context["adminform"].form.errors[field])
    assert Ban.objects.count() == 4


def test_change_edits_reason_and_expiry_and_keeps_the_ip(admin_client, bans):
    response = admin_client.post(
        f"{CHANGELIST}{bans.pk}/change/",
        {"reason": "wallhack", "expires_at_0": "2030-03-01", "expires_at_1": "00:00:00"},
    )

    assert response.status_code == 302
    bans.refresh_from_db()
    assert (bans.reason, bans.until, bans.ip, bans.account) == ("wallhack", "2030-03-01 00:00:00", IP, "cheater")


def test_lift_action_lifts_the_selected_bans(admin_client, bans, clock):
    smurf = Ban.objects.get(account="smurf")
    forgiven = Ban.objects.get(account="forgiven")
    clock.advance(hours=1)

    response = admin_client.post(
        CHANGELIST, {"action": "lift_bans", "_selected_action": [bans.pk, smurf.pk, forgiven.pk]}
    )

    assert response.status_code == 302
    assert messages_of(response) == ["Lifted 2 bans."]
    assert find_bans([("cheater", IP), ("smurf", None), ("friend", IP)]) == {}
    assert {ban.account: ban.lifted_at for ban in Ban.objects.exclude(account="old")} == {
        "cheater": clock.now,
        "smurf": clock.now,
        "forgiven": clock.now - timedelta(hours=1),  # lifted before: untouched
    }


def test_issue_many_bans_each_account_and_names_the_skipped(admin_client, bans, clock):
    page = admin_client.get(f"{CHANGELIST}issue-many/")
    assert page.status_code == 200

    response = admin_client.post(
        f"{CHANGELIST}issue-many/",
        {
            "accounts": "raider1\nraider2, smurf\n\nold raider1;forgiven",
            "reason": "raid",
            "expires_at_0": "2030-01-08",
            "expires_at_1": "00:00:00",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    assert messages_of(response) == ["Issued 4 bans.", "Skipped, already banned: smurf."]
    issued = Ban.objects.filter(reason="raid")
    assert sorted(issued.values_list("account", flat=True)) == ["forgiven", "old", "raider1", "raider2"]
    assert {ban.until for ban in issued} == {"2030-01-08 00:00:00"}
    assert set(find_bans([("raider1", None), ("old", None), ("forgiven", None)])) == {"raider1", "old", "forgiven"}


@pytest.mark.parametrize(
    ("accounts", "date", "field", "error"),
    [
        ("ok " + "x" * 65, "2030-01-08", "accounts", "Not valid account ids: " + "x" * 65 + "."),
        (" \n ", "2030-01-08", "accounts", "This field is required."),
        (", \n;", "2030-01-08", "accounts", "Give at least one account."),
        ("ok", "2029-01-08", "expires_at", "A new ban must expire in the future."),
    ],
)
def test_issue_many_refuses_bad_input(admin_client, bans, accounts, date, field, error):
    response = admin_client.post(
        f"{CHANGELIST}issue-many/",
        {"accounts": accounts, "reason": "", "expires_at_0": date, "expires_at_1": "00:00:00"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [error]
    assert Ban.objects.count() == 4


def test_issue_many_needs_add_permission(client, django_user_model, bans):
    staff = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(staff)

    assert client.get(f"{CHANGELIST}issue-many/").status_code == 403
