from __future__ import annotations

import pytest

from regions.models import Region
from tests.geoip import build_city_database


@pytest.fixture
def geoip(tmp_path, settings):
    path = build_city_database(tmp_path / "city.mmdb")
    settings.GEOIP = {"BACKEND": "regions.geoip.MaxMindCityLocator", "OPTIONS": {"path": str(path)}}
    return path


@pytest.fixture
def eu(db):
    return Region.objects.create(name="eu", x=8.68, y=50.11)


@pytest.fixture
def us(db):
    return Region.objects.create(name="us", x=-74.0, y=40.71)
