from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from openkap.accounts.models import Organization, Room, Site, User
from openkap.dosing.models import DosingSession
from openkap.pathway.models import Episode
from openkap.patients.models import Patient


class AppointmentKind(models.TextChoices):
    SCREENING = "screening", _("Screening")
    PREPARATION = "preparation", _("Preparation session")
    DOSING = "dosing", _("Dosing session")
    INTEGRATION = "integration", _("Integration session")
    FOLLOW_UP = "follow_up", _("Follow-up")
    MEDICAL_REVIEW = "medical_review", _("Medical review")


# Minutes, until an organisation sets its own (AppointmentType rows).
DEFAULT_MINUTES: dict[str, int] = {
    AppointmentKind.SCREENING: 90,
    AppointmentKind.PREPARATION: 60,
    AppointmentKind.DOSING: 180,
    AppointmentKind.INTEGRATION: 60,
    AppointmentKind.FOLLOW_UP: 30,
    AppointmentKind.MEDICAL_REVIEW: 30,
}


class AppointmentTypeQuerySet(models.QuerySet["AppointmentType"]):
    def minutes_of(self, organization_id: int, kind: str) -> int:
        """The usual length of a kind of appointment: the organisation's own, else DEFAULT_MINUTES."""
        own = self.filter(organization_id=organization_id, kind=kind).values_list("default_minutes", flat=True).first()
        return own if own is not None else DEFAULT_MINUTES[kind]


class AppointmentType(models.Model):
    """An organisation's own default duration for a kind of appointment; kinds
    without a row use DEFAULT_MINUTES."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=AppointmentKind.choices)
    default_minutes = models.PositiveSmallIntegerField()
    updated_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    objects = AppointmentTypeQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "kind"], name="appointment_type_unique_kind")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.default_minutes} min"


class Appointment(models.Model):
    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        CANCELLED = "cancelled", "Cancelled"
        NO_SHOW = "no_show", "No-show"
        COMPLETED = "completed", "Completed"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    episode = models.ForeignKey(
        Episode, null=True, blank=True, on_delete=models.PROTECT, related_name="appointments"
    )
    kind = models.CharField(max_length=20, choices=AppointmentKind.choices)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    # No room: by video or phone (never for a dosing session).
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.BOOKED)
    patient_instructions = models.TextField(
        blank=True, help_text="Shown to the patient in the portal and in the reminder email"
    )
    dosing_session = models.OneToOneField(
        DosingSession, null=True, blank=True, on_delete=models.PROTECT, related_name="appointment"
    )
    cancellation_reason = models.TextField(blank=True)
    cancelled_by_patient = models.BooleanField(default=False)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    # Raised on every move and status change: the ICS SEQUENCE, so calendar apps take
    # the new version of the event.
    sequence = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "start"], name="appointment_org_start"),
            models.Index(fields=["room", "start"], name="appointment_room_start"),
            models.Index(fields=["patient", "start"], name="appointment_patient_start"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="appointment_ends_after_start")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.id} ({self.status})"

    @property
    def is_booked(self) -> bool:
        return self.status == self.Status.BOOKED

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


class AppointmentMove(models.Model):
    """One reschedule of an appointment: who moved it, when, from where and when to
    where and when, and why. The appointment keeps its identity."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT, related_name="moves")
    moved_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    moved_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField()
    from_start = models.DateTimeField()
    from_end = models.DateTimeField()
    from_site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    from_room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_start = models.DateTimeField()
    to_end = models.DateTimeField()
    to_site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    to_room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # [[user id, role], ...] before and after: the staff may change with the time.
    from_participants = models.JSONField(default=list)
    to_participants = models.JSONField(default=list)

    class Meta:
        ordering = ["moved_at", "id"]

    def __str__(self) -> str:
        return f"appointment {self.appointment_id} moved {self.from_start:%Y-%m-%d %H:%M} -> {self.to_start:%Y-%m-%d %H:%M}"


class Participant(models.Model):
    """A member of staff booked for the whole appointment."""

    class Role(models.TextChoices):
        LEAD = "lead", _("Lead clinician")
        MONITOR = "monitor", _("Monitoring clinician")
        SUPPORT = "support", _("Support / sitter")

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="appointment_roles")
    role = models.CharField(max_length=10, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["appointment", "user"], name="participant_once_per_appointment")
        ]
        indexes = [models.Index(fields=["user", "appointment"], name="participant_user")]

    def __str__(self) -> str:
        return f"{self.user_id} as {self.role} in appointment {self.appointment_id}"


class CalendarFeed(models.Model):
    """A secret ICS address for one clinician's or one patient's appointments. Only
    the token's hash is stored; revoking it makes the address answer 404."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, patient__isnull=True)
                    | models.Q(user__isnull=True, patient__isnull=False)
                ),
                name="calendar_feed_one_owner",
            )
        ]

    def __str__(self) -> str:
        return f"calendar feed {self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
