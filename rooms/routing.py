from __future__ import annotations

from django.urls import re_path

from rooms.gameserver import GameServerConsumer

websocket_urlpatterns: list = [re_path(r"^gameserver/(?P<room_id>[^/]+)/session/?$", GameServerConsumer.as_asgi())]
