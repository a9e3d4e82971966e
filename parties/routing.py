from __future__ import annotations

from django.urls import re_path

from parties.consumers import PartyConsumer

GAME = r"(?P<application_name>[^/]+)/(?P<application_version>[^/]+)/(?P<game_server_name>[^/]+)"

websocket_urlpatterns = [
    re_path(rf"^party/create/{GAME}/session/?$", PartyConsumer.as_asgi(endpoint="create")),
    re_path(r"^party/(?P<party_id>[^/]+)/session/?$", PartyConsumer.as_asgi(endpoint="connect")),
    re_path(rf"^parties/{GAME}/session/?$", PartyConsumer.as_asgi(endpoint="find")),
]
