"""Print a signed access token for an account (development, tests, trusted tools)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gamemaster.args import account_id
from gamemaster.auth import SCOPES, encode_token


class Command(BaseCommand):
    help = "Print a token for --account with --scopes (comma separated); nothing else goes to stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="Account id (the token's subject).")
        parser.add_argument("--scopes", default="game", help=f"Comma separated, of: {', '.join(SCOPES)}.")
        parser.add_argument("--ttl", type=int, default=None, help="Lifetime in seconds (default TOKEN_DEFAULT_TTL).")

    def handle(self, *args: Any, account: str, scopes: str, ttl: int | None, **options: Any) -> None:
        try:
            account = account_id(account)
        except Exception as exc:
            raise CommandError(f"--account: {exc}") from None
        names = [scope.strip() for scope in scopes.split(",") if scope.strip()]
        unknown = [name for name in names if name not in SCOPES]
        if unknown:
            raise CommandError(f"Unknown scopes: {', '.join(unknown)} (known: {', '.join(SCOPES)})")
        if ttl is not None and ttl <= 0:
            raise CommandError("--ttl must be a positive number of seconds")
        self.stdout.write(encode_token(account=account, scopes=names, ttl=ttl))
