from __future__ import annotations

from django.db import models
from django.utils import timezone

from openkap.accounts.models import Organization, User
from openkap.core.pathway.episode import EligibilityOutcome, State
from openkap.core.pathway.plan import DOSE_LEVEL_LABELS
from openkap.core.routes import ROUTE_LABELS
from openkap.patients.models import Patient, WeightMeasurement

STATE_CHOICES = [(s.value, s.value.replace("_", " ")) for s in State]
ROUTE_CHOICES = [(r.value, label) for r, label in ROUTE_LABELS.items()]


class Episode(models.Model):
    """One course of care: intake through a series of sessions to its close."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="episodes")
    state = models.CharField(max_length=20, choices=STATE_CHOICES, default=State.INTAKE)
    opened_at = models.DateTimeField(default=timezone.now)
    opened_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "state"], name="episode_org_state")]

    def __str__(self) -> str:
        return f"Episode {self.id} of patient {self.patient_id} ({self.state})"


class EpisodeTransition(models.Model):
    """Who moved the episode, from where to where, when and why (never edited)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="transitions")
    name = models.CharField(max_length=40)
    from_state = models.CharField(max_length=20, choices=STATE_CHOICES)
    to_state = models.CharField(max_length=20, choices=STATE_CHOICES)
    reason = models.TextField(blank=True)
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state} → {self.to_state} ({self.name})"


# --- screening -----------------------------------------------------------------------


class Intake(models.Model):
    """The intake form of an episode; complete once every part is filled in."""

    class Pregnancy(models.TextChoices):
        NOT_APPLICABLE = "not_applicable", "Not applicable"
        NOT_PREGNANT = "not_pregnant", "Not pregnant (test or history)"
        POSSIBLY_PREGNANT = "possibly_pregnant", "Possibly pregnant / unsure"
        PREGNANT = "pregnant", "Pregnant"
        BREASTFEEDING = "breastfeeding", "Breastfeeding"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    episode = models.OneToOneField(Episode, on_delete=models.PROTECT, related_name="intake")
    presenting_problems = models.TextField(blank=True)
    # [{"code": "F33.1", "description": "..."}]; codes checked by core.pathway.diagnoses.
    diagnoses = models.JSONField(default=list, blank=True)
    psychiatric_history = models.TextField(blank=True)
    medical_history = models.TextField(blank=True)
    current_medications = models.TextField(blank=True)
    substance_use = models.TextField(blank=True)
    prior_psychedelic_use = models.TextField("Prior ketamine or psychedelic use", blank=True)
    pregnancy_status = models.CharField(max_length=20, choices=Pregnancy.choices, blank=True)
    systolic_bp = models.PositiveSmallIntegerField("Systolic BP (mmHg)", null=True, blank=True)
    diastolic_bp = models.PositiveSmallIntegerField("Diastolic BP (mmHg)", null=True, blank=True)
    weight = models.ForeignKey(
        WeightMeasurement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    intended_route = models.CharField(max_length=30, choices=ROUTE_CHOICES, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return f"Intake of episode {self.episode_id}"


class ContraindicationAnswer(models.Model):
    """One checklist item for one episode: present or absent, who answered, when."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(
        Episode, on_delete=models.PROTECT, related_name="contraindication_answers"
    )
    item_id = models.CharField(max_length=60)
    present = models.BooleanField()
    note = models.TextField(blank=True)
    checklist_version = models.CharField(max_length=20)
    answered_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["episode", "item_id"], name="contraindication_unique_item")
        ]

    def __str__(self) -> str:
        return f"{self.item_id}: {'present' if self.present else 'absent'}"


class Signed(models.Model):
    """A prescriber's electronic signature: who, when, as what (re-authenticated)."""

    signed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(default=timezone.now)
    signer_name = models.CharField(max_length=200)
    signer_credentials = models.CharField(max_length=120, blank=True)

    class Meta:
        abstract = True


OUTCOME_CHOICES = [
    (EligibilityOutcome.ELIGIBLE.value, "Eligible"),
    (EligibilityOutcome.ELIGIBLE_WITH_CONDITIONS.value, "Eligible with conditions"),
    (EligibilityOutcome.NOT_ELIGIBLE.value, "Not eligible"),
]


class EligibilityDecision(Signed):
    """A prescriber's signed decision; the latest one since the last re-screening counts."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="eligibility_decisions")
    outcome = models.CharField(max_length=30, choices=OUTCOME_CHOICES)
    reasons = models.TextField()
    conditions = models.TextField(blank=True)
    # {checklist item id: written justification} for relative contraindications.
    justifications = models.JSONField(default=dict, blank=True)
    route = models.CharField(max_length=30, choices=ROUTE_CHOICES, blank=True)
    # The checklist as it stood when signed: {"absolute": [...ids], "relative": [...ids]}.
    findings = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-signed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} ({self.signer_name}, {self.signed_at:%Y-%m-%d})"


class TreatmentPlan(Signed):
    """One signed version of the plan; a change is a new version, old ones are kept."""

    DOSE_LEVEL_CHOICES = [(level.value, label) for level, label in DOSE_LEVEL_LABELS.items()]

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="plans")
    version = models.PositiveIntegerField()
    indication = models.TextField()
    route = models.CharField(max_length=30, choices=ROUTE_CHOICES)
    protocol_id = models.CharField(max_length=80)
    dose_level = models.CharField(max_length=20, choices=DOSE_LEVEL_CHOICES)
    dosing_sessions_planned = models.PositiveSmallIntegerField()
    integration_cadence_days = models.PositiveSmallIntegerField(default=7)
    measure_schedule = models.JSONField(default=dict)
    goals = models.TextField()
    change_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["episode", "version"], name="plan_unique_version")
        ]

    def __str__(self) -> str:
        return f"Plan v{self.version} of episode {self.episode_id}"


class ReassessmentReview(Signed):
    """The prescriber's signed review at the end of a series."""

    class Recommendation(models.TextChoices):
        MAINTENANCE = "maintenance", "Continue with maintenance sessions"
        COMPLETE = "complete", "Complete the episode"
        RESUME = "resume_series", "Resume the series"
        DISCONTINUE = "discontinue", "Discontinue"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="reassessments")
    summary = models.TextField()
    recommendation = models.CharField(max_length=20, choices=Recommendation.choices)

    class Meta:
        ordering = ["-signed_at", "-id"]

    def __str__(self) -> str:
        return f"Reassessment of episode {self.episode_id} ({self.signed_at:%Y-%m-%d})"


# --- preparation ---------------------------------------------------------------------


class PreparationSession(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="preparation_sessions")
    therapist = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    held_on = models.DateField()
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-held_on", "-id"]

    def __str__(self) -> str:
        return f"Preparation session on {self.held_on}"


class Intention(models.Model):
    """An intention for the medicine work, written by the patient or their therapist."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="intentions")
    text = models.TextField()
    written_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    by_patient = models.BooleanField(default=False)
    written_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["written_at", "id"]

    def __str__(self) -> str:
        return self.text[:60]


class SafetyPlan(models.Model):
    """A version of the coping and safety plan; each save adds one, the latest counts."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="safety_plans")
    coping_plan = models.TextField(blank=True)
    warning_signs = models.TextField(blank=True)
    coping_strategies = models.TextField(blank=True)
    people_and_places = models.TextField(blank=True)
    professionals_and_crisis_lines = models.TextField(blank=True)
    means_safety = models.TextField(blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"Safety plan of episode {self.episode_id} ({self.recorded_at:%Y-%m-%d})"


class SessionArrangements(models.Model):
    """Escort (driver) and the pre-session instructions for the episode's dosing sessions."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    episode = models.OneToOneField(Episode, on_delete=models.PROTECT, related_name="arrangements")
    escort_name = models.CharField(max_length=200, blank=True)
    escort_phone = models.CharField(max_length=30, blank=True)
    escort_relationship = models.CharField(max_length=60, blank=True)
    fasting = models.TextField(blank=True)
    medications_to_hold = models.TextField(blank=True)
    what_to_bring = models.TextField(blank=True)
    updated_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Arrangements of episode {self.episode_id}"

    @property
    def escort_arranged(self) -> bool:
        return bool(self.escort_name.strip() and self.escort_phone.strip())


# --- consent -------------------------------------------------------------------------


class ConsentDocument(models.Model):
    """A version of the clinic's informed consent for one route; never edited."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    route = models.CharField(max_length=30, choices=ROUTE_CHOICES)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    text = models.TextField()
    sha256 = models.CharField(max_length=64)
    published_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["route", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "route", "version"], name="consent_unique_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"

    @property
    def version_label(self) -> str:
        return f"v{self.version}"


class ConsentSignature(models.Model):
    """The patient's signature: typed name, time and the hash of the exact text signed."""

    class Channel(models.TextChoices):
        PORTAL = "portal", "Patient portal"
        CLINIC = "clinic", "In clinic"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="consent_signatures")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    document = models.ForeignKey(ConsentDocument, on_delete=models.PROTECT, related_name="signatures")
    typed_name = models.CharField(max_length=200)
    # The exact text signed (the document's, with the protocol's facts filled in) and its hash.
    signed_text = models.TextField(blank=True)
    document_sha256 = models.CharField(max_length=64)
    signed_at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    ip = models.CharField(max_length=45, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawal_reason = models.TextField(blank=True)
    withdrawal_recorded_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-signed_at", "-id"]

    def __str__(self) -> str:
        return f"Consent {self.document} signed {self.signed_at:%Y-%m-%d}"


# --- integration and notes -----------------------------------------------------------


class IntegrationNote(models.Model):
    """A note of an integration session, from a template, tied to the dosing session it integrates."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="integration_notes")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    dosing_session = models.ForeignKey(
        "dosing.DosingSession", null=True, blank=True, on_delete=models.PROTECT,
        related_name="integration_notes",
    )
    session_date = models.DateField()
    template = models.CharField(max_length=20)
    sections = models.JSONField(default=dict)
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-session_date", "-id"]

    def __str__(self) -> str:
        return f"Integration note of {self.session_date}"


class PsychotherapyNote(models.Model):
    """Process notes kept apart from the record: encrypted, author and grantees only."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    session_date = models.DateField()
    body_encrypted = models.TextField()  # a Fernet token (openkap.fieldcrypto)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-session_date", "-id"]

    def __str__(self) -> str:
        return f"Psychotherapy note {self.id} ({self.session_date})"


class PsychotherapyNoteGrant(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    note = models.ForeignKey(PsychotherapyNote, on_delete=models.PROTECT, related_name="grants")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    granted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["note", "user"], condition=models.Q(revoked_at__isnull=True),
                name="psychotherapy_grant_unique_active",
            )
        ]

    def __str__(self) -> str:
        return f"Note {self.note_id} shared with {self.user_id}"


# --- the patient's own ---------------------------------------------------------------


class JournalEntry(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    written_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-written_at", "-id"]

    def __str__(self) -> str:
        return f"Journal entry of {self.written_at:%Y-%m-%d}"


class Commitment(models.Model):
    """A small practice the patient commits to and ticks off (a habit)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    text = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text


class CommitmentCheck(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    commitment = models.ForeignKey(Commitment, on_delete=models.PROTECT, related_name="checks")
    done_on = models.DateField()
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["commitment", "done_on"], name="commitment_check_unique_day")
        ]

    def __str__(self) -> str:
        return f"{self.commitment_id} done on {self.done_on}"
