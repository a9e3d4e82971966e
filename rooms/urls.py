from __future__ import annotations

from django.urls import re_path

from rooms import views

# Paths are exactly the spec's (DESIGN.md §4); a trailing slash is optional.

# --- creating rooms (hosting) ---
_TARGET = r"(?P<application_name>[^/]+)/(?P<application_version>[^/]+)/(?P<game_server_name>[^/]+)"
create_urlpatterns: list = [
    re_path(rf"^create/multi/{_TARGET}/?$", views.RoomCreateMultiView.as_view(), name="room-create-multi"),
    re_path(rf"^create/{_TARGET}/?$", views.RoomCreateView.as_view(), name="room-create"),
]

# --- search, join, player status (matchmaking) ---
matchmaking_urlpatterns: list = []

urlpatterns = [*create_urlpatterns, *matchmaking_urlpatterns]
