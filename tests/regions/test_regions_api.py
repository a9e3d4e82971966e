from __future__ import annotations

import pytest

from regions.models import Region

pytestmark = pytest.mark.django_db


def test_regions_lists_every_region_and_the_default_as_mine(api, region):
    Region.objects.create(name="eu", x=8.68, y=50.11, settings={"title": "Europe"})

    response = api.as_("alice", ["game"]).get("/regions")

    assert response.status_code == 200
    assert response.json() == {
        "regions": {
            "eu": {"settings": {"title": "Europe"}, "location": {"x": 8.68, "y": 50.11}},
            "local": {"settings": {}, "location": {"x": 0.0, "y": 0.0}},
        },
        "my_region": "local",
    }


def test_regions_needs_a_token(api, region):
    response = api.get("/regions")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="gamemaster"'
    assert response.json() == {
        "code": "not_authenticated",
        "detail": "Authentication credentials were not provided.",
    }


def test_regions_needs_scope_game(api, region):
    response = api.as_("alice", ["party"]).get("/regions")

    assert response.status_code == 403
    assert response.json() == {"code": "missing_scope", "detail": "This request needs the scope 'game'."}
