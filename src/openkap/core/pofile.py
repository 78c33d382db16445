"""Reading gettext catalogues (.po) without GNU gettext, which CI machines may lack:
the tests compare each committed .mo with its .po, and find untranslated strings."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str = ""
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)  # index 0 without plurals
    fuzzy: bool = False

    @property
    def translated(self) -> bool:
        return not self.fuzzy and bool(self.msgstr) and all(self.msgstr.values())


def parse_po(text: str) -> list[Entry]:
    """The catalogue's live entries (obsolete ``#~`` ones dropped), header included."""
    entries: list[Entry] = []
    entry = Entry()
    target: tuple[str, int] | None = None
    seen_any = False

    def flush() -> None:
        nonlocal entry, seen_any
        if seen_any:
            entries.append(entry)
        entry, seen_any = Entry(), False

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
            target = None
            continue
        if line.startswith("#~"):
            continue
        if line.startswith("#,"):
            if seen_any:
                flush()
            entry.fuzzy = "fuzzy" in line
            continue
        if line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            value = ast.literal_eval(line)
        else:
            value = ast.literal_eval(rest)
            if keyword in ("msgctxt", "msgid") and (entry.msgstr or (keyword == "msgctxt" and seen_any)):
                flush()
            if keyword.startswith("msgstr["):
                target = ("msgstr", int(keyword[7:-1]))
            else:
                target = (keyword, 0)
            seen_any = True
            if keyword == "msgctxt":
                entry.msgctxt = ""
            elif keyword.startswith("msgstr"):
                entry.msgstr[target[1]] = ""
        assert target is not None, f"a string outside an entry: {raw!r}"
        name, index = target
        if name == "msgid":
            entry.msgid += value
        elif name == "msgid_plural":
            entry.msgid_plural += value
        elif name == "msgctxt":
            entry.msgctxt = (entry.msgctxt or "") + value
        else:
            entry.msgstr[index] += value
    flush()
    return entries
