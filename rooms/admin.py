"""The operator's tool for games, versions, game server configurations and rooms."""

from __future__ import annotations

from django.contrib import admin  # noqa: F401

# --- games, versions, configurations (foundation) ---


# --- rooms and slots (hosting) ---
