"""Measurement-based care: the episode's measure schedule, assignments that fall due,
drafts (save and resume), submitted responses (append-only), single-use links, the
clinic's licensed item wording, and the clinic's task list.

Scoring is never done here: `openkap.core.instruments` scores, these tables keep what
was answered and what the core said about it.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from openkap.accounts.models import Organization, User
from openkap.measures import wording
from openkap.pathway.models import Episode
from openkap.patients.models import Patient


class Occasion(models.TextChoices):
    """When in the episode a measure is taken; also the `phase` of a response."""

    BASELINE = "baseline", _("Baseline")
    BEFORE_DOSING = "before_dosing", _("Before dosing session")
    AFTER_INTEGRATION = "after_integration", _("After integration session")
    REASSESSMENT = "reassessment", _("Reassessment")
    FOLLOW_UP = "follow_up", _("Follow-up")
    AD_HOC = "ad_hoc", _("Additional")


class Via(models.TextChoices):
    PORTAL = "portal", "Patient portal"
    LINK = "link", "Questionnaire link"
    STAFF = "staff", "Entered by staff"
    API = "api", "API"


class MeasurePlanEntry(models.Model):
    """One instrument at one occasion of an episode's schedule (editable per plan)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="measure_plan")
    occasion = models.CharField(max_length=20, choices=Occasion.choices)
    instrument_id = models.CharField(max_length=40)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["episode", "occasion", "instrument_id"], name="measure_plan_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} at {self.occasion} of episode {self.episode_id}"


class AssignmentStatus(models.TextChoices):
    UPCOMING = "upcoming", "Upcoming"
    DUE = "due", "Due"
    OVERDUE = "overdue", "Overdue"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class MeasureAssignment(models.Model):
    """A measure the patient is asked to complete: due from `due_at`, overdue from `overdue_at`."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="measure_assignments")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="measure_assignments")
    instrument_id = models.CharField(max_length=40)
    occasion = models.CharField(max_length=20, choices=Occasion.choices)
    # What the occasion is tied to: "" (baseline), "dosing:<id>", "1m"/"3m"/"6m", "manual:<hex>".
    occasion_key = models.CharField(max_length=40, blank=True)
    occasion_label = models.CharField(max_length=120, blank=True)
    due_at = models.DateTimeField()
    overdue_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    assigned_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Empty when the episode's schedule created it.",
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    cancel_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["episode", "occasion", "occasion_key", "instrument_id"],
                name="measure_assignment_unique_occasion",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "patient", "due_at"], name="measure_asg_org_patient"),
            models.Index(fields=["organization", "completed_at", "overdue_at"], name="measure_asg_org_open"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} ({self.occasion}) for patient {self.patient_id}"

    def status_at(self, now: datetime) -> AssignmentStatus:
        if self.cancelled_at is not None:
            return AssignmentStatus.CANCELLED
        if self.completed_at is not None:
            return AssignmentStatus.COMPLETED
        if now >= self.overdue_at:
            return AssignmentStatus.OVERDUE
        if now >= self.due_at:
            return AssignmentStatus.DUE
        return AssignmentStatus.UPCOMING

    @property
    def status(self) -> AssignmentStatus:
        return self.status_at(timezone.now())

    @property
    def is_open(self) -> bool:
        return self.cancelled_at is None and self.completed_at is None

    @property
    def due_words(self) -> str:
        """The due state in plain words, in the clinic's time zone and the active language."""
        local = timezone.localtime
        return wording.due_words(self.occasion, local(self.due_at), local(self.overdue_at), local(timezone.now()))

    @property
    def occasion_words(self) -> str:
        """The occasion's name in the active language ("Before dosing session 2")."""
        return wording.occasion_words(self.occasion, self.occasion_key, self.occasion_label,
                                      str(self.get_occasion_display()))


class MeasureDraft(models.Model):
    """Answers given so far (save and resume). Deleted when the response is submitted."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    assignment = models.OneToOneField(MeasureAssignment, on_delete=models.CASCADE, related_name="draft")
    # {item_id: value or None}; a key present with None is an item seen and left blank.
    answers = models.JSONField(default=dict)
    supplementary = models.JSONField(default=dict)
    via = models.CharField(max_length=10, choices=Via.choices)
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"draft of assignment {self.assignment_id}"


class MeasureResponse(models.Model):
    """A submitted response and what the scoring core said about it.

    Append-only: UPDATE and DELETE are refused by a database trigger (migration 0002).
    A correction is a new response whose `corrects` names the one it replaces.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="measure_responses")
    episode = models.ForeignKey(
        Episode, null=True, blank=True, on_delete=models.PROTECT, related_name="measure_responses"
    )
    assignment = models.ForeignKey(
        MeasureAssignment, null=True, blank=True, on_delete=models.PROTECT, related_name="responses"
    )
    instrument_id = models.CharField(max_length=40)
    instrument_version = models.CharField(max_length=200)
    occasion = models.CharField(max_length=20, choices=Occasion.choices)
    answers = models.JSONField(help_text="{item_id: value or null} in item order")
    supplementary = models.JSONField(default=dict, blank=True)
    result = models.JSONField(help_text="The core's ScoreResult.to_dict(), or the flags of an unscored response")
    is_scored = models.BooleanField()
    total = models.FloatField(null=True, blank=True)
    band = models.CharField(max_length=40, blank=True)
    band_label = models.CharField(max_length=120, blank=True)
    flag_ids = models.JSONField(default=list, blank=True)
    has_safety_flag = models.BooleanField(default=False)
    highest_severity = models.CharField(max_length=20, blank=True)
    sex_used = models.CharField(max_length=10, blank=True)
    completed_at = models.DateTimeField(help_text="When the answers were given")
    submitted_at = models.DateTimeField(default=timezone.now)
    entered_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Empty for a response through a questionnaire link (no login).",
    )
    on_behalf = models.BooleanField(
        default=False, help_text="Staff entered the patient's own answers for them."
    )
    via = models.CharField(max_length=10, choices=Via.choices)
    corrects = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="correction"
    )
    correction_reason = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["organization", "patient", "instrument_id", "completed_at"],
                name="measure_resp_trend",
            ),
            models.Index(fields=["episode", "occasion"], name="measure_resp_episode"),
            # The cohort report's experience measures and scores of one instrument, chunk by
            # chunk of patients (ADR 0093): without it, every response of the chunk is read.
            models.Index(fields=["organization", "instrument_id", "patient"], name="measure_resp_cohort"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} of patient {self.patient_id} at {self.completed_at:%Y-%m-%d}"


class LicensedWording(models.Model):
    """The organisation's licensed item wording for an instrument whose text is not free."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    instrument_id = models.CharField(max_length=40)
    texts = models.JSONField(default=dict, help_text="{item_id: wording}")
    licence_reference = models.CharField(max_length=200, blank=True)
    updated_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "instrument_id"], name="licensed_wording_unique")
        ]

    def __str__(self) -> str:
        return f"licensed wording of {self.instrument_id}"


class MeasureLink(models.Model):
    """A single-use, expiring link to one assignment; only the token's hash is stored."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    assignment = models.ForeignKey(MeasureAssignment, on_delete=models.PROTECT, related_name="links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"link to assignment {self.assignment_id}"
