"""The demo clinic: fictional, deterministic, idempotent.

``seed_demo`` is run by ``make demo``; ``patients=N`` seeds a large clinic for
load tests with bulk inserts (100,000 patients in well under a minute on SQLite).
"""

from __future__ import annotations

import importlib
import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone
from faker import Faker

from openkap.accounts.models import Membership, Organization, Room, Site, User
from openkap.accounts.selectors import DEMO_PASSWORD
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Role
from openkap.core.identifiers import dea_check_digit, format_mrn
from openkap.patients.models import CareTeamMember, Patient, PatientNameKey, WeightMeasurement
from openkap.patients.search_keys import name_keys_of, search_name_of

DEMO_DOMAIN = "demo.openkap.org"
BATCH = 5000


def _dea(prefix: str, six: str) -> str:
    return f"{prefix}{six}{dea_check_digit(six)}"


# Fixed base32 secrets so demo MFA is reproducible; the code is shown on screen in demo mode.
DEMO_STAFF = [
    # role, email local part, name, totp secret, extra membership fields
    (Role.ADMIN, "admin", "Alex Rivera", "JBSWY3DPEHPK3PXPADMINAAAAAAAAAAA", {}),
    (Role.PRESCRIBER, "prescriber", "Dr. Priya Natarajan", "JBSWY3DPEHPK3PXPPRESCRIBERAAAAAA",
     {"licence_number": "MD-209311", "licence_state": "NY", "npi": "1234567893"}),
    (Role.THERAPIST, "therapist", "Jordan Ellis, LCSW", "JBSWY3DPEHPK3PXPTHERAPISTAAAAAAA", {}),
    (Role.NURSE, "nurse", "Sam Okafor, RN", "JBSWY3DPEHPK3PXPNURSEAAAAAAAAAAA", {}),
    # A second nurse: sessions in two medicine rooms at once each need their own monitor.
    (Role.NURSE, "nurse2", "Grace Mensah, RN", "JBSWY3DPEHPK3PXPNURSETWOAAAAAAAA", {}),
    (Role.RESEARCHER, "researcher", "Robin Chen, PhD", "JBSWY3DPEHPK3PXPRESEARCHERAAAAAA", {}),
]


@dataclass
class DemoContext:
    """What app seeders get: the demo organisation, its sites, one user per staff role
    (the first nurse for the nurse role), every nurse (the monitoring clinicians of
    dosing sessions) and a seeded random generator (seeders must be idempotent)."""

    organization: Organization
    sites: list[Site]
    staff: dict[Role, User]
    rng: random.Random
    nurses: list[User]


@dataclass
class SeedReport:
    organization: Organization
    created_patients: int
    total_patients: int


def _staff_user(email: str, name: str, secret: str) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User(email=email, full_name=name)
        user.set_password(DEMO_PASSWORD)
        user.totp_secret = secret
        user.totp_confirmed_at = timezone.now()
        user.save()
    return user


@transaction.atomic
def seed_demo(*, patients: int = 200, seed: int = 2026) -> SeedReport:
    org, _ = Organization.objects.get_or_create(slug="demo", defaults={"name": "Demo KAP Clinic"})
    sites = []
    for name, address, city, postal, dea6 in (
        ("Brooklyn", "210 Atlantic Ave", "Brooklyn", "11201", "123456"),
        ("Hudson Valley", "44 Main St", "Beacon", "12508", "654321"),
    ):
        site, _ = Site.objects.get_or_create(
            organization=org, name=name,
            defaults={"address_line1": address, "city": city, "state": "NY", "postal_code": postal,
                      "phone": "(555) 010-2026", "dea_registration": _dea("FD", dea6)},
        )
        sites.append(site)
        for room_name, kind in (("Medicine room 1", "dosing"), ("Medicine room 2", "dosing"),
                                ("Medicine room 3", "dosing"), ("Therapy room A", "therapy"),
                                ("Therapy room B", "therapy")):
            Room.objects.get_or_create(organization=org, site=site, name=room_name, defaults={"kind": kind})

    staff: dict[Role, User] = {}
    nurses: list[User] = []
    for role, local, name, secret, extra in DEMO_STAFF:
        user = _staff_user(f"{local}@{DEMO_DOMAIN}", name, secret)
        Membership.objects.get_or_create(
            organization=org, user=user, role=role, defaults={"site": sites[0], **extra}
        )
        staff.setdefault(role, user)
        if role == Role.NURSE:
            nurses.append(user)

    existing = Patient.objects.filter(organization=org).count()
    to_create = max(0, patients - existing)
    if to_create:
        _bulk_patients(org, to_create, staff, seed + existing)

    # The demo patient can sign in to the portal.
    portal_patient = Patient.objects.filter(organization=org).order_by("id").first()
    if portal_patient is not None and portal_patient.user_id is None:
        portal_user = User.objects.filter(email=f"patient@{DEMO_DOMAIN}").first()
        if portal_user is None:
            portal_user = User(email=f"patient@{DEMO_DOMAIN}", full_name=portal_patient.display_name)
            portal_user.set_password(DEMO_PASSWORD)
            portal_user.save()
        Membership.objects.get_or_create(organization=org, user=portal_user, role=Role.PATIENT)
        portal_patient.user = portal_user
        portal_patient.save(update_fields=["user"])

    # Each app may add its part of the demo clinic in ``openkap.<app>.demo.seed(context)``,
    # called in INSTALLED_APPS order (pathway before measures before dosing...).
    context = DemoContext(organization=org, sites=sites, staff=staff, rng=random.Random(seed), nurses=nurses)
    for app in apps.get_app_configs():
        if app.name.startswith("openkap.") and app.name != "openkap.web":
            try:
                module = importlib.import_module(f"{app.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app.name}.demo":
                    raise
                continue
            module.seed(context)

    if to_create:
        audit_record(by=None, action=AuditAction.CREATE, object_type="demo_seed",
                     organization_id=org.id, actor_email="seed-demo", detail={"patients": to_create})
    return SeedReport(org, to_create, existing + to_create)


NICKNAMES = {
    "Michael": "Mike", "William": "Will", "Robert": "Rob", "Elizabeth": "Liz", "Jennifer": "Jen",
    "Christopher": "Chris", "Katherine": "Kate", "Jessica": "Jess", "Daniel": "Dan", "Matthew": "Matt",
    "Alexander": "Alex", "Samantha": "Sam", "Joseph": "Joe", "Nicholas": "Nick", "Rebecca": "Becca",
    "Anthony": "Tony", "Margaret": "Maggie", "Benjamin": "Ben", "Jonathan": "Jon", "Victoria": "Tori",
}


def _pronouns(sex: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.08:
        return "they/them"
    if roll < 0.3:
        return ""
    return {"female": "she/her", "male": "he/him"}.get(sex, "they/them")


def _bulk_patients(org: Organization, count: int, staff: dict[Role, User], seed: int) -> None:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    org = Organization.objects.select_for_update().get(pk=org.pk)
    first_number = org.mrn_counter + 1
    org.mrn_counter += count
    org.save(update_fields=["mrn_counter"])
    today = timezone.localdate()
    now = timezone.now()
    allergies = ["NKDA", "NKDA", "NKDA", "Penicillin (rash)", "Sulfa drugs", "Latex", "Ondansetron (headache)"]
    meds = ["sertraline 100 mg daily", "bupropion XL 300 mg daily", "escitalopram 20 mg daily",
            "lamotrigine 200 mg daily", "venlafaxine XR 150 mg daily", "none", "trazodone 50 mg at night"]
    created = 0
    while created < count:
        batch = []
        for i in range(min(BATCH, count - created)):
            sex = "intersex" if rng.random() < 0.005 else rng.choice(["female", "male"])
            given = fake.first_name_female() if sex == "female" or (sex == "intersex" and rng.random() < 0.5) else fake.first_name_male()
            family = fake.last_name()
            preferred = NICKNAMES.get(given, "") if rng.random() < 0.5 else ""
            dob = today - timedelta(days=rng.randint(19 * 365, 75 * 365))
            p = Patient(
                organization=org,
                mrn=format_mrn(org.mrn_prefix, first_number + created + i),
                legal_given_name=given,
                legal_family_name=family,
                preferred_name=preferred,
                pronouns=_pronouns(sex, rng),
                date_of_birth=dob,
                sex_at_birth=sex,
                email=f"{given}.{family}{rng.randint(1, 999)}@example.com".lower(),
                phone=f"(555) {rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
                address=f"{fake.street_address()}\n{fake.city()}, NY {fake.zipcode()}",
                emergency_contact_name=fake.name(),
                emergency_contact_phone=f"(555) {rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
                emergency_contact_relationship=rng.choice(["spouse", "partner", "parent", "sibling", "friend"]),
                allergies=rng.choice(allergies),
                current_medications=rng.choice(meds),
                created_at=now,
                updated_at=now,
            )
            p.search_name = search_name_of(p)
            batch.append(p)
        Patient.objects.bulk_create(batch, batch_size=1000)
        saved = list(
            Patient.objects.filter(organization=org, mrn__in=[p.mrn for p in batch])
            .only("id", "organization_id", "sex_at_birth", "search_name", "legal_given_name", "legal_family_name")
        )
        PatientNameKey.objects.bulk_create(name_keys_of(saved), batch_size=2000)
        weights = []
        team = []
        for p in saved:
            kg = Decimal(rng.gauss(78 if p.sex_at_birth == "male" else 68, 12)).quantize(Decimal("0.1"))
            kg = min(max(kg, Decimal("45")), Decimal("140"))
            weights.append(WeightMeasurement(
                organization=org, patient_id=p.id, weight_kg=kg, entered_value=kg, entered_unit="kg",
                measured_on=today - timedelta(days=rng.randint(0, 60)), recorded_by=staff[Role.NURSE],
                recorded_at=now,
            ))
            # The demo therapist and prescriber care for about half of the clinic.
            if rng.random() < 0.5:
                team.append(CareTeamMember(organization=org, patient_id=p.id, user=staff[Role.THERAPIST], role=Role.THERAPIST))
                team.append(CareTeamMember(organization=org, patient_id=p.id, user=staff[Role.PRESCRIBER], role=Role.PRESCRIBER))
        WeightMeasurement.objects.bulk_create(weights, batch_size=1000)
        CareTeamMember.objects.bulk_create(team, batch_size=1000)
        created += len(batch)
    if count >= BATCH:
        # Fresh planner statistics, so the first searches after a bulk load use the indexes.
        with connection.cursor() as cursor:
            for table in ("patients_patient", "patients_patientnamekey", "patients_weightmeasurement",
                          "patients_careteammember"):
                cursor.execute(f"ANALYZE {table}")


def demo_credentials() -> list[tuple[str, str]]:
    return [(role.label, f"{local}@{DEMO_DOMAIN}") for role, local, *_ in DEMO_STAFF] + [
        (Role.PATIENT.label, f"patient@{DEMO_DOMAIN}")
    ]


