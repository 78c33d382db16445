"""The ``openkap`` command.

Pure domain commands (``score``, ``instruments``, ``dose``, ``pk``, ``bp``) run without
Django so that clinicians and scripts get an answer in milliseconds; every other
word is a Django management command (``openkap migrate``, ``openkap seed-demo``,
``openkap serve``), with dashes allowed in place of underscores. ``dose`` sets
Django up only when ``--protocol`` names a version in the clinic's library.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openkap.core.dosing.cli import StoredProtocol

# word -> "module:function"; the function takes argv (after the word) and returns an exit code.
PURE_COMMANDS: dict[str, str] = {
    "score": "openkap.core.instruments.cli:score_main",
    "instruments": "openkap.core.instruments.cli:list_main",
    "dose": "openkap.cli:dose_main",
    "pk": "openkap.core.pk.cli:main",
    "bp": "openkap.core.bp_cli:main",
}


DEFAULT_SETTINGS = "openkap.settings"


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in PURE_COMMANDS:
        module_name, func_name = PURE_COMMANDS[args[0]].split(":")
        func = getattr(importlib.import_module(module_name), func_name)
        try:
            sys.exit(func(args[1:]))
        except BrokenPipeError:
            # Output piped into `head` and cut short is not an error of ours.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS)
    from django.core.management import execute_from_command_line

    if args and not args[0].startswith("-"):
        args[0] = args[0].replace("-", "_")
    execute_from_command_line(["openkap", *args])


def dose_main(argv: list[str]) -> int:
    from openkap.core.dosing.cli import main as dose

    return dose(argv, stored=_stored_protocol)


def _stored_protocol(version_id: int) -> StoredProtocol | None:
    """A version of the protocol library, read as a session reads it: the approval is
    the database's. Django is set up here, on first need only."""
    from openkap.core.dosing.cli import StoredProtocol
    from openkap.core.protocols import ProtocolError

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS)
    import django
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured
    from django.db import DatabaseError
    from django.utils import timezone

    try:
        if not apps.ready:
            django.setup()
        from openkap.dosing.models import ProtocolVersion

        version = (
            ProtocolVersion.objects.select_related("organization").filter(pk=version_id).first()
        )
    except (ImproperlyConfigured, DatabaseError) as exc:
        raise ProtocolError([f"cannot read the clinic's protocol library: {exc}"]) from None
    if version is None:
        return None
    state = (
        f"approved by {version.approver_name} on {timezone.localdate(version.approved_at)}"
        if version.is_approved and version.approved_at
        else version.get_status_display().lower()
    )
    return StoredProtocol(
        protocol=version.protocol,
        approved=version.is_approved,
        description=f"{version.protocol_id} v{version.version} of {version.organization.name}, {state}",
    )


if __name__ == "__main__":
    main()
