"""Calling a party's close callback: a signed HTTP POST to a URL an operator configured. Slow
outside I/O: never call it inside a transaction."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from typing import Any

from parties.models import CloseCallback

logger = logging.getLogger(__name__)


def sign(secret: str, body: bytes) -> str:
    """The X-Signature header: `sha256=<hex HMAC-SHA256 of the body with the callback's secret>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def callback_call(*, callback: CloseCallback, party: dict[str, Any], message: Any, reason: str) -> Any:
    """POST `{party, message, reason}` and return the JSON answer; a failure never loses the
    close: it is logged and answered as `{"callback_error": "<what went wrong>"}`."""
    body = json.dumps({"party": party, "message": message, "reason": reason}, separators=(",", ":")).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is an operator's, checked by URLField
        callback.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Signature": sign(callback.secret, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=callback.effective_timeout) as response:  # noqa: S310
            raw = response.read()
    except urllib.error.HTTPError as exc:
        return _failed(callback, f"the callback answered HTTP {exc.code}")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason_text = getattr(exc, "reason", exc)
        return _failed(callback, f"the callback could not be reached: {reason_text}")
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return _failed(callback, "the callback's answer is not JSON")


def _failed(callback: CloseCallback, what: str) -> dict[str, str]:
    logger.warning("Close callback %r (%s) failed: %s", callback.name, callback.url, what)
    return {"callback_error": what}
