"""Browser tests drive Debian's Chromium (never a downloaded browser) against a real
`openkap serve` process with a freshly migrated and seeded demo clinic, on the same
kind of database as the rest of the run (SQLite, or a new PostgreSQL database)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"


def _zone_in_early_afternoon() -> str:
    """A fixed-offset zone where it is 13:xx now: the demo's morning sessions and the
    walks that chart them never straddle midnight, whenever CI runs."""
    offset = (13 - datetime.now(UTC).hour + 12) % 24 - 12
    # POSIX sign convention: Etc/GMT-5 is UTC+5.
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


# The demo server's TIME_ZONE; tests compute clinic-local times with it.
CLINIC_TIME_ZONE = _zone_in_early_afternoon()


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


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory) -> Iterator[str]:
    var = tmp_path_factory.mktemp("browser-var")
    env = {**os.environ, "DEBUG": "true", "OPENKAP_DEMO": "true", "OPENKAP_VAR_DIR": str(var),
           "DJANGO_SETTINGS_MODULE": "openkap.settings", "TIME_ZONE": CLINIC_TIME_ZONE}
    env.pop("SECRET_KEY", None)
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
    subprocess.run([*openkap, "migrate", "--noinput", "-v", "0"], env=env, check=True)
    subprocess.run([*openkap, "seed-demo", "--patients", "60"], env=env, check=True, stdout=subprocess.DEVNULL)
    port = _free_port()
    # The server logs every request; a pipe nobody reads would fill up and block it.
    log_path = var / "server.log"
    log = log_path.open("wb")
    server = subprocess.Popen([*openkap, "serve", f"127.0.0.1:{port}"], env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310 - our own loopback server
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                log.close()
                raise RuntimeError("demo server did not start: " + log_path.read_text()[-2000:]) from None
            time.sleep(0.2)
    yield base
    server.terminate()
    server.wait(timeout=10)
    log.close()
    if pg_name:
        _postgres_admin(test_db_url, f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, demo_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=demo_server)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, email: str, password: str = "demo-password-2026") -> None:
    """Password, then the TOTP code the demo shows on screen."""
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    # A TOTP step is accepted once per account (no replay), and tests sign the same demo
    # users in many times: when this step's code is spent, wait for the next one.
    for _attempt in range(3):
        code = page.get_by_test_id("demo-code").inner_text().strip()
        page.get_by_label("6-digit code").fill(code)
        page.get_by_role("button", name="Verify").click()
        page.wait_for_load_state()
        if "/accounts/mfa/verify/" not in page.url:
            return
        time.sleep(30.5 - time.time() % 30)
        page.reload()
    raise AssertionError(f"could not complete two-step verification for {email}")
