"""Hypothesis profiles, chosen by HYPOTHESIS_PROFILE (tests/conftest.py loads it).

- ``dev`` (default): the example counts written in the tests, random examples, and the
  local example database, so a failure found once is tried first next time.
- ``ci``: a quarter of those counts, derandomized (the same examples on every run, so a
  red CI reproduces locally with HYPOTHESIS_PROFILE=ci) and no example database.
- ``thorough``: five times the written counts (``make test-thorough``), random.

Tests ask for examples with ``examples(n)``, never a bare ``max_examples=n``, so that
every property follows the profile (tests/test_suite_guards.py checks this).
No profile has a deadline: a loaded CI machine must not fail a property on speed."""

from __future__ import annotations

import os

from hypothesis import settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
_SCALE = {"dev": 1.0, "ci": 0.25, "thorough": 5.0}
if PROFILE not in _SCALE:
    raise ValueError(f"HYPOTHESIS_PROFILE={PROFILE!r}: choose one of {', '.join(_SCALE)}")

# Below this, a property barely explores; only a count written smaller goes lower.
_FLOOR = 10


def examples(n: int) -> int:
    """How many examples a property written for ``n`` runs in this profile."""
    return max(min(n, _FLOOR), round(n * _SCALE[PROFILE]))


settings.register_profile("dev", deadline=None, print_blob=True)
settings.register_profile(
    "ci", deadline=None, print_blob=True, derandomize=True, database=None, max_examples=examples(100),
)
settings.register_profile("thorough", deadline=None, print_blob=True, max_examples=examples(100))
settings.load_profile(PROFILE)
