"""Answer builders for tests, written independently of the engine's definitions."""

from __future__ import annotations


def with_total(n_items: int, per_item_max: int, total: int) -> list[int]:
    """Answers for `n_items` plain-sum items that add up to `total` (fills from item 1)."""
    assert 0 <= total <= n_items * per_item_max
    answers = []
    for _ in range(n_items):
        value = min(per_item_max, total)
        answers.append(value)
        total -= value
    return answers


def with_total_last_zero(n_items: int, per_item_max: int, total: int) -> list[int]:
    """Like `with_total` but keeps the last item 0 (e.g. PHQ-9 item 9, so no flag)."""
    return [*with_total(n_items - 1, per_item_max, total), 0]
