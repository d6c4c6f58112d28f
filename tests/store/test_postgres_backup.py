"""README's PostgreSQL backup recipe, run: ``pg_dump`` while a terminal writes,
``pg_restore`` into an empty database, and ``verify --against`` the checkpoint taken
before the dump (docs/design.md section 6, "Backups")."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest

import cmrewards
from support import postgres as postgres_support
from support.clinics import START, FakeClock, visit

ADMIN = "admin-1"
TARGET = "stimulant-negative"


def in_database(url: str, database: str) -> str:
    """``url`` (a clinic's schema) in another database of the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


def test_pg_dump_during_writes_restores_to_a_clinic_that_verifies_against_its_checkpoint(
    tmp_path: Path,
) -> None:
    import psycopg

    pg_dump, pg_restore = tool("pg_dump"), tool("pg_restore")
    with postgres_support.database() as url:
        schema = parse_qs(urlsplit(url).query)["options"][0].split("=")[1]
        with cmrewards.open(url, clock=FakeClock()) as clinic:
            clinic.init(ADMIN)
            clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor=ADMIN)
            clinic.enroll("P-1", "higgins-vbrt", start=START, actor=ADMIN)
            for day in range(0, 10, 2):
                clinic.record("P-1", TARGET, "met", at=visit(day), actor=ADMIN)
            checkpoint = clinic.checkpoint()
            told = clinic.verify()

        stop = threading.Event()

        def terminal() -> None:
            with cmrewards.open(url, clock=FakeClock()) as desk:
                for minute in itertools.count():
                    if stop.is_set():
                        break
                    at = visit(10) + dt.timedelta(minutes=minute)
                    desk.record("P-1", TARGET, "met", at=at, actor=ADMIN)

        writer = threading.Thread(target=terminal)
        writer.start()
        dump = tmp_path / "clinic.pgdump"
        try:
            subprocess.run(
                [pg_dump, "--format=custom", f"--schema={schema}", f"--file={dump}", url],
                check=True,
                capture_output=True,
            )
        finally:
            stop.set()
            writer.join()

        drill_database = f"cmrewards_drill_{os.getpid()}"
        with psycopg.connect(postgres_support.server(), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {drill_database}")
            admin.execute(f"CREATE DATABASE {drill_database}")
        try:
            drill = in_database(url, drill_database)
            subprocess.run(
                [pg_restore, "--no-owner", f"--dbname={drill}", str(dump)],
                check=True,
                capture_output=True,
            )
            with cmrewards.open(drill, create=False) as restored:
                report = restored.verify(against=checkpoint)
        finally:
            with psycopg.connect(postgres_support.server(), autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {drill_database} WITH (FORCE)")
    assert report.ok, report.problems
    assert report.outcomes >= told.outcomes
