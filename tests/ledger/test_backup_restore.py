"""Issue 13, finding 8: the backup -> restore -> verify drill, end to end through the
``openkap`` command as an operator runs it, on the database the suite runs on (CI runs
it on SQLite and PostgreSQL): a seeded clinic is backed up (encrypted), restored into
a new empty database, and the restore reports success only after the ledger's and the
audit log's chains verify; the row counts match. A tampered backup is refused."""

from __future__ import annotations

import io
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from openkap import backup

ROOT = Path(__file__).resolve().parents[2]
KEY = Fernet.generate_key().decode()
TEST_DB_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = TEST_DB_URL.startswith("postgres")


def _postgres(sql: str, dbname: str = "postgres") -> list[tuple]:
    import psycopg

    parsed = urlparse(TEST_DB_URL)
    with psycopg.connect(host=parsed.hostname, port=parsed.port or 5432, user=parsed.username,
                         dbname=dbname, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def databases(tmp_path, transactional_db):
    """Two new databases beside the test database: the clinic's, a copy of the migrated
    test database (migrating one costs more than the whole drill), and the empty restore
    target (on PostgreSQL named after the test database: parallel runs do not collide).
    ``transactional_db``: the test database exists (even when no other test asked for
    it) and no transaction is open (VACUUM and a template need none)."""
    from django.db import connection

    if not ON_POSTGRES:
        clinic = tmp_path / "clinic.sqlite3"
        with connection.cursor() as cursor:
            cursor.execute("VACUUM INTO %s", [str(clinic)])
        yield f"sqlite:///{clinic}", f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    base = settings.DATABASES["default"]["NAME"]
    names = [f"{base}_drill_src", f"{base}_drill_dst"]
    for name in names:
        _postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    connection.close()  # a template database must have no other session
    _postgres(f"CREATE DATABASE {names[0]} TEMPLATE {base}")
    _postgres(f"CREATE DATABASE {names[1]}")
    root = TEST_DB_URL.rsplit("/", 1)[0]
    yield f"{root}/{names[0]}", f"{root}/{names[1]}"
    for name in names:
        _postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _openkap(url: str, tmp_path: Path, *args: str) -> tuple[int, str]:
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "true", "OPENKAP_DEMO": "true",
           "OPENKAP_VAR_DIR": str(tmp_path / "var"), "OPENKAP_BACKUP_KEY": KEY,
           "OPENKAP_AUDIT_SEAL_DELAY_SECONDS": "0", "DJANGO_SETTINGS_MODULE": "openkap.settings"}
    env.pop("SECRET_KEY", None)
    log = tmp_path / "command.log"
    with log.open("w") as out:  # a file, not a pipe nobody reads
        done = subprocess.run([sys.executable, "-m", "openkap.cli", *args], env=env, cwd=tmp_path,
                              stdout=out, stderr=subprocess.STDOUT, check=False, timeout=900)
    return done.returncode, log.read_text()


def _row_counts(url: str) -> dict[str, int]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                               "AND name NOT LIKE 'sqlite_%'")]
            return {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    name = url.rsplit("/", 1)[1]
    tables = [r[0] for r in _postgres("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", name)]
    return {t: _postgres(f'SELECT COUNT(*) FROM "{t}"', name)[0][0] for t in tables}


def _backup(clinic: str, tmp_path: Path, *extra: str) -> Path:
    rc, out = _openkap(clinic, tmp_path, "backup", "--out", str(tmp_path / "backups"), *extra)
    assert rc == 0, out
    return Path(re.search(r"Backup written: (\S+)", out).group(1))


# The clinic's day before the backup, in one process: demo data, the audit log sealed,
# the ledger verified (its entry count is compared after the restore).
PREPARE = ("from django.core.management import call_command as c; c('seed_demo', patients=1); "
           "c('audit', 'seal'); c('ledger', 'verify', '--no-checkpoint')")


def test_backup_restore_verify_drill(databases, tmp_path):
    clinic, restored = databases
    rc, ledger = _openkap(clinic, tmp_path, "shell", "-c", PREPARE)
    assert rc == 0, ledger
    entries = re.search(r"Ledger intact: (\d+) entries", ledger).group(1)
    assert int(entries) > 0
    before = _row_counts(clinic)
    assert before["audit_auditevent"] > 0

    path = _backup(clinic, tmp_path, "--encrypt")
    vendor = "postgresql" if ON_POSTGRES else "sqlite"
    assert re.fullmatch(rf"openkap-{vendor}-\d{{8}}T\d{{6}}Z\.(dump|sqlite3)\.enc", path.name)
    assert b"Demo KAP Clinic" not in path.read_bytes()  # encrypted

    rc, out = _openkap(restored, tmp_path, "restore", str(path))
    assert rc == 0, out
    assert "Restore verified" in out
    assert f"Ledger intact: {entries} entries" in out
    assert f"Audit log intact: {before['audit_auditevent']} events" in out
    assert _row_counts(restored) == before

    # The restored database is no longer empty: a second restore into it is refused.
    rc, out = _openkap(restored, tmp_path, "restore", str(path))
    assert rc != 0
    assert "is not empty" in out
    if not ON_POSTGRES:
        _tampered_backup_is_refused(path, tmp_path)


def _tampered_backup_is_refused(encrypted: Path, tmp_path: Path) -> None:
    """Someone edits an audit row in the backup file: the restore does not claim success."""
    with override_settings(OPENKAP_BACKUP_KEY=KEY):
        path = backup._plain_copy(encrypted, tmp_path)  # the backup, decrypted
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER audit_auditevent_no_update")
        db.execute("UPDATE audit_auditevent SET actor_email = 'nobody@else.org' WHERE id = "
                   "(SELECT MIN(id) FROM audit_auditevent)")
    rc, out = _openkap(f"sqlite:///{tmp_path / 'again.sqlite3'}", tmp_path, "restore", str(path))
    assert rc == 1
    assert "RESTORE NOT VERIFIED: audit verification failed" in out
    assert "was altered" in out


def test_an_encrypted_backup_needs_the_key(db, tmp_path, settings):
    settings.OPENKAP_BACKUP_KEY = ""
    with pytest.raises(CommandError, match="OPENKAP_BACKUP_KEY"):
        call_command("backup", "--out", str(tmp_path), "--encrypt", stdout=io.StringIO())
