"""Limits and small helpers every step of measurement-based care shares."""

from __future__ import annotations

from datetime import timedelta

Answers = dict[str, int | None]

LINK_DAYS = 7
MAX_LINK_DAYS = 30
CORRECTION_MIN_CHARS = 5
MAX_BACKDATE = timedelta(days=365)
