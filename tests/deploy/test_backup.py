"""deploy/backup.sh (messaging-backup.service) on a throwaway PostgreSQL database and upload
directory, and the README's restore: pg_restore into an empty database, the uploads unpacked."""

import os
import shutil
import subprocess
import tarfile
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from deploy_harness import DEPLOY
from support.databases import PostgresDatabases

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("deploy")]

BACKUP = DEPLOY / "backup.sh"


def test_the_backup_unit_runs_the_script_as_the_service_user_with_its_settings() -> None:
    unit = (DEPLOY / "systemd" / "messaging-backup.service").read_text()
    assert "\nExecStart=/bin/sh /opt/messaging/deploy/backup.sh\n" in unit
    for line in ("User=messaging", "EnvironmentFile=/etc/messaging/messaging.env", "Type=oneshot"):
        assert f"\n{line}\n" in unit, line
    timer = (DEPLOY / "systemd" / "messaging-backup.timer").read_text()
    assert "\nOnCalendar=*-*-* 03:15:00\n" in timer and "\nPersistent=true\n" in timer


def run_backup(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """deploy/backup.sh with these settings (and the system's PATH)."""
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed (Debian: postgresql-client)")
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    return subprocess.run(["sh", str(BACKUP)], env=full, capture_output=True, text=True, check=False)


def test_a_backup_restores_the_database_and_the_uploads(
    pg_databases: PostgresDatabases, tmp_path: Path
) -> None:
    source = pg_databases.migrated("backup")
    engine = sa.create_engine(source, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE backup_probe (note text)"))
        conn.execute(sa.text("INSERT INTO backup_probe VALUES ('kept'), ('also kept')"))
    engine.dispose()
    instance = tmp_path / "instance"
    (instance / "uploads" / "ab").mkdir(parents=True)
    (instance / "uploads" / "ab" / "file-1").write_bytes(b"\x00attachment bytes\xff")
    backups = tmp_path / "backups"
    backups.mkdir()
    stale = [backups / "db-2000-01-01.dump", backups / "uploads-2000-01-01.tgz"]
    kept = backups / "notes.txt"  # not a backup of the script: never deleted
    for path in [*stale, kept]:
        path.write_text("old")
        old = time.time() - 30 * 86400
        os.utime(path, (old, old))

    result = run_backup({"DATABASE_URL": source, "INSTANCE_PATH": str(instance), "BACKUP_DIR": str(backups)})
    assert result.returncode == 0, result.stderr
    day = date.today().isoformat()
    dump, uploads = backups / f"db-{day}.dump", backups / f"uploads-{day}.tgz"
    assert sorted(p.name for p in backups.iterdir()) == sorted([dump.name, uploads.name, kept.name])
    assert dump.stat().st_mode & 0o077 == 0 and uploads.stat().st_mode & 0o077 == 0

    # The README's restore (as the database's superuser, into an empty database).
    restored = pg_databases.create("restored")
    restore = subprocess.run(
        [
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            f"--dbname={restored.replace('+psycopg2', '')}",
            str(dump),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert restore.returncode == 0, restore.stderr
    engine = sa.create_engine(restored, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        notes = sorted(conn.execute(sa.text("SELECT note FROM backup_probe")).scalars())
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert notes == ["also kept", "kept"]
    assert revision
    target = tmp_path / "restored"
    target.mkdir()
    with tarfile.open(uploads) as archive:
        archive.extractall(target, filter="data")
    assert (target / "uploads" / "ab" / "file-1").read_bytes() == b"\x00attachment bytes\xff"


def test_a_backup_without_uploads_yet_writes_an_empty_archive(
    pg_databases: PostgresDatabases, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    result = run_backup(
        {
            "DATABASE_URL": pg_databases.create("backup_empty"),
            "UPLOAD_DIR": str(tmp_path / "never-created"),
            "BACKUP_DIR": str(backups),
        }
    )
    assert result.returncode == 0, result.stderr
    with tarfile.open(backups / f"uploads-{date.today().isoformat()}.tgz") as archive:
        assert archive.getnames() == []


def test_a_failed_dump_leaves_no_backup_that_looks_complete(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    result = run_backup(
        {
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
            "INSTANCE_PATH": str(tmp_path),
            "BACKUP_DIR": str(backups),
        }
    )
    assert result.returncode != 0
    assert not list(backups.glob("db-*.dump")) and not list(backups.glob("uploads-*.tgz"))
