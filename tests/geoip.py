"""A tiny MaxMind City database built by the tests themselves: no download, no real GeoIP data."""

from __future__ import annotations

from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

# Documentation address blocks (RFC 5737) stand in for real networks; geoip2 refuses to look up
# nothing here, only our own Locator skips non-global addresses, so tests use global blocks.
FRANKFURT = "81.2.69.0/24"
NEW_YORK = "128.101.101.0/24"
TOKYO = "175.16.199.0/24"
NO_LOCATION = "216.160.83.0/24"

CITIES = {
    FRANKFURT: (8.68, 50.11),
    NEW_YORK: (-74.0, 40.71),
    TOKYO: (139.69, 35.69),
}


def build_city_database(path: Path, cities: dict[str, tuple[float, float]] | None = None) -> Path:
    """Write a City database mapping each network to (longitude, latitude)."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City", languages=["en"])
    for network, (longitude, latitude) in (cities or CITIES).items():
        writer.insert_network(IPSet([network]), {"location": {"longitude": longitude, "latitude": latitude}})
    writer.insert_network(IPSet([NO_LOCATION]), {"country": {"iso_code": "US"}})
    writer.to_db_file(str(path))
    return path
