from __future__ import annotations

from django.urls import re_path

from parties.views import PartyCreateView, PartyView

# Paths are exactly the spec's (DESIGN.md §4); a trailing slash is optional.
urlpatterns = [
    re_path(
        r"^party/create/(?P<application_name>[^/]+)/(?P<application_version>[^/]+)/(?P<game_server_name>[^/]+)/?$",
        PartyCreateView.as_view(),
        name="party-create",
    ),
    re_path(r"^party/(?P<party_id>[^/]+)/?$", PartyView.as_view(), name="party"),
]
