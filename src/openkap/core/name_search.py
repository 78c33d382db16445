"""Patient name search by word start, answered from an index.

A patient's ``search_name`` is "given family preferred", lower-cased. A typed word
matches when it begins a part of that name: the whole string, or the text right after
a space or a hyphen ("smi" finds "Smith", "jo" finds "Smith-Jones", "mit" finds
nothing). That test (``matches_word_start``) cannot use an ordinary index, because the
part can start anywhere in the string. So each name is stored once more as its
*word-start suffixes*: the text from each word start to the end. A word begins a part
of the name exactly when one of the suffixes starts with it, a prefix question a
btree answers with a range scan (``word_start_suffixes``).
"""

from __future__ import annotations

from collections.abc import Iterable

# Where a name part may begin (besides the start): after these characters.
WORD_BREAKS = (" ", "-")


def search_name(given: str, family: str, preferred: str) -> str:
    """The one lower-cased string a patient is searched by."""
    return " ".join(part for part in (given, family, preferred) if part).lower()


def word_start_suffixes(name: str) -> list[str]:
    """The text of ``name`` from each word start to the end, without repeats, in order."""
    starts = [0] + [i + 1 for i, ch in enumerate(name) if ch in WORD_BREAKS and i + 1 < len(name)]
    suffixes = dict.fromkeys(name[i:] for i in starts if name[i:])
    return list(suffixes)


def matches_word_start(name: str, term: str) -> bool:
    """The definition the index answers: ``term`` begins the name, or follows a space or
    a hyphen in it."""
    return name.startswith(term) or any(f"{brk}{term}" in name for brk in WORD_BREAKS)


# A query's words beyond this many are not searched.
MAX_TERMS = 4


def search_terms(query: str, limit: int = MAX_TERMS) -> list[str]:
    """The words of a name query, lower-cased, at most ``limit`` (each must match)."""
    return query.lower().split()[:limit]


def matches_query(name: str, terms: Iterable[str]) -> bool:
    return all(matches_word_start(name, t) for t in terms)
