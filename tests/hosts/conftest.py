from __future__ import annotations

from tests.hosts.fakes import fresh_layer  # noqa: F401
