"""The Spanish catalogue of the referral app: complete, and the committed .mo matches the .po."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import openkap.referrals

LOCALE = Path(openkap.referrals.__file__).parent / "locale" / "es" / "LC_MESSAGES"


def _po_entries() -> dict[str, str]:
    text = (LOCALE / "django.po").read_text(encoding="utf-8")
    entries = {}
    for msgid, msgstr in re.findall(r'msgid ((?:"(?:[^"\\]|\\.)*"\n)+)msgstr ((?:"(?:[^"\\]|\\.)*"\n)+)', text):
        def join(block: str) -> str:
            return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', block)).encode().decode("unicode_escape").encode(
                "latin-1").decode("utf-8")
        if join(msgid):
            entries[join(msgid)] = join(msgstr)
    return entries


def test_every_message_has_a_spanish_translation():
    entries = _po_entries()
    assert len(entries) > 100
    assert [m for m, t in entries.items() if not t] == []
    assert "#, fuzzy" not in (LOCALE / "django.po").read_text(encoding="utf-8")


def test_compiled_catalogue_matches_the_po():
    with (LOCALE / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for msgid, msgstr in _po_entries().items():
        assert compiled.gettext(msgid) == msgstr, msgid


def test_placeholders_survive_translation():
    for msgid, msgstr in _po_entries().items():
        assert sorted(re.findall(r"%\(\w+\)s", msgid)) == sorted(re.findall(r"%\(\w+\)s", msgstr)), msgid
