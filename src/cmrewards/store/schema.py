"""The SQLite schema: each migration's SQLite form, as the statements it runs.

The registry (``migrations.py``) pairs each with its PostgreSQL form, and the SQLite
runner (``sqlite.py``) applies them through sqlite-utils, once each, in order, inside
the opening transaction. Never edit a released migration: add the next one. The
invariants the domain keeps are enforced here too (STRICT types, CHECKs, UNIQUE keys,
append-only triggers), so a bug or a stray script cannot slip past them.

A released statement's text is kept exactly, indentation included: SQLite stores each
CREATE as written, and tests/store/test_schema.py pins a digest of every migration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

APPLICATION = "cmrewards"
MIGRATION_SET = "cmrewards"
"""The sqlite-utils migration set (``_sqlite_migrations.migration_set``)."""

OUTCOMES_CHECK = "('met', 'not_met', 'missed', 'excused', 'invalid')"
"""The outcomes' CHECK list as released in 0001 (both engines): a new one needs a migration."""
MOVEMENTS_CHECK = (
    "('award', 'bonus', 'adjustment-up', 'adjustment-down', 'hold', 'release', 'spend', 'reversal')"
)
"""The movement kinds' CHECK list as released in 0001 (both engines)."""


_TRIGGER = re.compile(r"^(CREATE|DROP) TRIGGER (?:IF (?:NOT )?EXISTS )?(\w+)")


def guards(statements: Iterable[str]) -> dict[str, str]:
    """Every trigger ``statements`` leave, by name, with the CREATE statement SQLite keeps
    for it word for word (``sqlite_master.sql``).

    The migrations are the one declaration of the guards: ``SQLiteStore.integrity_problems``
    reads it, so ``verify`` reports a guard dropped, redefined, or joined by an unknown
    trigger, as on PostgreSQL (``postgres_schema.GUARDS``).
    """
    found: dict[str, str] = {}
    for statement in statements:
        match = _TRIGGER.match(statement)
        if match is not None and match[1] == "CREATE":
            found[match[2]] = statement
        elif match is not None:
            found.pop(match[2], None)
    return found


def _append_only(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
        for event in ("UPDATE", "DELETE")
    ]


INITIAL = [
    """CREATE TABLE cmrewards_meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) STRICT""",
    f"INSERT INTO cmrewards_meta (key, value) VALUES ('application', '{APPLICATION}')",
    """CREATE TABLE staff (
            id TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('recorder', 'clinician', 'admin')),
            active INTEGER NOT NULL CHECK (active IN (0, 1)),
            added_at TEXT NOT NULL,
            added_by TEXT REFERENCES staff(id)
        ) STRICT""",
    """CREATE TABLE programs (
            id TEXT PRIMARY KEY,
            definition TEXT NOT NULL,
            added_at TEXT NOT NULL,
            added_by TEXT NOT NULL REFERENCES staff(id)
        ) STRICT""",
    """CREATE TABLE participants (
            id TEXT PRIMARY KEY,
            program_id TEXT NOT NULL REFERENCES programs(id),
            start_date TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('active', 'completed', 'withdrawn')),
            enrolled_at TEXT NOT NULL,
            enrolled_by TEXT NOT NULL REFERENCES staff(id)
        ) STRICT""",
    f"""CREATE TABLE outcomes (
            id INTEGER PRIMARY KEY,
            program_id TEXT NOT NULL REFERENCES programs(id),
            participant TEXT NOT NULL REFERENCES participants(id),
            target TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN {OUTCOMES_CHECK}),
            occurred_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            actor TEXT NOT NULL REFERENCES staff(id),
            key TEXT,
            note TEXT,
            seed INTEGER,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        ) STRICT""",
    "CREATE INDEX outcomes_by_visit ON outcomes (participant, occurred_at)",
    "CREATE INDEX outcomes_by_target ON outcomes (participant, target, id)",
    f"""CREATE TABLE transfers (
            id INTEGER PRIMARY KEY,
            program_id TEXT NOT NULL REFERENCES programs(id),
            kind TEXT NOT NULL CHECK (kind IN {MOVEMENTS_CHECK}),
            from_account TEXT NOT NULL,
            to_account TEXT NOT NULL CHECK (to_account <> from_account),
            amount INTEGER NOT NULL CHECK (amount > 0),
            participant TEXT REFERENCES participants(id),
            actor TEXT NOT NULL REFERENCES staff(id),
            reason TEXT NOT NULL,
            cause TEXT,
            reverses INTEGER UNIQUE REFERENCES transfers(id),
            occurred_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        ) STRICT""",
    "CREATE INDEX transfers_by_participant ON transfers (participant, id)",
    # The balance cache: kept by a trigger in the transfer's own transaction,
    # and never below zero for a participant's accounts.
    """CREATE TABLE balances (
            program_id TEXT NOT NULL,
            account TEXT NOT NULL,
            points INTEGER NOT NULL CHECK (points >= 0 OR account = 'funding'),
            PRIMARY KEY (program_id, account)
        ) STRICT""",
    # Zero rows first, then updates: an upsert would test the CHECK against the
    # bare inserted amount (negative for the paying account) before the conflict.
    """CREATE TRIGGER transfers_keep_balances AFTER INSERT ON transfers BEGIN
            INSERT INTO balances (program_id, account, points)
                VALUES (NEW.program_id, NEW.from_account, 0), (NEW.program_id, NEW.to_account, 0)
                ON CONFLICT (program_id, account) DO NOTHING;
            UPDATE balances SET points = points - NEW.amount
                WHERE program_id = NEW.program_id AND account = NEW.from_account;
            UPDATE balances SET points = points + NEW.amount
                WHERE program_id = NEW.program_id AND account = NEW.to_account;
        END""",
    """CREATE TABLE schedule_states (
            participant TEXT NOT NULL REFERENCES participants(id),
            target TEXT NOT NULL,
            pos INTEGER NOT NULL CHECK (pos >= 0),
            run INTEGER NOT NULL CHECK (run >= 0),
            saved INTEGER,
            last_week INTEGER,
            PRIMARY KEY (participant, target)
        ) STRICT""",
    """CREATE TABLE idempotency (
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            result TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (scope, key)
        ) STRICT""",
    *_append_only("outcomes"),
    *_append_only("transfers"),
]

PRIZES_AND_CAPS = [
    """CREATE TABLE prizes (
            id INTEGER PRIMARY KEY,
            program_id TEXT NOT NULL REFERENCES programs(id),
            participant TEXT NOT NULL REFERENCES participants(id),
            outcome_id INTEGER REFERENCES outcomes(id),
            draw INTEGER CHECK (draw >= 0),
            category TEXT NOT NULL,
            value_cents INTEGER NOT NULL CHECK (value_cents >= 0),
            won_at TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('owed', 'fulfilled', 'traded')),
            UNIQUE (outcome_id, draw),
            CHECK ((outcome_id IS NULL) = (draw IS NULL))
        ) STRICT""",
    "CREATE INDEX prizes_by_participant ON prizes (participant, id)",
    # What a prize was won for never changes; only its status moves on from owed.
    """CREATE TRIGGER prizes_only_status BEFORE UPDATE ON prizes
            WHEN NEW.id IS NOT OLD.id OR NEW.program_id IS NOT OLD.program_id
              OR NEW.participant IS NOT OLD.participant OR NEW.outcome_id IS NOT OLD.outcome_id
              OR NEW.draw IS NOT OLD.draw OR NEW.category IS NOT OLD.category
              OR NEW.value_cents IS NOT OLD.value_cents OR NEW.won_at IS NOT OLD.won_at
              OR OLD.status <> 'owed'
            BEGIN SELECT RAISE(ABORT, 'a prize only moves on from owed'); END""",
    """CREATE TRIGGER prizes_no_delete BEFORE DELETE ON prizes
            BEGIN SELECT RAISE(ABORT, 'prizes are append-only'); END""",
    """CREATE TABLE cap_usage (
            participant TEXT NOT NULL REFERENCES participants(id),
            period TEXT NOT NULL,
            cents INTEGER NOT NULL CHECK (cents >= 0),
            PRIMARY KEY (participant, period)
        ) STRICT""",
]

REDEMPTION = [
    """CREATE TABLE catalog (
            sku TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            cost INTEGER NOT NULL CHECK (cost >= 0),
            stock INTEGER CHECK (stock IS NULL OR stock >= 0),
            category TEXT,
            low_stock INTEGER NOT NULL CHECK (low_stock >= 0),
            added_at TEXT NOT NULL,
            added_by TEXT NOT NULL REFERENCES staff(id)
        ) STRICT""",
    """CREATE TABLE stock_movements (
            id INTEGER PRIMARY KEY,
            sku TEXT NOT NULL REFERENCES catalog(sku),
            change INTEGER NOT NULL CHECK (change <> 0),
            reason TEXT NOT NULL
                CHECK (reason IN ('restock', 'request', 'cancel', 'prize', 'return')),
            cause TEXT,
            actor TEXT NOT NULL REFERENCES staff(id),
            at TEXT NOT NULL
        ) STRICT""",
    """CREATE TRIGGER stock_movements_keep_stock AFTER INSERT ON stock_movements BEGIN
            UPDATE catalog SET stock = coalesce(stock, 0) + NEW.change WHERE sku = NEW.sku;
        END""",
    """CREATE TABLE redemptions (
            id INTEGER PRIMARY KEY,
            program_id TEXT NOT NULL REFERENCES programs(id),
            participant TEXT NOT NULL REFERENCES participants(id),
            sku TEXT NOT NULL REFERENCES catalog(sku),
            cost INTEGER NOT NULL CHECK (cost > 0),
            status TEXT NOT NULL
                CHECK (status IN ('requested', 'approved', 'fulfilled', 'cancelled', 'reversed')),
            requested_at TEXT NOT NULL,
            requested_by TEXT NOT NULL REFERENCES staff(id),
            approved_at TEXT,
            approved_by TEXT REFERENCES staff(id),
            fulfilled_at TEXT,
            fulfilled_by TEXT REFERENCES staff(id),
            note TEXT,
            actual_cost_cents INTEGER CHECK (actual_cost_cents >= 0),
            closed_at TEXT,
            closed_by TEXT REFERENCES staff(id),
            close_reason TEXT
        ) STRICT""",
    "CREATE INDEX redemptions_open ON redemptions (status, requested_at)",
    "CREATE INDEX redemptions_by_participant ON redemptions (participant, id)",
    # One way only, and what was requested never changes.
    """CREATE TRIGGER redemptions_one_way BEFORE UPDATE ON redemptions
            WHEN (OLD.status, NEW.status) NOT IN (VALUES ('requested', 'approved'),
                ('requested', 'fulfilled'), ('approved', 'fulfilled'),
                ('requested', 'cancelled'), ('approved', 'cancelled'), ('fulfilled', 'reversed'))
              OR NEW.id IS NOT OLD.id OR NEW.program_id IS NOT OLD.program_id
              OR NEW.participant IS NOT OLD.participant OR NEW.sku IS NOT OLD.sku
              OR NEW.cost IS NOT OLD.cost OR NEW.requested_at IS NOT OLD.requested_at
              OR NEW.requested_by IS NOT OLD.requested_by
            BEGIN SELECT RAISE(ABORT, 'redemptions move one way only'); END""",
    """CREATE TRIGGER redemptions_no_delete BEFORE DELETE ON redemptions
            BEGIN SELECT RAISE(ABORT, 'redemptions are never deleted'); END""",
    """CREATE TABLE prize_fulfilments (
            prize_id INTEGER PRIMARY KEY REFERENCES prizes(id),
            sku TEXT NOT NULL REFERENCES catalog(sku),
            actor TEXT NOT NULL REFERENCES staff(id),
            at TEXT NOT NULL,
            note TEXT
        ) STRICT""",
    """CREATE TABLE prize_trades (
            traded_prize INTEGER PRIMARY KEY REFERENCES prizes(id),
            new_prize INTEGER NOT NULL REFERENCES prizes(id),
            actor TEXT NOT NULL REFERENCES staff(id),
            at TEXT NOT NULL
        ) STRICT""",
    *_append_only("stock_movements"),
    *_append_only("prize_fulfilments"),
    *_append_only("prize_trades"),
]

JOURNAL = [
    """CREATE TABLE journal (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            digest TEXT NOT NULL,
            at TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        ) STRICT""",
    "CREATE INDEX journal_by_record ON journal (kind, key, id)",
    *_append_only("journal"),
]

CORRECTION_KINDS_CHECK = "('correct', 'void')"

VISITS_AND_CORRECTIONS = [
    # Hashed only when set (OutcomeRecord.hash_fields), so older rows hash as they did.
    "ALTER TABLE outcomes ADD COLUMN visit TEXT",
    "ALTER TABLE outcomes ADD COLUMN specimen TEXT",
    # A target's latest result in clinical order (late results are recorded after it).
    "CREATE INDEX outcomes_by_clinical_time ON outcomes (participant, target, occurred_at, id)",
    # A settlement transfer names the outcome whose award it corrects.
    "ALTER TABLE transfers ADD COLUMN settles INTEGER REFERENCES outcomes(id)",
    f"""CREATE TABLE corrections (
            id INTEGER PRIMARY KEY,
            program_id TEXT NOT NULL REFERENCES programs(id),
            participant TEXT NOT NULL REFERENCES participants(id),
            outcome_id INTEGER NOT NULL REFERENCES outcomes(id),
            kind TEXT NOT NULL CHECK (kind IN {CORRECTION_KINDS_CHECK}),
            outcome TEXT CHECK (outcome IN {OUTCOMES_CHECK}),
            seed INTEGER,
            reason TEXT NOT NULL,
            actor TEXT NOT NULL REFERENCES staff(id),
            recorded_at TEXT NOT NULL,
            CHECK ((kind = 'void') = (outcome IS NULL))
        ) STRICT""",
    "CREATE INDEX corrections_by_participant ON corrections (participant, id)",
    """CREATE TABLE write_offs (
            id INTEGER PRIMARY KEY,
            program_id TEXT NOT NULL REFERENCES programs(id),
            participant TEXT NOT NULL REFERENCES participants(id),
            outcome_id INTEGER NOT NULL REFERENCES outcomes(id),
            points INTEGER NOT NULL CHECK (points >= 0),
            prize_id INTEGER REFERENCES prizes(id),
            value_cents INTEGER NOT NULL CHECK (value_cents >= 0),
            cause TEXT NOT NULL,
            actor TEXT NOT NULL REFERENCES staff(id),
            at TEXT NOT NULL,
            CHECK ((prize_id IS NULL) = (points > 0))
        ) STRICT""",
    "CREATE INDEX write_offs_by_participant ON write_offs (participant, id)",
    """CREATE TABLE prize_withdrawals (
            id INTEGER PRIMARY KEY,
            prize_id INTEGER NOT NULL REFERENCES prizes(id),
            reinstated INTEGER NOT NULL CHECK (reinstated IN (0, 1)),
            cause TEXT NOT NULL,
            actor TEXT NOT NULL REFERENCES staff(id),
            at TEXT NOT NULL
        ) STRICT""",
    "CREATE INDEX prize_withdrawals_by_prize ON prize_withdrawals (prize_id, id)",
    # A withdrawn prize is not handed over or traded; only an owed one is withdrawn.
    """CREATE TRIGGER prizes_withdrawn_stay BEFORE UPDATE ON prizes
            WHEN (SELECT reinstated FROM prize_withdrawals WHERE prize_id = OLD.id
                  ORDER BY id DESC LIMIT 1) = 0
            BEGIN SELECT RAISE(ABORT, 'a withdrawn prize is not handed over'); END""",
    """CREATE TRIGGER prize_withdrawals_only_owed BEFORE INSERT ON prize_withdrawals
            WHEN (SELECT status FROM prizes WHERE id = NEW.prize_id) <> 'owed'
            BEGIN SELECT RAISE(ABORT, 'only an owed prize is withdrawn'); END""",
    *_append_only("corrections"),
    *_append_only("write_offs"),
    *_append_only("prize_withdrawals"),
]

LAB_RESULTS_CHECK = "('negative', 'positive', 'dilute', 'substituted', 'invalid')"
"""The analyte results' CHECK list as released in 0006 (both engines)."""

ANALYTE_RESULTS = [
    f"""CREATE TABLE analyte_results (
            id INTEGER PRIMARY KEY,
            program_id TEXT NOT NULL REFERENCES programs(id),
            participant TEXT NOT NULL REFERENCES participants(id),
            specimen TEXT NOT NULL,
            analyte TEXT NOT NULL,
            result TEXT NOT NULL CHECK (result IN {LAB_RESULTS_CHECK}),
            collected_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            actor TEXT NOT NULL REFERENCES staff(id),
            UNIQUE (participant, specimen, analyte)
        ) STRICT""",
    *_append_only("analyte_results"),
]

EPISODES = [
    # A person enrolled again: the participants row stays their current episode (every
    # read of it keeps working) and says which one it is, where the first began (the
    # enrolment-year cap counts from it) and how it ended.
    "ALTER TABLE participants ADD COLUMN episode INTEGER NOT NULL DEFAULT 1 CHECK (episode >= 1)",
    "ALTER TABLE participants ADD COLUMN first_start_date TEXT",
    "ALTER TABLE participants ADD COLUMN ended_at TEXT",
    "ALTER TABLE participants ADD COLUMN ended_by TEXT REFERENCES staff(id)",
    # Each earlier episode, kept once as the next one starts, and never changed.
    """CREATE TABLE past_episodes (
            participant TEXT NOT NULL REFERENCES participants(id),
            number INTEGER NOT NULL CHECK (number >= 1),
            program_id TEXT NOT NULL REFERENCES programs(id),
            start_date TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('completed', 'withdrawn')),
            enrolled_at TEXT NOT NULL,
            enrolled_by TEXT NOT NULL REFERENCES staff(id),
            ended_at TEXT,
            ended_by TEXT REFERENCES staff(id),
            PRIMARY KEY (participant, number)
        ) STRICT""",
    *_append_only("past_episodes"),
]

ADJUSTMENT_CAPS = [
    # Hashed only when set (Transfer.hash_fields), so older rows hash as they did. An
    # adjustment recorded from this migration on in a program with a cap says what it
    # added to (or gave back of) its participant's cap usage; an admin's grant over the
    # cap says how far past it went. Older adjustments were never counted and stay so.
    "ALTER TABLE transfers ADD COLUMN cap_change_cents INTEGER",
    "ALTER TABLE transfers ADD COLUMN over_cap_cents INTEGER CHECK (over_cap_cents > 0)",
]

RESULT_STATUSES_CHECK = "('preliminary', 'final', 'corrected', 'entered-in-error', 'cancelled')"
"""The result statuses' CHECK list (domain/lab_reports.py ``ResultStatus``, both engines)."""

ANALYTE_REVISIONS = [
    # Every report about an analyte that is not its first decisive result (which stays in
    # analyte_results, unchanged): a preliminary before it, a correction or withdrawal
    # after it. ``revises`` is the analyte_results row standing when it came (NULL before
    # there was one), so the latest report is the one with the highest id among those
    # revising the same row (domain/revisions.py).
    f"""CREATE TABLE analyte_revisions (
            id INTEGER PRIMARY KEY,
            program_id TEXT NOT NULL REFERENCES programs(id),
            participant TEXT NOT NULL REFERENCES participants(id),
            specimen TEXT NOT NULL,
            analyte TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN {RESULT_STATUSES_CHECK}),
            result TEXT CHECK (result IN {LAB_RESULTS_CHECK}),
            revises INTEGER REFERENCES analyte_results(id),
            collected_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            actor TEXT NOT NULL REFERENCES staff(id),
            CHECK (result IS NOT NULL OR status IN ('entered-in-error', 'cancelled'))
        ) STRICT""",
    "CREATE INDEX analyte_revisions_by_specimen ON analyte_revisions (participant, specimen, id)",
    *_append_only("analyte_revisions"),
]

SIGN_IN_EVENTS_CHECK = (
    "('signed-in', 'signed-out', 'failed', 'locked-out', 'passphrase-set', 'policy')"
)
"""The sign-in events' CHECK list as released in staff_secrets (both engines)."""

STAFF_SECRETS = [
    # A staff member's passphrase as its Argon2id hash only; a new one replaces the row (the
    # journal keeps a digest of each). Sign-in events are append-only; a session is the
    # SHA-256 of its token, never the token (domain/sign_in.py).
    """CREATE TABLE staff_secrets (
            staff_id TEXT PRIMARY KEY REFERENCES staff(id),
            hash TEXT NOT NULL,
            set_at TEXT NOT NULL,
            set_by TEXT NOT NULL REFERENCES staff(id)
        ) STRICT""",
    f"""CREATE TABLE sign_ins (
            id INTEGER PRIMARY KEY,
            staff_id TEXT NOT NULL REFERENCES staff(id),
            event TEXT NOT NULL CHECK (event IN {SIGN_IN_EVENTS_CHECK}),
            at TEXT NOT NULL,
            os_user TEXT,
            location TEXT,
            session TEXT,
            expires_at TEXT,
            detail TEXT
        ) STRICT""",
    "CREATE INDEX sign_ins_by_staff ON sign_ins (staff_id, id)",
    "CREATE INDEX sign_ins_by_session ON sign_ins (session, id)",
    "CREATE INDEX sign_ins_by_event ON sign_ins (event, id)",
    *_append_only("sign_ins"),
]

STAFF_ROLES_CHECK = "('recorder', 'clinician', 'admin', 'lab-feed')"
"""The staff roles' CHECK list since lab_feed_role (both engines)."""

LAB_FEED_ROLE = [
    # The lab-feed role joins the staff table's CHECK list. SQLite cannot change a CHECK in
    # place, so the table is rebuilt with its rows (rowids kept): every table refers to it,
    # and with the foreign keys deferred to the commit, a row lost on the way fails it.
    "PRAGMA defer_foreign_keys = ON",
    "CREATE TABLE staff_before_lab_feed AS SELECT rowid AS row, * FROM staff",
    "DROP TABLE staff",
    f"""CREATE TABLE staff (
            id TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN {STAFF_ROLES_CHECK}),
            active INTEGER NOT NULL CHECK (active IN (0, 1)),
            added_at TEXT NOT NULL,
            added_by TEXT REFERENCES staff(id)
        ) STRICT""",
    "INSERT INTO staff (rowid, id, role, active, added_at, added_by)"
    " SELECT row, id, role, active, added_at, added_by FROM staff_before_lab_feed ORDER BY row",
    "DROP TABLE staff_before_lab_feed",
]

SIGN_IN_EVENTS_CONFIRMED_CHECK = (
    "('signed-in', 'signed-out', 'failed', 'locked-out', 'passphrase-set', 'policy', 'confirmed')"
)
"""The sign-in events' CHECK list since sign_in_confirmed (both engines)."""

SIGN_IN_CONFIRMED = [
    # 'confirmed' (a passphrase checked again, for a sensitive act or a service account's
    # command, ending a run of failures) joins the sign-in events' CHECK list. SQLite
    # cannot change a CHECK in place, so the append-only table is rebuilt with its rows,
    # its indexes and its triggers (nothing refers to it; a dropped table's triggers
    # fire no more, so the copy's deletion is not refused).
    "CREATE TABLE sign_ins_before_confirmed AS SELECT * FROM sign_ins",
    "DROP TABLE sign_ins",
    f"""CREATE TABLE sign_ins (
            id INTEGER PRIMARY KEY,
            staff_id TEXT NOT NULL REFERENCES staff(id),
            event TEXT NOT NULL CHECK (event IN {SIGN_IN_EVENTS_CONFIRMED_CHECK}),
            at TEXT NOT NULL,
            os_user TEXT,
            location TEXT,
            session TEXT,
            expires_at TEXT,
            detail TEXT
        ) STRICT""",
    "INSERT INTO sign_ins (id, staff_id, event, at, os_user, location, session, expires_at,"
    " detail) SELECT id, staff_id, event, at, os_user, location, session, expires_at, detail"
    " FROM sign_ins_before_confirmed ORDER BY id",
    "DROP TABLE sign_ins_before_confirmed",
    "CREATE INDEX sign_ins_by_staff ON sign_ins (staff_id, id)",
    "CREATE INDEX sign_ins_by_session ON sign_ins (session, id)",
    "CREATE INDEX sign_ins_by_event ON sign_ins (event, id)",
    *_append_only("sign_ins"),
]
