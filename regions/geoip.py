"""Where an IP address is, from a GeoIP database. Chosen by the GEOIP setting
`{"BACKEND": "dotted.path", "OPTIONS": {...}}`, like CACHES."""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache
from typing import Any, Protocol

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class Locator(Protocol):
    def locate(self, ip: str) -> tuple[float, float] | None:
        """(longitude, latitude) of the address, or None when unknown."""


class NoLocator:
    """Nobody has a location: everyone gets the default region."""

    def locate(self, ip: str) -> tuple[float, float] | None:
        return None


class MaxMindCityLocator:
    """A MaxMind (GeoLite2/GeoIP2) City database file, read with geoip2."""

    def __init__(self, path: str = "") -> None:
        self.path = path
        self._reader = None
        if path:
            import geoip2.database
            import maxminddb

            try:
                reader = geoip2.database.Reader(path)
            except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
                # A missing or broken file must not take the API down: fall back to the default region.
                logger.error("GeoIP database %s cannot be read (%s): everyone gets the default region", path, exc)
                return
            if "City" not in reader.metadata().database_type:
                logger.error("GeoIP database %s is not a City database: everyone gets the default region", path)
                return
            self._reader = reader

    def locate(self, ip: str) -> tuple[float, float] | None:
        if self._reader is None:
            return None
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if not address.is_global:
            return None  # private, loopback, reserved: no location to find
        import geoip2.errors

        try:
            found = self._reader.city(str(address))
        except (geoip2.errors.AddressNotFoundError, ValueError):
            return None
        if found.location.longitude is None or found.location.latitude is None:
            return None
        return float(found.location.longitude), float(found.location.latitude)


@lru_cache(maxsize=1)
def get_locator() -> Locator:
    config: dict[str, Any] = settings.GEOIP
    backend = import_string(config.get("BACKEND", "regions.geoip.NoLocator"))
    return backend(**config.get("OPTIONS", {}))


@receiver(setting_changed)
def _reset_locator(*, setting: str, **kwargs: object) -> None:
    if setting == "GEOIP":
        get_locator.cache_clear()
