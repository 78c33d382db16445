"""Register or revoke a SMART Backend Services client:

    openkap fhir_client register --organization demo --by admin@demo.org --name "Registry" \\
        --jwks client-public.jwks.json --scopes "system/Patient.rs system/Observation.rs"
    openkap fhir_client revoke --by admin@demo.org --client-id <id>
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from openkap.accounts.authz import Denied, build_actor, require
from openkap.accounts.models import Organization, User
from openkap.audit.models import AuditAction
from openkap.audit.services import audit_record
from openkap.core.authz import Perm
from openkap.fhir import smart
from openkap.fhir.models import BackendClient


class Command(BaseCommand):
    help = "Register or revoke a SMART Backend Services client of an organisation"

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        reg = sub.add_parser("register")
        reg.add_argument("--organization", required=True, help="the organisation's slug")
        reg.add_argument("--by", required=True, help="email of an admin of the organisation")
        reg.add_argument("--name", required=True)
        reg.add_argument("--jwks", required=True, help="file with the client's public JWK Set")
        reg.add_argument("--scopes", required=True, help='e.g. "system/Patient.rs system/Observation.rs"')
        rev = sub.add_parser("revoke")
        rev.add_argument("--by", required=True)
        rev.add_argument("--client-id", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email=options["by"].lower(), is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {options['by']}")
        if options["action"] == "register":
            org = Organization.objects.filter(slug=options["organization"]).first()
            if org is None:
                raise CommandError(f"No organisation {options['organization']}")
            try:
                jwks = json.loads(Path(options["jwks"]).read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot read the JWK Set: {exc}") from None
            try:
                client = smart.client_register(by=build_actor(user, org, via="cli"), name=options["name"],
                                               jwks=jwks, scopes=options["scopes"])
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            except Denied as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(json.dumps({"client_id": client.client_id, "scopes": client.scopes.split()}))
            return
        client = BackendClient.objects.filter(client_id=options["client_id"], revoked_at__isnull=True).first()
        if client is None:
            raise CommandError("No such active client")
        by = build_actor(user, client.organization, via="cli")
        try:
            require(by, Perm.STAFF_MANAGE)
        except Denied as exc:
            raise CommandError(str(exc)) from None
        with transaction.atomic():
            client.revoked_at = timezone.now()
            client.save(update_fields=["revoked_at"])
            audit_record(by=by, action=AuditAction.TOKEN_REVOKED, object_type="fhir.client", object_id=client.id)
        self.stdout.write(f"revoked {client.client_id}")
