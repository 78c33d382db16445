"""Medicine sessions: the organisation's protocol library and the record of each
session, from check-in to discharge.

The decisions (dose arithmetic, hard stops and soft limits, vitals validation,
alarms, the vitals schedule, discharge criteria) are ``openkap.core``'s; these
tables keep what was decided, by whom and when. Records are added, not edited:
a cancelled order or a voided preparation stays on file with its reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property, lru_cache

from django.db import models
from django.utils import timezone

from openkap.accounts.models import Organization, Room, Site, User
from openkap.core.missed_vitals import describe as describe_missed
from openkap.core.protocols import Protocol, loads_protocol
from openkap.core.routes import ROUTE_LABELS, Route
from openkap.core.vitals import MEASURES, Measure
from openkap.pathway.models import Episode
from openkap.patients.models import Patient, WeightMeasurement


@lru_cache(maxsize=64)
def _parsed_protocol(content: str) -> Protocol:
    """A protocol's JSON parsed once per process (0.3-0.5 ms each; the board parsed one per
    active session on every refresh). Keyed by the text itself and Protocol is frozen
    (tuples throughout), so a cached parse is the parse of that text (ADR 0098)."""
    return loads_protocol(content)


# Ledger and measures models are named as strings: the ledger's models import this module.
ROUTE_CHOICES = [(r.value, label) for r, label in ROUTE_LABELS.items()]


def _dec(digits: int, places: int, **kwargs: object) -> models.DecimalField:
    return models.DecimalField(max_digits=digits, decimal_places=places, **kwargs)  # type: ignore[arg-type]


class ProtocolVersion(models.Model):
    """One version of a protocol in an organisation's library.

    ``content`` is the protocol JSON, validated by ``core.protocols`` and stored as
    text so its numbers stay exact decimals. An approved version never changes; a
    change is a new version. Only approved versions can be dosed from.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    protocol_id = models.CharField(max_length=80)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    route = models.CharField(max_length=30, choices=ROUTE_CHOICES)
    content = models.TextField()
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="revisions"
    )
    change_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approver_name = models.CharField(max_length=200, blank=True)
    approver_credentials = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["protocol_id", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "protocol_id", "version"], name="dosing_protocol_unique_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.protocol_id} v{self.version} ({self.status})"

    @cached_property
    def protocol(self) -> Protocol:
        return _parsed_protocol(self.content)

    @property
    def is_approved(self) -> bool:
        return self.status == self.Status.APPROVED

    @property
    def route_label(self) -> str:
        return ROUTE_LABELS[Route(self.route)]


class DosingSessionQuerySet(models.QuerySet["DosingSession"]):
    def held(self) -> DosingSessionQuerySet:
        """Sessions in which the medicine was given: administration recorded, or (for a
        record kept before this app recorded administration) a status after dosing.
        The pathway counts held sessions and their integration with this."""
        return self.filter(
            models.Q(administration_started_at__isnull=False)
            | models.Q(status__in=["dosing", "monitoring", "discharged"])
        ).exclude(status__in=["cancelled", "not_dosed"])

    def lock_before_appointment(self, session_id: int) -> None:
        """Take the session's row lock (in the caller's transaction) before its appointment's:
        the order the discharge takes them in, so the two cannot deadlock."""
        self.select_for_update().filter(pk=session_id).first()


class DosingSession(models.Model):
    """One medicine session of an episode, from booking to discharge."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        CHECKED_IN = "checked_in", "Checked in"
        DOSING = "dosing", "Dosing"
        MONITORING = "monitoring", "Monitoring"
        DISCHARGED = "discharged", "Discharged"
        CANCELLED = "cancelled", "Cancelled"
        NOT_DOSED = "not_dosed", "Ended without a dose"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="dosing_sessions")
    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="dosing_sessions")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SCHEDULED)
    scheduled_start = models.DateTimeField()
    # Check-in: the session has begun.
    started_at = models.DateTimeField(null=True, blank=True)
    discharged_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # The protocol version the session runs on: the plan's protocol, pinned at check-in
    # and again by the signed order (which names the version dosed from).
    protocol_version = models.ForeignKey(
        ProtocolVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="sessions"
    )
    checked_in_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # First unit, injection or infusion start; end of the last unit, injection or infusion.
    administration_started_at = models.DateTimeField(null=True, blank=True)
    administration_ended_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    ended_reason = models.TextField(blank=True)

    objects = DosingSessionQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["organization", "status"], name="dosing_org_status"),
            models.Index(fields=["site", "status", "scheduled_start"], name="dosing_site_status_start"),
        ]

    def __str__(self) -> str:
        return f"Dosing session {self.id} of patient {self.patient_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        """On the monitoring board: checked in and not yet discharged or ended."""
        return self.status in ACTIVE_STATUSES


ACTIVE_STATUSES = (
    DosingSession.Status.CHECKED_IN,
    DosingSession.Status.DOSING,
    DosingSession.Status.MONITORING,
)


class PregnancyStatus(models.TextChoices):
    NOT_APPLICABLE = "not_applicable", "Not applicable"
    NOT_PREGNANT = "not_pregnant", "Not pregnant (test or history)"
    POSSIBLY_PREGNANT = "possibly_pregnant", "Possibly pregnant / unsure"
    PREGNANT = "pregnant", "Pregnant"
    BREASTFEEDING = "breastfeeding", "Breastfeeding"


class VitalSigns(models.Model):
    """One set of readings, validated by ``core.vitals`` before it is stored."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(DosingSession, on_delete=models.PROTECT, related_name="vitals")
    taken_at = models.DateTimeField()
    # Minutes after the start of administration; None before the dose.
    minutes_after_dose = models.FloatField(null=True, blank=True)
    systolic = models.PositiveSmallIntegerField(null=True, blank=True)
    diastolic = models.PositiveSmallIntegerField(null=True, blank=True)
    heart_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    spo2 = models.PositiveSmallIntegerField(null=True, blank=True)
    respiratory_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["taken_at", "id"]
        indexes = [models.Index(fields=["session", "taken_at"], name="dosing_vitals_session_time")]

    def __str__(self) -> str:
        return f"Vitals of session {self.session_id} at {self.taken_at:%H:%M}"

    @property
    def bp(self) -> str:
        return f"{self.systolic}/{self.diastolic}" if self.systolic is not None else ""


class PreDoseChecklist(models.Model):
    """The pre-dose checklist, completed once every item is met."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    session = models.OneToOneField(DosingSession, on_delete=models.PROTECT, related_name="checklist")
    protocol_version = models.ForeignKey(ProtocolVersion, on_delete=models.PROTECT, related_name="+")
    fasting_confirmed = models.BooleanField()
    fasting_note = models.CharField(max_length=300, blank=True)
    escort_name = models.CharField(max_length=200)
    escort_phone = models.CharField(max_length=30)
    escort_relationship = models.CharField(max_length=60, blank=True)
    baseline_vitals = models.OneToOneField(VitalSigns, on_delete=models.PROTECT, related_name="+")
    baseline_bp_note = models.TextField(blank=True)
    pregnancy_status = models.CharField(max_length=20, choices=PregnancyStatus.choices)
    new_medications = models.TextField()
    # CNS-active medicines taken recently (REMS monitoring form): codes of CNS_ACTIVE.
    cns_active_medications = models.JSONField(default=list, blank=True)
    suicide_screen = models.ForeignKey(
        "measures.MeasureResponse", on_delete=models.PROTECT, related_name="+",
    )
    suicide_screen_summary = models.CharField(max_length=300)
    suicide_risk_note = models.TextField(blank=True)
    # Scheduled pre-dose measures not completed at the checklist, and why the dose went ahead.
    pre_dose_measures_missing = models.JSONField(default=list, blank=True)
    pre_dose_measures_note = models.TextField(blank=True)
    consent_version = models.CharField(max_length=40)
    intention = models.TextField()
    # The protocol's own items (code -> confirmed), as they read when completed.
    items = models.JSONField(default=dict)
    completed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    completed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Pre-dose checklist of session {self.session_id}"


class DoseOrder(models.Model):
    """A prescriber's signed order, as ``core.dosing.order_dose`` computed it."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(DosingSession, on_delete=models.PROTECT, related_name="orders")
    protocol_version = models.ForeignKey(ProtocolVersion, on_delete=models.PROTECT, related_name="+")
    weight = models.ForeignKey(WeightMeasurement, on_delete=models.PROTECT, related_name="+")
    weight_kg = _dec(6, 2)
    weight_measured_on = models.DateField()
    previous_weight_kg = _dec(6, 2, null=True, blank=True)
    ordered_mg_per_kg = _dec(10, 4, null=True, blank=True)
    dose_mg = _dec(12, 4)
    # Rounded for display; the exact value is in ``result``.
    dose_mg_per_kg = _dec(10, 4)
    max_mg = _dec(16, 6)
    override_reason = models.TextField(blank=True)
    overridden = models.JSONField(default=list, blank=True)
    result = models.JSONField()
    # The measured blood pressure the order was signed on ("152/94") and, above 140/90,
    # the prescriber's documented weighing of risk and benefit (SPRAVATO label 2.1).
    pre_dose_bp = models.CharField(max_length=12, blank=True)
    bp_decision = models.TextField(blank=True)
    # When the prescriber gave the order; the signature is when it was signed here
    # (later for an order transcribed after the fact).
    ordered_at = models.DateTimeField()
    signed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField()
    signer_name = models.CharField(max_length=200)
    signer_credentials = models.CharField(max_length=120, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    cancel_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["ordered_at", "id"]
        constraints = [
            # The last line of defence: whatever the code does, no stored dose is above its maximum.
            models.CheckConstraint(
                condition=models.Q(dose_mg__gt=0, dose_mg__lte=models.F("max_mg")),
                name="dosing_order_within_max",
            )
        ]

    def __str__(self) -> str:
        return f"Order of {self.dose_mg} mg for session {self.session_id}"

    @property
    def is_active(self) -> bool:
        return self.cancelled_at is None

    @property
    def lines(self) -> list[str]:
        return list(self.result.get("lines", []))

    @property
    def dosing_weight_text(self) -> str:
        """'72.0 kg total body weight': the weight mg/kg refers to (issue 12). Orders signed
        before the protocol could choose were all on total body weight."""
        used = self.result.get("dosing_weight") or {}
        basis = used.get("basis", "total")
        kg = used.get("kg") or format(self.weight_kg.normalize(), "f")
        return f"{kg} kg {basis} body weight"


class RefusedDoseOrder(models.Model):
    """A signed order the core refused with a hard stop (issue 12): not a dose, but a
    safety event the session record keeps (a 10 mg/kg order attempted and stopped)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(DosingSession, on_delete=models.PROTECT, related_name="refused_orders")
    attempted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    attempted_at = models.DateTimeField(default=timezone.now)
    # As ordered ("300 mg", "1.5 mg/kg"; blank for the protocol's default), kept as text:
    # a refused value may be anything the prescriber typed.
    ordered = models.CharField(max_length=60, blank=True)
    override_reason = models.TextField(blank=True)
    # The core's refusal: stops, soft limits, notices and the arithmetic as far as it went.
    result = models.JSONField()

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self) -> str:
        return f"Refused order for session {self.session_id}"

    @property
    def stops(self) -> list[dict[str, str]]:
        return list(self.result.get("stops", []))

    @property
    def lines(self) -> list[str]:
        return list(self.result.get("lines", []))


class DosePreparation(models.Model):
    """The lot drawn from and what ``core.dosing.prepare_dose`` made of it. The
    concentration is the lot's, copied from the inventory, never typed."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(DosingSession, on_delete=models.PROTECT, related_name="preparations")
    order = models.ForeignKey(DoseOrder, on_delete=models.PROTECT, related_name="preparations")
    lot = models.ForeignKey("ledger.Lot", on_delete=models.PROTECT, related_name="+")
    product_code = models.CharField(max_length=80)
    product_name = models.CharField(max_length=200)
    concentration = _dec(9, 2)
    concentration_unit = models.CharField(max_length=20)
    # Solutions: mL drawn (to the microlitre the ledger measures). Units: devices, tablets...
    volume_ml = _dec(12, 3, null=True, blank=True)
    units = models.PositiveSmallIntegerField(null=True, blank=True)
    unit_name = models.CharField(max_length=20, blank=True)
    result = models.JSONField()
    prepared_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    prepared_at = models.DateTimeField()
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    void_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["prepared_at", "id"]

    def __str__(self) -> str:
        return f"Preparation {self.id} of session {self.session_id}"

    @property
    def is_active(self) -> bool:
        return self.voided_at is None

    @property
    def amount(self) -> Decimal:
        """What the ledger counts: mL for solutions, whole units otherwise."""
        return self.volume_ml if self.volume_ml is not None else Decimal(self.units or 0)

    @property
    def amount_unit(self) -> str:
        return "mL" if self.volume_ml is not None else self.unit_name

    @property
    def lines(self) -> list[str]:
        return list(self.result.get("lines", []))

    @property
    def infusion(self) -> dict | None:
        return self.result.get("infusion")

    @property
    def unit_times_min(self) -> list[int]:
        return list(self.result.get("unit_times_min", []))


class Verification(models.Model):
    """The second clinician's independent check: what they read on the label, the
    syringe or devices, and the patient's wristband, compared with the preparation."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    preparation = models.OneToOneField(DosePreparation, on_delete=models.PROTECT, related_name="verification")
    drug_confirmed = models.BooleanField()
    concentration_seen = _dec(9, 2)
    amount_seen = _dec(12, 3)
    dose_mg_seen = _dec(12, 4)
    date_of_birth_seen = models.DateField()
    verified_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Verification of preparation {self.preparation_id}"


class AdministrationEvent(models.Model):
    """What happened at the bedside, in order. Events that give drug carry the ledger
    entry written in the same transaction (and the witnessed waste of what was left)."""

    class Kind(models.TextChoices):
        GIVEN = "given", "Given"
        DEVICE = "device", "Device given"
        INFUSION_START = "infusion_start", "Infusion started"
        RATE_CHANGE = "rate_change", "Rate changed"
        PAUSE = "pause", "Infusion paused"
        RESUME = "resume", "Infusion resumed"
        STOP = "stop", "Stopped early"
        COMPLETE = "complete", "Infusion complete"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(DosingSession, on_delete=models.PROTECT, related_name="administration_events")
    preparation = models.ForeignKey(DosePreparation, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    at = models.DateTimeField()
    device_number = models.PositiveSmallIntegerField(null=True, blank=True)
    # mL or units of the lot given by this event (what the ledger administration counts).
    amount = _dec(12, 3, null=True, blank=True)
    wasted = _dec(12, 3, null=True, blank=True)
    rate_ml_per_h = _dec(9, 2, null=True, blank=True)
    infused_volume_ml = _dec(9, 2, null=True, blank=True)
    reason = models.TextField(blank=True)
    ledger_entry = models.OneToOneField(
        "ledger.LedgerEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    waste_entry = models.OneToOneField(
        "ledger.LedgerEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    witness = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%H:%M} (session {self.session_id})"


class Alarm(models.Model):
    """An alarm raised by the protocol's rules on a set of vitals; open until a
    clinician acknowledges it with the action taken."""

    class Action(models.TextChoices):
        RECHECKED_CONFIRMED = "rechecked_confirmed", "Rechecked: reading confirmed"
        RECHECKED_ARTEFACT = "rechecked_artefact", "Rechecked: not confirmed (artefact)"
        INFUSION_PAUSED = "infusion_paused", "Infusion paused or stopped"
        PRESCRIBER_NOTIFIED = "prescriber_notified", "Prescriber notified and reviewed"
        MEDICATION_GIVEN = "medication_given", "Medication given"
        AIRWAY_SUPPORT = "airway_support", "Oxygen / airway support"
        EMERGENCY_SERVICES = "emergency_services", "Emergency services called"
        OTHER = "other", "Other (describe)"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(DosingSession, on_delete=models.PROTECT, related_name="alarms")
    vitals = models.ForeignKey(VitalSigns, on_delete=models.PROTECT, related_name="alarms")
    code = models.CharField(max_length=40)
    severity = models.CharField(max_length=10)
    measure = models.CharField(max_length=20)
    value = models.SmallIntegerField()
    message = models.CharField(max_length=300)
    raised_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=30, choices=Action.choices, blank=True)
    action_note = models.TextField(blank=True)

    class Meta:
        ordering = ["raised_at", "id"]
        indexes = [models.Index(fields=["session", "acknowledged_at"], name="dosing_alarm_open")]

    def __str__(self) -> str:
        return f"{self.severity} alarm {self.code} (session {self.session_id})"

    @property
    def label(self) -> str:
        """'Systolic blood pressure high' for the code 'systolic_high': screens and PDFs show words."""
        measure, _, direction = self.code.rpartition("_")
        if measure in Measure.__members__.values():
            return f"{MEASURES[Measure(measure)].label} {direction}"
        return self.code.replace("_", " ")

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None


class Observation(models.Model):
    """Sedation (MOAA/S), dissociation (CADSS, stored as a measures response) and the
    respiratory check at one time."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(DosingSession, on_delete=models.PROTECT, related_name="observations")
    at = models.DateTimeField()
    minutes_after_dose = models.FloatField(null=True, blank=True)
    # Modified Observer's Assessment of Alertness/Sedation: 5 awake ... 0 no response.
    moaas = models.PositiveSmallIntegerField(null=True, blank=True)
    cadss_response = models.ForeignKey(
        "measures.MeasureResponse", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cadss_instrument = models.CharField(max_length=20, blank=True)
    cadss_total = models.FloatField(null=True, blank=True)
    respiration_normal = models.BooleanField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"Observation of session {self.session_id} at {self.at:%H:%M}"


class AdverseEvent(models.Model):
    class Code(models.TextChoices):
        NAUSEA = "nausea", "Nausea"
        VOMITING = "vomiting", "Vomiting"
        DIZZINESS = "dizziness", "Dizziness"
        HEADACHE = "headache", "Headache"
        HYPERTENSION = "hypertension", "Hypertension"
        TACHYCARDIA = "tachycardia", "Tachycardia"
        SEDATION = "sedation", "Sedation"
        DISSOCIATION = "dissociation", "Dissociation beyond expected"
        ANXIETY = "anxiety_agitation", "Anxiety / agitation"
        EMERGENCE = "emergence_reaction", "Emergence reaction"
        RESPIRATORY_DEPRESSION = "respiratory_depression", "Respiratory depression"
        OTHER = "other", "Other"

    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"

    class Outcome(models.TextChoices):
        RESOLVED = "resolved", "Resolved"
        RESOLVING = "resolving", "Resolving"
        ONGOING = "ongoing", "Ongoing"
        TRANSFERRED = "transferred", "Transferred for emergency care"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(DosingSession, on_delete=models.PROTECT, related_name="adverse_events")
    code = models.CharField(max_length=30, choices=Code.choices)
    description = models.CharField(max_length=300, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    onset_at = models.DateTimeField()
    action_taken = models.TextField(blank=True)
    antiemetic_drug = models.CharField(max_length=100, blank=True)
    antiemetic_dose = models.CharField(max_length=40, blank=True)
    antiemetic_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    serious = models.BooleanField()
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["onset_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_code_display()} ({self.severity}) in session {self.session_id}"

    @property
    def label(self) -> str:
        if self.code == self.Code.OTHER and self.description:
            return f"Other: {self.description}"
        return self.get_code_display()


class Discharge(models.Model):
    """The signed discharge: the criteria as assessed, the named escort, aftercare."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    session = models.OneToOneField(DosingSession, on_delete=models.PROTECT, related_name="discharge")
    discharged_at = models.DateTimeField()
    alert_and_oriented = models.BooleanField()
    ambulating = models.BooleanField()
    nausea_controlled = models.BooleanField()
    escort_present = models.BooleanField()
    escort_name = models.CharField(max_length=200)
    escort_phone = models.CharField(max_length=30)
    aftercare_instructions = models.TextField()
    final_vitals = models.ForeignKey(VitalSigns, on_delete=models.PROTECT, related_name="+")
    minutes_monitored = models.PositiveIntegerField()
    # Scheduled vitals checks (minutes after the dose) with no reading, and why.
    missed_vitals_min = models.JSONField(default=list, blank=True)
    missed_vitals_reason = models.TextField(blank=True)
    signed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField(max_length=200)
    signed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Discharge of session {self.session_id}"

    @property
    def missed_vitals_text(self) -> str:
        return describe_missed(self.missed_vitals_min) if self.missed_vitals_min else ""


class RemsForm(models.Model):
    """The SPRAVATO REMS Patient Monitoring Form of one esketamine session: filled in
    from the session record at discharge, completed by staff, submitted within 7 days."""

    class YesNo(models.TextChoices):
        YES = "yes", "Yes"
        NO = "no", "No"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    session = models.OneToOneField(DosingSession, on_delete=models.PROTECT, related_name="rems_form")
    rems_patient_id = models.CharField("REMS patient ID", max_length=40, blank=True)
    setting_rems_id = models.CharField("Healthcare setting REMS ID", max_length=40, blank=True)
    prescriber_name = models.CharField(max_length=200, blank=True)
    treatment_date = models.DateField()
    dose_mg = models.PositiveSmallIntegerField()
    devices = models.PositiveSmallIntegerField()
    first_device_at = models.DateTimeField()
    bp_pre = models.CharField("BP before dosing", max_length=20)
    bp_pre_at = models.DateTimeField()
    bp_40 = models.CharField("BP about 40 minutes after dosing", max_length=20, blank=True)
    bp_40_at = models.DateTimeField(null=True, blank=True)
    bp_discharge = models.CharField("BP before discharge", max_length=20)
    bp_discharge_at = models.DateTimeField()
    sedation = models.CharField(max_length=3, choices=YesNo.choices)
    dissociation = models.CharField(max_length=3, choices=YesNo.choices)
    respiratory_depression = models.CharField(max_length=3, choices=YesNo.choices)
    pulse_oximetry_used = models.BooleanField()
    lowest_spo2 = models.PositiveSmallIntegerField(null=True, blank=True)
    cns_depressants = models.CharField("Concomitant CNS depressants", max_length=300, blank=True)
    psychostimulants = models.CharField("Concomitant psychostimulants", max_length=300, blank=True)
    maois = models.CharField("Concomitant MAOIs", max_length=300, blank=True)
    monitoring_minutes = models.PositiveIntegerField()
    clinically_stable_at_discharge = models.BooleanField()
    serious_adverse_event = models.CharField(max_length=3, choices=YesNo.choices)
    serious_adverse_event_description = models.TextField(blank=True)
    task = models.ForeignKey("tasks.Task", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    submission_reference = models.CharField(max_length=80, blank=True)

    def __str__(self) -> str:
        return f"REMS monitoring form of session {self.session_id}"

    @property
    def due_at(self) -> datetime | None:
        return self.session.discharged_at + REMS_SUBMIT_WITHIN if self.session.discharged_at else None

    @property
    def missing(self) -> list[str]:
        """What the form still lacks before it can be submitted."""
        missing = []
        if not self.rems_patient_id.strip():
            missing.append("The patient's REMS ID (from the enrolment) is missing.")
        if not self.setting_rems_id.strip():
            missing.append("The healthcare setting's REMS ID is missing.")
        if not self.bp_40.strip():
            missing.append("No blood pressure about 40 minutes after dosing is recorded.")
        return missing


REMS_SUBMIT_WITHIN = timedelta(days=7)


class RecordDocument(models.Model):
    """A printable record prepared by the task worker (ADR 0060): who asked for it and
    when, where it stands, the PDF once made, its SHA-256, and the fingerprint of the
    session data it was made from, so a copy made before the session changed is known
    to be out of date and made again. One row per session and kind, reused."""

    class Kind(models.TextChoices):
        SESSION_RECORD = "session_record", "Medicine session record"

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for the worker"
        RENDERING = "rendering", "Being prepared"
        READY = "ready", "Ready"
        FAILED = "failed", "Could not be prepared"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(DosingSession, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    source_hash = models.CharField(max_length=64, help_text="SHA-256 of the session data the PDF is made from")
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    content = models.BinaryField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "kind"], name="dosing_record_document_one_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of session {self.session_id} ({self.status})"

    def is_stuck(self, now: datetime | None = None) -> bool:
        """Left "rendering" by a worker that died: counts as failed and may be asked for again."""
        now = now or timezone.now()
        return (self.status == self.Status.RENDERING and self.started_at is not None
                and now - self.started_at > STUCK_AFTER)


# A worker that died while rendering leaves "rendering" behind; after this long the copy
# counts as failed and may be asked for again.
STUCK_AFTER = timedelta(minutes=10)
