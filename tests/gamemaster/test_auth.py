from __future__ import annotations

import base64
import json
import time
from io import StringIO

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.management import CommandError, call_command

from gamemaster.auth import decode_token

pytestmark = pytest.mark.django_db


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(**extra):
    return {"sub": "alice", "scope": "game", "exp": int(time.time()) + 60, **extra}


def get_regions(api, token: str):
    return api.get("/regions", HTTP_AUTHORIZATION=f"Bearer {token}")


def assert_invalid_token(response, detail_start: str):
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="gamemaster"'
    body = response.json()
    assert body["code"] == "invalid_token"
    assert body["detail"].startswith(detail_start)
    assert set(body) == {"code", "detail"}


def test_a_valid_token_is_accepted(api, region, settings):
    token = jwt.encode(claims(), settings.TOKEN_SECRET, algorithm="HS256")

    assert get_regions(api, token).status_code == 200


def test_the_token_may_come_as_access_token_argument(api, region, make_token):
    response = api.get("/regions", {"access_token": make_token("alice", ["game"])})

    assert response.status_code == 200


def test_scopes_may_come_as_a_list(api, region, settings):
    token = jwt.encode({**claims(scope=None), "scopes": ["game"]}, settings.TOKEN_SECRET, algorithm="HS256")

    assert get_regions(api, token).status_code == 200


def test_an_expired_token_is_refused(api, region, make_token):
    response = get_regions(api, make_token("alice", ["game"], ttl=-10))

    assert_invalid_token(response, "The token has expired.")


def test_a_token_without_exp_is_refused(api, region, settings):
    token = jwt.encode({"sub": "alice", "scope": "game"}, settings.TOKEN_SECRET, algorithm="HS256")

    assert_invalid_token(get_regions(api, token), "The token is not valid")


def test_a_forged_token_is_refused(api, region):
    token = jwt.encode(claims(), "not-our-secret-but-long-enough-for-hs256", algorithm="HS256")

    assert_invalid_token(get_regions(api, token), "The token is not valid")


def test_an_unsigned_alg_none_token_is_refused(api, region):
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."

    assert_invalid_token(get_regions(api, token), "The token is not valid")


def test_a_token_with_another_algorithm_is_refused(api, region, settings):
    token = jwt.encode(claims(), settings.TOKEN_SECRET, algorithm="HS512")

    assert_invalid_token(get_regions(api, token), "The token is not valid")


def test_garbage_is_refused(api, region):
    assert_invalid_token(get_regions(api, "abc.def"), "The token is not valid")


def test_a_token_without_an_account_is_refused(api, region, settings):
    token = jwt.encode({"scope": "game", "exp": int(time.time()) + 60, "sub": ""}, settings.TOKEN_SECRET)

    assert_invalid_token(get_regions(api, token), "The token")


def test_a_subject_longer_than_an_account_id_is_refused(api, region, settings):
    token = jwt.encode(claims(sub="a" * 65), settings.TOKEN_SECRET, algorithm="HS256")

    assert_invalid_token(get_regions(api, token), "The token's subject is not an account id")


def test_a_non_bearer_authorization_header_counts_as_no_token(api, region):
    response = api.get("/regions", HTTP_AUTHORIZATION="Basic YWxpY2U6cHc=")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_tokens_signed_with_a_private_key_verify_with_the_configured_public_key(api, region, settings, algorithm):
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else (ec.generate_private_key(ec.SECP256R1()))
    )
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings.TOKEN_ALGORITHMS = [algorithm]
    settings.TOKEN_PUBLIC_KEY = public_pem

    good = jwt.encode(claims(), key, algorithm=algorithm)
    hs_with_public_key_as_secret = jwt.encode(claims(), "x" * 32, algorithm="HS256")

    assert get_regions(api, good).status_code == 200
    assert_invalid_token(get_regions(api, hs_with_public_key_as_secret), "The token is not valid")


def test_issue_token_prints_only_a_token_with_the_scopes(settings):
    out = StringIO()

    call_command("issue_token", "--account", "42", "--scopes", "game,party", "--ttl", "120", stdout=out)

    token = out.getvalue().strip()
    assert "\n" not in token
    user = decode_token(token)
    assert user.account == "42"
    assert user.scopes == frozenset({"game", "party"})
    assert 110 <= user.claims["exp"] - time.time() <= 120


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account", "a", "--scopes", "game,root"], "Unknown scopes: root"),
        (["--account", "a", "--ttl", "0"], "--ttl must be a positive number"),
        (["--account", "x" * 65], "--account"),
    ],
)
def test_issue_token_refuses_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("issue_token", *args, stdout=StringIO())


def test_a_remembered_token_still_expires_on_time(api, region, make_token, monkeypatch):
    token = make_token(ttl=60)
    assert get_regions(api, token).status_code == 200  # verified once, then remembered

    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)

    assert_invalid_token(get_regions(api, token), "The token has expired.")


def test_a_remembered_token_is_checked_again_when_the_secret_changes(api, region, make_token, settings):
    token = make_token()
    assert get_regions(api, token).status_code == 200

    settings.TOKEN_SECRET = "another-secret-" * 4

    assert_invalid_token(get_regions(api, token), "The token is not valid")
