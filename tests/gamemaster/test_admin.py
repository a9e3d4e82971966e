"""An operator can set up a game in the admin, and bad JSON is refused with a message."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from regions.models import Region
from rooms.models import Application, ApplicationVersion, GameServerConfiguration

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    User.objects.create_superuser("operator", "op@example.com", "a-long-password")
    assert client.login(username="operator", password="a-long-password")
    return client


def configuration_form(game: Application, **overrides: str) -> dict:
    form = {
        "application": str(game.pk),
        "name": "default",
        "command": "/usr/bin/python3",
        "arguments": '["examples/gameserver.py", "--port", "{port0}"]',
        "env": '{"MODE": "ranked"}',
        "ports": "1",
        "max_players": "8",
        "server_settings": '{"map": "dust"}',
        "reservation_ttl": "30",
        "spawn_timeout": "30",
        "overrides-TOTAL_FORMS": "0",
        "overrides-INITIAL_FORMS": "0",
    }
    form.update(overrides)
    return form


def test_the_admin_needs_a_login(client):
    response = client.get("/admin/rooms/application/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_an_operator_creates_a_region_game_version_and_configuration(operator):
    response = operator.post(
        "/admin/regions/region/add/",
        {"name": "eu", "x": "8.68", "y": "50.11", "settings": '{"title": "Europe"}', "is_default": "on"},
    )
    assert response.status_code == 302, response.content
    response = operator.post(
        "/admin/rooms/application/add/",
        {
            "name": "demo",
            "title": "Demo",
            "versions-TOTAL_FORMS": "1",
            "versions-INITIAL_FORMS": "0",
            "versions-0-name": "1.0",
            "versions-0-enabled": "on",
        },
    )
    assert response.status_code == 302, response.content
    game = Application.objects.get(name="demo")
    response = operator.post("/admin/rooms/gameserverconfiguration/add/", configuration_form(game))
    assert response.status_code == 302, response.content

    assert Region.objects.get(name="eu").settings == {"title": "Europe"}
    assert ApplicationVersion.objects.get(application=game).name == "1.0"
    configuration = GameServerConfiguration.objects.get(application=game, name="default")
    assert configuration.arguments == ["examples/gameserver.py", "--port", "{port0}"]
    assert configuration.env == {"MODE": "ranked"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("server_settings", "{not json", "Enter a valid JSON."),
        ("server_settings", "[1, 2]", "Server settings must be a JSON object"),
        ("arguments", '{"a": 1}', "Arguments must be a JSON list of strings"),
        ("arguments", "[1, 2]", "Arguments must be a JSON list of strings"),
        ("env", '{"PORT": 8000}', "Env must be a JSON object whose values are strings."),
    ],
)
def test_invalid_json_in_a_configuration_is_refused_with_a_message(operator, game, field, value, message):
    response = operator.post("/admin/rooms/gameserverconfiguration/add/", configuration_form(game, **{field: value}))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not GameServerConfiguration.objects.exists()


def test_a_second_default_region_is_refused_with_a_message(operator, region):
    response = operator.post(
        "/admin/regions/region/add/", {"name": "eu", "x": "1", "y": "2", "settings": "{}", "is_default": "on"}
    )

    assert response.status_code == 200
    assert "Another region is the default already" in response.content.decode()


def test_region_settings_must_be_an_object(operator):
    response = operator.post("/admin/regions/region/add/", {"name": "eu", "x": "1", "y": "2", "settings": '"x"'})

    assert response.status_code == 200
    assert "Settings must be a JSON object" in response.content.decode()


def test_list_pages_render(operator, configuration, version, region):
    for url in [
        "/admin/regions/region/?q=loc",
        "/admin/rooms/application/",
        "/admin/rooms/applicationversion/?enabled__exact=1",
        "/admin/rooms/gameserverconfiguration/?q=default",
    ]:
        assert operator.get(url).status_code == 200, url
