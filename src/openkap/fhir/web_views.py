"""Admin -> FHIR clients: register and revoke SMART Backend Services clients through the
same services as ``openkap fhir_client``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from openkap.accounts.authz import Actor
from openkap.core.authz import Perm
from openkap.fhir import smart
from openkap.fhir.forms import ClientForm
from openkap.web.decorators import apply_errors, staff_view


@staff_view(Perm.STAFF_MANAGE)
def clients(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = ClientForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            d = form.cleaned_data
            try:
                client = smart.client_register(by=actor, name=d["name"], scopes=" ".join(d["scopes"]),
                                               jwks=d["jwks"], public_key_pem=d["public_key_pem"])
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, f"Registered {client.name}. Its client_id is {client.client_id}.")
                return redirect("fhir_admin:clients")
        status = 422
    return TemplateResponse(request, "fhir/clients.html", {
        "form": form, "clients": smart.clients_of(by=actor),
        "token_url": request.build_absolute_uri("/fhir/R4/auth/token"),
    }, status=status)


@require_POST
@staff_view(Perm.STAFF_MANAGE)
def client_revoke(request: HttpRequest, actor: Actor, client_id: str) -> HttpResponse:
    client = smart.client_revoke(by=actor, client_id=client_id)
    messages.success(request, f"Revoked {client.name}: its tokens no longer work.")
    return redirect("fhir_admin:clients")
