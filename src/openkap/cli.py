"""The ``openkap`` command.

Pure domain commands (``score``, ``instruments``, ``dose``, ``pk``) run without
Django so that clinicians and scripts get an answer in milliseconds; every other
word is a Django management command (``openkap migrate``, ``openkap seed-demo``,
``openkap serve``), with dashes allowed in place of underscores.
"""

from __future__ import annotations

import importlib
import os
import sys

# word -> "module:function"; the function takes argv (after the word) and returns an exit code.
PURE_COMMANDS: dict[str, str] = {
    "score": "openkap.core.instruments.cli:score_main",
    "instruments": "openkap.core.instruments.cli:list_main",
    "dose": "openkap.core.dosing.cli:main",
    "pk": "openkap.core.pk.cli:main",
}


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
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openkap.settings")
    from django.core.management import execute_from_command_line

    if args and not args[0].startswith("-"):
        args[0] = args[0].replace("-", "_")
    execute_from_command_line(["openkap", *args])


if __name__ == "__main__":
    main()
