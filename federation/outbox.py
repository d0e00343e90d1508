"""The durable round outbox: rounds go to disk first, then to the chain in order, exactly once.

The provenance wrapper hands every aggregated round to :meth:`RoundOutbox.enqueue`, which writes it to
SQLite (WAL, ``synchronous=FULL``) and returns at once: training never waits for the chain. A sender
thread (or :meth:`RoundOutbox.drain`) submits pending rounds strictly in round order. Before each
submission it reads the federation's head on chain:

- head at ``round - 1``: submit ``recordRound``;
- head at or past ``round``: the round is already on chain (a resend after a crash, or a transaction
  that was mined while the coordinator was down); its ``RoundRecorded`` event is compared with the stored
  round and the row is marked recorded, so nothing is recorded twice;
- head below ``round - 1``: the chain lost blocks (a devnet restarted from an older state file, a reorg):
  rounds from ``head + 1`` on are marked pending again and resent from the outbox, where they still are.

While the chain is down a submission fails with ``ChainUnavailable``; the round stays pending and the
sender retries with back-off, so when the chain comes back the outbox drains. A restarted coordinator
opens the same database and sends what is pending.

::

    outbox = RoundOutbox("outbox.sqlite", client, coordinator_account, federation_id)
    outbox.start()                      # background sender
    outbox.enqueue(PendingRound(...))   # from the provenance hook, once per round
    outbox.wait_drained(timeout=60)
    outbox.stop()
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from client_sdk.client import ProvenetClient
from client_sdk.contract_errors import FederationLogInvalidSignature, FederationLogNotMember
from client_sdk.errors import ChainUnavailable, ProvenetError, TransactionTimeout
from client_sdk.types import Attestation

__all__ = ["OutboxConflict", "OutboxRow", "PendingRound", "RoundOutbox", "read_outbox_rows"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rounds (
    federation_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    previous_global_hash TEXT NOT NULL,
    new_global_hash TEXT NOT NULL,
    metrics_hash TEXT NOT NULL,
    attestations TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'recorded')),
    tx_hash TEXT,
    block_number INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    enqueued_at REAL NOT NULL,
    recorded_at REAL,
    PRIMARY KEY (federation_id, round)
)
"""


_ROW_QUERY = (
    "SELECT round, state, new_global_hash, attestations, attempts, tx_hash, block_number, last_error"
    " FROM rounds WHERE federation_id=?"
)


class OutboxConflict(ProvenetError):
    """The chain or the outbox holds a different round under the same number: the logs have diverged."""


@dataclass(frozen=True)
class PendingRound:
    """One aggregated round, as it will be recorded on chain."""

    federation_id: int
    round: int
    previous_global_hash: bytes
    new_global_hash: bytes
    metrics_hash: bytes
    attestations: tuple[Attestation, ...]


@dataclass(frozen=True)
class OutboxRow:
    """A round in the outbox and where it stands."""

    round: int
    state: str
    new_global_hash: str
    attestations: int
    attempts: int
    tx_hash: str | None
    block_number: int | None
    last_error: str | None


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


class RoundOutbox:
    """Durable, ordered, exactly-once submission of rounds to the FederationLog.

    Parameters
    ----------
    path:
        The SQLite database (created if missing).
    client:
        A connection to the chain (its RPC may be down at any time).
    coordinator:
        The federation's coordinator key, which signs ``recordRound``.
    federation_id:
        The federation whose rounds this outbox sends.
    retry_interval:
        Seconds between attempts while the chain is unavailable (doubling up to ``max_retry_interval``).
    """

    def __init__(
        self,
        path: Path | str,
        client: ProvenetClient,
        coordinator: LocalAccount,
        federation_id: int,
        *,
        retry_interval: float = 0.5,
        max_retry_interval: float = 5.0,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.client = client
        self.coordinator = coordinator
        self.federation_id = federation_id
        self.retry_interval = retry_interval
        self.max_retry_interval = max_retry_interval
        # Two locks: `_lock` guards the SQLite connection for single statements only, so enqueueing (from
        # training) never waits on the chain; `_send_lock` makes sending one thread's job at a time.
        self._lock = threading.RLock()
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    # -- writing -------------------------------------------------------------------------------

    def enqueue(self, pending: PendingRound) -> None:
        """Persist a round (durably, before anything is sent). Enqueueing the same round again is a no-op;
        a different round under the same number raises :class:`OutboxConflict`."""
        if pending.federation_id != self.federation_id:
            raise OutboxConflict(
                f"round for federation {pending.federation_id} given to the outbox of federation {self.federation_id}"
            )
        attestations = json.dumps([a.to_json() for a in pending.attestations], sort_keys=True)
        with self._lock:
            existing = self._db.execute(
                "SELECT new_global_hash, previous_global_hash FROM rounds WHERE federation_id=? AND round=?",
                (self.federation_id, pending.round),
            ).fetchone()
            if existing is not None:
                if existing != (_hex(pending.new_global_hash), _hex(pending.previous_global_hash)):
                    raise OutboxConflict(
                        f"round {pending.round} is already in the outbox with global hash {existing[0]}, "
                        f"not {_hex(pending.new_global_hash)}"
                    )
                return
            self._db.execute(
                "INSERT INTO rounds (federation_id, round, previous_global_hash, new_global_hash, metrics_hash,"
                " attestations, state, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
                (
                    self.federation_id,
                    pending.round,
                    _hex(pending.previous_global_hash),
                    _hex(pending.new_global_hash),
                    _hex(pending.metrics_hash),
                    attestations,
                    time.time(),
                ),
            )
        self._wake.set()

    # -- sending -------------------------------------------------------------------------------

    def _pending(self) -> list[PendingRound]:
        with self._lock:
            rows = self._db.execute(
                "SELECT round, previous_global_hash, new_global_hash, metrics_hash, attestations FROM rounds"
                " WHERE federation_id=? AND state='pending' ORDER BY round",
                (self.federation_id,),
            ).fetchall()
        return [
            PendingRound(
                federation_id=self.federation_id,
                round=row[0],
                previous_global_hash=bytes.fromhex(row[1][2:]),
                new_global_hash=bytes.fromhex(row[2][2:]),
                metrics_hash=bytes.fromhex(row[3][2:]),
                attestations=tuple(Attestation.from_json(a) for a in json.loads(row[4])),
            )
            for row in rows
        ]

    def _mark_recorded(self, round_: int, tx_hash: str | None, block: int | None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE rounds SET state='recorded', tx_hash=?, block_number=?, recorded_at=?, last_error=NULL"
                " WHERE federation_id=? AND round=?",
                (tx_hash, block, time.time(), self.federation_id, round_),
            )

    def _reconcile(self, head: int) -> None:
        """Rounds the outbox believes recorded but the chain does not have go back to pending."""
        with self._lock:
            lost = self._db.execute(
                "UPDATE rounds SET state='pending', tx_hash=NULL, block_number=NULL WHERE federation_id=?"
                " AND state='recorded' AND round>?",
                (self.federation_id, head),
            ).rowcount
        if lost:
            log.warning("chain head is round %d: %d recorded round(s) are no longer on chain; resending", head, lost)

    def _already_on_chain(self, pending: PendingRound) -> None:
        records = {r["round"]: r for r in self.client.federations.round_records(self.federation_id)}
        record = records.get(pending.round)
        if record is None or record["new_global_hash"] != pending.new_global_hash:
            found = _hex(record["new_global_hash"]) if record else "no event"
            raise OutboxConflict(
                f"round {pending.round} of federation {self.federation_id} is on chain with global hash {found},"
                f" but the outbox holds {_hex(pending.new_global_hash)}: another coordinator process recorded it"
            )
        self._mark_recorded(pending.round, record["tx_hash"], record["block_number"])
        log.info("round %d was already on chain (tx %s); not sent again", pending.round, record["tx_hash"])

    def drain(self) -> int:
        """Send every pending round in order; returns how many are still pending.

        Raises ``ChainUnavailable`` when the chain does not answer (the rounds stay pending). The database
        lock is never held across a chain call, so :meth:`enqueue` returns at once while this waits.
        """
        with self._send_lock:
            head = self.client.federations.get(self.federation_id).last_round
            self._reconcile(head)
            for pending in self._pending():
                head = self.client.federations.get(self.federation_id).last_round
                if head >= pending.round:
                    self._already_on_chain(pending)
                    continue
                if head < pending.round - 1:
                    raise OutboxConflict(
                        f"round {pending.round} cannot be recorded: the chain is at round {head} and round "
                        f"{head + 1} is not in this outbox"
                    )
                with self._lock:
                    self._db.execute(
                        "UPDATE rounds SET attempts=attempts+1 WHERE federation_id=? AND round=?",
                        (self.federation_id, pending.round),
                    )
                receipt = self._record(pending)
                self._mark_recorded(pending.round, _hex(bytes(receipt["transactionHash"])), int(receipt["blockNumber"]))
                log.info("round %d recorded on chain in block %d", pending.round, receipt["blockNumber"])
            return len(self._pending())

    def _record(self, pending: PendingRound) -> Any:
        """``recordRound``; an attestation whose signer stopped being a member since it was verified (it left,
        or was removed, before the round reached the chain) is dropped, and the round sent with the others
        if they still make the quorum: one departure must not block the log forever."""
        attestations = list(pending.attestations)
        while True:
            try:
                return self.client.federations.record_round(
                    self.coordinator,
                    self.federation_id,
                    pending.round,
                    pending.previous_global_hash,
                    pending.new_global_hash,
                    pending.metrics_hash,
                    attestations,
                )
            except (FederationLogNotMember, FederationLogInvalidSignature) as error:
                signer = error.args_by_name.get("account") or error.args_by_name.get("signer")
                remaining = [a for a in attestations if a.signer != signer]
                required = self.client.federations.get(self.federation_id).min_signers
                if signer is None or len(remaining) == len(attestations) or len(remaining) < required:
                    raise OutboxConflict(
                        f"round {pending.round} cannot be recorded: {error}; {len(remaining)} attestation(s) remain"
                        f" but federation {self.federation_id} needs {required}. The round stays in the outbox:"
                        " restore the member or lower the minimum (`setMinSigners`), then `provenet federation send`"
                    ) from error
                log.warning(
                    "round %d: dropping the attestation of %s (%s); recording with %d attestation(s)",
                    pending.round,
                    signer,
                    type(error).__name__,
                    len(remaining),
                )
                attestations = remaining
                with self._lock:
                    self._db.execute(
                        "UPDATE rounds SET attestations=?, last_error=? WHERE federation_id=? AND round=?",
                        (
                            json.dumps([a.to_json() for a in attestations], sort_keys=True),
                            f"dropped the attestation of {signer}: {type(error).__name__}",
                            self.federation_id,
                            pending.round,
                        ),
                    )

    def _run(self) -> None:
        delay = self.retry_interval
        while not self._stop.is_set():
            try:
                remaining = self.drain()
                delay = self.retry_interval
                if remaining == 0:
                    self._wake.wait(timeout=self.max_retry_interval)
                    self._wake.clear()
                continue
            except (ChainUnavailable, TransactionTimeout) as error:
                self._note_error(str(error))
                # A chain restarted from an older state has older nonces: ask again next time.
                self.client.sender(self.coordinator).nonces.reset()
                log.warning("chain unavailable, rounds stay in the outbox; retrying in %.1f s", delay)
            except OutboxConflict as error:
                self._note_error(str(error))
                log.error("%s", error)
            except Exception as error:  # a revert or an unexpected RPC failure: keep the round, report it
                self._note_error(f"{type(error).__name__}: {error}")
                log.exception("recording a round failed; it stays in the outbox")
            self._stop.wait(delay)
            delay = min(delay * 2, self.max_retry_interval)

    def _note_error(self, message: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE rounds SET last_error=? WHERE federation_id=? AND round=(SELECT MIN(round) FROM rounds"
                " WHERE federation_id=? AND state='pending')",
                (message[:500], self.federation_id, self.federation_id),
            )

    def start(self) -> None:
        """Start the background sender (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="provenet-outbox", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background sender; pending rounds stay on disk for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._thread = None

    def wait_drained(self, timeout: float) -> bool:
        """Wait until nothing is pending (the sender must be running). Whether it drained in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.rows(state="pending"):
                return True
            self._wake.set()
            time.sleep(0.1)
        return not self.rows(state="pending")

    def close(self) -> None:
        """Stop the sender and close the database (left open if the sender did not stop in time)."""
        self.stop()
        if self._thread is None:
            with self._lock:
                self._db.close()
        else:
            log.warning("the outbox sender is still waiting on the chain; its database stays open")

    # -- reading -------------------------------------------------------------------------------

    def rows(self, state: str | None = None) -> list[OutboxRow]:
        """The rounds in the outbox, in order (optionally only ``pending`` or ``recorded`` ones)."""
        query = _ROW_QUERY
        args: Sequence[object] = (self.federation_id,)
        if state is not None:
            query += " AND state=?"
            args = (self.federation_id, state)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY round", args).fetchall()
        return [_outbox_row(r) for r in rows]


def read_outbox_rows(path: str | Path, federation_id: int) -> list[OutboxRow]:
    """The rows of an outbox file without a chain connection (for status displays)."""
    with closing(sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)) as db:
        rows = db.execute(f"{_ROW_QUERY} ORDER BY round", (federation_id,)).fetchall()
    return [_outbox_row(r) for r in rows]


def _outbox_row(r: tuple) -> OutboxRow:
    return OutboxRow(
        round=r[0],
        state=r[1],
        new_global_hash=r[2],
        attestations=len(json.loads(r[3])),
        attempts=r[4],
        tx_hash=r[5],
        block_number=r[6],
        last_error=r[7],
    )
