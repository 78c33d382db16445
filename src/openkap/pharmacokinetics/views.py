"""The route comparison page: several routes side by side, each at its usual dose or all at
the same milligrams; and the validation page: the model against the published data."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from openkap.accounts.authz import Actor
from openkap.core.authz import Perm
from openkap.core.pk import validation
from openkap.pharmacokinetics import predictions
from openkap.pharmacokinetics.forms import USUAL, CompareForm
from openkap.web.decorators import apply_errors, staff_view


def _initial(form: CompareForm) -> dict[str, Any]:
    return {name: form.get_initial_for_field(field, name) for name, field in form.fields.items()}


@staff_view(Perm.PK_VIEW)
def compare(request: HttpRequest, actor: Actor) -> HttpResponse:
    # A calculation that changes nothing: a GET form, so a comparison can be bookmarked.
    submitted = bool({"dose_mg", "basis"} & set(request.GET))
    form = CompareForm(request.GET if submitted else None)
    # The first visit shows a comparison at once: the form's usual doses for 70 kg.
    checked = form if submitted else CompareForm({k: v for k, v in _initial(form).items() if v is not None})
    comparison = None
    doses = None
    if checked.is_valid():
        try:
            comparison = predictions.compare_routes(**checked.prediction_kwargs())
        except ValidationError as exc:
            apply_errors(checked, exc)
        else:
            if checked.cleaned_data["basis"] == USUAL:
                doses = [d for r, d in predictions.usual_doses(checked.cleaned_data["weight_kg"]).items()
                         if r in checked.cleaned_data["routes"]]
    status = 422 if submitted and comparison is None else 200
    return TemplateResponse(
        request,
        "pharmacokinetics/compare.html",
        {"form": form, "comparison": comparison, "population": predictions.POPULATION, "usual_doses": doses},
        status=status,
    )


@staff_view(Perm.PK_VIEW)
def validation_tables(request: HttpRequest, actor: Actor) -> HttpResponse:
    """The stored validation tables (read from the fitted model's file, nothing computed)."""
    tables = [
        (key, title, rows, sum(r.ok for r in rows))
        for key, (_, title) in validation.TABLES.items()
        for rows in [validation.stored_rows(key)]
    ]
    return TemplateResponse(
        request,
        "pharmacokinetics/validation.html",
        {"tables": tables, "disagreements": list(validation.DISAGREEMENTS.values())},
    )
