from __future__ import annotations

from django.urls import re_path

from rooms import views
from rooms.views import MultiJoinView, PlayersView, PlayerView, QuickJoinView, RoomJoinView, RoomSearchView

# Paths are exactly the spec's (DESIGN.md §4); a trailing slash is optional.

# --- creating rooms (hosting) ---
_TARGET = r"(?P<application_name>[^/]+)/(?P<application_version>[^/]+)/(?P<game_server_name>[^/]+)"
create_urlpatterns: list = [
    re_path(rf"^create/multi/{_TARGET}/?$", views.RoomCreateMultiView.as_view(), name="room-create-multi"),
    re_path(rf"^create/{_TARGET}/?$", views.RoomCreateView.as_view(), name="room-create"),
]

# --- search, join, player status (matchmaking) ---
GAME = r"(?P<application_name>[^/]+)/(?P<application_version>[^/]+)/(?P<game_server_name>[^/]+)"
matchmaking_urlpatterns: list = [
    # Before the search pattern, which would also match /rooms/<game>/<id>/join.
    re_path(
        r"^rooms?/(?P<application_name>[^/]+)/(?P<room_id>[^/]+)/join/?$", RoomJoinView.as_view(), name="room_join"
    ),
    re_path(rf"^rooms/{GAME}/?$", RoomSearchView.as_view(), name="rooms_search"),
    re_path(rf"^join/multi/{GAME}/?$", MultiJoinView.as_view(), name="rooms_multi_join"),
    re_path(rf"^join/{GAME}/?$", QuickJoinView.as_view(), name="rooms_quick_join"),
    re_path(r"^player/(?P<account_id>[^/]+)/?$", PlayerView.as_view(), name="player_status"),
    re_path(r"^players/?$", PlayersView.as_view(), name="players_status"),
]

urlpatterns = [*create_urlpatterns, *matchmaking_urlpatterns]
