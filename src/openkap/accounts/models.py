from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils import timezone

from openkap import fieldcrypto
from openkap.core.authz import Role


class Organization(models.Model):
    """A tenant: one clinic business. Every tenant-owned row carries its id."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    mrn_prefix = models.CharField(max_length=8, default="K")
    mrn_counter = models.PositiveBigIntegerField(default=0)
    crisis_resources = models.TextField(
        default="988 Suicide & Crisis Lifeline: call or text 988 (US), available 24/7. "
        "In an emergency call 911 or go to the nearest emergency department."
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    @property
    def own_crisis_resources(self) -> str:
        """The clinic's own crisis resources, or "" while it keeps OpenKAP's default (pages
        for patients say the 988 line themselves, in the reader's language)."""
        own = self.crisis_resources.strip()
        field = self._meta.get_field("crisis_resources")
        assert isinstance(field, models.Field)  # a column, not a relation
        default = str(field.default).strip()
        return "" if own == default else own


class Site(models.Model):
    """A registered location: it has its own DEA registration and inventory."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="sites")
    name = models.CharField(max_length=200)
    address_line1 = models.CharField(max_length=200)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=2, help_text="Two-letter state code")
    postal_code = models.CharField(max_length=10)
    phone = models.CharField(max_length=30, blank=True)
    dea_registration = models.CharField("DEA registration number", max_length=9)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="site_unique_name_per_org")
        ]

    def __str__(self) -> str:
        return self.name


class Room(models.Model):
    class Kind(models.TextChoices):
        DOSING = "dosing", "Medicine session room"
        THERAPY = "therapy", "Therapy room"
        EXAM = "exam", "Exam room"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="rooms")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.DOSING)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="room_unique_name_per_site")]

    def __str__(self) -> str:
        return f"{self.site.name} · {self.name}"


class UserManager(BaseUserManager["User"]):
    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user


class User(AbstractBaseUser):
    """Anyone who logs in: staff and patients alike. Powers come from memberships."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True)
    failures_reset_at = models.DateTimeField(null=True, blank=True)
    # A Fernet token (openkap.fieldcrypto) or "" before enrolment: a database dump or backup
    # must not be enough to generate codes. Read and set it as ``totp_secret``.
    totp_secret_encrypted = models.TextField(blank=True)
    totp_confirmed_at = models.DateTimeField(null=True, blank=True)
    totp_last_step = models.BigIntegerField(default=0)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    objects = UserManager()

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def mfa_enrolled(self) -> bool:
        return self.totp_confirmed_at is not None

    @property
    def totp_secret(self) -> str:
        """The base32 TOTP secret, decrypted when read ("" when there is none)."""
        return fieldcrypto.decrypt_text(self.totp_secret_encrypted) if self.totp_secret_encrypted else ""

    @totp_secret.setter
    def totp_secret(self, value: str) -> None:
        self.totp_secret_encrypted = fieldcrypto.encrypt_text(value) if value else ""


class Membership(models.Model):
    """A role a user holds in an organisation (a user may hold several)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=20, choices=[(r.value, r.label) for r in Role])
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Prescriber credentials, validated by the service on creation.
    licence_number = models.CharField(max_length=40, blank=True)
    licence_state = models.CharField(max_length=2, blank=True)
    npi = models.CharField("NPI", max_length=10, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user", "role"], name="membership_unique_role"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.organization}"


class RecoveryCode(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"


class Invitation(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    email = models.EmailField()
    full_name = models.CharField(max_length=200)
    role = models.CharField(max_length=20, choices=[(r.value, r.label) for r in Role])
    licence_number = models.CharField(max_length=40, blank=True)
    licence_state = models.CharField(max_length=2, blank=True)
    npi = models.CharField(max_length=10, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"invitation of {self.email} as {self.role}"


class ApiToken(models.Model):
    """A personal API token, scoped to one organisation; only its hash is stored."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
