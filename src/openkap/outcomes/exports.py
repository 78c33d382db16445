"""The report as CSV (long format: section, group, measure, value) and as a PDF.
CSV cells go through the project's one safe writer (`core.csvsafe`)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from openkap.core.csvsafe import SafeWriter
from openkap.core.instruments.engine import score_range
from openkap.outcomes import charts


def csv_text(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = SafeWriter(buffer)
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def report_rows(data: dict[str, Any]) -> Iterator[list[Any]]:
    for section in (_report_and_flow_rows, _outcome_rows, _experience_rows, _demographic_rows, _definition_rows):
        yield from section(data)


def _report_and_flow_rows(data: dict[str, Any]) -> Iterator[list[Any]]:
    """The header, the filters, the patient flow and its exclusions."""
    yield ["section", "group", "measure", "value"]
    yield ["report", data["organization"], "instrument", data["instrument"]]
    yield ["report", "", "generated_at", data["generated_at"]]
    yield ["report", "", "suppressed", "yes" if data["suppressed"] else "no (the clinic's own staff only)"]
    for key, value in data["filters"].items():
        yield ["filter", "", key, value]
    for key in ("n_enrolled", "n_with_baseline", "n_with_endpoint", "n_analysed"):
        yield ["flow", "", key, data[key]]
    for ex in data["exclusions"]:
        yield ["exclusion", ex["label"], "n", ex["n"]]


def _outcome_rows(data: dict[str, Any]) -> Iterator[list[Any]]:
    """Change, response, remission and deterioration; by baseline band, item 9, trajectory, durability."""
    for key in ("baseline_mean", "baseline_sd", "endpoint_mean", "endpoint_sd", "mean_change", "mean_change_ci",
                "cohens_d", "cohens_d_ci", "cohens_dz", "cohens_dz_ci", "t_test_p", "wilcoxon_p",
                "n_response", "response_pct", "response_ci", "n_remission", "remission_pct", "remission_ci",
                "n_deteriorated", "deteriorated_pct", "deteriorated_ci"):
        value = data[key]
        yield ["outcome", data["instrument"], key, " to ".join(map(str, value)) if isinstance(value, list) else value]
    for row in data["by_baseline_band"]:
        for key in ("n", "response_pct", "remission_pct"):
            yield ["baseline_band", row["label"], key, row[key]]
    if data["suicidal_ideation"]:
        for key, value in data["suicidal_ideation"].items():
            yield ["suicidal_ideation", "PHQ-9 item 9", key, value]
    for point in data["trajectory"]:
        yield ["trajectory", point["label"], "n", point["n"]]
        yield ["trajectory", point["label"], "mean", point["mean"]]
        yield ["trajectory", point["label"], "ci", " to ".join(map(str, point["ci"])) if point["ci"] else None]
    if data["durability"]:
        for key, value in data["durability"]["still_responding"].items():
            yield ["durability", "still responding", key, value]


def _experience_rows(data: dict[str, Any]) -> Iterator[list[Any]]:
    """Experience measures against the outcome."""
    for e in data["experience"]:
        yield ["experience", e["measure"], "n", e["n"]]
        rho = e.get("spearman_vs_percent_change")
        if rho:
            yield ["experience", e["measure"], "spearman_rho", rho["rho"]]
            yield ["experience", e["measure"], "spearman_ci", f"{rho['ci'][0]} to {rho['ci'][1]}"]
            yield ["experience", e["measure"], "spearman_p", rho["p"]]
        for group in ("responders", "non_responders"):
            if group in e:
                yield ["experience", e["measure"], f"{group}_mean", e[group]["mean"]]
        model = e.get("logistic_regression") or {}
        for term in model.get("terms", []):
            yield ["experience", e["measure"], f"odds_ratio {term['term']}",
                   f"{term['odds_ratio']} ({term['ci'][0]} to {term['ci'][1]}), p {term['p']}"]


def _demographic_rows(data: dict[str, Any]) -> Iterator[list[Any]]:
    """Demographics, overall and by site."""
    demographics = data["demographics"]
    for group, demo in [("overall", demographics["overall"]), *demographics["by_site"].items()]:
        yield ["demographics", group, "n", demo["n"]]
        yield ["demographics", group, "age_mean", demo["age_mean"]]
        yield ["demographics", group, "age_sd", demo["age_sd"]]
        for part in ("sex_at_birth", "gender_identity", "route", "diagnosis"):
            for entry in demo[part]:
                yield ["demographics", group, f"{part}: {entry['label']}", entry["n"]]


def _definition_rows(data: dict[str, Any]) -> Iterator[list[Any]]:
    """The definitions the numbers follow, and the suppression rule."""
    for key, text in data["definitions"].items():
        if key != "parameters":
            yield ["definition", "", key, text]
    if data["suppression_rule"]:
        yield ["definition", "", "suppression", data["suppression_rule"]]


DEMOGRAPHIC_PARTS = (("sex_at_birth", "Sex at birth"), ("gender_identity", "Gender identity"),
                     ("route", "Route of the first session"), ("diagnosis", "Diagnoses (ICD-10 category)"))


def render_context(data: dict[str, Any]) -> dict[str, Any]:
    """What the report's templates need beyond the data: charts and table rows."""
    bounds = score_range(data["instrument"]) or (0, 1)
    groups = [data["demographics"]["overall"], *data["demographics"]["by_site"].values()]
    return {
        "r": data,
        "demographic_rows": [(title, [g[part] for g in groups]) for part, title in DEMOGRAPHIC_PARTS],
        "trajectory_svg": mark_safe(charts.trajectory_svg(  # noqa: S308 - numbers, labels escaped
            data["trajectory"], maximum=float(bounds[1]), instrument=data["instrument_name"])),
        "survival_svg": mark_safe(charts.survival_svg(data["durability"])),  # noqa: S308
        "bands_svg": mark_safe(charts.bands_svg(data["by_baseline_band"])),  # noqa: S308
        "experience": [
            {**e, "scatter_svg": mark_safe(charts.scatter_svg(e["measure"], e.get("points")))}  # noqa: S308
            for e in data["experience"]
        ],
    }


def report_pdf(data: dict[str, Any], *, request: HttpRequest | None = None) -> bytes:
    from weasyprint import HTML  # imported on use: it loads Pango

    html = render_to_string(
        "outcomes/pdf/report.html",
        {**render_context(data), "time_zone": settings.TIME_ZONE},
        request=request,
    )
    return HTML(string=html).write_pdf()
