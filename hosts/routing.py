from __future__ import annotations

from django.urls import re_path

from hosts.consumers import HostConsumer

websocket_urlpatterns: list = [re_path(r"^host/session/?$", HostConsumer.as_asgi())]
