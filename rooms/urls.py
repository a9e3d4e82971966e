from __future__ import annotations

from django.urls import re_path  # noqa: F401

# Paths are exactly the spec's (DESIGN.md §4); a trailing slash is optional.

# --- creating rooms (hosting) ---
create_urlpatterns: list = []

# --- search, join, player status (matchmaking) ---
matchmaking_urlpatterns: list = []

urlpatterns = [*create_urlpatterns, *matchmaking_urlpatterns]
