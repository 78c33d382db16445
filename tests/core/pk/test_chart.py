"""Charts state the model, its source and that they are population predictions."""

from __future__ import annotations

from pathlib import Path

import pytest

from openkap.core.pk import DISCLAIMER, simulate
from openkap.core.pk.chart import render_chart, save_chart


def test_svg_keeps_labels_as_text() -> None:
    result = simulate(
        route="in-esketamine", dose_mg=56, population=30, seed=1, threshold_ng_ml=60, step_s=60
    )
    svg = render_chart(result, "svg").decode()
    for text in (
        "Plasma concentration (ng/mL)",
        "Time after first dose (h)",
        "Perez-Ruixo 2021 esketamine popPK",
        "Clin Pharmacokinet 2021;60:501",
        DISCLAIMER,
        "esketamine, median",
        "5th-95th percentile",
        "noresketamine",
        "threshold 60 ng/mL",
        "population of 30 virtual patients",
    ):
        assert text in svg, text


def test_png_of_a_typical_individual() -> None:
    result = simulate(route="iv", dose_mg=35, weight_kg=70, infusion_min=40)
    png = render_chart(result, "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    svg = render_chart(result, "svg").decode()
    assert "typical individual" in svg
    assert "infused over 40 min" in svg


def test_save_chart_picks_the_format_from_the_suffix(tmp_path: Path) -> None:
    result = simulate(route="oral", dose_mg=25, weight_kg=70, step_s=60)
    save_chart(result, tmp_path / "a.SVG")
    assert b"<svg" in (tmp_path / "a.SVG").read_bytes()
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        save_chart(result, tmp_path / "a.jpg")


def test_a_long_title_breaks_between_its_parts_never_inside_one() -> None:
    from openkap.core.pk.chart import title_lines

    parts = [
        "sublingual / buccal racemic ketamine: 200 mg (held 10 min, then saliva swallowed)",
        "82.5 kg",
        "with St John's wort (CYP3A4 inducer)",
        "age 78 (hepatic blood flow -39 L/h)",
    ]
    lines = title_lines(parts)
    assert lines == [
        "sublingual / buccal racemic ketamine: 200 mg (held 10 min, then saliva swallowed), 82.5 kg,",
        "with St John's wort (CYP3A4 inducer), age 78 (hepatic blood flow -39 L/h)",
    ]
    assert all(len(line) <= 100 for line in lines)
    assert title_lines(["oral racemic ketamine: 25 mg", "70 kg"]) == ["oral racemic ketamine: 25 mg, 70 kg"]
