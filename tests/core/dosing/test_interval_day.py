"""Which day a dosing session counts for in the minimum interval (one rule, used by the
dose order and by booking)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from openkap.core.dosing.order import interval_day

NEW_YORK = ZoneInfo("America/New_York")
BOOKED = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def test_a_booked_session_counts_on_its_booked_day():
    assert interval_day(administered_at=None, started_at=None, scheduled_start=BOOKED, tz=NEW_YORK) == date(2026, 3, 10)


def test_a_started_session_counts_on_the_day_it_started():
    started = BOOKED + timedelta(days=1)
    assert interval_day(administered_at=None, started_at=started, scheduled_start=BOOKED, tz=NEW_YORK) == date(2026, 3, 11)


def test_the_dose_decides_over_the_start_and_the_booking():
    # Checked in late on the 11th (New York), dosed after midnight: the 12th counts.
    started = datetime(2026, 3, 12, 3, 50, tzinfo=UTC)  # 23:50 on the 11th in New York
    dosed = datetime(2026, 3, 12, 4, 10, tzinfo=UTC)  # 00:10 on the 12th
    assert interval_day(administered_at=dosed, started_at=started, scheduled_start=BOOKED, tz=NEW_YORK) == date(2026, 3, 12)


def test_the_day_is_the_clinics_local_day_not_utc():
    evening = datetime(2026, 3, 11, 2, 30, tzinfo=UTC)  # 22:30 on the 10th in New York
    assert interval_day(administered_at=evening, started_at=None, scheduled_start=BOOKED, tz=NEW_YORK) == date(2026, 3, 10)
    assert interval_day(administered_at=evening, started_at=None, scheduled_start=BOOKED, tz=UTC) == date(2026, 3, 11)
