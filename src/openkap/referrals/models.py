"""Referrals: the public self-referral pre-screen and referrals from clinicians, waiting
in the intake worklist until a clinician accepts (a patient and an episode), declines
or refers elsewhere. Triage decisions come from `openkap.core.referrals`."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from openkap.accounts.models import Organization, User
from openkap.core.referrals import Urgency
from openkap.pathway.models import Episode
from openkap.patients.models import Patient


class Referral(models.Model):
    class Kind(models.TextChoices):
        SELF = "self", _("Self-referral")
        CLINICIAN = "clinician", _("Clinician referral")

    class Status(models.TextChoices):
        NEW = "new", _("New")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        REFERRED_ELSEWHERE = "referred_elsewhere", _("Referred elsewhere")

    class Language(models.TextChoices):
        ENGLISH = "en", "English"
        SPANISH = "es", "Español"

    URGENCY_CHOICES = [(u.value, u.slug) for u in Urgency]

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    urgency = models.PositiveSmallIntegerField(choices=URGENCY_CHOICES)
    # Who the referral is about.
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex_at_birth = models.CharField(max_length=10, choices=Patient.SexAtBirth.choices)
    email = models.EmailField(max_length=254, blank=True)
    phone = models.CharField(max_length=30, blank=True)
    preferred_language = models.CharField(max_length=5, choices=Language.choices, default=Language.ENGLISH)
    # What brings them, what treatment they have now.
    reason = models.TextField()
    current_treatment = models.TextField(blank=True)
    # The core's triage: instruments with answers, totals and flags; red flags; reasons.
    triage = models.JSONField(default=dict)
    crisis_shown = models.BooleanField(default=False)
    consent_to_contact = models.BooleanField(default=False)
    # The referring clinician (clinician referrals only).
    referrer_name = models.CharField(max_length=200, blank=True)
    referrer_npi = models.CharField("Referrer NPI", max_length=10, blank=True)
    referrer_practice = models.CharField(max_length=200, blank=True)
    referrer_email = models.EmailField(max_length=254, blank=True)
    referrer_phone = models.CharField(max_length=30, blank=True)
    # The form's one-time key: a second post of the same form finds this row.
    submission_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The decision.
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decision_note = models.TextField(blank=True)
    letter = models.TextField(blank=True, help_text="The decline or refer-elsewhere letter as sent")
    referred_to = models.CharField(max_length=200, blank=True)
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    episode = models.ForeignKey(Episode, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["organization", "status", "urgency", "created_at"], name="referral_worklist"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.id}"

    @property
    def urgency_level(self) -> Urgency:
        return Urgency(self.urgency)

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.NEW


class ReferralLetter(models.Model):
    """The referring clinician's letter: a PDF checked by its content, kept in the database
    so that backups and the organisation's boundary cover it."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    referral = models.OneToOneField(Referral, on_delete=models.PROTECT, related_name="attachment")
    filename = models.CharField(max_length=200)
    content = models.BinaryField()
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"letter of referral {self.referral_id}"


class StatusLink(models.Model):
    """A single-use, expiring link to see a referral's status; only the token's hash is kept."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="status_links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"status link of referral {self.referral_id}"


class SubmissionAttempt(models.Model):
    """Each public form post, for the rate limits per client address and per email.
    The email is kept only as a keyed hash."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    ip = models.CharField(max_length=45)
    email_hash = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["ip", "created_at"], name="referral_attempt_ip"),
            models.Index(fields=["email_hash", "created_at"], name="referral_attempt_email"),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} from {self.ip}"
