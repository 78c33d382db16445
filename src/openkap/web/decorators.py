from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.forms import BaseForm
from django.http.response import HttpResponseBase

from openkap.accounts.authz import Denied, require
from openkap.accounts.requests import WebRequest
from openkap.audit.services import record_refusal
from openkap.core.authz import Perm

# A download (a streamed CSV, a file) is a response too, not an HttpResponse.
View = Callable[..., HttpResponseBase]


def staff_view(perm: Perm | None = None) -> Callable[[View], View]:
    """Login required, an organisation role required, and ``perm`` checked through
    the one permission function. The view receives the actor as its second argument.
    The permission is kept on the view so the URL-enumeration test can find it."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: WebRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            actor = request.actor
            if not actor or not actor.is_staff:
                raise Denied("This page is for clinic staff.")
            if perm is not None:
                require(actor, perm)
            return view(request, actor, *args, **kwargs)

        wrapper.required_permission = perm  # type: ignore[attr-defined]
        wrapper.staff_only = True  # type: ignore[attr-defined]
        return wrapper

    return decorator


def patient_view(view: View) -> View:
    """For the patient portal: login required and a patient record linked to the user
    in the actor's organisation. The view receives the actor and the patient."""

    @wraps(view)
    def wrapper(request: WebRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        actor = request.actor
        patient = getattr(request.user, "patient_record", None)
        if not actor or patient is None or patient.organization_id != actor.organization.id:
            raise Denied("This page is for patients of the clinic.")
        return view(request, actor, patient, *args, **kwargs)

    wrapper.patient_only = True  # type: ignore[attr-defined]
    return wrapper


def apply_errors(form: BaseForm, exc: ValidationError) -> None:
    """Put a service's validation errors next to the form's fields."""
    record_refusal(exc)
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
