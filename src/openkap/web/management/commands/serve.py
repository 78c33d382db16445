from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve OpenKAP: Django's server with DEBUG on, gunicorn otherwise."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "3")))

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.DEBUG:
            call_command("runserver", options["addrport"], use_reloader=False)
            return
        call_command("collectstatic", interactive=False, verbosity=0)
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        os.execv(  # noqa: S606 - replaces this process with gunicorn, fixed arguments
            gunicorn, [gunicorn, "openkap.wsgi:application", "--bind", options["addrport"],
                            "--workers", str(options["workers"]), "--access-logfile", "-"])
