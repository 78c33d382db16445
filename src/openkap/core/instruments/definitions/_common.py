"""Answer scales shared by several instruments."""

from __future__ import annotations

from ..model import Option, Scale

# PHQ and GAD answer set with LOINC answer codes (answer list LL358-3).
PHQ_FREQUENCY = Scale(
    0,
    3,
    (
        Option(0, "Not at all", "LA6568-5"),
        Option(1, "Several days", "LA6569-3"),
        Option(2, "More than half the days", "LA6570-1"),
        Option(3, "Nearly every day", "LA6571-9"),
    ),
)

YES_NO = Scale(0, 1, (Option(0, "No", "LA32-8"), Option(1, "Yes", "LA33-6")))


def numbered(minimum: int, maximum: int) -> Scale:
    """Scale whose anchors are licensed: only the numbers ship."""
    return Scale(minimum, maximum, tuple(Option(v, str(v)) for v in range(minimum, maximum + 1)))
