"""The store's tables (SQLAlchemy Core). Changes go through a migration in `migrations/`.

Times are seconds since the epoch (wall clock, shared by every process on every machine).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: One row per browser session. The session id itself is never stored, only its SHA-256:
#: a copy of the database does not hand out live session cookies.
sessions = Table(
    "sessions",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("sid_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)

#: The session's values by name ("session", "launch", "token"), each encrypted (Fernet).
session_values = Table(
    "session_values",
    metadata,
    Column(
        "session_pk",
        Integer,
        ForeignKey("sessions.pk", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(32), primary_key=True),
    Column("value", Text, nullable=False),
)

#: Pending authorizations (OAuth `state` → PKCE verifier, nonce…), single use, encrypted.
session_pending = Table(
    "session_pending",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column(
        "session_pk",
        Integer,
        ForeignKey("sessions.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("state_hash", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("record", Text, nullable=False),
    UniqueConstraint("session_pk", "state_hash", name="uq_session_pending_state"),
)

#: Named leases: at most one holder across every process (token refresh, worklist refresh).
#: A holder that dies stops renewing; its lease lapses at `expires_at`.
leases = Table(
    "leases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
)

Index("ix_session_pending_expires_at", session_pending.c.expires_at)

#: CDS Hooks cards the services returned (smartapp.cds.feedback; the report counts them).
cds_cards = Table(
    "cds_cards",
    metadata,
    Column("card", String(64), primary_key=True),
    Column("service", String(64), nullable=False),
    Column("check_id", String(64), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("issued_at", Float, nullable=False, index=True),
)

#: CDS Hooks feedback: accepted / overridden outcomes; the clinician's comment encrypted.
cds_feedback = Table(
    "cds_feedback",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("service", String(64), nullable=False),
    Column("card", String(256), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("outcome_at", Float, nullable=False, index=True),
    Column("accepted_suggestions", Text, nullable=False),
    Column("reason_system", String(256)),
    Column("reason_code", String(256)),
    Column("reason_display", String(256)),
    Column("comment", Text),
)

#: JWT ids a CDS client has used, until the JWT expires (replay protection across processes).
cds_jti = Table(
    "cds_jti",
    metadata,
    Column("issuer", String(512), primary_key=True),
    Column("jti", String(255), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)

#: Worklist snapshots: the evaluated worklist of one FHIR server as one reader sees it
#: (`key`), built by a refresh. Readers only ever see `ready` ones; a refresh writes a
#: `building` one and flips it to `ready` in its last transaction, so a crash leaves the
#: previous snapshot in force. `rows` is the whole screen (compressed JSON rows).
worklist_snapshots = Table(
    "worklist_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False),
    Column("server", String(500), nullable=False),
    Column("reader", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("as_of", String(10), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("based_on", Integer, nullable=True),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    #: Changes on the server after this time are read by the next incremental refresh.
    Column("since", Float, nullable=True),
    Column("stage", String(200), nullable=False, default=""),
    Column("progress_done", Integer, nullable=False, default=0),
    Column("progress_total", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("stats", Text, nullable=True),
    Column("rows", LargeBinary, nullable=True),
)
Index("ix_worklist_snapshots_key_status", worklist_snapshots.c.key, worklist_snapshots.c.status)

#: What one patient's record was read as (compressed JSON resources), kept so an unchanged
#: patient is re-evaluated on a later day without reading the server again.
#: `resource_keys` lists `|Type/id|…` to find whose resource a deletion concerns.
worklist_patient_data = Table(
    "worklist_patient_data",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False),
    Column("patient_id", String(64), nullable=False),
    Column("read_at", Float, nullable=False),
    Column("resources", LargeBinary, nullable=False),
    Column("resource_keys", Text, nullable=False),
)
Index(
    "ix_worklist_patient_data_key_patient",
    worklist_patient_data.c.key,
    worklist_patient_data.c.patient_id,
)

#: One row per patient on a snapshot: their data and their evaluated summary (JSON).
worklist_entries = Table(
    "worklist_entries",
    metadata,
    Column(
        "snapshot_id",
        Integer,
        ForeignKey("worklist_snapshots.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("patient_id", String(64), primary_key=True),
    Column("data_id", Integer, ForeignKey("worklist_patient_data.id"), nullable=False),
    Column("summary", LargeBinary, nullable=False),
)
Index("ix_worklist_entries_data_id", worklist_entries.c.data_id)
