"""REST views of rooms: thin, each parses its arguments, calls one service and renders the answer."""

from __future__ import annotations

# --- creating rooms (hosting) ---


# --- search, join, player status (matchmaking) ---
