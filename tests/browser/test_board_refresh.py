"""The monitoring board's 15-second refresh in a real browser: the page sends back the
ETag of what it shows, and a 304 leaves the board on screen (ADR 0052)."""

from __future__ import annotations

import itertools
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_the_refresh_sends_its_etag_and_a_304_keeps_the_board(signed_in):
    page = signed_in("nurse@demo.openkap.org")
    refreshes: list[tuple[int, str | None, str | None]] = []

    def seen(response) -> None:  # type: ignore[no-untyped-def]
        if "/dosing/board/" in response.url and response.request.headers.get("hx-request"):
            refreshes.append((response.status, response.request.headers.get("if-none-match"),
                              response.headers.get("etag")))

    page.on("response", seen)
    page.goto("/dosing/")
    expect(page.get_by_role("heading", name=re.compile("Monitoring board"))).to_be_visible()
    tiles = page.locator("#board article.tile").count()
    page.wait_for_timeout(48_000)  # three refreshes at 15, 30 and 45 s
    assert len(refreshes) >= 2, refreshes
    first_status, first_sent, first_tag = refreshes[0]
    assert (first_status, first_sent) == (200, None)  # the full page carries no tag
    for (_status, _sent, tag), (status, sent, _tag) in itertools.pairwise(refreshes):
        assert sent == tag, refreshes  # each refresh sends the tag of the last board it received
        assert status in (200, 304)
    assert first_tag
    # A 304 (nothing changed) or a 200 (a minute ticked): either way the board is there.
    expect(page.locator("#board")).to_be_visible()
    assert page.locator("#board article.tile").count() == tiles
