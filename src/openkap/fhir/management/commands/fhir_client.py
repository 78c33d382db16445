"""Register or revoke a SMART Backend Services client (the same services as the web page
Admin -> FHIR clients):

    openkap fhir_client register --organization demo --by admin@demo.org --name "Registry" \\
        --jwks client-public.jwks.json --scopes "system/Patient.rs system/Observation.rs"
    openkap fhir_client register ... --pem client-public.pem ...
    openkap fhir_client revoke --by admin@demo.org --client-id <id>
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from openkap.accounts.authz import Denied, build_actor
from openkap.accounts.models import Organization, User
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
        keys = reg.add_mutually_exclusive_group(required=True)
        keys.add_argument("--jwks", help="file with the client's public JWK Set")
        keys.add_argument("--pem", help="file with the client's PEM public key (RSA or EC P-384)")
        reg.add_argument("--scopes", required=True, help='e.g. "system/Patient.rs system/Observation.rs"')
        rev = sub.add_parser("revoke")
        rev.add_argument("--by", required=True)
        rev.add_argument("--client-id", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email=options["by"].lower(), is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {options['by']}")
        try:
            if options["action"] == "register":
                self._register(user, options)
            else:
                self._revoke(user, options["client_id"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        except Denied as exc:
            raise CommandError(str(exc)) from None

    def _register(self, user: User, options: dict[str, Any]) -> None:
        org = Organization.objects.filter(slug=options["organization"]).first()
        if org is None:
            raise CommandError(f"No organisation {options['organization']}")
        try:
            text = Path(options["jwks"] or options["pem"]).read_text()
            keys = {"jwks": json.loads(text)} if options["jwks"] else {"public_key_pem": text}
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the keys: {exc}") from None
        client = smart.client_register(by=build_actor(user, org, via="cli"), name=options["name"],
                                       scopes=options["scopes"], **keys)
        self.stdout.write(json.dumps({"client_id": client.client_id, "scopes": client.scopes.split(),
                                      "kids": [k["kid"] for k in client.jwks["keys"]]}))

    def _revoke(self, user: User, client_id: str) -> None:
        client = BackendClient.objects.filter(client_id=client_id, revoked_at__isnull=True).first()
        if client is None:
            raise CommandError("No such active client")
        try:
            smart.client_revoke(by=build_actor(user, client.organization, via="cli"), client_id=client_id)
        except Http404:
            raise CommandError("No such active client") from None
        self.stdout.write(f"revoked {client_id}")
