"""Small-count suppression for figures that leave the clinic (OpenSAFELY's rule): a
count of 1-7 patients is shown as "≤7", every other count is rounded to the nearest 5.
A statistic computed over 1-7 patients is withheld with it."""

from __future__ import annotations

SMALL = 7
ROUND_TO = 5
SUPPRESSED = "≤7"

RULE = (
    "Counts of 1–7 patients are shown as ≤7 and other counts are rounded to the nearest 5; "
    "statistics of 7 or fewer patients are withheld; percentages are computed from the "
    "rounded counts (OpenSAFELY's disclosure rule)."
)


def suppress_count(n: int) -> int | str:
    if n < 0:
        raise ValueError("a count cannot be negative")
    if n == 0:
        return 0
    if n <= SMALL:
        return SUPPRESSED
    return ROUND_TO * ((n + ROUND_TO // 2) // ROUND_TO)  # halves round up: 12.5 -> 15


def suppressed_percent(numerator: int, denominator: int) -> float | None:
    """The percentage as a reader could recompute it from the published counts; None
    (withheld) when either count is suppressed."""
    top, bottom = suppress_count(numerator), suppress_count(denominator)
    if isinstance(top, str) or isinstance(bottom, str) or not bottom:
        return None
    return round(100 * top / bottom, 1)
