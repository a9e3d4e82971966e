"""Room use cases that lock rows, cross apps or talk to other processes (DESIGN.md §6, §7)."""

from __future__ import annotations

# --- creating rooms (hosting) ---


# --- search, join, player status (matchmaking) ---
