"""Parsing only: the booking rules live in ``services`` so that the web and the API
get the same answers."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any, cast

from django import forms
from django.utils import timezone

from openkap.accounts.authz import Actor
from openkap.accounts.models import Room, Site
from openkap.api.schemas import MAX_ID
from openkap.core.authz import Role
from openkap.scheduling.models import Appointment, AppointmentKind
from openkap.scheduling.selectors import clinical_staff
from openkap.scheduling.services import MAX_INSTRUCTIONS, MAX_MINUTES, MIN_MINUTES

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class _TimePlaceStaffForm(forms.Form):
    """The time, room and staff of an appointment: shared by booking and moving."""

    location = forms.ChoiceField(label="Room")
    start = forms.DateTimeField(
        label="Starts",
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 300}, format=DATETIME_LOCAL),
    )
    minutes = forms.IntegerField(
        label="Length (minutes)", required=False, min_value=MIN_MINUTES, max_value=MAX_MINUTES,
        help_text="Leave blank for the usual length; a dosing session takes at least its protocol's monitoring time.",
    )
    lead = forms.TypedChoiceField(label="Lead clinician", required=False, coerce=int, empty_value=None)
    monitor = forms.TypedChoiceField(
        label="Monitoring clinician", required=False, coerce=int, empty_value=None,
        help_text="A nurse or prescriber; required for a dosing session.",
    )
    support = forms.TypedChoiceField(label="Support / sitter", required=False, coerce=int, empty_value=None)
    odd_hour = forms.BooleanField(label="Yes, the appointment is at this hour", required=False)

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        groups: list[tuple[str, list[tuple[str, str]]]] = []
        rooms = Room.objects.filter(organization=actor.organization, is_active=True, site__is_active=True)
        for site in Site.objects.filter(organization=actor.organization, is_active=True).order_by("name"):
            options = [(f"room:{r.id}", f"{site.name} · {r.name}") for r in rooms.filter(site=site).order_by("kind", "name")]
            options.append((f"site:{site.id}", f"{site.name} · no room (video or phone)"))
            groups.append((site.name, options))
        cast(forms.ChoiceField, self.fields["location"]).choices = [("", "Choose a room"), *groups]
        staff = clinical_staff(actor.organization.id)
        everyone = [("", "—"), *((u.id, f"{u.full_name} · {', '.join(Role(r).label for r in roles)}") for u, roles in staff)]
        monitors = [("", "—"), *(
            (u.id, f"{u.full_name} · {', '.join(Role(r).label for r in roles)}")
            for u, roles in staff if {Role.NURSE, Role.PRESCRIBER} & set(roles)
        )]
        for name, choices in (("lead", everyone), ("support", everyone), ("monitor", monitors)):
            cast(forms.ChoiceField, self.fields[name]).choices = choices

    def location_ids(self) -> tuple[int | None, int | None]:
        """(site_id, room_id) from the room choice."""
        kind, _, raw = self.cleaned_data["location"].partition(":")
        return (int(raw), None) if kind == "site" else (None, int(raw))

    def participants(self) -> list[tuple[int, str]]:
        return [
            (self.cleaned_data[role], role)
            for role in ("lead", "monitor", "support")
            if self.cleaned_data.get(role)
        ]

    def slot(self) -> dict[str, Any]:
        """The service's start, end, site_id, room_id and participants. Times in UTC:
        a length is not wall-clock time across a clock change."""
        site_id, room_id = self.location_ids()
        start = self.cleaned_data["start"].astimezone(UTC)
        minutes = self.cleaned_data["minutes"]
        return {
            "start": start, "end": start + timedelta(minutes=minutes) if minutes else None,
            "site_id": site_id, "room_id": room_id, "participants": self.participants(),
            "odd_hour_confirmed": self.cleaned_data["odd_hour"],
        }


class BookingForm(_TimePlaceStaffForm):
    patient = forms.IntegerField(min_value=1, max_value=MAX_ID, widget=forms.HiddenInput)
    kind = forms.ChoiceField(label="Type", choices=AppointmentKind.choices)
    patient_instructions = forms.CharField(
        label="Instructions for the patient", required=False, max_length=MAX_INSTRUCTIONS,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Shown in the portal and in the reminder email. Left blank for a dosing session: "
        "the fasting, medicines-to-hold and escort instructions recorded in the patient's preparation.",
    )


class RescheduleForm(_TimePlaceStaffForm):
    reason = forms.CharField(
        label="Reason for moving", max_length=1000, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded with the appointment's history.",
    )

    def __init__(self, *args: Any, actor: Actor, appointment: Appointment, **kwargs: Any) -> None:
        super().__init__(*args, actor=actor, **kwargs)
        self.fields["minutes"].help_text = "Leave as it is to keep the appointment's length."
        start = timezone.localtime(appointment.start)
        location = f"room:{appointment.room_id}" if appointment.room_id else f"site:{appointment.site_id}"
        self.initial.update(start=start.strftime(DATETIME_LOCAL), minutes=appointment.minutes, location=location)
        for p in appointment.participants.all():
            self.initial[p.role] = p.user_id


# Service error keys -> the form's fields.
FIELD_OF_ERROR = {"room": "location", "site": "location", "end": "minutes", "participants": "lead"}


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason for cancelling", max_length=1000, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded with the appointment.",
    )
    by_patient = forms.BooleanField(label="The patient asked to cancel", required=False)


class AppointmentTypeForm(forms.Form):
    kind = forms.ChoiceField(choices=AppointmentKind.choices, widget=forms.HiddenInput)
    minutes = forms.IntegerField(label="Default length (minutes)", min_value=MIN_MINUTES, max_value=MAX_MINUTES)
