"""The rules of bans/services.py, called directly: what join and create code relies on."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from bans.models import Ban
from bans.services import (
    AlreadyBanned,
    Banned,
    ban_enforce,
    ban_headers,
    ban_issue,
    ban_issue_many,
    ban_lift,
    banned_summary,
    find_bans,
)
from gamemaster.errors import exception_handler

pytestmark = pytest.mark.django_db

IP = "203.0.113.7"
OTHER_IP = "198.51.100.9"


def test_nobody_banned_costs_one_query(clock, make_ban, django_assert_num_queries):
    make_ban("cheater", ip=IP)

    with django_assert_num_queries(1):
        assert find_bans([("alice", "192.0.2.1"), ("bob", None)]) == {}
    assert find_bans([]) == {}


def test_a_banned_account_is_refused_and_its_ip_attached(clock, make_ban):
    ban = make_ban("cheater")

    refused = find_bans([("cheater", IP)])

    assert refused == {"cheater": ban}
    ban.refresh_from_db()
    assert (ban.ip, ban.ip_attached_at) == (IP, clock.now)
    assert (refused["cheater"].ip, refused["cheater"].ip_attached_at) == (IP, clock.now)


def test_a_refusal_without_ip_attaches_nothing(clock, make_ban):
    ban = make_ban("cheater")

    assert find_bans([("cheater", None)]) == {"cheater": ban}
    ban.refresh_from_db()
    assert (ban.ip, ban.ip_attached_at) == (None, None)


def test_any_account_from_the_attached_ip_is_refused_with_the_same_ban(clock, make_ban):
    ban = make_ban("cheater")
    find_bans([("cheater", IP)])
    clock.advance(minutes=1)

    refused = find_bans([("friend", IP), ("stranger", OTHER_IP), ("other", None)])

    assert refused == {"friend": ban}
    ban.refresh_from_db()
    assert (ban.account, ban.ip, ban.ip_attached_at) == ("cheater", IP, clock.now - timedelta(minutes=1))


def test_the_first_ip_stays_attached_when_the_account_comes_from_another(clock, make_ban):
    ban = make_ban("cheater")
    find_bans([("cheater", IP)])

    assert find_bans([("cheater", OTHER_IP)]) == {"cheater": ban}
    assert find_bans([("friend", OTHER_IP)]) == {}
    ban.refresh_from_db()
    assert ban.ip == IP


def test_an_ip_refusal_attaches_nothing_to_the_other_account(clock, make_ban):
    first = make_ban("cheater")
    second = make_ban("smurf")
    find_bans([("cheater", IP)])

    # smurf is banned too, but this attempt from the cheater's IP is refused for its own ban
    assert find_bans([("smurf", IP)]) == {"smurf": second}
    second.refresh_from_db()
    assert second.ip == IP
    assert find_bans([("bystander", IP)]) == {"bystander": first}


def test_multi_entries_answer_only_the_refused(clock, make_ban):
    ban = make_ban("cheater")

    refused = find_bans([("alice", "192.0.2.1"), ("cheater", IP), ("bob", IP)])

    # bob asks in the same call as the attempt that attaches the IP: the IP was not known yet
    assert refused == {"cheater": ban}
    assert find_bans([("alice", "192.0.2.1"), ("bob", IP)]) == {"bob": ban}


def test_banned_summary_is_what_multi_endpoints_answer(clock, make_ban):
    ban = make_ban("cheater", reason="aimbot")
    find_bans([("cheater", IP)])

    refused = find_bans([("alice", None), ("cheater", None), ("friend", IP)])

    assert banned_summary(refused) == {
        "cheater": {"id": str(ban.pk), "until": "2030-01-02 12:00:00", "reason": "aimbot"},
        "friend": {"id": str(ban.pk), "until": "2030-01-02 12:00:00", "reason": "aimbot"},
    }


def test_expiry_applies_at_once(clock, make_ban):
    make_ban("cheater", hours=1)
    find_bans([("cheater", IP)])
    clock.advance(minutes=59, seconds=59)
    assert set(find_bans([("cheater", None), ("friend", IP)])) == {"cheater", "friend"}

    clock.advance(seconds=1)

    assert find_bans([("cheater", IP), ("friend", IP)]) == {}


def test_a_lifted_ban_applies_to_neither_account_nor_ip(clock, make_ban):
    ban = make_ban("cheater")
    find_bans([("cheater", IP)])

    ban_lift(ban_id=str(ban.pk))

    assert find_bans([("cheater", IP), ("friend", IP)]) == {}


@pytest.mark.parametrize("garbage", ["not an ip", "999.1.1.1", " ", ""])
def test_an_ip_that_is_not_an_address_matches_nothing_and_attaches_nothing(clock, make_ban, garbage):
    ban = make_ban("cheater", ip=IP)

    assert find_bans([("cheater", garbage), ("friend", garbage)]) == {"cheater": ban}
    ban.refresh_from_db()
    assert ban.ip == IP


def test_ipv6_addresses_match_whatever_their_spelling(clock, make_ban):
    ban = make_ban("cheater")
    find_bans([("cheater", "2001:DB8:0:0::1")])

    assert find_bans([("friend", "2001:db8::1")]) == {"friend": ban}
    ban.refresh_from_db()
    assert ban.ip == "2001:db8::1"


def test_the_oldest_ban_answers_when_several_apply(clock, make_ban):
    old = make_ban("cheater", ip=IP, created_at=clock.now - timedelta(days=1))
    make_ban("smurf", ip=IP)

    assert find_bans([("friend", IP)]) == {"friend": old}


def test_ban_enforce_raises_banned_423_with_headers(clock, make_ban):
    ban = make_ban("cheater", reason="aimbot")
    assert ban_enforce(account="alice", ip=IP) is None

    with pytest.raises(Banned) as caught:
        ban_enforce(account="cheater", ip=IP)

    response = exception_handler(caught.value, {})
    assert response.status_code == 423
    assert response.data == {
        "code": "banned",
        "detail": "This account is banned until 2030-01-02 12:00:00 UTC: aimbot.",
    }
    assert (response["X-Ban-Until"], response["X-Ban-Id"], response["X-Ban-Reason"]) == (
        "2030-01-02 12:00:00",
        str(ban.pk),
        "aimbot",
    )
    assert caught.value.ban == ban


def test_ban_headers_survive_any_reason(clock, make_ban):
    ban = make_ban("cheater", reason="читы\r\nSet-Cookie: x=1\tçà")

    headers = ban_headers(ban)

    assert headers["X-Ban-Reason"] == "\\u0447\\u0438\\u0442\\u044b Set-Cookie: x=1 çà"
    response = exception_handler(Banned(ban), {})
    assert response["X-Ban-Reason"] == headers["X-Ban-Reason"]
    assert response.data["detail"] == f"This account is banned until 2030-01-02 12:00:00 UTC: {ban.reason}."


def test_an_empty_reason_says_so(clock, make_ban):
    ban = make_ban("cheater", reason="")

    assert str(Banned(ban).detail) == "This account is banned until 2030-01-02 12:00:00 UTC: no reason given."
    assert ban_headers(ban)["X-Ban-Reason"] == ""


def test_issue_many_skips_the_already_banned_and_duplicates(clock, make_ban):
    make_ban("b")

    issued, skipped = ban_issue_many(
        accounts=["a", "b", "c", "a"], reason="raid", expires_at=clock.now + timedelta(days=1)
    )

    assert [ban.account for ban in issued] == ["a", "c"]
    assert skipped == ["b"]
    assert sorted(Ban.objects.values_list("account", flat=True)) == ["a", "b", "c"]


# --- real concurrency (PostgreSQL) ---


def run_at_once(count: int, work):
    """Run `work(i)` in `count` threads released together; their results (or exceptions)."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_refusals_attach_exactly_one_ip():
    ips = [f"192.0.2.{i + 1}" for i in range(8)]
    for _ in range(5):
        Ban.objects.all().delete()
        ban = ban_issue(account="cheater", reason="", expires_at=timezone.now() + timedelta(days=1))

        results = run_at_once(8, lambda i: find_bans([("cheater", ips[i])]))

        assert all(result == {"cheater": ban} for result in results), results
        ban.refresh_from_db()
        assert ban.ip in ips
        # Each caller saw the IP it attached or none: only one believed it attached its own.
        assert sum(result["cheater"].ip == ips[i] for i, result in enumerate(results)) == 1
        assert find_bans([("friend", ban.ip)]) == {"friend": ban}
        assert all(find_bans([("friend", ip)]) == {} for ip in ips if ip != ban.ip)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_issues_for_one_account_make_one_ban():
    expires_at = timezone.now() + timedelta(days=1)
    for round_ in range(5):
        account = f"cheater{round_}"

        results = run_at_once(
            6, lambda i, account=account: ban_issue(account=account, reason=str(i), expires_at=expires_at)
        )

        bans = [result for result in results if isinstance(result, Ban)]
        refusals = [result for result in results if isinstance(result, AlreadyBanned)]
        assert (len(bans), len(refusals)) == (1, 5), results
        assert all(refusal.ban == bans[0] for refusal in refusals)
        assert Ban.objects.filter(account=account).count() == 1
