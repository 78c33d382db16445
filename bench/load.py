"""Clinician pages under concurrent users on a large seeded clinic.

Usage (the database must already hold a seeded clinic, e.g. `openkap seed-demo --patients 100000`):

    DATABASE_URL=... python bench/load.py --users 8 --seconds 30 [--workers 4]

Starts gunicorn (production settings) on a loopback port, signs in the demo
therapist and nurse (password + TOTP), then each simulated user repeats a
clinician's round: search by name, open a chart, search by date of birth.
Prints requests per second and latency percentiles per page. Only 127.0.0.1 is
contacted; every loop is bounded by --seconds.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pyotp
import requests
from cryptography.fernet import Fernet

BIN = Path(sys.executable).parent
DEMO_PASSWORD = "demo-password-2026"
SECRETS = {
    "therapist@demo.openkap.org": "JBSWY3DPEHPK3PXPTHERAPISTAAAAAAA",
    "nurse@demo.openkap.org": "JBSWY3DPEHPK3PXPNURSEAAAAAAAAAAA",
}
NAMES = ["smith", "johnson", "garcia", "miller", "davis", "lopez", "wilson", "anderson", "thomas", "lee"]


def _csrf(session: requests.Session, url: str) -> str:
    html = session.get(url, timeout=30).text
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def sign_in(base: str, email: str) -> requests.Session:
    s = requests.Session()
    token = _csrf(s, base + "/accounts/login/")
    s.post(base + "/accounts/login/", data={"email": email, "password": DEMO_PASSWORD,
           "csrfmiddlewaretoken": token}, headers={"Referer": base}, timeout=30)
    token = _csrf(s, base + "/accounts/mfa/verify/")
    # Each TOTP step is accepted once per user, so wait for a fresh step per sign-in.
    time.sleep(30 - time.time() % 30 + 0.5)
    r = s.post(base + "/accounts/mfa/verify/", data={"code": pyotp.TOTP(SECRETS[email]).now(),
               "csrfmiddlewaretoken": token}, headers={"Referer": base}, timeout=30, allow_redirects=False)
    if r.status_code != 302:
        raise SystemExit(f"MFA failed for {email}: {r.status_code}")
    return s


def user_loop(base: str, session: requests.Session, until: float, seed: int, timings: dict, lock: threading.Lock) -> None:
    rng = random.Random(seed)
    while time.monotonic() < until:
        for page, url in (
            ("search name", f"/patients/?q={rng.choice(NAMES)}"),
            ("search dob", f"/patients/?q=19{rng.randint(55, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"),
        ):
            start = time.perf_counter()
            r = session.get(base + url, timeout=30)
            elapsed = time.perf_counter() - start
            with lock:
                timings[page].append((elapsed, r.status_code))
            if page == "search name":
                ids = re.findall(r'href="/patients/(\d+)/"', r.text)
                if ids:
                    start = time.perf_counter()
                    r = session.get(f"{base}/patients/{rng.choice(ids)}/", timeout=30)
                    with lock:
                        timings["chart"].append((time.perf_counter() - start, r.status_code))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": "bench-" + "x" * 40, "ALLOWED_HOSTS": "127.0.0.1",
           "OPENKAP_FIELD_KEYS": os.environ.get("OPENKAP_FIELD_KEYS", Fernet.generate_key().decode()),
           "SECURE_COOKIES": "false", "DJANGO_SETTINGS_MODULE": "openkap.settings", "LOG_LEVEL": "WARNING"}
    subprocess.run([str(BIN / "openkap"), "collectstatic", "--noinput", "-v", "0"], env=env, check=True)
    server = subprocess.Popen([str(BIN / "gunicorn"), "openkap.wsgi:application", "--bind",
                               f"127.0.0.1:{args.port}", "--workers", str(args.workers), "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(150):
            if server.poll() is not None:
                raise SystemExit("gunicorn exited during start-up")
            try:
                requests.get(base + "/healthz", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.2)
        sessions = [sign_in(base, email) for email in SECRETS]
        timings: dict[str, list[tuple[float, int]]] = defaultdict(list)
        lock = threading.Lock()
        until = time.monotonic() + args.seconds
        threads = [threading.Thread(target=user_loop, args=(base, sessions[i % len(sessions)], until, i, timings, lock))
                   for i in range(args.users)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=10)
    total = sum(len(v) for v in timings.values())
    print(f"database: {os.environ.get('DATABASE_URL', 'sqlite (default)').split('@')[-1]}")
    print(f"{args.users} users, {args.workers} gunicorn workers, {wall:.1f} s: {total} requests, {total / wall:.1f} req/s")
    for page, values in sorted(timings.items()):
        times = sorted(v[0] * 1000 for v in values)
        errors = sum(1 for v in values if v[1] != 200)
        p95 = times[int(len(times) * 0.95) - 1] if len(times) >= 20 else max(times)
        print(f"  {page:<12} n={len(times):5d}  median {statistics.median(times):7.1f} ms  p95 {p95:7.1f} ms  errors {errors}")


if __name__ == "__main__":
    main()
