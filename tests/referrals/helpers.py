"""Walking the public self-referral with the test client, step by step, as a browser would."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from django.test import Client

CONTACT = {
    "given_name": "Rosa", "family_name": "Díaz", "date_of_birth": "1985-03-21", "sex_at_birth": "female",
    "email": "rosa@example.org", "phone": "+1 (518) 555-0142", "preferred_language": "en",
}
STORY = {"reason": "Depression for years; two antidepressants did not help.", "current_treatment": "Sertraline 100 mg"}
PHQ9_LOW = {f"q{i}": "1" for i in range(1, 9)} | {"q9": "0"}
GAD7_LOW = {f"q{i}": "1" for i in range(1, 8)}
ASQ_NEG = {"q1": "0", "q2": "0", "q3": "0", "q4": "0"}


def hidden(response: Any, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', response.content.decode())
    assert match, f"no hidden {name} in the page"
    return html.unescape(match.group(1))


@dataclass
class Walk:
    pages: list[Any] = field(default_factory=list)
    crisis_after: list[str] = field(default_factory=list)

    @property
    def last(self) -> Any:
        return self.pages[-1]


def walk(client: Client, *, start: str = "/refer/", contact: dict | None = None, story: dict | None = None,
         phq9: dict | None = None, gad7: dict | None = None, asq: dict | None = None, q5: str | None = "0",
         red_flags: tuple[str, ...] = (), consent: bool = True, extra: dict | None = None,
         stop_before: str | None = None, **client_kwargs: Any) -> Walk:
    """Answer every step the server shows, following it (crisis screens included)."""
    answers = {
        "contact": contact or CONTACT, "story": story or STORY, "phq9": phq9 or PHQ9_LOW,
        "gad7": gad7 or GAD7_LOW, "asq": asq or ASQ_NEG, "asq_acuity": {} if q5 is None else {"q5": q5},
        "health": {"red_flags": list(red_flags)}, "consent": {"consent_to_contact": "on"} if consent else {},
    }
    result = Walk()
    page = client.get(start, **client_kwargs)
    result.pages.append(page)
    for _ in range(20):
        if page.status_code != 200:
            return result
        content = page.content.decode()
        if 'name="step"' not in content:
            return result
        step = hidden(page, "step")
        state = hidden(page, "state")
        if 'value="continue"' in content:
            result.crisis_after.append(step)
            page = client.post("/refer/step/", {"state": state, "step": step, "go": "continue"}, **client_kwargs)
            result.pages.append(page)
            continue
        if step == stop_before:
            return result
        data = {"state": state, "step": step, "go": "next", **answers[step], **(extra or {})}
        page = client.post("/refer/step/", data, **client_kwargs)
        result.pages.append(page)
        if page.status_code in (301, 302):
            return result
    raise AssertionError("the self-referral did not end")
