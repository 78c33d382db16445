"""Browser tests drive Debian's Chromium (never a downloaded browser) against a real
`openkap serve` process with a freshly migrated and seeded demo clinic, on the same
kind of database as the rest of the run (SQLite, or a new PostgreSQL database)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import require_tool, zone_in_early_afternoon

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"


# The demo server's TIME_ZONE; tests compute clinic-local times with it.
CLINIC_TIME_ZONE = zone_in_early_afternoon()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_admin(url: str, sql: str) -> None:
    import psycopg

    parsed = urlparse(url)
    with psycopg.connect(
        host=parsed.hostname, port=parsed.port or 5432, user=parsed.username, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(sql)


_MAILBOX: dict[str, Path] = {}


@pytest.fixture(scope="session")
def demo_mailbox(demo_server) -> Path:
    """The folder where the demo server writes the emails it sends (one file per message)."""
    return _MAILBOX["dir"]


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory) -> Iterator[str]:
    var = tmp_path_factory.mktemp("browser-var")
    env = {**os.environ, "DEBUG": "true", "OPENKAP_DEMO": "true", "OPENKAP_VAR_DIR": str(var),
           "DJANGO_SETTINGS_MODULE": "openkap.settings", "TIME_ZONE": CLINIC_TIME_ZONE,
           # Each role signs in once for the whole run (signed_in): no automatic logoff mid-run.
           "OPENKAP_IDLE_TIMEOUT_SECONDS": str(6 * 60 * 60),
           # Emailed links (portal invitations) land as files the tests can open (demo_mailbox).
           "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
           # The referral walks fill a form in seconds; the minimum fill time is tested in tests/referrals.
           "OPENKAP_REFERRAL_MIN_FILL_SECONDS": "0"}
    env.pop("SECRET_KEY", None)
    _MAILBOX["dir"] = var / "mail"
    test_db_url = os.environ.get("DATABASE_URL", "")
    pg_name = None
    if test_db_url.startswith("postgres"):
        pg_name = f"openkap_browser_{os.getpid()}"
        _postgres_admin(test_db_url, f"DROP DATABASE IF EXISTS {pg_name}")
        _postgres_admin(test_db_url, f"CREATE DATABASE {pg_name}")
        env["DATABASE_URL"] = test_db_url.rsplit("/", 1)[0] + "/" + pg_name
    else:
        env["DATABASE_URL"] = f"sqlite:///{var / 'browser.sqlite3'}"
    openkap = [sys.executable, "-m", "openkap.cli"]
    # The server logs every request; a pipe nobody reads would fill up and block it.
    log_path = var / "server.log"
    server = worker = None
    try:
        subprocess.run([*openkap, "migrate", "--noinput", "-v", "0"], env=env, check=True)
        subprocess.run([*openkap, "seed-demo", "--patients", "60"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        port = _free_port()
        with log_path.open("wb") as log:
            server = subprocess.Popen([*openkap, "serve", f"127.0.0.1:{port}"], env=env,
                                      stdout=log, stderr=subprocess.STDOUT)
        # The task worker beside it, as in production: it makes the session record PDFs.
        with (var / "worker.log").open("wb") as log:
            worker = subprocess.Popen([*openkap, "db_worker", "--no-reload", "--interval", "1"], env=env,
                                      stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base, server, log_path)
        yield base
    finally:
        if server is not None:
            _stop(server)
        if worker is not None:
            _stop(worker)
        if pg_name:
            _postgres_admin(test_db_url, f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")


def _wait_until_up(base: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310 - our own loopback server
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("demo server did not start: " + log_path.read_text()[-2000:]) from None
            time.sleep(0.2)


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ten seconds: never left running."""
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture(scope="session")
def browser():
    require_tool(CHROMIUM, "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _new_page(browser, base_url: str, width: int, height: int, storage_state=None):
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=base_url,
                                  storage_state=storage_state)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


@pytest.fixture
def page(browser, demo_server):
    context, page = _new_page(browser, demo_server, 1280, 900)
    yield page
    context.close()


class Devices:
    """Browser contexts (devices) with a user signed in. Every user signs in through the
    real password and TOTP pages once per test run; later devices start from the cookies
    saved then (Playwright storage state). A TOTP step is accepted once per account, so
    signing the same user in again within 30 seconds would fail: nobody waits for codes."""

    def __init__(self, browser, base_url: str) -> None:
        self.browser, self.base_url = browser, base_url
        self.states: dict[str, dict] = {}

    def open(self, email: str, width: int = 1280, height: int = 900):
        """A new context with ``email`` signed in, and its page at the home page."""
        if email not in self.states:
            context, page = _new_page(self.browser, self.base_url, width, height)
            sign_in(page, email)
            self.states[email] = context.storage_state()
            context.close()
        context, page = _new_page(self.browser, self.base_url, width, height, storage_state=self.states[email])
        page.goto("/")
        return context, page


@pytest.fixture(scope="session")
def devices(browser, demo_server) -> Devices:
    return Devices(browser, demo_server)


@pytest.fixture
def signed_in(devices):
    """``signed_in(email, width=1280, height=900)`` -> a page on its own device where
    ``email`` is signed in; closed after the test."""
    contexts = []

    def open_as(email: str, width: int = 1280, height: int = 900):
        context, page = devices.open(email, width, height)
        contexts.append(context)
        return page

    yield open_as
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


DEMO_PASSWORD = "demo-password-2026"


def sign_in(page, email: str, password: str = DEMO_PASSWORD) -> None:
    """Through the sign-in pages: the password, then (staff) the TOTP code the demo shows."""
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    if "/accounts/mfa/verify/" in page.url:
        page.get_by_label("6-digit code").fill(page.get_by_test_id("demo-code").inner_text().strip())
        page.get_by_role("button", name="Verify").click()
        page.wait_for_load_state()
    if "/accounts/" in page.url:
        raise AssertionError(f"{email} was not signed in (a TOTP step is accepted once per account: "
                             "sign each user in once per run, through the signed_in fixture)")
