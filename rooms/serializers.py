"""Argument serializers of the rooms endpoints."""

from __future__ import annotations

# --- creating rooms (hosting) ---


# --- search, join, player status (matchmaking) ---
