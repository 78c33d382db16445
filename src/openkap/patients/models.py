from __future__ import annotations

from datetime import date

from django.db import models
from django.utils import timezone

from openkap.accounts.models import Organization, User
from openkap.core.authz import Role


class Patient(models.Model):
    class SexAtBirth(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        INTERSEX = "intersex", "Intersex"
        UNKNOWN = "unknown", "Not recorded"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=20)
    legal_given_name = models.CharField("Legal first name", max_length=100)
    legal_family_name = models.CharField("Legal last name", max_length=100)
    preferred_name = models.CharField(max_length=100, blank=True)
    pronouns = models.CharField(max_length=40, blank=True)
    date_of_birth = models.DateField()
    sex_at_birth = models.CharField(max_length=10, choices=SexAtBirth.choices)
    gender_identity = models.CharField(max_length=60, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=30, blank=True)
    address = models.TextField(blank=True)
    # The language of the portal, emails and the PDFs the patient is given (settings.LANGUAGES).
    preferred_language = models.CharField(
        max_length=8, choices=[("en", "English"), ("es", "Español")], default="en"
    )
    emergency_contact_name = models.CharField(max_length=200, blank=True)
    emergency_contact_phone = models.CharField(max_length=30, blank=True)
    emergency_contact_relationship = models.CharField(max_length=60, blank=True)
    allergies = models.TextField(blank=True, help_text="One per line; write NKDA when none are known")
    current_medications = models.TextField(blank=True)
    # Lower-cased "given family preferred" so a name search uses one indexed column.
    search_name = models.CharField(max_length=320, editable=False)
    user = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="patient_record"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "mrn"], name="patient_unique_mrn_per_org")
        ]
        indexes = [
            models.Index(fields=["organization", "legal_family_name"], name="patient_org_family"),
            models.Index(fields=["organization", "date_of_birth"], name="patient_org_dob"),
            models.Index(fields=["organization", "search_name"], name="patient_org_search"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.mrn})"

    @property
    def display_name(self) -> str:
        given = self.preferred_name or self.legal_given_name
        return f"{given} {self.legal_family_name}"

    @property
    def legal_name(self) -> str:
        return f"{self.legal_given_name} {self.legal_family_name}"

    def age_on(self, day: date) -> int:
        dob = self.date_of_birth
        return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


class PatientNameKey(models.Model):
    """The patient's ``search_name`` from one word start to the end (core.name_search):
    a typed word begins a part of the name exactly when it begins one of these keys, so
    a name search is a prefix range on an index instead of a scan of every patient.
    Written by the patient services with the name, never edited on its own."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="name_keys")
    key = models.CharField(max_length=320)
    # The list's order (family, given, id; lower-cased) beside each key, so a search sorts
    # and counts its matches from the keys' index without reading every matching patient.
    sort_family = models.CharField(max_length=100)
    sort_given = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "key"], name="patient_name_key_unique"),
        ]
        # The (organization, key) index is made by migrations 0006 and 0008, per database:
        # a prefix LIKE uses a btree only with varchar_pattern_ops on PostgreSQL and with
        # the NOCASE collation on SQLite, neither of which Meta can say for both; it also
        # carries the patient and the sort columns, so a search reads the index only.

    def __str__(self) -> str:
        return self.key


class WeightMeasurement(models.Model):
    """A weight as entered (value + unit) and as used (kg), converted once on entry."""

    class Unit(models.TextChoices):
        KG = "kg", "kg"
        LB = "lb", "lb"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="weights")
    weight_kg = models.DecimalField(max_digits=6, decimal_places=2)
    entered_value = models.DecimalField(max_digits=6, decimal_places=2)
    entered_unit = models.CharField(max_length=2, choices=Unit.choices)
    measured_on = models.DateField()
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-measured_on", "-recorded_at"]

    def __str__(self) -> str:
        return f"{self.weight_kg} kg on {self.measured_on}"


class HeightMeasurement(models.Model):
    """A height as entered (value + unit) and as used (cm), converted once on entry. Used
    for ideal and adjusted body weight where a protocol doses on them (issue 12)."""

    class Unit(models.TextChoices):
        CM = "cm", "cm"
        IN = "in", "in"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="heights")
    height_cm = models.DecimalField(max_digits=6, decimal_places=3)
    entered_value = models.DecimalField(max_digits=5, decimal_places=1)
    entered_unit = models.CharField(max_length=2, choices=Unit.choices)
    measured_on = models.DateField()
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-measured_on", "-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.height_cm} cm on {self.measured_on}"


class CareTeamMember(models.Model):
    CARE_TEAM_ROLES = [(r.value, r.label) for r in (Role.THERAPIST, Role.PRESCRIBER, Role.NURSE)]

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="care_team")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="care_team_memberships")
    role = models.CharField(max_length=20, choices=CARE_TEAM_ROLES)
    added_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "user", "role"],
                condition=models.Q(ended_at__isnull=True),
                name="care_team_unique_active",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} as {self.role} for patient {self.patient_id}"


class BreakGlassGrant(models.Model):
    """Emergency access to a chart outside one's care team: stated reason, time-limited, flagged."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"break-glass by {self.user_id} on patient {self.patient_id}"


class PortalInvitation(models.Model):
    """A single-use link to the patient portal, emailed to the patient. Only the token's
    hash is stored; sending a new one revokes the open ones, so one link works at a time."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="portal_invitations")
    email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "created_at"], name="portal_invite_patient")]

    def __str__(self) -> str:
        return f"portal invitation of patient {self.patient_id}"
