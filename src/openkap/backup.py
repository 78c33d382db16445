"""Backups and a verified restore (``openkap backup`` / ``openkap restore``).

PostgreSQL is dumped with ``pg_dump -Fc`` (custom format, consistent snapshot, restorable
table by table); SQLite with its online backup API (a consistent copy while the server
runs). Optionally the file is encrypted with ``OPENKAP_BACKUP_KEY`` (a Fernet key) in
chunks, so a large dump never has to fit in memory. A restore goes only into an empty
database and is not reported as done until the ledger's and the audit log's hash chains
verify on the restored copy.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import connection
from django.utils import timezone

MAGIC = b"OPENKAP-BACKUP-1\n"
CHUNK = 16 * 1024 * 1024


class BackupError(Exception):
    pass


def _pg_env(db: dict[str, Any]) -> dict[str, str]:
    env = {**os.environ, "PGHOST": str(db.get("HOST") or ""), "PGPORT": str(db.get("PORT") or ""),
           "PGUSER": str(db.get("USER") or ""), "PGDATABASE": str(db["NAME"])}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return {k: v for k, v in env.items() if v != ""}


def _run(command: list[str], env: dict[str, str]) -> None:
    # Output goes to a temporary file, never to a pipe nobody reads.
    with tempfile.TemporaryFile() as log:
        done = subprocess.run(command, env=env, stdout=log, stderr=log, check=False)  # noqa: S603 - fixed argv
        if done.returncode != 0:
            log.seek(0)
            raise BackupError(f"{command[0]} failed: {log.read().decode(errors='replace').strip()[-2000:]}")


def create(*, out: Path, encrypt: bool) -> Path:
    """Write a timestamped backup of the configured database into ``out``."""
    if encrypt:
        _fernet()  # no plaintext dump is written when it could not be encrypted
    out.mkdir(parents=True, exist_ok=True)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    vendor = connection.vendor
    plain = out / f"openkap-{vendor}-{stamp}.{'dump' if vendor == 'postgresql' else 'sqlite3'}"
    if vendor == "postgresql":
        db = connection.settings_dict
        _run(["pg_dump", "--format=custom", "--file", str(plain), str(db["NAME"])], _pg_env(db))
    elif vendor == "sqlite":
        name = str(connection.settings_dict["NAME"])
        if not Path(name).is_file():
            raise BackupError(f"SQLite backup needs the database file; {name} is not one.")
        # A connection of its own: the online backup API copies a consistent snapshot
        # while the server's processes keep writing.
        source, target = sqlite3.connect(name), sqlite3.connect(plain)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
    else:
        raise BackupError(f"No backup method for {vendor}.")
    if not encrypt:
        return plain
    sealed = plain.with_name(plain.name + ".enc")
    with plain.open("rb") as reader, sealed.open("wb") as writer:
        _encrypt(reader, writer)
    plain.unlink()
    return sealed


def _fernet() -> Fernet:
    key = settings.OPENKAP_BACKUP_KEY
    if not key:
        raise BackupError("Set OPENKAP_BACKUP_KEY (a Fernet key, kept apart from the backups) to encrypt or "
                          "decrypt backups.")
    return Fernet(key)


def _encrypt(source: BinaryIO, target: BinaryIO) -> None:
    fernet = _fernet()
    target.write(MAGIC)
    while chunk := source.read(CHUNK):
        token = fernet.encrypt(chunk)
        target.write(struct.pack(">Q", len(token)) + token)


def _decrypt_chunks(source: BinaryIO) -> Iterator[bytes]:
    fernet = _fernet()
    if source.read(len(MAGIC)) != MAGIC:
        raise BackupError("Not an encrypted OpenKAP backup.")
    while header := source.read(8):
        (length,) = struct.unpack(">Q", header)
        try:
            yield fernet.decrypt(source.read(length))
        except InvalidToken:
            raise BackupError(
                "The backup cannot be decrypted with OPENKAP_BACKUP_KEY (wrong key or damaged file)."
            ) from None


def _plain_copy(path: Path, folder: Path) -> Path:
    if not path.name.endswith(".enc"):
        return path
    plain = folder / path.name.removesuffix(".enc")
    with path.open("rb") as source, plain.open("wb") as target:
        for chunk in _decrypt_chunks(source):
            target.write(chunk)
    return plain


def restore(path: Path) -> None:
    """Load a backup into the configured database, which must be empty."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file.")
    if connection.introspection.table_names():
        raise BackupError(
            f"The database {connection.settings_dict['NAME']} is not empty: restore only into a new, empty "
            "database (then point the server at it)."
        )
    vendor = connection.vendor
    with tempfile.TemporaryDirectory() as work:
        plain = _plain_copy(path, Path(work))
        is_dump = plain.name.endswith(".dump")
        if vendor == "postgresql" and is_dump:
            db = connection.settings_dict
            _run(["pg_restore", "--exit-on-error", "--no-owner", "--dbname", str(db["NAME"]), str(plain)],
                 _pg_env(db))
        elif vendor == "sqlite" and plain.name.endswith(".sqlite3"):
            connection.close()
            source = sqlite3.connect(plain)
            target = sqlite3.connect(connection.settings_dict["NAME"])
            try:
                source.backup(target)
            finally:
                source.close()
                target.close()
        else:
            raise BackupError(f"{path.name} is not a {vendor} backup of OpenKAP.")


def table_counts() -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names()):
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 - names from the catalogue
            counts[table] = cursor.fetchone()[0]
    return counts

