"""Guards that keep the suite itself honest (they read the test sources, nothing runs)."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _sources(folder: Path = TESTS):
    return [(p, p.read_text()) for p in sorted(folder.rglob("*.py"))]


def test_every_property_takes_its_example_count_from_the_profile():
    # A bare max_examples=N ignores HYPOTHESIS_PROFILE: CI would run it in full and
    # `make test-thorough` would not run it more. Write max_examples=examples(N).
    bare = [f"{p.relative_to(TESTS)}:{s[:m.start()].count(chr(10)) + 1}"
            for p, s in _sources() for m in re.finditer(r"max_examples\s*=\s*\d", s)]
    assert bare == []


def test_browser_tests_never_wait_for_the_clock():
    # Each user signs in once per run (tests/browser/conftest.py, signed_in): no test
    # sleeps for the next TOTP step; Playwright's expect() waits for the page instead.
    sleeping = [str(p.relative_to(TESTS)) for p, s in _sources(TESTS / "browser")
                if p.name.startswith("test_") and re.search(r"\bsleep\(", s)]
    assert sleeping == []


def test_tests_read_the_clock_through_django():
    # date's today() and datetime's now() read the machine's clock and zone (UTC on CI): in the
    # clinic's evening that is already tomorrow, and OPENKAP_TEST_CLOCK cannot move them.
    # Use timezone.now() / timezone.localdate(). Pure core tests take times as arguments;
    # browser tests talk to a server in another process, on the real clock.
    found = [f"{p.relative_to(TESTS)}:{s[:m.start()].count(chr(10)) + 1}"
             for p, s in _sources() if p.relative_to(TESTS).parts[0] not in ("core", "browser")
             for m in re.finditer(r"\b(?:date\.today|datetime\.now)\(", s)]
    assert found == []


def test_modules_ci_does_not_collect_in_its_orm_phases_hold_only_marked_tests():
    # .ci/run's ORM phases --ignore the browser and fuzz modules instead of collecting and
    # deselecting them: a test there without the marker would run in no phase at all.
    run = (TESTS.parent / ".ci" / "run").read_text()
    ignored = [TESTS.parent / p for p in re.findall(r"--ignore=(\S+?)\)?\s", run) if p != "tests/core"]
    assert ignored
    modules = [m for p in ignored for m in ([p] if p.suffix == ".py" else sorted(p.glob("test_*.py")))]
    unmarked = [str(m.relative_to(TESTS)) for m in modules
                if not re.search(r"^pytestmark = pytest\.mark\.(browser|fuzz)$", m.read_text(), re.M)]
    assert modules
    assert unmarked == []
