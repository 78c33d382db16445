"""Accessibility and small screens (issue 20).

axe-core (the script bundled with axe-playwright-python, nothing fetched) runs over every
page each demo role reaches by following links from its home page. Pages are grouped by
the shape of their address (ids replaced, query keys kept): each shape is checked once,
by the first role that reaches it, and each role's home page always. Serious or critical
violations fail; the table of every page checked is written to artifacts/browser/axe.json
and artifacts/browser/axe.md.

Issue 17 adds the public site and the self-referral steps, crawled anonymously in English
and Spanish (artifacts/browser/axe-public.md), the portal in Spanish, a keyboard-only walk
from the public home into the pre-screen, and colour contrast (WCAG 2.1 AA, axe's
color-contrast rule) at any impact."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, screenshot

pytestmark = pytest.mark.browser

# Patient first: portal pages; then the clinical roles, the admin and the researcher.
ROLES = ["patient", "nurse", "prescriber", "therapist", "admin", "researcher"]
# Downloads, sign-out and the sign-in pages are not pages a role browses; nor are the
# sitemap (XML, linked from the public footer) and the FHIR API (JSON).
NOT_A_PAGE = re.compile(r"(\.pdf$|\.csv$|\.ics$|\.xml$|\.txt$|/pdf/|/csv/|/export|/download|^/api/|^/fhir/|^/static/|^/accounts/)")
PAGES_PER_ROLE = 80
FAILING_IMPACTS = {"serious", "critical"}
PHONE = {"width": 390, "height": 844}


def _shape(path: str) -> str:
    url = urlparse(path)
    keys = ",".join(sorted(k for k, _ in parse_qsl(url.query, keep_blank_values=True)))
    return re.sub(r"/\d+(?=/|$)", "/N", url.path) + (f"?{keys}" if keys else "")


def _links(page, origin: str, selector: str = "a[href]") -> list[str]:
    found = []
    for href in page.eval_on_selector_all(selector, "els => els.map(e => e.href)"):
        url = urlparse(href)
        if f"{url.scheme}://{url.netloc}" != origin or NOT_A_PAGE.search(url.path) or "format=" in url.query:
            continue
        found.append(url.path + (f"?{url.query}" if url.query else ""))
    return found


def _crawl(page, origin: str, role: str, checked: set[str], axe) -> list[dict]:
    """axe on every page shape not yet checked; every navigation link (main menu, chart
    tabs) the role is shown must open for it (issue 20.5)."""
    rows, queue, visited, nav_checked = [], ["/"], set(), set()
    while queue and len(visited) < PAGES_PER_ROLE:
        path = queue.pop(0)
        shape = _shape(path)
        if shape in visited or (shape in checked and shape != "/"):
            continue
        visited.add(shape)
        response = page.goto(path)
        assert response is not None
        if response.status != 200:
            rows.append({"role": role, "page": path, "status": response.status, "violations": []})
            continue
        checked.add(shape)
        result = axe.run(page).response
        rows.append({"role": role, "page": path, "status": 200, "violations": [
            {"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"]),
             "target": v["nodes"][0]["target"], "help": v["help"]}
            for v in result["violations"]
        ]})
        for link in _links(page, origin, "nav a[href]"):
            if _shape(link) not in nav_checked:
                nav_checked.add(_shape(link))
                status = page.request.get(link, max_redirects=0).status
                if status not in (200, 302):
                    rows.append({"role": role, "page": link, "status": status, "violations": []})
        queue.extend(p for p in _links(page, origin) if _shape(p) not in visited)
    return rows


def _write_table(rows: list[dict]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "axe.json").write_text(json.dumps(rows, indent=1))
    lines = ["| role | page | status | serious/critical | other |", "|---|---|---|---|---|"]
    for r in rows:
        bad = [v["id"] for v in r["violations"] if v["impact"] in FAILING_IMPACTS]
        other = [f'{v["id"]} ({v["impact"]})' for v in r["violations"] if v["impact"] not in FAILING_IMPACTS]
        lines.append(f'| {r["role"]} | `{r["page"]}` | {r["status"]} | {len(bad)} {", ".join(bad)} | {", ".join(other)} |')
    (ARTIFACTS / "axe.md").write_text("\n".join(lines) + "\n")


def test_every_page_a_role_reaches_has_no_serious_accessibility_violation(signed_in, demo_server):
    from axe_playwright_python.sync_playwright import Axe

    axe, checked, rows = Axe(), set(), []
    for role in ROLES:
        page = signed_in(f"{role}@demo.openkap.org")
        rows += _crawl(page, demo_server, role, checked, axe)
    _write_table(rows)
    assert len([r for r in rows if r["status"] == 200]) >= 60, "the crawl reached too few pages"
    assert {_shape(r["page"]) for r in rows if r["status"] == 200} >= STAFF_PAGES, "a main staff page was not checked"
    refused = [(r["role"], r["page"], r["status"]) for r in rows if r["status"] != 200]
    assert refused == [], "links that do not open for the role that sees them"
    failing = [(r["role"], r["page"], v["id"], v["target"]) for r in rows for v in r["violations"]
               if v["impact"] in FAILING_IMPACTS]
    assert failing == []


# The main staff pages the issue names, by address shape: chart, board, session, calendar, ledger.
STAFF_PAGES = {"/patients/N/", "/dosing/", "/dosing/sessions/N/", "/schedule/", "/ledger/"}


def _axe_rows(page, axe, role: str, path: str, status: int) -> dict:
    if status != 200:
        return {"role": role, "page": path, "status": status, "violations": []}
    result = axe.run(page).response
    return {"role": role, "page": path, "status": 200, "violations": [
        {"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"]),
         "target": v["nodes"][0]["target"], "help": v["help"]}
        for v in result["violations"]
    ]}


def _public_context(browser, base: str, language: str, **viewport):
    context = browser.new_context(base_url=base, locale=language, extra_http_headers={"Accept-Language": language},
                                  viewport=viewport or {"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


_REFERRAL_TEXT = {"given_name": "Ana", "family_name": "Prueba", "phone": "555-0100", "email": "ana.axe@example.org",
                  "date_of_birth": "1985-03-21"}


def _next_referral_step(page) -> None:
    """Fill the visible fields of a pre-screen step with harmless answers (first option of
    each question, no red flag) and go on. The last step is never sent."""
    for field in page.locator("form.card input:visible, form.card textarea:visible").all():
        kind, name = field.get_attribute("type") or "textarea", field.get_attribute("name") or ""
        if kind == "radio":
            if not page.locator(f"input[name='{name}']:checked").count():
                page.locator(f"input[name='{name}']").first.check()
        elif kind in ("text", "email", "tel", "date", "textarea") and not field.input_value():
            field.fill(_REFERRAL_TEXT.get(name, "Low mood for two years; two antidepressants did not help."))
    page.get_by_role("button", name=re.compile("^(Next|Siguiente)$")).click()
    page.wait_for_load_state()


def _public_rows(browser, base: str, language: str, axe) -> list[dict]:
    """Every public page (the site's own links, the sitemap) and every step of the
    self-referral pre-screen, anonymously, in ``language``."""
    context, page = _public_context(browser, base, language)
    rows, seen = [], set()
    try:
        page.goto("/sitemap.xml")
        paths = [urlparse(loc).path for loc in re.findall(r"<loc>([^<]+)</loc>", page.content())]
        for path in ["/", *paths, "/refer/", "/accounts/login/", "/accounts/password-reset/"]:
            if path in seen:
                continue
            seen.add(path)
            response = page.goto(path)
            assert response is not None
            rows.append(_axe_rows(page, axe, f"anonymous ({language})", path, response.status))
            if path == "/":
                screenshot(page, f"public_home_{language}")
        page.goto("/refer/")
        for _ in range(12):
            if not page.locator("input[name='step']").count():
                break
            step = page.locator("input[name='step']").get_attribute("value")
            rows.append(_axe_rows(page, axe, f"anonymous ({language})", f"/refer/ step {step}", 200))
            if step == "consent":
                screenshot(page, f"referral_consent_{language}")
                break
            _next_referral_step(page)
            assert not page.locator(".errorlist").count(), page.locator(".errorlist").first.inner_text()
        else:
            raise AssertionError("the pre-screen did not reach its last step")
    finally:
        context.close()
    return rows


def test_public_site_and_referral_steps_have_no_serious_violation_in_both_languages(browser, demo_server):
    from axe_playwright_python.sync_playwright import Axe

    axe, rows = Axe(), []
    for language in ("en", "es"):
        rows += _public_rows(browser, demo_server, language, axe)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "axe-public.json").write_text(json.dumps(rows, indent=1))
    lines = ["| visitor | page | status | serious/critical | other |", "|---|---|---|---|---|"]
    for r in rows:
        bad = [v["id"] for v in r["violations"] if v["impact"] in FAILING_IMPACTS]
        other = [f'{v["id"]} ({v["impact"]})' for v in r["violations"] if v["impact"] not in FAILING_IMPACTS]
        lines.append(f'| {r["role"]} | `{r["page"]}` | {r["status"]} | {len(bad)} {", ".join(bad)} | {", ".join(other)} |')
    (ARTIFACTS / "axe-public.md").write_text("\n".join(lines) + "\n")
    assert [(r["page"], r["status"]) for r in rows if r["status"] != 200] == []
    steps = {r["page"] for r in rows if r["page"].startswith("/refer/ step")}
    assert "/refer/ step consent" in steps, steps
    assert len(steps) >= 5, steps
    failing = [(r["role"], r["page"], v["id"], v["target"]) for r in rows for v in r["violations"]
               if v["impact"] in FAILING_IMPACTS or v["id"] == "color-contrast"]
    assert failing == []


def test_portal_in_spanish_has_no_serious_violation(signed_in, demo_server):
    from axe_playwright_python.sync_playwright import Axe

    page = signed_in("patient@demo.openkap.org")
    axe, rows = Axe(), []
    page.get_by_role("button", name="Español").click()
    try:
        expect(page.locator("html")).to_have_attribute("lang", "es")
        for path in ["/", "/portal/appointments/", "/portal/questionnaires/", "/portal/care/", "/portal/journal/",
                     "/portal/consent/"]:
            response = page.goto(path)
            rows.append(_axe_rows(page, axe, "patient (es)", path, response.status))
        page.goto("/portal/questionnaires/")
        links = page.locator(".card a.button[href*='/portal/questionnaires/']")
        if links.count():
            page.goto(links.first.get_attribute("href"))
            rows.append(_axe_rows(page, axe, "patient (es)", "questionnaire", 200))
            screenshot(page, "portal_questionnaire_es")
    finally:
        page.goto("/")
        page.get_by_role("button", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    assert [(r["page"], r["status"]) for r in rows if r["status"] != 200] == []
    failing = [(r["page"], v["id"], v["target"]) for r in rows for v in r["violations"]
               if v["impact"] in FAILING_IMPACTS or v["id"] == "color-contrast"]
    assert failing == []


def test_keyboard_alone_reaches_the_pre_screen_from_the_public_home(browser, demo_server):
    """Tab from the top of the page: the skip link comes first and moves focus to the
    content; every stop is visible (an outline); Enter on the call to action opens step 1."""
    context, page = _public_context(browser, demo_server, "en")
    try:
        page.goto("/")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"#main$"))
        for _ in range(60):
            page.keyboard.press("Tab")
            focused = page.evaluate("""() => { const e = document.activeElement; const s = getComputedStyle(e);
                return {text: e.textContent.trim(), tag: e.tagName, outline: s.outlineStyle + ' ' + s.outlineWidth}; }""")
            assert focused["tag"] in ("A", "BUTTON", "SUMMARY", "DIV", "INPUT"), focused
            assert not focused["outline"].startswith("none"), f"no visible focus on {focused}"
            if focused["text"] == "Check if KAP is right for you":
                break
        else:
            raise AssertionError("the call to action cannot be reached with the keyboard")
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/refer/"))
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        # The first field of step 1 is reachable and can be typed into.
        page.keyboard.press("Tab")
        for _ in range(20):
            if page.evaluate("document.activeElement.tagName") == "INPUT" and page.evaluate(
                    "document.activeElement.type") == "text":
                break
            page.keyboard.press("Tab")
        page.keyboard.type("Ana")
        assert page.evaluate("document.activeElement.value") == "Ana"
    finally:
        context.close()


def test_phone_navigation_collapses_behind_a_menu_button(signed_in):
    page = signed_in("nurse@demo.openkap.org", **PHONE)
    nav = page.get_by_role("navigation", name="Main")
    menu = page.get_by_role("button", name=re.compile("^Menu"))
    expect(nav).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")
    screenshot(page, "phone_nurse_home_menu_closed")
    menu.click()
    expect(nav).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "true")
    screenshot(page, "phone_nurse_home_menu_open")
    nav.get_by_role("link", name="Medicine sessions").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()


def test_desktop_shows_the_navigation_without_a_menu_button(signed_in):
    page = signed_in("nurse@demo.openkap.org")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Menu"))).to_be_hidden()


@pytest.mark.parametrize(("role", "paths"), [
    ("patient", ["/", "/portal/appointments/", "/portal/questionnaires/", "/portal/care/",
                 "/portal/journal/", "/portal/consent/"]),
    ("nurse", ["/", "/dosing/"]),
])
def test_pages_fit_a_phone_screen(signed_in, role, paths):
    page = signed_in(f"{role}@demo.openkap.org", **PHONE)
    for path in paths:
        page.goto(path)
        name = "phone_" + role + (path.strip("/").replace("/", "_") or "_home")
        screenshot(page, name)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a {PHONE['width']}px phone"


def test_session_page_fits_a_phone_screen(signed_in):
    page = signed_in("nurse@demo.openkap.org", **PHONE)
    page.goto("/dosing/")
    session_links = page.locator("a[href*='/dosing/sessions/']")
    expect(session_links.first).to_be_attached()
    page.goto(session_links.first.get_attribute("href"))
    screenshot(page, "phone_nurse_session")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_idle_warning_lets_the_person_stay_and_clears_the_page_when_the_session_ends(signed_in):
    page = signed_in("therapist@demo.openkap.org")
    clock = {"signed_in": True, "remaining": 60}

    def session_clock(route):
        if route.request.method == "GET":
            route.fulfill(json=clock)
        else:
            route.continue_()

    page.clock.install()
    page.route("**/accounts/session/", session_clock)
    page.goto("/")
    timeout_ms = int(page.locator("body").get_attribute("data-idle-timeout")) * 1000
    dialog = page.get_by_role("dialog", name="Are you still there?")
    expect(dialog).to_be_hidden()
    page.clock.run_for(timeout_ms)
    expect(dialog).to_be_visible()
    expect(page.get_by_role("button", name="Stay signed in")).to_be_focused()
    screenshot(page, "idle_warning")
    page.get_by_role("button", name="Stay signed in").click()
    expect(dialog).to_be_hidden()
    # The server has ended the session meanwhile: the page is replaced by the sign-in page.
    clock.update(signed_in=False, remaining=0)
    page.route("**/accounts/login/**", lambda route: route.fulfill(body="<title>Sign in</title>",
                                                                     content_type="text/html"))
    page.clock.run_for(timeout_ms)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=%2F$"))
