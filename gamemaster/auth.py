"""Bearer JWT authentication and scope checks, shared by REST views and WebSocket consumers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from gamemaster.args import account_id
from gamemaster.errors import ApiError

SCOPES = ("game", "game_multi", "game_ban", "party", "party_create", "party_close", "game_host")


class InvalidToken(Exception):
    """The token is malformed, forged, expired or signed with an algorithm we do not accept."""


@dataclass(frozen=True)
class TokenUser:
    """The caller a valid token speaks for."""

    account: str
    scopes: frozenset[str]
    claims: dict[str, Any]

    is_authenticated = True
    is_anonymous = False

    def missing_scopes(self, required: tuple[str, ...] | list[str]) -> list[str]:
        return [scope for scope in required if scope not in self.scopes]


def _verification_key() -> str:
    if any(alg.startswith(("RS", "ES", "PS")) for alg in settings.TOKEN_ALGORITHMS):
        return _read_pem(settings.TOKEN_PUBLIC_KEY)
    return settings.TOKEN_SECRET


def _read_pem(value: str) -> str:
    if not value:
        raise ImproperlyConfigured("TOKEN_PUBLIC_KEY is required for RS/ES token algorithms")
    if value.lstrip().startswith("-----BEGIN"):
        return value
    with open(value) as pem:
        return pem.read()


def decode_token(raw: str) -> TokenUser:
    """Verify a JWT and read the account and scopes from it.

    A client sends the same token with every request, and verifying its signature cost more than
    the join it authorizes (bench/RESULTS.md, the fast lane's profile): a token verified once is
    remembered, by its exact text and the verification settings, and trusted until its `exp`.
    Only `exp` can turn a verified token invalid later (`nbf` and `iat` only become valid)."""
    user = _verified(raw, _verification_settings())
    if user.claims["exp"] <= time.time():
        raise InvalidToken("The token has expired.")
    return user


def _verification_settings() -> tuple:
    return (
        tuple(settings.TOKEN_ALGORITHMS),
        settings.TOKEN_SECRET,
        settings.TOKEN_PUBLIC_KEY,
        settings.TOKEN_AUDIENCE,
        settings.TOKEN_ISSUER,
    )


@lru_cache(maxsize=8192)
def _verified(raw: str, verification: tuple) -> TokenUser:
    """`raw` verified with `verification` (the settings, as the cache key); exceptions are not kept."""
    options: dict[str, Any] = {"require": ["exp", "sub"]}
    kwargs: dict[str, Any] = {}
    if settings.TOKEN_AUDIENCE:
        kwargs["audience"] = settings.TOKEN_AUDIENCE
    else:
        options["verify_aud"] = False
    if settings.TOKEN_ISSUER:
        kwargs["issuer"] = settings.TOKEN_ISSUER
    try:
        claims = jwt.decode(
            raw,
            _verification_key(),
            algorithms=list(settings.TOKEN_ALGORITHMS),
            options=options,  # type: ignore[arg-type]
            **kwargs,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The token has expired.") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"The token is not valid: {exc}.") from None
    if not isinstance(claims.get("exp"), (int, float)):
        raise InvalidToken("The token is not valid: 'exp' must be a number.")
    try:
        account = account_id(claims.get("sub"))
    except ValidationError as exc:
        reason = exc.detail[0] if isinstance(exc.detail, list) else exc.detail
        raise InvalidToken(f"The token's subject is not an account id: {reason}") from None
    return TokenUser(account=account, scopes=_read_scopes(claims), claims=claims)


def _read_scopes(claims: dict[str, Any]) -> frozenset[str]:
    scope = claims.get("scope", "")
    scopes = claims.get("scopes", [])
    found: set[str] = set()
    if isinstance(scope, str):
        found.update(scope.split())
    if isinstance(scopes, list):
        found.update(s for s in scopes if isinstance(s, str))
    return frozenset(found)


def encode_token(*, account: str, scopes: list[str], ttl: int | None = None) -> str:
    """Mint a token with the configured algorithm (development, tests, `issue_token`)."""
    algorithm = settings.TOKEN_ALGORITHMS[0]
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(account),
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + (ttl if ttl is not None else settings.TOKEN_DEFAULT_TTL),
    }
    if settings.TOKEN_ISSUER:
        claims["iss"] = settings.TOKEN_ISSUER
    if settings.TOKEN_AUDIENCE:
        claims["aud"] = settings.TOKEN_AUDIENCE
    if algorithm.startswith("HS"):
        key = settings.TOKEN_SECRET
    else:
        if not settings.TOKEN_PRIVATE_KEY:
            raise ImproperlyConfigured(f"TOKEN_PRIVATE_KEY is required to sign {algorithm} tokens")
        key = _read_pem(settings.TOKEN_PRIVATE_KEY)
    return jwt.encode(claims, key, algorithm=algorithm)


def token_from_header(value: str | None) -> str | None:
    if not value:
        return None
    kind, _, token = value.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <jwt>` or an `access_token` argument."""

    def authenticate(self, request: Request) -> tuple[TokenUser, str] | None:
        raw = token_from_header(request.META.get("HTTP_AUTHORIZATION"))
        if raw is None:
            raw = request.query_params.get("access_token") or None
        if raw is None and request.method not in ("GET", "HEAD"):
            raw = _body_token(request)
        if raw is None:
            return None
        try:
            return decode_token(raw), raw
        except InvalidToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="gamemaster"'


def _body_token(request: Request) -> str | None:
    try:
        data = request.data
    except exceptions.ParseError:
        return None  # the view reports the malformed body
    if hasattr(data, "get"):
        token = data.get("access_token")
        if isinstance(token, str) and token:
            return token
    return None


class MissingScope(ApiError):
    status_code = 403
    code = "missing_scope"


class HasRequiredScopes(BasePermission):
    """Deny by default: every view declares `required_scopes`; a view that forgot fails loudly."""

    def has_permission(self, request: Request, view: Any) -> bool:
        required = getattr(view, "required_scopes", None)
        if required is None:
            raise ImproperlyConfigured(f"{type(view).__name__} must declare required_scopes")
        user = request.user
        if not isinstance(user, TokenUser):
            return False  # DRF answers 401 with WWW-Authenticate
        missing = user.missing_scopes(view_scopes(view, request))
        if missing:
            names = ", ".join(f"'{scope}'" for scope in missing)
            raise MissingScope(f"This request needs the scope {names}.")
        return True


def caller_account(request: Request) -> str:
    """The account the token speaks for (HasRequiredScopes lets only token users reach a view)."""
    user = request.user
    assert isinstance(user, TokenUser)
    return user.account


def view_scopes(view: Any, request: Request) -> list[str]:
    """A view may need different scopes per method: `required_scopes = {"GET": [...], ...}`."""
    required: Any = view.required_scopes
    if isinstance(required, dict):
        method = request.method or "GET"
        return list(required[method] if method in required else required.get("*", []))
    return list(required)
