"""Word-start name search: the stored suffixes answer exactly the word-start definition."""

from hypothesis import given
from hypothesis import strategies as st

from openkap.core.name_search import (
    matches_query,
    matches_word_start,
    search_name,
    search_terms,
    word_start_suffixes,
)

# Letters that make collisions likely, the two word breaks, an apostrophe, accents and
# characters whose lower case is longer (İ) so the property sees the awkward cases.
ALPHABET = "abAB -'éÉİß_%"
names = st.text(alphabet=ALPHABET, max_size=14)
terms = st.text(alphabet=ALPHABET.replace(" ", ""), min_size=1, max_size=5)


def test_suffixes_of_a_hyphenated_name():
    assert word_start_suffixes("mary-kate smith-jones kay") == [
        "mary-kate smith-jones kay", "kate smith-jones kay", "smith-jones kay", "jones kay", "kay",
    ]


def test_search_name_lower_cases_and_skips_empty_parts():
    assert search_name("Maya", "Lindqvist", "") == "maya lindqvist"
    assert search_name("Robert", "O'Neil-Ruiz", "Bob") == "robert o'neil-ruiz bob"


def test_word_starts_match_and_inner_fragments_do_not():
    name = search_name("Maya", "Smith-Jones", "")
    assert matches_word_start(name, "smi")
    assert matches_word_start(name, "jo")
    assert matches_word_start(name, "smith-jo")  # a typed hyphen spans the two parts
    assert not matches_word_start(name, "mit")
    assert not matches_word_start(name, "ones")
    assert matches_query(name, search_terms("MAYA smi"))
    assert not matches_query(name, search_terms("maya lind"))


def test_repeated_words_are_stored_once():
    assert word_start_suffixes("anna anna") == ["anna anna", "anna"]
    assert word_start_suffixes("a  b-") == ["a  b-", " b-", "b-"]


@given(name=names, term=terms)
def test_a_suffix_starts_with_the_term_exactly_when_the_term_starts_a_word(name, term):
    assert any(s.startswith(term) for s in word_start_suffixes(name)) == matches_word_start(name, term)


@given(name=names)
def test_suffixes_are_distinct_nonempty_tails(name):
    suffixes = word_start_suffixes(name)
    assert len(suffixes) == len(set(suffixes))
    assert all(s and name.endswith(s) for s in suffixes)
