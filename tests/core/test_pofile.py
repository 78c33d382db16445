"""openkap.core.pofile reads what msgfmt reads (hand-written catalogue below)."""

from openkap.core.pofile import parse_po

SAMPLE = '''# header comment
msgid ""
msgstr ""
"Language: es\\n"

msgid "Hello"
msgstr "Hola"

#, python-format
msgid ""
"A long %(name)s "
"line"
msgstr "Una %(name)s "
"larga"

msgctxt "month"
msgid "May"
msgstr "mayo"

#, fuzzy
msgid "Guess"
msgstr "Adivinanza"

msgid "%(n)s day"
msgid_plural "%(n)s days"
msgstr[0] "%(n)s día"
msgstr[1] "%(n)s días"
msgstr[2] ""

#~ msgid "Old"
#~ msgstr "Viejo"
'''


def test_entries_contexts_plurals_and_flags():
    header, hello, long_, may, guess, days = parse_po(SAMPLE)
    assert header.msgid == ""
    assert "Language: es" in header.msgstr[0]
    assert (hello.msgid, hello.msgstr, hello.translated) == ("Hello", {0: "Hola"}, True)
    assert long_.msgid == "A long %(name)s line"
    assert long_.msgstr[0] == "Una %(name)s larga"
    assert (may.msgctxt, may.msgid, may.msgstr[0]) == ("month", "May", "mayo")
    assert guess.fuzzy
    assert not guess.translated
    assert days.msgid_plural == "%(n)s days"
    assert days.msgstr[1] == "%(n)s días"
    assert not days.translated  # one plural form is empty


def test_obsolete_entries_are_dropped():
    assert [e.msgid for e in parse_po(SAMPLE)][-1] == "%(n)s day"
