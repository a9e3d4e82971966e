"""Resolving "my region" (DESIGN.md §9)."""

from __future__ import annotations

from regions.geoip import get_locator
from regions.models import Region


def region_for_ip(ip: str | None) -> Region | None:
    """The region nearest to the address's GeoIP location, else the default region."""
    location = get_locator().locate(ip) if ip else None
    if location is not None:
        longitude, latitude = location
        nearest = Region.objects.nearest(longitude=longitude, latitude=latitude)
        if nearest is not None:
            return nearest
    return Region.objects.default()
