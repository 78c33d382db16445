"""The episode list (the API's /pathway/episodes) reads per list, not per row, and says
for every episode what the Pathway tab's overview, read one episode at a time, says."""

from __future__ import annotations

import pytest

from openkap.pathway import selectors
from openkap.pathway.models import Episode


@pytest.mark.django_db
def test_summaries_agree_with_each_episode_overview(demo_clinic):
    org = demo_clinic.report.organization
    episodes = list(Episode.objects.filter(organization=org, state__in=selectors.OPEN_STATES).order_by("id"))
    assert len(episodes) > 10
    summaries = selectors.episode_summaries(episodes)
    assert [s.episode.id for s in summaries] == [e.id for e in episodes]
    for summary in summaries:
        overview = selectors.episode_overview(summary.episode)
        assert summary.snapshot == overview.snapshot
        assert summary.options == overview.options
        assert [h.id for h in summary.history] == [h.id for h in overview.history]
        assert summary.booking_unmet == overview.booking_unmet
        assert summary.integration_due == overview.integration_due
    # The demo has episodes with integrations due and with history, so the check says something.
    assert any(s.integration_due for s in summaries)
    assert all(s.history for s in summaries if s.episode.state != "intake")
