"""The node's SQLite database: schema, connections and the rollback used after a reorg.

Every table of chain facts is insert-only and keyed by the log that produced it
(``block_number``, ``log_index``), so a reorg is repaired by deleting the rows above the fork point and
indexing again. Current state (licence status, owners, membership) is computed from these facts when read.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

__all__ = ["CHAIN_TABLES", "Database", "database_path"]

# Columns every chain-fact table carries: where the fact comes from.
_EVIDENCE = (
    "block_number INTEGER NOT NULL, log_index INTEGER NOT NULL, tx_hash TEXT NOT NULL, block_time INTEGER NOT NULL"
)

CHAIN_TABLES = (
    "models",
    "lineage",
    "model_transfers",
    "licenses",
    "license_events",
    "offers",
    "watermark_commitments",
    "watermark_reveals",
    "watermark_claims",
    "federations",
    "member_events",
    "min_signer_events",
    "rounds",
    "attestations",
    "blocks",
)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL, time INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS models (model TEXT PRIMARY KEY, owner TEXT NOT NULL, metadata_hash TEXT NOT NULL,
    metadata_uri TEXT NOT NULL, federation_id INTEGER NOT NULL, final_round INTEGER NOT NULL, {_EVIDENCE});
CREATE INDEX IF NOT EXISTS models_owner ON models(owner);
CREATE TABLE IF NOT EXISTS lineage (child TEXT NOT NULL, parent TEXT NOT NULL, position INTEGER NOT NULL, {_EVIDENCE},
    PRIMARY KEY (child, parent));
CREATE INDEX IF NOT EXISTS lineage_parent ON lineage(parent);
CREATE TABLE IF NOT EXISTS model_transfers (model TEXT NOT NULL, kind TEXT NOT NULL, from_account TEXT NOT NULL,
    to_account TEXT NOT NULL, {_EVIDENCE});
CREATE INDEX IF NOT EXISTS model_transfers_model ON model_transfers(model, block_number, log_index);
CREATE TABLE IF NOT EXISTS licenses (license_id INTEGER PRIMARY KEY, model TEXT NOT NULL, licensee TEXT NOT NULL,
    issuer TEXT NOT NULL, scope INTEGER NOT NULL, expiry INTEGER NOT NULL, transferable INTEGER NOT NULL,
    parent_id INTEGER NOT NULL, legal_hash TEXT NOT NULL, legal_uri TEXT NOT NULL, {_EVIDENCE});
CREATE INDEX IF NOT EXISTS licenses_model ON licenses(model);
CREATE TABLE IF NOT EXISTS license_events (license_id INTEGER NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,
    from_account TEXT NOT NULL DEFAULT '', to_account TEXT NOT NULL DEFAULT '', old_expiry INTEGER, new_expiry INTEGER,
    reason_hash TEXT NOT NULL DEFAULT '', {_EVIDENCE});
CREATE INDEX IF NOT EXISTS license_events_license ON license_events(license_id, block_number, log_index);
CREATE INDEX IF NOT EXISTS license_events_to ON license_events(to_account, kind);
CREATE TABLE IF NOT EXISTS offers (signer TEXT NOT NULL, nonce TEXT NOT NULL, kind TEXT NOT NULL,
    license_id INTEGER, price TEXT NOT NULL DEFAULT '0', {_EVIDENCE});
CREATE INDEX IF NOT EXISTS offers_signer ON offers(signer, nonce);
CREATE TABLE IF NOT EXISTS watermark_commitments (commitment TEXT PRIMARY KEY, model TEXT NOT NULL,
    owner TEXT NOT NULL, {_EVIDENCE});
CREATE INDEX IF NOT EXISTS watermark_commitments_model ON watermark_commitments(model);
CREATE TABLE IF NOT EXISTS watermark_reveals (commitment TEXT PRIMARY KEY, model TEXT NOT NULL,
    watermark_digest TEXT NOT NULL, salt TEXT NOT NULL, {_EVIDENCE});
CREATE TABLE IF NOT EXISTS watermark_claims (claim_id INTEGER PRIMARY KEY, commitment TEXT NOT NULL,
    suspect_hash TEXT NOT NULL, model TEXT NOT NULL, claimant TEXT NOT NULL, evidence_hash TEXT NOT NULL,
    evidence_uri TEXT NOT NULL, {_EVIDENCE});
CREATE INDEX IF NOT EXISTS watermark_claims_model ON watermark_claims(model);
CREATE TABLE IF NOT EXISTS federations (federation_id INTEGER PRIMARY KEY, coordinator TEXT NOT NULL,
    metadata_hash TEXT NOT NULL, initial_global_hash TEXT NOT NULL, min_signers INTEGER NOT NULL, {_EVIDENCE});
CREATE TABLE IF NOT EXISTS member_events (federation_id INTEGER NOT NULL, member TEXT NOT NULL, kind TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT '', {_EVIDENCE});
CREATE INDEX IF NOT EXISTS member_events_fed ON member_events(federation_id, member, block_number, log_index);
CREATE INDEX IF NOT EXISTS member_events_member ON member_events(member);
CREATE TABLE IF NOT EXISTS min_signer_events (federation_id INTEGER NOT NULL, min_signers INTEGER NOT NULL,
    {_EVIDENCE});
CREATE TABLE IF NOT EXISTS rounds (federation_id INTEGER NOT NULL, round INTEGER NOT NULL,
    previous_global_hash TEXT NOT NULL, new_global_hash TEXT NOT NULL, metrics_hash TEXT NOT NULL,
    examples TEXT NOT NULL, {_EVIDENCE}, PRIMARY KEY (federation_id, round));
CREATE INDEX IF NOT EXISTS rounds_new_hash ON rounds(new_global_hash);
CREATE TABLE IF NOT EXISTS attestations (federation_id INTEGER NOT NULL, round INTEGER NOT NULL,
    position INTEGER NOT NULL, signer TEXT NOT NULL, update_hash TEXT NOT NULL, num_examples INTEGER NOT NULL,
    r TEXT NOT NULL, vs TEXT NOT NULL, {_EVIDENCE}, PRIMARY KEY (federation_id, round, position));
CREATE INDEX IF NOT EXISTS attestations_signer ON attestations(signer);
CREATE TABLE IF NOT EXISTS signed_payloads (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
    signer TEXT NOT NULL, nonce TEXT NOT NULL, subject TEXT NOT NULL, payload TEXT NOT NULL, signature TEXT NOT NULL,
    received_at INTEGER NOT NULL, UNIQUE (kind, signer, nonce));
CREATE INDEX IF NOT EXISTS signed_payloads_subject ON signed_payloads(kind, subject);
CREATE TABLE IF NOT EXISTS round_metrics (federation_id INTEGER NOT NULL, round INTEGER NOT NULL,
    metrics_json TEXT NOT NULL, sha256 TEXT NOT NULL, source TEXT NOT NULL, PRIMARY KEY (federation_id, round));
"""


def database_path(url: str | Path) -> str:
    """The SQLite file of a database setting: a path, ``sqlite:///relative.db``, ``sqlite:////abs.db``
    or ``:memory:``."""
    text = str(url)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        raise ValueError(f"unsupported database URL {text!r}; expected a file path or sqlite:///path.db")
    return text


class Database:
    """One SQLite file shared by the indexer (the only writer of chain facts) and the API (readers).

    Each thread gets its own connection; WAL mode lets readers proceed while the indexer writes.
    """

    def __init__(self, url: str | Path) -> None:
        self.path = database_path(url)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self.connect() as conn:
            conn.executescript(SCHEMA)

    def connect(self) -> sqlite3.Connection:
        """This thread's connection (created on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=OFF")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()

    # -- meta ------------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.connect().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str | int, conn: sqlite3.Connection | None = None) -> None:
        (conn or self.connect()).execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, str(value)),
        )

    def rollback_above(self, block: int, conn: sqlite3.Connection) -> None:
        """Delete every chain fact from blocks after ``block`` (inside the caller's transaction)."""
        for table in CHAIN_TABLES:
            column = "number" if table == "blocks" else "block_number"
            conn.execute(f"DELETE FROM {table} WHERE {column} > ?", (block,))
