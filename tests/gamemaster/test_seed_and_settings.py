from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from gamemaster.env import database_from_url
from regions.models import Region
from rooms.models import Application, ApplicationVersion, GameServerConfiguration


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_once():
    call_command("seed_demo", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo", stdout=out)

    assert "(already there)" in out.getvalue()
    assert list(Region.objects.values_list("name", "is_default")) == [("local", True)]
    assert list(ApplicationVersion.objects.values_list("application__name", "name", "enabled")) == [
        ("demo", "1.0", True)
    ]
    configuration = GameServerConfiguration.objects.get()
    assert (configuration.application.name, configuration.name) == ("demo", "default")
    assert configuration.arguments[0].endswith("examples/gameserver.py")
    assert Path(configuration.arguments[0]).exists()
    assert Application.objects.count() == 1


def test_database_url_for_postgres():
    config = database_from_url("postgres://gm:p%40ss@db.internal:6432/game?sslmode=require", base_dir=Path("/x"))

    assert config == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "game",
        "USER": "gm",
        "PASSWORD": "p@ss",
        "HOST": "db.internal",
        "PORT": "6432",
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"sslmode": "require"},
    }


def test_database_url_for_sqlite_relative_and_absolute():
    assert database_from_url("sqlite:///var/gm.sqlite3", base_dir=Path("/repo"))["NAME"] == "/repo/var/gm.sqlite3"
    assert database_from_url("sqlite:////tmp/gm.sqlite3", base_dir=Path("/repo"))["NAME"] == "/tmp/gm.sqlite3"


def test_database_url_with_an_unknown_scheme_is_an_error():
    with pytest.raises(ValueError, match="mysql"):
        database_from_url("mysql://localhost/x", base_dir=Path("/repo"))
