"""The read-model tables, the consumers' tracking and the relay's progress.

The database gets them through migrations (`projections.schema`,
`projections/migrations/`): a change here needs a migration (docs/projections.md).

Money is stored as integer cents and instants as integer microseconds since the
epoch (UTC): exact on SQLite and PostgreSQL alike, sortable, summable in SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

CENT = Decimal("0.01")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Money(TypeDecorator[Decimal]):
    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        if value is None:
            return None
        cents = Decimal(value) / CENT
        if cents != cents.to_integral_value():
            raise ValueError(f"not a whole number of cents: {value}")
        return int(cents)

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        return None if value is None else (Decimal(int(value)) * CENT).quantize(CENT)


class Instant(TypeDecorator[datetime]):
    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("instants must be timezone-aware")
        return to_micros(value)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return None if value is None else from_micros(int(value))


def to_micros(value: datetime) -> int:
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


metadata = sa.MetaData()
ID = sa.String(64)

# --- read models -----------------------------------------------------------------------

campaigns = sa.Table(
    "rm_campaigns", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False, unique=True),
    sa.Column("founder_id", ID, nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("regime", sa.String(8), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("min_target", Money, nullable=False),
    sa.Column("max_target", Money, nullable=False),
    sa.Column("min_pledge", Money, nullable=False),
    sa.Column("price_per_share", Money, nullable=False),
    sa.Column("deadline", Instant, nullable=False),
    sa.Column("launched_at", Instant),
    sa.Column("drafted_at", Instant, nullable=False),
    sa.Column("terms_version", sa.Integer, nullable=False),
    sa.Column("reconfirm_by", Instant),
    # The escrow account; raised = held + released.
    sa.Column("held", Money, nullable=False),
    sa.Column("released", Money, nullable=False),
    sa.Column("refunded", Money, nullable=False),
    sa.Column("backer_count", sa.Integer, nullable=False),
    sa.Column("pledge_count", sa.Integer, nullable=False),
    sa.Column("last_position", sa.BigInteger, nullable=False),
)

# Counted pledges (open or settled) per backer, to keep backer_count exact.
campaign_backers = sa.Table(
    "rm_campaign_backers", metadata,
    sa.Column("campaign_id", ID, primary_key=True),
    sa.Column("backer_id", ID, primary_key=True),
    sa.Column("counted_pledges", sa.Integer, nullable=False),
)

updates = sa.Table(
    "rm_updates", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("campaign_id", ID, nullable=False, index=True),
    sa.Column("posted_at", Instant, nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("material", sa.Boolean, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
)

# What an offering discloses besides its terms (OfferingDescribed: the latest wins).
offerings = sa.Table(
    "rm_offerings", metadata,
    sa.Column("campaign_id", ID, primary_key=True),
    sa.Column("security_type", sa.String(24), nullable=False),
    sa.Column("valuation", Money),
    sa.Column("story", sa.Text, nullable=False),
    sa.Column("use_of_proceeds", sa.Text, nullable=False),
    sa.Column("risks", sa.Text, nullable=False),
    sa.Column("team", sa.Text, nullable=False),  # JSON list of {name, role, bio}
    sa.Column("position", sa.BigInteger, nullable=False),
)

documents = sa.Table(
    "rm_documents", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("campaign_id", ID, nullable=False, index=True),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("content_type", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("uploaded_at", Instant, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
)

pledges = sa.Table(
    "rm_pledges", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False, unique=True),
    sa.Column("campaign_id", ID, nullable=False),
    sa.Column("backer_id", ID, nullable=False, index=True),
    sa.Column("amount", Money, nullable=False),
    sa.Column("shares", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("pledged_at", Instant, nullable=False),
    # As placed (ECSP: end of the reflection period); REG_CF follows the deadline.
    sa.Column("cancellable_until", Instant),
    sa.Column("reconfirm_by", Instant),
    sa.Column("regime", sa.String(8), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("terms_version", sa.Integer, nullable=False),
    sa.Column("last_position", sa.BigInteger, nullable=False),
    sa.Index("ix_rm_pledges_campaign_seq", "campaign_id", "seq"),
)

commitments = sa.Table(
    "rm_commitments", metadata,
    sa.Column("pledge_id", ID, primary_key=True),
    sa.Column("backer_id", ID, nullable=False),
    sa.Column("campaign_id", ID, nullable=False),
    sa.Column("regime", sa.String(8), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("at", Instant, nullable=False),
    sa.Index("ix_rm_commitments_backer", "backer_id", "regime", "at"),
)

cap_tables = sa.Table(
    "rm_cap_tables", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("campaign_id", ID, nullable=False, unique=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("price_per_share", Money, nullable=False),
)

holdings = sa.Table(
    "rm_holdings", metadata,
    sa.Column("campaign_id", ID, primary_key=True),
    sa.Column("backer_id", ID, primary_key=True),
    sa.Column("shares", sa.BigInteger, nullable=False),
    sa.Column("amount_invested", Money, nullable=False),
)

distributions = sa.Table(
    "rm_distributions", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("campaign_id", ID, nullable=False, index=True),
    sa.Column("total", Money, nullable=False),
    sa.Column("declared_at", Instant, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
)

payouts = sa.Table(
    "rm_payouts", metadata,
    sa.Column("distribution_id", ID, primary_key=True),
    sa.Column("backer_id", ID, primary_key=True),
    sa.Column("amount", Money, nullable=False),
)

users = sa.Table(
    "rm_users", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("roles", sa.String(200), nullable=False),  # comma-separated Role values
    sa.Column("kyc_status", sa.String(16), nullable=False, index=True),
    sa.Column("country", sa.String(2)),
    sa.Column("accredited", sa.Boolean, nullable=False),
    sa.Column("sophisticated", sa.Boolean, nullable=False),
    sa.Column("knowledge_test_passed", sa.Boolean, nullable=False),
    sa.Column("registered_at", Instant, nullable=False),
    # The latest InvestorProfileSubmitted: the KYC queue is served oldest first.
    sa.Column("profile_submitted_at", Instant, nullable=True),
    sa.Column("last_position", sa.BigInteger, nullable=False),
)

# The auditors' index of the log: identity and chain of every event, no payload.
events = sa.Table(
    "rm_events", metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("stream_id", ID, nullable=False),
    sa.Column("stream_type", sa.String(64), nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("occurred_at", Instant, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64)),
    sa.UniqueConstraint("stream_id", "version", name="uq_rm_events_stream_version"),
    # The event log's filters (`ReadModels.event_positions`): positions in order per value.
    sa.Index("ix_rm_events_type_position", "type", "position"),
    sa.Index("ix_rm_events_stream_type_position", "stream_type", "position"),
    sa.Index("ix_rm_events_occurred_at", "occurred_at"),
)

# AML alerts as risk officers and auditors list them (projections consumer).
aml_alerts = sa.Table(
    "rm_aml_alerts", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False, unique=True),  # raised at this position
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("subject_id", ID, nullable=False, index=True),
    sa.Column("campaign_id", ID),
    sa.Column("related_user_ids", sa.Text, nullable=False),  # comma-separated
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("raised_at", Instant, nullable=False),
    sa.Column("decided_by", ID),
    sa.Column("decision_note", sa.Text),
    sa.Column("last_position", sa.BigInteger, nullable=False),
    sa.Index("ix_rm_aml_alerts_status_seq", "status", "seq"),
)

# --- the AML monitor (consumer `monitor`: projections/monitor.py) ----------------------

# Campaign stream: who founded it, who backed it.
aml_campaigns = sa.Table(
    "aml_campaigns", metadata,
    sa.Column("campaign_id", ID, primary_key=True),
    sa.Column("founder_id", ID, nullable=False, index=True),
)
aml_campaign_backers = sa.Table(
    "aml_campaign_backers", metadata,
    sa.Column("campaign_id", ID, primary_key=True),
    sa.Column("backer_id", ID, primary_key=True, index=True),
)
# User stream: registration order, the latest profile's version, the last
# RAPID_CANCEL_CYCLE alert; every identity hash (HMAC) the user's profiles had.
aml_users = sa.Table(
    "aml_users", metadata,
    sa.Column("user_id", ID, primary_key=True),
    sa.Column("registered_position", sa.BigInteger, nullable=False),
    sa.Column("profile_version", sa.BigInteger),
    sa.Column("cancel_alerted_at", Instant),
)
aml_identities = sa.Table(
    "aml_identities", metadata,
    sa.Column("user_id", ID, primary_key=True),
    sa.Column("identity_key", sa.String(64), primary_key=True, index=True),
)
aml_commitments = sa.Table(
    "aml_commitments", metadata,
    sa.Column("pledge_id", ID, primary_key=True),
    sa.Column("backer_id", ID, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("at", Instant, nullable=False),
    sa.Column("released_at", Instant),
    sa.Index("ix_aml_commitments_backer_at", "backer_id", "at"),
)
# What the rules found: one row per alert to raise (the outbox; ids as the alerts'). Only
# what the facts determine, not which event completed them: a rebuild equals it.
aml_findings = sa.Table(
    "aml_findings", metadata,
    sa.Column("alert_id", ID, primary_key=True),
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("trigger", sa.String(200), nullable=False),
    sa.Column("subject_id", ID, nullable=False),
    sa.Column("campaign_id", ID),
    sa.Column("related_user_ids", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
)
# Findings raised as alerts in the event store (written by the monitor's outbox, not by
# its model: a rebuild keeps it, so rebuilt findings are not raised again).
aml_raised = sa.Table(
    "aml_raised", metadata,
    sa.Column("alert_id", ID, primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
)

# --- tracking --------------------------------------------------------------------------

# Per consumer group (`projections.consumers`) and partition: every event of that
# partition with position <= applied is in the consumer's read models, and none
# after it (the applied set is a prefix). Each consumer has its own rows, so one
# is rebuilt or lags without touching another.
tracking = sa.Table(
    "consumer_tracking", metadata,
    sa.Column("consumer", sa.String(64), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("partitions", sa.Integer, nullable=False),
    sa.Column("applied", sa.BigInteger, nullable=False),
)

# Per consumer group: the Kafka consumer group its workers join, once the first one
# was replaced. A Kafka group that stops assigning partitions (the embedded broker
# can keep a departed member as the group's leader forever) is replaced by a fresh
# one, and every worker of the consumer follows it (workers.projections).
consumer_groups = sa.Table(
    "consumer_groups", metadata,
    sa.Column("consumer", sa.String(64), primary_key=True),
    sa.Column("kafka_group", sa.String(255), nullable=False),
)

# --- the relay -------------------------------------------------------------------------

# Everything with position <= published is acknowledged by the broker.
relay_progress = sa.Table(
    "relay_progress", metadata,
    sa.Column("topic", sa.String(249), primary_key=True),
    sa.Column("partitions", sa.Integer, nullable=False),
    sa.Column("published", sa.BigInteger, nullable=False),
)

# Per partition: the last position published there (<= published; may be an
# over-estimate after a partition-count change, never an under-estimate).
relay_partitions = sa.Table(
    "relay_partitions", metadata,
    sa.Column("topic", sa.String(249), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_position", sa.BigInteger, nullable=False),
)

# --- the notifier (consumer "notifier", projections/notifier.py) -------------------------

# One row per notice (application.notification_rules): what the app shows and mails.
notifications = sa.Table(
    "nt_notifications", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("recipient_id", ID, nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(400), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("campaign_id", ID),
    sa.Column("pledge_id", ID),
    # Log position of the event that caused it.
    sa.Column("position", sa.BigInteger, nullable=False, index=True),
    sa.Column("created_at", Instant, nullable=False),
    sa.Index("ix_nt_notifications_recipient", "recipient_id", "position"),
)

# What the notifier keeps of the log to address and word its notices; each row is
# changed by the events of one stream only (docs/projections.md).
notifier_campaigns = sa.Table(
    "nt_campaigns", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("regime", sa.String(8), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("founder_id", ID, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("deadline", Instant, nullable=False),
    sa.Column("price_per_share", Money, nullable=False),
    sa.Column("min_target", Money, nullable=False),
    sa.Column("issuer_id", ID),
)

notifier_issuers = sa.Table(
    "nt_issuers", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(300), nullable=False),
)

# Pledges accepted by a campaign and not released (open or settled): its backers.
notifier_backings = sa.Table(
    "nt_backings", metadata,
    sa.Column("campaign_id", ID, primary_key=True),
    sa.Column("pledge_id", ID, primary_key=True),
    sa.Column("backer_id", ID, nullable=False),
    sa.Column("amount", Money, nullable=False),
)

notifier_pledges = sa.Table(
    "nt_pledges", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("campaign_id", ID, nullable=False),
    sa.Column("backer_id", ID, nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("shares", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
)

notifier_questions = sa.Table(
    "nt_questions", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("campaign_id", ID, nullable=False),
    sa.Column("asker_id", ID, nullable=False),
)

notifier_cap_tables = sa.Table(
    "nt_cap_tables", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("campaign_id", ID, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
)

# Not the notifier's models, so a rebuild keeps them: notice ids are deterministic, so
# what was mailed or read stays mailed or read.
# The mail outbox: the notifier adds a row per notice (if absent), the sender sends it.
notification_outbox = sa.Table(
    "nt_outbox", metadata,
    sa.Column("notification_id", ID, primary_key=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    # Real time (not business time); NULL once sent or given up.
    sa.Column("next_attempt_at", Instant, index=True),
    sa.Column("last_error", sa.String(500)),
    sa.Column("sent_at", Instant),
    sa.Column("message_id", sa.String(200)),
)

notification_reads = sa.Table(
    "nt_reads", metadata,
    sa.Column("notification_id", ID, primary_key=True),
    sa.Column("recipient_id", ID, nullable=False, index=True),
    sa.Column("read_at", Instant, nullable=False),
)

# --- the public Q&A (projections consumer, projections/models/questions.py) ----------------

questions = sa.Table(
    "rm_questions", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("campaign_id", ID, nullable=False),
    sa.Column("asker_id", ID, nullable=False),
    sa.Column("by_founder", sa.Boolean, nullable=False),
    sa.Column("asked_at", Instant, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("answer", sa.Text),
    sa.Column("answerer_id", ID),
    sa.Column("answered_at", Instant),
    sa.Column("hidden", sa.Boolean, nullable=False),
    sa.Column("hidden_reason", sa.Text),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("last_position", sa.BigInteger, nullable=False),
    sa.Index("ix_rm_questions_campaign", "campaign_id", "position"),
)


# --- sessions (application.sessions; projections/session_store.py) ----------------------
# Not read models: nothing derives them from events and `projections rebuild` never
# drops them. Times are Unix seconds on the wall clock.

# Ids come from a sequence assigned under a table lock (PostgreSQL) or the database
# lock (SQLite), so they are committed in id order: readers keep a watermark.
session_revocations = sa.Table(
    "session_revocations", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("token_id", sa.String(64), nullable=True),
    sa.Column("issued_before", sa.Float, nullable=True),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)
# Keys are keyed hashes of (e-mail, address) and of the address: no e-mail nor IP
# address is stored in clear.
sign_in_failures = sa.Table(
    "sign_in_failures", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure", sa.Float, nullable=False, index=True),
    sa.Column("blocked_until", sa.Float, nullable=False),
)
password_reset_tokens = sa.Table(
    "password_reset_tokens", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), nullable=False, index=True),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float, nullable=True),
)

# Who was shown whose personal data, when, through what (GDPR Art. 15; docs/security.md).
# Append-only; the API writes a row before it answers with the data.
data_access_log = sa.Table(
    "data_access_log", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("viewer_id", sa.String(64), nullable=False),
    sa.Column("subject_id", sa.String(64), nullable=False, index=True),
    sa.Column("at", Instant, nullable=False),
    sa.Column("purpose", sa.String(200), nullable=False),
)


# --- the tamper-evident log (application.transparency) ----------------------------------

# Apart from the read models' metadata: not a read model (a rebuild of the read models
# leaves it alone, and comparisons of read models skip it), and append-only.
log_metadata = sa.MetaData()

# One row: how many leaves (log positions 1..size) the Merkle tree covers.
log_tree = sa.Table(
    "log_tree", log_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
)

# Every complete subtree: (level, idx) covers leaves [idx * 2**level, (idx + 1) * 2**level).
log_tree_nodes = sa.Table(
    "log_tree_nodes", log_metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)

# Signed tree heads, one per size; `at` is the ISO 8601 text exactly as signed.
log_heads = sa.Table(
    "log_heads", log_metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.String(64), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("signature", sa.String(128), nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
)

# Public keys only: the private key is a setting (CROWDFUND_LOG_SIGNING_KEY).
log_keys = sa.Table(
    "log_keys", log_metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("public_key_pem", sa.Text, nullable=False),
    sa.Column("created_at", Instant, nullable=False),
)

# Per topic: every head of a size <= published was acknowledged by the broker.
log_heads_published = sa.Table(
    "log_heads_published", log_metadata,
    sa.Column("topic", sa.String(249), primary_key=True),
    sa.Column("published", sa.BigInteger, nullable=False),
)
