"""CDS Hooks state in the app's database: cards, feedback, used JWT ids (docs/store.md).

`DatabaseFeedbackStore` implements `smartapp.cds.feedback.FeedbackStore` and
`DatabaseReplayCache` implements `smartapp.cds.auth.ReplayCache`, so every app process
counts the same cards and refuses a JWT replayed to any of them. The clinician's free-text
override comment is encrypted like session values (SMARTAPP_TOKEN_KEY).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Row, Table, and_, delete, select, update

from smartapp.cds.feedback import CardIssued, CardOutcome
from smartapp.store.cipher import TokenCipher
from smartapp.store.database import Database
from smartapp.store.leases import dialect_insert
from smartapp.store.schema import cds_cards, cds_feedback, cds_jti

#: Expired JWT ids are deleted every this many new ones (and by `smartapp db purge`).
PURGE_EVERY = 500


def _instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class DatabaseFeedbackStore:
    def __init__(self, db: Database, cipher: TokenCipher) -> None:
        self.db = db
        self.cipher = cipher

    def _insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """All `rows` in one transaction (nothing when there are none)."""
        if rows:
            with self.db.write() as conn:
                conn.execute(table.insert(), rows)

    def cards_issued(self, cards: Sequence[CardIssued]) -> None:
        self._insert(
            cds_cards,
            [
                {
                    "card": card.card,
                    "service": card.service,
                    "check_id": card.check,
                    "indicator": card.indicator,
                    "issued_at": card.at.timestamp(),
                }
                for card in cards
            ],
        )

    def outcomes_received(self, outcomes: Sequence[CardOutcome]) -> None:
        self._insert(
            cds_feedback,
            [
                {
                    "service": item.service,
                    "card": item.card,
                    "outcome": item.outcome,
                    "outcome_at": item.at.timestamp(),
                    "accepted_suggestions": json.dumps(list(item.accepted_suggestions)),
                    "reason_system": item.reason_system,
                    "reason_code": item.reason_code,
                    "reason_display": item.reason_display,
                    "comment": (
                        self.cipher.encrypt({"comment": item.comment}) if item.comment else None
                    ),
                }
                for item in outcomes
            ],
        )

    def issued_by(self, service: str, cards: Iterable[str]) -> set[str]:
        wanted = sorted(set(cards))
        if not wanted:
            return set()
        with self.db.read() as conn:
            rows = conn.execute(
                select(cds_cards.c.card).where(
                    cds_cards.c.service == service, cds_cards.c.card.in_(wanted)
                )
            ).all()
        return {row.card for row in rows}

    def _rows_since(
        self, table: Table, at: Column[float], since: datetime, order: Column[Any]
    ) -> Sequence[Row[Any]]:
        """The rows of `table` whose time `at` is `since` or later, in `order`."""
        with self.db.read() as conn:
            return conn.execute(select(table).where(at >= since.timestamp()).order_by(order)).all()

    def issued(self, since: datetime) -> list[CardIssued]:
        rows = self._rows_since(cds_cards, cds_cards.c.issued_at, since, cds_cards.c.issued_at)
        return [
            CardIssued(row.service, row.card, row.check_id, row.indicator, _instant(row.issued_at))
            for row in rows
        ]

    def outcomes(self, since: datetime) -> list[CardOutcome]:
        rows = self._rows_since(cds_feedback, cds_feedback.c.outcome_at, since, cds_feedback.c.pk)
        found = []
        for row in rows:
            comment = self.cipher.decrypt(row.comment) if row.comment else None
            found.append(
                CardOutcome(
                    service=row.service,
                    card=row.card,
                    outcome=row.outcome,
                    at=_instant(row.outcome_at),
                    accepted_suggestions=tuple(json.loads(row.accepted_suggestions)),
                    reason_system=row.reason_system,
                    reason_code=row.reason_code,
                    reason_display=row.reason_display,
                    comment=str(comment["comment"]) if comment else None,
                )
            )
        return found


class DatabaseReplayCache:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._inserted = 0

    def first_use(self, issuer: str, jti: str, expires_at: float, now: float) -> bool:
        with self.db.write() as conn:
            conn.execute(
                delete(cds_jti).where(
                    and_(cds_jti.c.issuer == issuer, cds_jti.c.jti == jti),
                    cds_jti.c.expires_at < now,
                )
            )
            statement = (
                dialect_insert(conn, cds_jti)
                .values(issuer=issuer, jti=jti, expires_at=expires_at)
                .on_conflict_do_nothing(index_elements=[cds_jti.c.issuer, cds_jti.c.jti])
                .returning(cds_jti.c.jti)
            )
            first = conn.execute(statement).scalar_one_or_none() is not None
        self._inserted += 1
        if self._inserted % PURGE_EVERY == 0:
            purge_replays(self.db, now)
        return first


def purge_replays(db: Database, now: float | None = None) -> int:
    """Delete JWT ids whose tokens have expired; how many."""
    moment = time.time() if now is None else now
    with db.write() as conn:
        result = conn.execute(delete(cds_jti).where(cds_jti.c.expires_at < moment))
    return int(result.rowcount or 0)


def rotate_comments(db: Database, cipher: TokenCipher) -> tuple[int, int]:
    """Re-encrypt the stored override comments with the first key: (rewritten, dropped)."""
    rewritten = dropped = 0
    with db.write() as conn:
        rows = conn.execute(
            select(cds_feedback.c.pk, cds_feedback.c.comment).where(
                cds_feedback.c.comment.is_not(None)
            )
        ).all()
        for row in rows:
            fresh = cipher.rotate(row.comment)
            where = cds_feedback.c.pk == row.pk
            if fresh is None:
                conn.execute(update(cds_feedback).where(where).values(comment=None))
                dropped += 1
            else:
                conn.execute(update(cds_feedback).where(where).values(comment=fresh))
                rewritten += 1
    return rewritten, dropped
