"""A finished session's overlay: curve, vitals and dissociation on one minute axis."""

from __future__ import annotations

import math

import pytest

from openkap.core.pk import DISCLAIMER, simulate
from openkap.core.pk.overlay import DissociationScore, VitalsReading, render_overlay


@pytest.fixture(scope="module")
def im_result():
    return simulate(route="im", dose_mg=50, weight_kg=70, population=40, hours=2.5, step_s=60)


def test_overlay_states_model_source_and_that_it_is_a_prediction(im_result) -> None:
    vitals = [VitalsReading(-5, 132, 84, 72), VitalsReading(15, 156, 95, None)]
    svg = render_overlay(im_result, vitals, [DissociationScore(40, 28)]).decode()
    for text in (
        "Joint-fit 3-compartment racemic disposition",
        "Joint fit (openkap.core.pk.fit)",
        DISCLAIMER,
        "population of 40 virtual patients",
        "Minutes from the start of dosing",
        "systolic BP (mmHg)",
        "diastolic BP (mmHg)",
        "heart rate (/min)",
        "CADSS 28",
        "IM injection (racemic ketamine): 50 mg, 70 kg",
    ):
        assert text in svg, text


def test_overlay_without_observations_says_so(im_result) -> None:
    svg = render_overlay(im_result).decode()
    assert "No vitals recorded" in svg
    assert "CADSS" not in svg


def test_overlay_draws_only_the_vitals_that_were_taken(im_result) -> None:
    svg = render_overlay(im_result, [VitalsReading(10, heart_rate=90)]).decode()
    assert "heart rate (/min)" in svg
    assert "systolic BP" not in svg


def test_overlay_png(im_result) -> None:
    png = render_overlay(im_result, [VitalsReading(0, 120, 80, 70)], fmt="png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("minute", [math.nan, math.inf, True])
def test_overlay_refuses_observation_times_that_are_not_numbers(im_result, minute) -> None:
    with pytest.raises(ValueError, match="finite numbers of minutes"):
        render_overlay(im_result, [VitalsReading(minute, 120, 80, 70)])
