"""Resolving "my region" (DESIGN.md §9)."""

from __future__ import annotations

from collections.abc import Iterable

from regions.geoip import get_locator
from regions.models import Region, nearest_region


def region_for_ip(ip: str | None, regions: Iterable[Region] | None = None) -> Region | None:
    """The region nearest to the address's GeoIP location, else the default region.

    `regions`: every region, in name order, for a caller that has read them already (the fast
    lane keeps them); by default they are read here, in one query."""
    location = get_locator().locate(ip) if ip else None
    regions = list(Region.objects.all() if regions is None else regions)
    if location is not None and regions:
        return nearest_region(regions, longitude=location[0], latitude=location[1])
    return next((region for region in regions if region.is_default), None)
