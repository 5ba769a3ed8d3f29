"""CDS Hooks state in the database (SQLite and PostgreSQL): cards and feedback for the report,
comments encrypted at rest, JWT ids shared by every process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from smartapp.cds.feedback import CardIssued, CardOutcome, build_report
from smartapp.store import Database
from smartapp.store.cds import (
    DatabaseFeedbackStore,
    DatabaseReplayCache,
    purge_replays,
    rotate_comments,
)
from smartapp.store.cipher import TokenCipher, new_key
from smartapp.store.schema import cds_feedback, cds_jti

SERVICE = "ofatumumab-order-sign"
AT = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)


def test_cards_and_outcomes_round_trip(database: Database) -> None:
    store = DatabaseFeedbackStore(database, TokenCipher([new_key()]))
    store.cards_issued([CardIssued(SERVICE, "c1", "pml", "critical", AT)])
    outcome = CardOutcome(
        SERVICE,
        "c1",
        "overridden",
        AT + timedelta(minutes=1),
        reason_system="urn:x",
        reason_code="already-addressed",
        reason_display="Already addressed",
        comment="Jane Doe agreed",
    )
    accepted = CardOutcome(SERVICE, "c1", "accepted", AT, accepted_suggestions=("s1", "s2"))
    store.outcomes_received([outcome, accepted])
    assert store.issued(AT - timedelta(days=1)) == [
        CardIssued(SERVICE, "c1", "pml", "critical", AT)
    ]
    assert store.outcomes(AT - timedelta(days=1)) == [outcome, accepted]
    assert store.issued(AT + timedelta(days=1)) == []
    (row,) = build_report(
        store.issued(AT - timedelta(days=1)), store.outcomes(AT - timedelta(days=1))
    )
    assert (row.shown, row.accepted, row.overridden) == (1, 1, 1)
    # Which of the named cards this service issued (feedback for others is refused).
    assert store.issued_by(SERVICE, ["c1", "c2"]) == {"c1"}
    assert store.issued_by("ofatumumab-patient-view", ["c1"]) == set()
    assert store.issued_by(SERVICE, []) == set()


def test_comments_are_encrypted_at_rest_and_rotate(database: Database) -> None:
    old = new_key()
    store = DatabaseFeedbackStore(database, TokenCipher([old]))
    store.outcomes_received(
        [CardOutcome(SERVICE, "c1", "overridden", AT, comment="Jane Doe agreed")]
    )
    with database.read() as conn:
        raw = conn.execute(select(cds_feedback.c.comment)).scalar_one()
    assert "Jane" not in raw
    fresh = new_key()
    assert rotate_comments(database, TokenCipher([fresh, old])) == (1, 0)
    assert (
        DatabaseFeedbackStore(database, TokenCipher([fresh])).outcomes(AT)[0].comment
        == "Jane Doe agreed"
    )
    assert DatabaseFeedbackStore(database, TokenCipher([old])).outcomes(AT)[0].comment is None


def test_a_jti_is_accepted_once_across_processes(database: Database) -> None:
    one, two = DatabaseReplayCache(database), DatabaseReplayCache(database)
    now = 1_000_000.0
    assert one.first_use("https://ehr", "j1", now + 300, now)
    assert not two.first_use("https://ehr", "j1", now + 300, now + 1)
    assert two.first_use("https://other-ehr", "j1", now + 300, now + 1)
    # Once the token has expired, its jti is forgotten.
    assert two.first_use("https://ehr", "j1", now + 900, now + 400)


def test_expired_jtis_are_purged(database: Database) -> None:
    cache = DatabaseReplayCache(database)
    cache.first_use("https://ehr", "old", 100.0, 50.0)
    cache.first_use("https://ehr", "live", 1000.0, 50.0)
    assert purge_replays(database, 500.0) == 1
    with database.read() as conn:
        assert conn.execute(select(cds_jti.c.jti)).scalars().all() == ["live"]
