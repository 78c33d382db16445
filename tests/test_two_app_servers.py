"""Two app servers, one database: nothing a request relies on lives in one server's memory
(docs/adr/0055-scale-out.md). Two gunicorn processes on two ports, as two machines behind
a load balancer would be, with the production middleware (DEBUG off): a user signed in
through one is signed in on the other, signing out on one ends the session on both, and
an account locked by failures on one stays locked on the other.

PostgreSQL only (the deployment that runs several app servers); the rows these servers
write are committed, so the test is transactional (see tests/ledger/test_concurrency.py)."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
import requests
from django.conf import settings
from django.db import connection
from django.utils import timezone

from openkap.accounts.services import LOCKED_MESSAGE
from openkap.core.authz import Role

from .conftest import PASSWORD, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


class AppServer:
    """gunicorn with one worker on a loopback socket this test bound (a free port, and
    nothing else can be answering on it)."""

    def __init__(self, env: dict[str, str]):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.set_inheritable(True)
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - read when start-up fails
        fd = self.sock.fileno()
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "openkap.wsgi:application", "--bind", f"fd://{fd}", "--workers", "1",
             "--timeout", "120", "--log-level", "warning"],
            env=env, pass_fds=(fd,), stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                pytest.fail(f"gunicorn exited: {self.log.read().decode()[-2000:]}")
            try:
                if requests.get(self.base + "/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.3)
        pytest.fail("gunicorn did not answer within 180 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
        self.log.close()


@pytest.fixture
def servers(db) -> Iterator[tuple[AppServer, AppServer]]:
    db_settings = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DEBUG": "false",
        "DATABASE_URL": (f"postgres://{db_settings['USER']}@{db_settings['HOST'] or '127.0.0.1'}:"
                         f"{db_settings['PORT'] or 5432}/{db_settings['NAME']}"),
        "SECRET_KEY": settings.SECRET_KEY,  # one key for every server: each checks the others' cookies
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DATABASE_REPLICA_URL", None)
    pair = (AppServer(env), AppServer(env))
    try:
        for server in pair:
            server.wait_ready()
        yield pair
    finally:
        for server in pair:
            server.stop()


def _csrf(session: requests.Session, url: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', session.get(url, timeout=30).text)
    assert match, f"no form on {url}"
    return match.group(1)


def _post(session: requests.Session, base: str, path: str, data: dict[str, str], *,
          form_page: str = "") -> requests.Response:
    token = _csrf(session, base + (form_page or path))
    return session.post(base + path, data={**data, "csrfmiddlewaretoken": token}, headers={"Referer": base + path},
                        timeout=30, allow_redirects=False)


def _sign_in(session: requests.Session, base: str, email: str, password: str) -> requests.Response:
    return _post(session, base, "/accounts/login/", {"email": email, "password": password})


def test_a_session_and_a_lock_out_hold_on_both_servers(servers, org):
    a, b = servers
    nurse = make_user("nurse@test.org", "Nell Nurse", org, Role.NURSE)
    nurse.totp_secret = pyotp.random_base32()
    nurse.totp_confirmed_at = timezone.now() - timedelta(days=1)
    nurse.save()
    browser = requests.Session()

    # Password on server A, the second factor on server B: one session in the database.
    assert _sign_in(browser, a.base, nurse.email, PASSWORD).status_code == 302
    code = pyotp.TOTP(nurse.totp_secret).now()
    assert _post(browser, b.base, "/accounts/mfa/verify/", {"code": code}).status_code == 302
    for server in (a, b):
        page = browser.get(server.base + "/tasks/", timeout=30, allow_redirects=False)
        assert page.status_code == 200, server.base
        assert "Nell Nurse" in page.text

    # Signing out through B ends the session on A too, even for a copy of the old cookie.
    old_cookies = browser.cookies.copy()
    assert _post(browser, b.base, "/accounts/logout/", {}, form_page="/tasks/").status_code == 302
    after = requests.get(a.base + "/tasks/", cookies=old_cookies, timeout=30, allow_redirects=False)
    assert after.status_code == 302
    assert "/accounts/login/" in after.headers["Location"]

    # Failures through A lock the account; the right password through B is refused.
    guesser = requests.Session()
    for _ in range(settings.LOGIN_MAX_FAILURES_PER_ACCOUNT):
        assert _sign_in(guesser, a.base, nurse.email, secrets.token_urlsafe(12)).status_code == 200
    refused = _sign_in(requests.Session(), b.base, nurse.email, PASSWORD)
    assert refused.status_code == 200
    assert LOCKED_MESSAGE.split(".")[0] in refused.text
