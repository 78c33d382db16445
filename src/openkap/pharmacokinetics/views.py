"""The route comparison page: the same milligrams by several routes, side by side."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from openkap.accounts.authz import Actor
from openkap.core.authz import Perm
from openkap.pharmacokinetics import predictions
from openkap.pharmacokinetics.forms import CompareForm
from openkap.web.decorators import apply_errors, staff_view


@staff_view(Perm.PK_VIEW)
def compare(request: HttpRequest, actor: Actor) -> HttpResponse:
    # A calculation that changes nothing: a GET form, so a comparison can be bookmarked.
    submitted = "dose_mg" in request.GET
    form = CompareForm(request.GET if submitted else None)
    comparison = None
    if submitted and form.is_valid():
        try:
            comparison = predictions.compare_routes(**form.prediction_kwargs())
        except ValidationError as exc:
            apply_errors(form, exc)
    status = 422 if submitted and comparison is None else 200
    return TemplateResponse(
        request,
        "pharmacokinetics/compare.html",
        {"form": form, "comparison": comparison, "population": predictions.POPULATION},
        status=status,
    )
