"""Trend chart geometry: points inside the plot, bands covering it in order, dosing
sessions marked where they happened, labels that do not overlap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from openkap.core.instruments import get_instrument
from openkap.core.instruments.change import remission_definition
from openkap.measures.charts import LABEL_GAP, trend_chart

START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def _chart(points=None, sessions=None, **kw):
    points = points or [(START + timedelta(days=7 * i), total, False, i) for i, total in enumerate([21, 16, 12, 8, 6])]
    sessions = sessions if sessions is not None else [START + timedelta(days=7 * i + 3) for i in range(4)]
    return trend_chart(get_instrument("phq9"), points, sessions, bounds=(0, 27), **kw)


def test_points_are_inside_the_plot_and_ordered_in_time():
    c = _chart()
    xs = [p.x for p in c.points]
    assert xs == sorted(xs)
    for p in c.points:
        assert c.left <= p.x <= c.right
        assert c.top <= p.y <= c.bottom
    # Higher totals are higher on the page.
    assert c.points[0].y < c.points[-1].y
    assert c.path.count(",") == 5


def test_bands_cover_the_plot_in_order():
    c = _chart()
    assert [b.label for b in c.bands] == ["Minimal or none", "Mild", "Moderate", "Moderately severe", "Severe"]
    top = min(b.y for b in c.bands)
    bottom = max(b.y + b.height for b in c.bands)
    assert abs(top - c.top) < 0.2
    assert abs(bottom - c.bottom) < 0.2
    assert abs(sum(b.height for b in c.bands) - (c.bottom - c.top)) < 0.5


def test_dosing_sessions_are_marked_between_the_measures():
    c = _chart()
    assert [m.label for m in c.markers] == ["D1", "D2", "D3", "D4"]
    for marker, (before, after) in zip(c.markers, pairwise(c.points), strict=False):
        assert before.x < marker.x < after.x
    assert "2026-03-05" in c.markers[0].title


def test_far_future_booking_does_not_squash_the_axis():
    c = _chart(sessions=[START + timedelta(days=3), START + timedelta(days=400)])
    assert [m.label for m in c.markers] == ["D1"]


def test_lines_and_labels_do_not_overlap():
    c = _chart(baseline=21, response_threshold=10.5, remission=remission_definition("phq9"))
    assert [line.label for line in c.lines] == ["Baseline 21", "Response ≤ 10.5", "Remission < 5"]
    remission = c.lines[2]
    assert remission.kind == "remission"
    ys = sorted([b.label_y for b in c.bands] + [line.label_y for line in c.lines])
    assert all(b - a >= LABEL_GAP - 0.01 for a, b in pairwise(ys))


def test_single_day_series_gets_a_readable_axis():
    c = _chart(points=[(START, 9, True, 1), (START + timedelta(hours=2), 10, False, 2)], sessions=[])
    assert len(c.x_ticks) >= 2
    assert c.points[0].flagged
    assert "safety flag" in c.points[0].title


def test_long_series_labels_only_first_and_last():
    points = [(START + timedelta(days=3 * i), 10 + i % 5, False, i) for i in range(30)]
    c = _chart(points=points, sessions=[])
    labelled = [p for p in c.points if p.labelled]
    assert labelled == [c.points[0], c.points[-1]]
    assert 2 <= len(c.x_ticks) <= 8


def test_booked_sessions_are_told_apart():
    from django.utils import timezone

    now = timezone.now()
    points = [(now - timedelta(days=20), 18, False, 1), (now - timedelta(days=2), 9, False, 2)]
    c = _chart(points=points, sessions=[now - timedelta(days=10), now + timedelta(days=3)])
    assert [m.booked for m in c.markers] == [False, True]
    assert "(booked)" in c.markers[1].title
