from __future__ import annotations

import pytest

from regions.models import Region
from tests.geoip import FRANKFURT, NEW_YORK, NO_LOCATION, TOKYO

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    Region.objects.create(name="eu-central", x=8.68, y=50.11)
    Region.objects.create(name="us-east", x=-77.0, y=38.9)
    Region.objects.create(name="ap-northeast", x=139.69, y=35.69)
    Region.objects.create(name="home", x=0.0, y=0.0, is_default=True)


def my_region(api, ip: str, **headers: str) -> str:
    response = api.as_("alice", ["game"]).from_ip(ip).get("/regions", **headers)
    assert response.status_code == 200
    return response.json()["my_region"]


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        (FRANKFURT.replace("0/24", "10"), "eu-central"),
        (NEW_YORK.replace("0/24", "7"), "us-east"),
        (TOKYO.replace("0/24", "1"), "ap-northeast"),
    ],
)
def test_my_region_is_the_nearest_to_the_callers_location(api, geoip, world, ip, expected):
    assert my_region(api, ip) == expected


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.2.3",  # private
        "127.0.0.1",  # loopback
        "8.8.8.8",  # global but not in the database
        NO_LOCATION.replace("0/24", "5"),  # in the database without a location
        "2001:db8::1",  # documentation IPv6
    ],
)
def test_my_region_is_the_default_when_the_address_cannot_be_located(api, geoip, world, ip):
    assert my_region(api, ip) == "home"


def test_my_region_is_the_default_without_a_geoip_database(api, world, settings):
    settings.GEOIP = {"BACKEND": "regions.geoip.MaxMindCityLocator", "OPTIONS": {"path": ""}}

    assert my_region(api, FRANKFURT.replace("0/24", "10")) == "home"


def test_an_unreadable_geoip_file_falls_back_to_the_default(api, world, settings, tmp_path):
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(b"not a database")
    settings.GEOIP = {"BACKEND": "regions.geoip.MaxMindCityLocator", "OPTIONS": {"path": str(broken)}}

    assert my_region(api, FRANKFURT.replace("0/24", "10")) == "home"


def test_my_region_is_null_when_there_are_no_regions(api, geoip):
    assert my_region(api, FRANKFURT.replace("0/24", "10")) is None


def test_forwarded_for_is_ignored_from_an_untrusted_peer(api, geoip, world, settings):
    settings.TRUSTED_PROXIES = []
    tokyo = TOKYO.replace("0/24", "1")

    assert my_region(api, "10.0.0.2", HTTP_X_FORWARDED_FOR=tokyo) == "home"


def test_forwarded_for_from_a_trusted_proxy_names_the_client(api, geoip, world, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    tokyo = TOKYO.replace("0/24", "1")
    # The client may forge the leftmost entries; only the hop our proxy appended counts.
    forged = NEW_YORK.replace("0/24", "7")

    assert my_region(api, "10.0.0.2", HTTP_X_FORWARDED_FOR=f"{forged}, {tokyo}") == "ap-northeast"
    assert my_region(api, "10.0.0.2", HTTP_X_FORWARDED_FOR=f"{tokyo}, 10.0.0.9") == "ap-northeast"
