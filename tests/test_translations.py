"""English and Spanish (issue 17, item 6): the committed catalogues are complete and
compiled, and every page a patient or prospective patient sees has its words marked
for translation."""

from __future__ import annotations

import ast
import gettext
import io
import re
import tokenize
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType
from django.template.loader import get_template
from django.utils import translation
from django.utils.translation.template import templatize

from openkap.core.pofile import parse_po

SRC = Path(__file__).resolve().parent.parent / "src" / "openkap"
CATALOGUES = sorted(SRC.glob("**/locale/*/LC_MESSAGES/django.po"))

# What a patient or a prospective patient can open: the public site, sign-in and
# password reset, the portal, questionnaires (portal and single-use link), the error
# pages, and the layout and form pieces those pages include.
PATIENT_TEMPLATES = [
    "base.html", "403.html", "404.html", "422.html", "500.html", "_field.html", "_form_errors.html",
    "_crisis_lines.html",
    "site/base.html", "site/page.html", "site/home.html", "site/routes.html", "site/eligibility.html",
    "site/contact.html",
    "accounts/login.html", "accounts/password_reset.html", "accounts/password_reset_confirm.html",
    "accounts/password_reset_done.html",
    "web/patient_home.html",
    "measures/portal_list.html", "measures/_portal_card.html", "measures/fill.html", "measures/done.html",
    "measures/link_refused.html",
    "pathway/portal_care.html", "pathway/portal_consent.html", "pathway/portal_journal.html",
    "pathway/_consent_document.html",
    "scheduling/portal_appointments.html", "scheduling/_portal_card.html",
    "patients/portal_accept.html",
    # The public referral forms and the status link.
    "referrals/self_step.html", "referrals/crisis.html", "referrals/thanks.html", "referrals/limited.html",
    "referrals/expired.html", "referrals/clinician.html", "referrals/status_open.html", "referrals/status.html",
    "referrals/status_refused.html", "referrals/_field.html", "referrals/_honeypot.html",
    "referrals/_crisis_box.html", "referrals/_languages.html",
    # PDFs handed to patients (printed in the patient's language).
    "pdf/patient_base.html", "pathway/pdf/consent_copy.html", "pathway/pdf/safety_plan.html",
    "scheduling/pdf/appointment_letter.html",
    # Emails to patients (sent in the patient's language).
    "scheduling/reminder_email.txt", "accounts/password_reset_email.txt", "accounts/password_reset_subject.txt",
]
# Names and units that read the same in both languages.
SAME_IN_BOTH = {"OpenKAP", "KAP", "SPRAVATO", "ICS", "SHA", "mg", "ng", "mL", "min"}
TRANSLATED_ATTRIBUTES = {"aria-label", "title", "alt", "placeholder"}


class _Words(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "code"):
            self._skip += 1
        self.found += [value for name, value in attrs if name in TRANSLATED_ATTRIBUTES and value]

    def handle_endtag(self, tag):
        if tag in ("script", "style", "code") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.found.append(data)


def untranslated_text(source: str) -> list[str]:
    """Words in a template that reach the reader without passing through gettext: text
    outside {% translate %}/{% blocktranslate %} and translatable attributes."""
    parts, skipping = [], None
    for token in Lexer(source).tokenize():
        if skipping:
            if token.token_type == TokenType.BLOCK and token.contents.split()[0] == skipping:
                skipping = None
            parts.append("\x00")
            continue
        if token.token_type == TokenType.TEXT:
            parts.append(token.contents)
            continue
        if token.token_type == TokenType.BLOCK:
            tag = token.contents.split()[0]
            if tag in ("blocktranslate", "blocktrans", "comment", "verbatim"):
                skipping = "end" + tag
        parts.append("\x00")
    parser = _Words()
    parser.feed("".join(parts))
    problems = []
    for text in parser.found:
        words = [w for w in "".join(c if c.isalpha() else " " for c in text).split()
                 if len(w) > 1 and w not in SAME_IN_BOTH]
        if words:
            problems.append(" ".join(text.split()))
    return problems


def _source(name: str) -> str:
    return Path(get_template(name).origin.name).read_text("utf-8")


def test_the_checker_finds_an_untranslated_word():
    assert untranslated_text('{% load i18n %}<p>Hello</p>') == ["Hello"]
    assert untranslated_text('<a aria-label="Close">{% translate "x" %}</a>') == ["Close"]
    assert untranslated_text('{% load i18n %}<p>{% translate "Hello" %} · {{ name }} 3 mg</p>') == []
    assert untranslated_text('{% blocktranslate %}Hello {{ n }}{% endblocktranslate %}<code>SELECT</code>') == []


@pytest.mark.parametrize("name", PATIENT_TEMPLATES)
def test_patient_facing_template_has_no_untranslated_text(name):
    assert untranslated_text(_source(name)) == []


@pytest.mark.parametrize("name", PATIENT_TEMPLATES)
def test_every_marked_string_of_a_patient_facing_template_has_a_spanish_translation(name):
    from django.utils.translation import trans_real

    source = _source(name)
    msgids = [token.contents for token in Lexer(source).tokenize() if token.token_type == TokenType.BLOCK
              and token.contents.split()[0] in ("translate", "trans")]
    with translation.override("es"):
        catalog = trans_real.translation("es")
        for contents in msgids:
            msgid = re.match(r"""\S+\s+(["'])(.*?)\1""", contents).group(2)
            assert catalog.gettext(msgid) != msgid or msgid in SAME_IN_BOTH, (name, msgid)


# The gettext keywords makemessages passes to xgettext, with where each argument goes.
_KEYWORDS = {
    "_": ("msgid",), "gettext": ("msgid",), "gettext_lazy": ("msgid",), "gettext_noop": ("msgid",),
    "pgettext": ("ctx", "msgid"), "pgettext_lazy": ("ctx", "msgid"),
    "ngettext": ("msgid", "plural"), "ngettext_lazy": ("msgid", "plural"),
    "npgettext": ("ctx", "msgid", "plural"), "npgettext_lazy": ("ctx", "msgid", "plural"),
}


def marked_strings(python_source: str) -> set[tuple[str | None, str]]:
    """(context, msgid) of every literal passed to a gettext function, as xgettext finds
    them: adjacent literals joined, a call whose arguments are not literals skipped."""
    found: set[tuple[str | None, str]] = set()
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(python_source).readline)
              if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)]
    for i, token in enumerate(tokens[:-1]):
        roles = _KEYWORDS.get(token.string) if token.type == tokenize.NAME else None
        if not roles or tokens[i + 1].string != "(" or (i and tokens[i - 1].string == "def"):
            continue
        args: list[str] = []
        j, current = i + 2, None
        while j < len(tokens) and len(args) < len(roles):
            if tokens[j].type == tokenize.STRING:
                current = (current or "") + ast.literal_eval(tokens[j].string)
            elif tokens[j].string in (",", ")") and current is not None:
                args.append(current)
                current = None
                if tokens[j].string == ")":
                    break
            else:
                break
            j += 1
        if len(args) == len(roles):
            named = dict(zip(roles, args, strict=True))
            found.add((named.get("ctx"), named["msgid"]))
    return found


def _domain_sources(po: Path) -> list[Path]:
    """The files makemessages reads for a catalogue: its app's directory, or, for the
    project catalogue (src/openkap/locale), the project's own templates."""
    root = po.parents[3]
    if root == SRC:
        root = SRC / "templates"
    return sorted(p for p in root.rglob("*") if p.suffix in (".py", ".html", ".txt") and p.is_file())


def _templatized(text: str) -> str:
    # templatize keeps the template's indentation, which Python's tokenizer would judge.
    return "\n".join(line.lstrip() for line in templatize(text).splitlines())


def extracted(po: Path) -> set[tuple[str | None, str]]:
    found: set[tuple[str | None, str]] = set()
    for path in _domain_sources(po):
        text = path.read_text("utf-8")
        found |= marked_strings(text if path.suffix == ".py" else _templatized(text))
    return found


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: str(p.relative_to(SRC)))
def test_catalogue_is_complete_and_its_mo_matches(po):
    entries = [e for e in parse_po(po.read_text("utf-8")) if e.msgid]
    assert entries, "an empty catalogue"
    assert [e.msgid for e in entries if not e.translated] == []
    mo = po.with_suffix(".mo")
    assert mo.exists(), f"compile it: msgfmt -o {mo} {po}"
    with mo.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    expected: dict[object, str] = {}
    for e in entries:
        key = f"{e.msgctxt}\x04{e.msgid}" if e.msgctxt is not None else e.msgid
        if e.msgid_plural:
            expected |= {(key, i): text for i, text in e.msgstr.items()}
        else:
            expected[key] = e.msgstr[0]
    assert {k: v for k, v in compiled.items() if k != ""} == expected, "the .mo is stale: run msgfmt again"


def test_each_app_keeps_its_own_catalogue():
    apps = {p.relative_to(SRC).parts[0] for p in CATALOGUES}
    assert {"site", "measures", "pathway", "scheduling", "patients", "accounts", "web", "locale"} <= apps


def test_the_extractor_finds_what_makemessages_would():
    source = """_("One") + gettext_lazy("Two " "parts") + pgettext("month", "May")
ngettext("%(n)s day", "%(n)s days", n) + gettext(name) + gettext("a" + b)
def gettext(x): pass"""
    assert marked_strings(source) == {(None, "One"), (None, "Two parts"), ("month", "May"), (None, "%(n)s day")}
    template = '{% load i18n %}{% translate "Hi" context "greeting" %}{% blocktranslate trimmed with n=x %}\n  {{ n }} left\n{% endblocktranslate %}'
    assert marked_strings(_templatized(template)) == {("greeting", "Hi"), (None, "%(n)s left")}


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: str(p.relative_to(SRC)))
def test_every_string_marked_in_a_catalogues_sources_has_a_spanish_translation(po):
    """What makemessages would add to the catalogue is in it, translated: a string marked
    in code but never extracted would reach a Spanish reader in English."""
    entries = [e for e in parse_po(po.read_text("utf-8")) if e.msgid]
    translated = {(e.msgctxt, e.msgid) for e in entries if e.translated}
    marked = extracted(po)
    missing = sorted(marked - translated, key=str)
    assert missing == [], f"{len(missing)} strings: run makemessages -l es in {po.parents[3]} and translate"
    # Entries no longer marked anywhere: makemessages would make them obsolete.
    assert sorted({(e.msgctxt, e.msgid) for e in entries} - marked, key=str) == []


def test_every_directory_with_marked_strings_has_a_catalogue():
    covered = {po.parents[3] for po in CATALOGUES} | {SRC / "templates"}
    for directory in (d for d in SRC.iterdir() if d.is_dir() and d not in covered):
        files = [p for p in directory.rglob("*") if p.suffix in (".py", ".html", ".txt")]
        assert not any(marked_strings(p.read_text("utf-8") if p.suffix == ".py"
                                      else _templatized(p.read_text("utf-8"))) for p in files), directory
