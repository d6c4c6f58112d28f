"""The PostgreSQL schema: each migration's PostgreSQL form, with the same tables, keys and
guards as its SQLite form (schema.py).

The registry (``migrations.py``) pairs the two forms; the PostgreSQL runner
(``postgres.py``) applies each once, in order, in the transaction that opens the
database, and ``cmrewards_migrations`` records it. Never edit a released migration: add
the next one, in both forms. Differences from SQLite, each for a reason:

- Text is ``ctext`` (``TEXT COLLATE "C"``): ids and UTC timestamps sort and compare by
  code point, as SQLite's BINARY collation does, whatever the cluster's locale.
- Integers are ``BIGINT``, SQLite's 64-bit INTEGER.
- Guards are PL/pgSQL trigger functions; ``TRUNCATE``, which skips row triggers, is
  refused on every append-only table too. Every guard is declared once (``Guard``,
  ``guard_function``) and both the DDL and ``PostgresStore.integrity_problems`` read the
  declaration, so ``verify`` reports a guard dropped, disabled, replica-only, changed or
  joined by an unknown trigger, and a guard function whose body was replaced.
"""

from __future__ import annotations

import attrs

from .schema import (
    APPLICATION,
    CORRECTION_KINDS_CHECK,
    LAB_RESULTS_CHECK,
    MOVEMENTS_CHECK,
    OUTCOMES_CHECK,
    RESULT_STATUSES_CHECK,
    SIGN_IN_EVENTS_CHECK,
    SIGN_IN_EVENTS_CONFIRMED_CHECK,
    STAFF_ROLES_CHECK,
)

# pg_trigger.tgtype bits (PostgreSQL's include/catalog/pg_trigger.h).
_ROW, _BEFORE = 1 << 0, 1 << 1
_EVENT_BITS = {"INSERT": 1 << 2, "DELETE": 1 << 3, "UPDATE": 1 << 4, "TRUNCATE": 1 << 5}


@attrs.frozen
class Guard:
    """One trigger the schema relies on."""

    name: str
    table: str
    timing: str
    """``BEFORE`` or ``AFTER``."""
    event: str
    function: str
    argument: str | None = None

    @property
    def row(self) -> bool:
        return self.event != "TRUNCATE"

    @property
    def tgtype(self) -> int:
        """What PostgreSQL stores for this trigger's timing, level and event."""
        return (
            (_ROW if self.row else 0)
            | (_BEFORE if self.timing == "BEFORE" else 0)
            | _EVENT_BITS[self.event]
        )

    def ddl(self) -> str:
        level = "FOR EACH ROW" if self.row else "FOR EACH STATEMENT"
        argument = f"'{self.argument}'" if self.argument is not None else ""
        return (
            f"CREATE TRIGGER {self.name} {self.timing} {self.event} ON {self.table}"
            f" {level} EXECUTE FUNCTION {self.function}({argument})"
        )


GUARDS: dict[str, Guard] = {}
"""Every trigger the schema creates, by name."""
GUARD_FUNCTIONS: dict[str, str] = {}
"""Every trigger function the schema creates: its name and its exact body."""


def _guard(
    name: str, table: str, timing: str, event: str, function: str, argument: str | None = None
) -> str:
    guard = Guard(name, table, timing, event, function, argument)
    GUARDS[name] = guard
    return guard.ddl()


def _function(name: str, body: str) -> str:
    GUARD_FUNCTIONS[name] = body
    return f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${body}$$"


_REDEMPTION_STEPS = (
    "('requested>approved', 'requested>fulfilled', 'approved>fulfilled',"
    " 'requested>cancelled', 'approved>cancelled', 'fulfilled>reversed')"
)


def _refusals(table: str, message: str, events: tuple[str, ...]) -> list[str]:
    return [
        _guard(f"{table}_no_{event.lower()}", table, "BEFORE", event, "cmrewards_refuse", message)
        for event in events
    ]


def _append_only(table: str) -> list[str]:
    return _refusals(table, f"{table} are append-only", ("UPDATE", "DELETE", "TRUNCATE"))


def _no_delete(table: str, message: str) -> list[str]:
    return _refusals(table, message, ("DELETE", "TRUNCATE"))


INITIAL = [
    """CREATE DOMAIN ctext AS TEXT COLLATE "C\"""",
    # One function refuses for every guard; the message is the trigger's argument.
    _function(
        "cmrewards_refuse",
        """
    BEGIN
        RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
    END """,
    ),
    """CREATE TABLE cmrewards_meta (
        key ctext PRIMARY KEY,
        value ctext NOT NULL
    )""",
    f"INSERT INTO cmrewards_meta (key, value) VALUES ('application', '{APPLICATION}')",
    """CREATE TABLE staff (
        id ctext PRIMARY KEY,
        role ctext NOT NULL CHECK (role IN ('recorder', 'clinician', 'admin')),
        active BIGINT NOT NULL CHECK (active IN (0, 1)),
        added_at ctext NOT NULL,
        added_by ctext REFERENCES staff(id)
    )""",
    """CREATE TABLE programs (
        id ctext PRIMARY KEY,
        definition ctext NOT NULL,
        added_at ctext NOT NULL,
        added_by ctext NOT NULL REFERENCES staff(id)
    )""",
    """CREATE TABLE participants (
        id ctext PRIMARY KEY,
        program_id ctext NOT NULL REFERENCES programs(id),
        start_date ctext NOT NULL,
        status ctext NOT NULL CHECK (status IN ('active', 'completed', 'withdrawn')),
        enrolled_at ctext NOT NULL,
        enrolled_by ctext NOT NULL REFERENCES staff(id)
    )""",
    f"""CREATE TABLE outcomes (
        id BIGINT PRIMARY KEY,
        program_id ctext NOT NULL REFERENCES programs(id),
        participant ctext NOT NULL REFERENCES participants(id),
        target ctext NOT NULL,
        outcome ctext NOT NULL CHECK (outcome IN {OUTCOMES_CHECK}),
        occurred_at ctext NOT NULL,
        recorded_at ctext NOT NULL,
        actor ctext NOT NULL REFERENCES staff(id),
        key ctext,
        note ctext,
        seed BIGINT,
        prev_hash ctext NOT NULL,
        hash ctext NOT NULL UNIQUE
    )""",
    "CREATE INDEX outcomes_by_visit ON outcomes (participant, occurred_at)",
    "CREATE INDEX outcomes_by_target ON outcomes (participant, target, id)",
    f"""CREATE TABLE transfers (
        id BIGINT PRIMARY KEY,
        program_id ctext NOT NULL REFERENCES programs(id),
        kind ctext NOT NULL CHECK (kind IN {MOVEMENTS_CHECK}),
        from_account ctext NOT NULL,
        to_account ctext NOT NULL CHECK (to_account <> from_account),
        amount BIGINT NOT NULL CHECK (amount > 0),
        participant ctext REFERENCES participants(id),
        actor ctext NOT NULL REFERENCES staff(id),
        reason ctext NOT NULL,
        cause ctext,
        reverses BIGINT UNIQUE REFERENCES transfers(id),
        occurred_at ctext NOT NULL,
        recorded_at ctext NOT NULL,
        prev_hash ctext NOT NULL,
        hash ctext NOT NULL UNIQUE
    )""",
    "CREATE INDEX transfers_by_participant ON transfers (participant, id)",
    """CREATE TABLE balances (
        program_id ctext NOT NULL,
        account ctext NOT NULL,
        points BIGINT NOT NULL CHECK (points >= 0 OR account = 'funding'),
        PRIMARY KEY (program_id, account)
    )""",
    # As on SQLite: zero rows first, then updates, so the CHECK sees each account's new sum.
    _function(
        "transfers_keep_balances",
        """
    BEGIN
        INSERT INTO balances (program_id, account, points)
            VALUES (NEW.program_id, NEW.from_account, 0), (NEW.program_id, NEW.to_account, 0)
            ON CONFLICT (program_id, account) DO NOTHING;
        UPDATE balances SET points = points - NEW.amount
            WHERE program_id = NEW.program_id AND account = NEW.from_account;
        UPDATE balances SET points = points + NEW.amount
            WHERE program_id = NEW.program_id AND account = NEW.to_account;
        RETURN NULL;
    END """,
    ),
    _guard("transfers_keep_balances", "transfers", "AFTER", "INSERT", "transfers_keep_balances"),
    """CREATE TABLE schedule_states (
        participant ctext NOT NULL REFERENCES participants(id),
        target ctext NOT NULL,
        pos BIGINT NOT NULL CHECK (pos >= 0),
        run BIGINT NOT NULL CHECK (run >= 0),
        saved BIGINT,
        last_week BIGINT,
        PRIMARY KEY (participant, target)
    )""",
    """CREATE TABLE idempotency (
        scope ctext NOT NULL,
        key ctext NOT NULL,
        fingerprint ctext NOT NULL,
        result ctext NOT NULL,
        created_at ctext NOT NULL,
        PRIMARY KEY (scope, key)
    )""",
    *_append_only("outcomes"),
    *_append_only("transfers"),
]

PRIZES_AND_CAPS = [
    """CREATE TABLE prizes (
        id BIGINT PRIMARY KEY,
        program_id ctext NOT NULL REFERENCES programs(id),
        participant ctext NOT NULL REFERENCES participants(id),
        outcome_id BIGINT REFERENCES outcomes(id),
        draw BIGINT CHECK (draw >= 0),
        category ctext NOT NULL,
        value_cents BIGINT NOT NULL CHECK (value_cents >= 0),
        won_at ctext NOT NULL,
        status ctext NOT NULL CHECK (status IN ('owed', 'fulfilled', 'traded')),
        UNIQUE (outcome_id, draw),
        CHECK ((outcome_id IS NULL) = (draw IS NULL))
    )""",
    "CREATE INDEX prizes_by_participant ON prizes (participant, id)",
    # What a prize was won for never changes; only its status moves on from owed. The rule
    # is in the function body, not a WHEN clause, so verify can compare it exactly.
    _function(
        "prizes_only_status",
        """
    BEGIN
        IF NEW.id IS DISTINCT FROM OLD.id OR NEW.program_id IS DISTINCT FROM OLD.program_id
          OR NEW.participant IS DISTINCT FROM OLD.participant
          OR NEW.outcome_id IS DISTINCT FROM OLD.outcome_id OR NEW.draw IS DISTINCT FROM OLD.draw
          OR NEW.category IS DISTINCT FROM OLD.category
          OR NEW.value_cents IS DISTINCT FROM OLD.value_cents
          OR NEW.won_at IS DISTINCT FROM OLD.won_at OR OLD.status <> 'owed' THEN
            RAISE EXCEPTION 'a prize only moves on from owed'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END """,
    ),
    _guard("prizes_only_status", "prizes", "BEFORE", "UPDATE", "prizes_only_status"),
    *_no_delete("prizes", "prizes are append-only"),
    """CREATE TABLE cap_usage (
        participant ctext NOT NULL REFERENCES participants(id),
        period ctext NOT NULL,
        cents BIGINT NOT NULL CHECK (cents >= 0),
        PRIMARY KEY (participant, period)
    )""",
]

REDEMPTION = [
    """CREATE TABLE catalog (
        sku ctext PRIMARY KEY,
        name ctext NOT NULL,
        cost BIGINT NOT NULL CHECK (cost >= 0),
        stock BIGINT CHECK (stock IS NULL OR stock >= 0),
        category ctext,
        low_stock BIGINT NOT NULL CHECK (low_stock >= 0),
        added_at ctext NOT NULL,
        added_by ctext NOT NULL REFERENCES staff(id)
    )""",
    """CREATE TABLE stock_movements (
        id BIGINT PRIMARY KEY,
        sku ctext NOT NULL REFERENCES catalog(sku),
        change BIGINT NOT NULL CHECK (change <> 0),
        reason ctext NOT NULL
            CHECK (reason IN ('restock', 'request', 'cancel', 'prize', 'return')),
        cause ctext,
        actor ctext NOT NULL REFERENCES staff(id),
        at ctext NOT NULL
    )""",
    _function(
        "stock_movements_keep_stock",
        """
    BEGIN
        UPDATE catalog SET stock = coalesce(stock, 0) + NEW.change WHERE sku = NEW.sku;
        RETURN NULL;
    END """,
    ),
    _guard(
        "stock_movements_keep_stock",
        "stock_movements",
        "AFTER",
        "INSERT",
        "stock_movements_keep_stock",
    ),
    """CREATE TABLE redemptions (
        id BIGINT PRIMARY KEY,
        program_id ctext NOT NULL REFERENCES programs(id),
        participant ctext NOT NULL REFERENCES participants(id),
        sku ctext NOT NULL REFERENCES catalog(sku),
        cost BIGINT NOT NULL CHECK (cost > 0),
        status ctext NOT NULL
            CHECK (status IN ('requested', 'approved', 'fulfilled', 'cancelled', 'reversed')),
        requested_at ctext NOT NULL,
        requested_by ctext NOT NULL REFERENCES staff(id),
        approved_at ctext,
        approved_by ctext REFERENCES staff(id),
        fulfilled_at ctext,
        fulfilled_by ctext REFERENCES staff(id),
        note ctext,
        actual_cost_cents BIGINT CHECK (actual_cost_cents >= 0),
        closed_at ctext,
        closed_by ctext REFERENCES staff(id),
        close_reason ctext
    )""",
    "CREATE INDEX redemptions_open ON redemptions (status, requested_at)",
    "CREATE INDEX redemptions_by_participant ON redemptions (participant, id)",
    # One way only, and what was requested never changes.
    _function(
        "redemptions_one_way",
        f"""
    BEGIN
        IF OLD.status || '>' || NEW.status NOT IN {_REDEMPTION_STEPS}
          OR NEW.id IS DISTINCT FROM OLD.id OR NEW.program_id IS DISTINCT FROM OLD.program_id
          OR NEW.participant IS DISTINCT FROM OLD.participant
          OR NEW.sku IS DISTINCT FROM OLD.sku OR NEW.cost IS DISTINCT FROM OLD.cost
          OR NEW.requested_at IS DISTINCT FROM OLD.requested_at
          OR NEW.requested_by IS DISTINCT FROM OLD.requested_by THEN
            RAISE EXCEPTION 'redemptions move one way only'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END """,
    ),
    _guard("redemptions_one_way", "redemptions", "BEFORE", "UPDATE", "redemptions_one_way"),
    *_no_delete("redemptions", "redemptions are never deleted"),
    """CREATE TABLE prize_fulfilments (
        prize_id BIGINT PRIMARY KEY REFERENCES prizes(id),
        sku ctext NOT NULL REFERENCES catalog(sku),
        actor ctext NOT NULL REFERENCES staff(id),
        at ctext NOT NULL,
        note ctext
    )""",
    """CREATE TABLE prize_trades (
        traded_prize BIGINT PRIMARY KEY REFERENCES prizes(id),
        new_prize BIGINT NOT NULL REFERENCES prizes(id),
        actor ctext NOT NULL REFERENCES staff(id),
        at ctext NOT NULL
    )""",
    *_append_only("stock_movements"),
    *_append_only("prize_fulfilments"),
    *_append_only("prize_trades"),
]

JOURNAL = [
    """CREATE TABLE journal (
        id BIGINT PRIMARY KEY,
        kind ctext NOT NULL,
        key ctext NOT NULL,
        digest ctext NOT NULL,
        at ctext NOT NULL,
        prev_hash ctext NOT NULL,
        hash ctext NOT NULL UNIQUE
    )""",
    "CREATE INDEX journal_by_record ON journal (kind, key, id)",
    *_append_only("journal"),
]

VISITS_AND_CORRECTIONS = [
    # Hashed only when set (OutcomeRecord.hash_fields), so older rows hash as they did.
    "ALTER TABLE outcomes ADD COLUMN visit ctext",
    "ALTER TABLE outcomes ADD COLUMN specimen ctext",
    # A target's latest result in clinical order (late results are recorded after it).
    "CREATE INDEX outcomes_by_clinical_time ON outcomes (participant, target, occurred_at, id)",
    # A settlement transfer names the outcome whose award it corrects.
    "ALTER TABLE transfers ADD COLUMN settles BIGINT REFERENCES outcomes(id)",
    f"""CREATE TABLE corrections (
        id BIGINT PRIMARY KEY,
        program_id ctext NOT NULL REFERENCES programs(id),
        participant ctext NOT NULL REFERENCES participants(id),
        outcome_id BIGINT NOT NULL REFERENCES outcomes(id),
        kind ctext NOT NULL CHECK (kind IN {CORRECTION_KINDS_CHECK}),
        outcome ctext CHECK (outcome IN {OUTCOMES_CHECK}),
        seed BIGINT,
        reason ctext NOT NULL,
        actor ctext NOT NULL REFERENCES staff(id),
        recorded_at ctext NOT NULL,
        CHECK ((kind = 'void') = (outcome IS NULL))
    )""",
    "CREATE INDEX corrections_by_participant ON corrections (participant, id)",
    """CREATE TABLE write_offs (
        id BIGINT PRIMARY KEY,
        program_id ctext NOT NULL REFERENCES programs(id),
        participant ctext NOT NULL REFERENCES participants(id),
        outcome_id BIGINT NOT NULL REFERENCES outcomes(id),
        points BIGINT NOT NULL CHECK (points >= 0),
        prize_id BIGINT REFERENCES prizes(id),
        value_cents BIGINT NOT NULL CHECK (value_cents >= 0),
        cause ctext NOT NULL,
        actor ctext NOT NULL REFERENCES staff(id),
        at ctext NOT NULL,
        CHECK ((prize_id IS NULL) = (points > 0))
    )""",
    "CREATE INDEX write_offs_by_participant ON write_offs (participant, id)",
    """CREATE TABLE prize_withdrawals (
        id BIGINT PRIMARY KEY,
        prize_id BIGINT NOT NULL REFERENCES prizes(id),
        reinstated BIGINT NOT NULL CHECK (reinstated IN (0, 1)),
        cause ctext NOT NULL,
        actor ctext NOT NULL REFERENCES staff(id),
        at ctext NOT NULL
    )""",
    "CREATE INDEX prize_withdrawals_by_prize ON prize_withdrawals (prize_id, id)",
    # A withdrawn prize is not handed over or traded; only an owed one is withdrawn.
    _function(
        "prizes_withdrawn_stay",
        """
    BEGIN
        IF (SELECT reinstated FROM prize_withdrawals WHERE prize_id = OLD.id
            ORDER BY id DESC LIMIT 1) = 0 THEN
            RAISE EXCEPTION 'a withdrawn prize is not handed over'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END """,
    ),
    _guard("prizes_withdrawn_stay", "prizes", "BEFORE", "UPDATE", "prizes_withdrawn_stay"),
    _function(
        "prize_withdrawals_only_owed",
        """
    BEGIN
        IF (SELECT status FROM prizes WHERE id = NEW.prize_id) <> 'owed' THEN
            RAISE EXCEPTION 'only an owed prize is withdrawn'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END """,
    ),
    _guard(
        "prize_withdrawals_only_owed",
        "prize_withdrawals",
        "BEFORE",
        "INSERT",
        "prize_withdrawals_only_owed",
    ),
    *_append_only("corrections"),
    *_append_only("write_offs"),
    *_append_only("prize_withdrawals"),
]

ANALYTE_RESULTS = [
    f"""CREATE TABLE analyte_results (
        id BIGINT PRIMARY KEY,
        program_id ctext NOT NULL REFERENCES programs(id),
        participant ctext NOT NULL REFERENCES participants(id),
        specimen ctext NOT NULL,
        analyte ctext NOT NULL,
        result ctext NOT NULL CHECK (result IN {LAB_RESULTS_CHECK}),
        collected_at ctext NOT NULL,
        recorded_at ctext NOT NULL,
        actor ctext NOT NULL REFERENCES staff(id),
        UNIQUE (participant, specimen, analyte)
    )""",
    *_append_only("analyte_results"),
]

EPISODES = [
    # A person enrolled again: the participants row stays their current episode and says
    # which one it is, where the first began and how it ended (schema.EPISODES).
    "ALTER TABLE participants ADD COLUMN episode BIGINT NOT NULL DEFAULT 1 CHECK (episode >= 1)",
    "ALTER TABLE participants ADD COLUMN first_start_date ctext",
    "ALTER TABLE participants ADD COLUMN ended_at ctext",
    "ALTER TABLE participants ADD COLUMN ended_by ctext REFERENCES staff(id)",
    """CREATE TABLE past_episodes (
        participant ctext NOT NULL REFERENCES participants(id),
        number BIGINT NOT NULL CHECK (number >= 1),
        program_id ctext NOT NULL REFERENCES programs(id),
        start_date ctext NOT NULL,
        status ctext NOT NULL CHECK (status IN ('completed', 'withdrawn')),
        enrolled_at ctext NOT NULL,
        enrolled_by ctext NOT NULL REFERENCES staff(id),
        ended_at ctext,
        ended_by ctext REFERENCES staff(id),
        PRIMARY KEY (participant, number)
    )""",
    *_append_only("past_episodes"),
]

ADJUSTMENT_CAPS = [
    # Hashed only when set (Transfer.hash_fields), so older rows hash as they did. An
    # adjustment recorded from this migration on in a program with a cap says what it
    # added to (or gave back of) its participant's cap usage; an admin's grant over the
    # cap says how far past it went. Older adjustments were never counted and stay so.
    "ALTER TABLE transfers ADD COLUMN cap_change_cents BIGINT",
    "ALTER TABLE transfers ADD COLUMN over_cap_cents BIGINT CHECK (over_cap_cents > 0)",
]

ANALYTE_REVISIONS = [
    # Every report about an analyte that is not its first decisive result (schema.py).
    f"""CREATE TABLE analyte_revisions (
        id BIGINT PRIMARY KEY,
        program_id ctext NOT NULL REFERENCES programs(id),
        participant ctext NOT NULL REFERENCES participants(id),
        specimen ctext NOT NULL,
        analyte ctext NOT NULL,
        status ctext NOT NULL CHECK (status IN {RESULT_STATUSES_CHECK}),
        result ctext CHECK (result IN {LAB_RESULTS_CHECK}),
        revises BIGINT REFERENCES analyte_results(id),
        collected_at ctext NOT NULL,
        recorded_at ctext NOT NULL,
        actor ctext NOT NULL REFERENCES staff(id),
        CHECK (result IS NOT NULL OR status IN ('entered-in-error', 'cancelled'))
    )""",
    "CREATE INDEX analyte_revisions_by_specimen ON analyte_revisions (participant, specimen, id)",
    *_append_only("analyte_revisions"),
]

STAFF_SECRETS = [
    # Passphrase hashes and append-only sign-in events (schema.STAFF_SECRETS).
    """CREATE TABLE staff_secrets (
        staff_id ctext PRIMARY KEY REFERENCES staff(id),
        hash ctext NOT NULL,
        set_at ctext NOT NULL,
        set_by ctext NOT NULL REFERENCES staff(id)
    )""",
    f"""CREATE TABLE sign_ins (
        id BIGINT PRIMARY KEY,
        staff_id ctext NOT NULL REFERENCES staff(id),
        event ctext NOT NULL CHECK (event IN {SIGN_IN_EVENTS_CHECK}),
        at ctext NOT NULL,
        os_user ctext,
        location ctext,
        session ctext,
        expires_at ctext,
        detail ctext
    )""",
    "CREATE INDEX sign_ins_by_staff ON sign_ins (staff_id, id)",
    "CREATE INDEX sign_ins_by_session ON sign_ins (session, id)",
    "CREATE INDEX sign_ins_by_event ON sign_ins (event, id)",
    *_append_only("sign_ins"),
]

LAB_FEED_ROLE = [
    # The lab-feed role joins the staff roles' CHECK list (schema.LAB_FEED_ROLE); the
    # constraint keeps the name PostgreSQL gave it in 0001.
    "ALTER TABLE staff DROP CONSTRAINT staff_role_check",
    f"ALTER TABLE staff ADD CONSTRAINT staff_role_check CHECK (role IN {STAFF_ROLES_CHECK})",
]

SIGN_IN_CONFIRMED = [
    # 'confirmed' joins the sign-in events' CHECK list (schema.SIGN_IN_CONFIRMED); the
    # constraint keeps the name PostgreSQL gave it in staff_secrets.
    "ALTER TABLE sign_ins DROP CONSTRAINT sign_ins_event_check",
    "ALTER TABLE sign_ins ADD CONSTRAINT sign_ins_event_check"
    f" CHECK (event IN {SIGN_IN_EVENTS_CONFIRMED_CHECK})",
]
