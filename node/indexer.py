"""Follows provenet's four contracts into SQLite: confirmations, resume, reorg repair, backfill progress.

::

    indexer = Indexer(Database("node.db"), "http://127.0.0.1:8545", Deployment.load("31337.json"),
                      confirmations=2, on_progress=print)
    indexer.sync()          # index up to head - confirmations, in chunks; returns the last indexed block
    indexer.run(stop_event) # keep following the chain until stop_event is set

How it stays correct:

- ``eth_getLogs`` for the four addresses, ``chunk_size`` blocks at a time; each chunk is written in one
  transaction together with the new cursor (``meta.cursor``), so a restart resumes exactly after the last
  complete chunk.
- The hash of every block that produced a log, and of every chunk's last block, is kept. Before each chunk
  the stored hash of the cursor block is compared with the chain's (in the same JSON-RPC batch as the
  chunk's block headers), and every log's ``blockHash`` must match its header. On a mismatch the indexer
  walks its stored hashes down to the highest block the chain still agrees with (the fork point), deletes
  every fact above it and indexes again from there.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, to_checksum_address

from client_sdk.abi import CONTRACT_NAMES, load_artifact
from client_sdk.deploy import Deployment
from client_sdk.rpc import RawRpc
from node.db import Database

__all__ = ["IndexProgress", "Indexer", "IndexerError"]

log = logging.getLogger("provenet.node.indexer")


class IndexerError(RuntimeError):
    """The index cannot follow this chain (another chain or deployment than the database was built from)."""


@dataclass(frozen=True)
class IndexProgress:
    """Where a backfill stands after one chunk."""

    from_block: int
    to_block: int
    target: int
    events: int
    total_events: int
    elapsed: float

    @property
    def percent(self) -> float:
        return 100.0 if self.target <= 0 else min(100.0, 100.0 * self.to_block / self.target)


@dataclass(frozen=True)
class _Event:
    contract: str
    name: str
    args: dict[str, Any]
    block_number: int
    log_index: int
    tx_hash: str
    block_time: int


def _type_string(item: dict[str, Any]) -> str:
    abi_type = item["type"]
    if abi_type.startswith("tuple"):
        return "(" + ",".join(_type_string(c) for c in item["components"]) + ")" + abi_type[len("tuple") :]
    return abi_type


def _plain(value: Any, abi_type: str) -> Any:
    """ABI values as stored: addresses checksummed, fixed bytes as 0x-hex, tuples as lists."""
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.startswith("bytes") and isinstance(value, bytes):
        return "0x" + value.hex()
    if abi_type.endswith("[]"):
        return [_plain(v, abi_type[:-2]) for v in value]
    if abi_type.startswith("(") and isinstance(value, tuple):
        inner = _split_tuple(abi_type[1:-1])
        return [_plain(v, t) for v, t in zip(value, inner, strict=True)]
    return value


def _split_tuple(types: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in types:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    if current:
        parts.append(current)
    return parts


class _EventDecoder:
    """Decodes raw logs of the four contracts by their first topic."""

    def __init__(self, deployment: Deployment) -> None:
        self.by_address = {deployment.address(name).lower(): name for name in CONTRACT_NAMES}
        self.events: dict[tuple[str, bytes], tuple[str, list[dict[str, Any]]]] = {}
        for name in CONTRACT_NAMES:
            for item in load_artifact(name).abi:
                if item.get("type") == "event":
                    self.events[(name, event_abi_to_log_topic(item))] = (item["name"], item["inputs"])

    def decode(self, raw: dict[str, Any], block_time: int) -> _Event | None:
        contract = self.by_address.get(raw["address"].lower())
        topics = [bytes.fromhex(t.removeprefix("0x")) for t in raw["topics"]]
        if contract is None or not topics:
            return None
        entry = self.events.get((contract, topics[0]))
        if entry is None:
            return None
        name, inputs = entry
        indexed = [i for i in inputs if i.get("indexed")]
        plain = [i for i in inputs if not i.get("indexed")]
        if len(indexed) != len(topics) - 1:  # an event of the same signature with other indexing
            return None
        args: dict[str, Any] = {}
        for item, topic in zip(indexed, topics[1:], strict=True):
            (value,) = abi_decode([_type_string(item)], topic)
            args[item["name"]] = _plain(value, _type_string(item))
        types = [_type_string(i) for i in plain]
        values = abi_decode(types, bytes.fromhex(raw["data"].removeprefix("0x"))) if types else ()
        for item, abi_type, value in zip(plain, types, values, strict=True):
            args[item["name"]] = _plain(value, abi_type)
        return _Event(
            contract=contract,
            name=name,
            args=args,
            block_number=int(raw["blockNumber"], 16),
            log_index=int(raw["logIndex"], 16),
            tx_hash=raw["transactionHash"],
            block_time=block_time,
        )


def _evidence(event: _Event) -> tuple[int, int, str, int]:
    return (event.block_number, event.log_index, event.tx_hash, event.block_time)


_EV = "block_number, log_index, tx_hash, block_time"
_ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def _store(conn: sqlite3.Connection, event: _Event) -> None:
    """Write one decoded event into its table."""
    a, ev = event.args, _evidence(event)
    key = (event.contract, event.name)
    if key == ("ModelRegistry", "ModelRegistered"):
        conn.execute(
            "INSERT OR REPLACE INTO models(model, owner, metadata_hash, metadata_uri, federation_id, final_round,"
            f" {_EV})"
            " VALUES (?,?,?,?,?,?,?,?,?,?)",
            (a["model"], a["owner"], a["metadataHash"], a["metadataURI"], a["federationId"], a["finalRound"], *ev),
        )
        for position, parent in enumerate(a["parents"]):
            conn.execute(
                f"INSERT OR REPLACE INTO lineage(child, parent, position, {_EV}) VALUES (?,?,?,?,?,?,?)",
                (a["model"], parent, position, *ev),
            )
    elif key == ("ModelRegistry", "ModelOwnershipTransferStarted"):
        conn.execute(
            f"INSERT INTO model_transfers(model, kind, from_account, to_account, {_EV}) VALUES (?,?,?,?,?,?,?,?)",
            (a["model"], "started", a["owner"], a["pendingOwner"], *ev),
        )
    elif key == ("ModelRegistry", "ModelOwnershipTransferred"):
        conn.execute(
            f"INSERT INTO model_transfers(model, kind, from_account, to_account, {_EV}) VALUES (?,?,?,?,?,?,?,?)",
            (a["model"], "transferred", a["previousOwner"], a["newOwner"], *ev),
        )
    elif key == ("LicenseRegistry", "LicenseIssued"):
        conn.execute(
            "INSERT OR REPLACE INTO licenses(license_id, model, licensee, issuer, scope, expiry, transferable,"
            " parent_id,"
            f" legal_hash, legal_uri, {_EV}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                a["licenseId"],
                a["model"],
                a["licensee"],
                a["issuer"],
                a["scope"],
                a["expiry"],
                int(a["transferable"]),
                a["parentId"],
                a["legalHash"],
                a["legalURI"],
                *ev,
            ),
        )
        _license_event(conn, a["licenseId"], "issued", a["issuer"], ev, to_account=a["licensee"])
    elif key == ("LicenseRegistry", "Transfer"):
        kind = "minted" if a["from"] == _ZERO_ADDRESS else "transferred"
        _license_event(conn, a["tokenId"], kind, a["from"], ev, from_account=a["from"], to_account=a["to"])
    elif key == ("LicenseRegistry", "LicenseInUse"):
        # Which licence checkLicense considers for a holder: the contract says so, the index follows.
        if a["inUse"]:
            _license_event(conn, a["licenseId"], "in-use", a["holder"], ev, to_account=a["holder"])
        else:
            _license_event(conn, a["licenseId"], "out-of-use", a["holder"], ev, from_account=a["holder"])
    elif key == ("LicenseRegistry", "LicenseRenewed"):
        _license_event(
            conn, a["licenseId"], "renewed", a["by"], ev, old_expiry=a["oldExpiry"], new_expiry=a["newExpiry"]
        )
    elif key == ("LicenseRegistry", "LicenseSuspended"):
        _license_event(conn, a["licenseId"], "suspended", a["by"], ev, reason_hash=a["reasonHash"])
    elif key == ("LicenseRegistry", "LicenseReinstated"):
        _license_event(conn, a["licenseId"], "reinstated", a["by"], ev)
    elif key == ("LicenseRegistry", "LicenseRevoked"):
        _license_event(conn, a["licenseId"], "revoked", a["by"], ev, reason_hash=a["reasonHash"])
    elif key == ("LicenseRegistry", "OfferRedeemed"):
        conn.execute(
            f"INSERT INTO offers(signer, nonce, kind, license_id, price, {_EV}) VALUES (?,?,?,?,?,?,?,?,?)",
            (a["signer"], str(a["nonce"]), "redeemed", a["licenseId"], str(a["price"]), *ev),
        )
    elif key == ("LicenseRegistry", "OfferCancelled"):
        conn.execute(
            f"INSERT INTO offers(signer, nonce, kind, license_id, price, {_EV}) VALUES (?,?,?,?,?,?,?,?,?)",
            (a["signer"], str(a["nonce"]), "cancelled", None, "0", *ev),
        )
    elif key == ("WatermarkRegistry", "WatermarkCommitted"):
        conn.execute(
            f"INSERT OR REPLACE INTO watermark_commitments(commitment, model, owner, {_EV}) VALUES (?,?,?,?,?,?,?)",
            (a["commitment"], a["model"], a["owner"], *ev),
        )
    elif key == ("WatermarkRegistry", "WatermarkRevealed"):
        conn.execute(
            "INSERT OR REPLACE INTO watermark_reveals(commitment, model, watermark_digest, salt, "
            f"{_EV}) VALUES (?,?,?,?,?,?,?,?)",
            (a["commitment"], a["model"], a["watermarkDigest"], a["salt"], *ev),
        )
    elif key == ("WatermarkRegistry", "OwnershipClaimed"):
        conn.execute(
            "INSERT OR REPLACE INTO watermark_claims(claim_id, commitment, suspect_hash, model, claimant,"
            " evidence_hash,"
            f" evidence_uri, {_EV}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                a["claimId"],
                a["commitment"],
                a["suspectHash"],
                a["model"],
                a["claimant"],
                a["evidenceHash"],
                a["evidenceURI"],
                *ev,
            ),
        )
    elif key == ("FederationLog", "FederationCreated"):
        conn.execute(
            "INSERT OR REPLACE INTO federations(federation_id, coordinator, metadata_hash, initial_global_hash,"
            f" min_signers, {_EV}) VALUES (?,?,?,?,?,?,?,?,?)",
            (a["federationId"], a["coordinator"], a["metadataHash"], a["initialGlobalHash"], a["minSigners"], *ev),
        )
    elif key[0] == "FederationLog" and key[1] in ("MemberInvited", "MemberJoined", "MemberRemoved"):
        kind = {"MemberInvited": "invited", "MemberJoined": "joined", "MemberRemoved": "removed"}[key[1]]
        conn.execute(
            f"INSERT INTO member_events(federation_id, member, kind, actor, {_EV}) VALUES (?,?,?,?,?,?,?,?)",
            (a["federationId"], a["member"], kind, a.get("by", a["member"]), *ev),
        )
    elif key == ("FederationLog", "MinSignersChanged"):
        conn.execute(
            f"INSERT INTO min_signer_events(federation_id, min_signers, {_EV}) VALUES (?,?,?,?,?,?)",
            (a["federationId"], a["minSigners"], *ev),
        )
    elif key == ("FederationLog", "RoundRecorded"):
        conn.execute(
            "INSERT OR REPLACE INTO rounds(federation_id, round, previous_global_hash, new_global_hash, metrics_hash,"
            f" examples, {_EV}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                a["federationId"],
                a["round"],
                a["previousGlobalHash"],
                a["newGlobalHash"],
                a["metricsHash"],
                str(a["examples"]),
                *ev,
            ),
        )
        for position, (signer, update_hash, num_examples, r, vs) in enumerate(a["attestations"]):
            conn.execute(
                "INSERT OR REPLACE INTO attestations(federation_id, round, position, signer, update_hash, num_examples,"
                f" r, vs, {_EV}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (a["federationId"], a["round"], position, signer, update_hash, num_examples, r, vs, *ev),
            )


def _license_event(
    conn: sqlite3.Connection,
    license_id: int,
    kind: str,
    actor: str,
    ev: tuple[int, int, str, int],
    *,
    from_account: str = "",
    to_account: str = "",
    old_expiry: int | None = None,
    new_expiry: int | None = None,
    reason_hash: str = "",
) -> None:
    conn.execute(
        "INSERT INTO license_events(license_id, kind, actor, from_account, to_account, old_expiry, new_expiry,"
        f" reason_hash, {_EV}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (license_id, kind, actor, from_account, to_account, old_expiry, new_expiry, reason_hash, *ev),
    )


class Indexer:
    """Indexes provenet's events from one chain into one database.

    Parameters
    ----------
    db:
        The node's database.
    rpc_url, deployment:
        The chain and where the contracts live on it.
    confirmations:
        Index a block only once this many blocks are on top of it (0: index the head).
    chunk_size:
        Blocks per ``eth_getLogs`` request during a backfill.
    on_progress:
        Called after each chunk with an :class:`IndexProgress` (progress is also logged at INFO).
    """

    def __init__(
        self,
        db: Database,
        rpc_url: str,
        deployment: Deployment,
        *,
        confirmations: int = 0,
        chunk_size: int = 2000,
        on_progress: Callable[[IndexProgress], None] | None = None,
        timeout: float = 10.0,
    ) -> None:
        if confirmations < 0 or chunk_size < 1:
            raise ValueError("confirmations must be >= 0 and chunk_size >= 1")
        self.db = db
        self.rpc = RawRpc(rpc_url, timeout)
        self.rpc_url = rpc_url
        self.deployment = deployment
        self.confirmations = confirmations
        self.chunk_size = chunk_size
        self.on_progress = on_progress
        self.decoder = _EventDecoder(deployment)
        self.addresses = [deployment.address(name) for name in CONTRACT_NAMES]
        self.start_block = max(0, deployment.deploy_block)
        self.head: int | None = None
        self.head_time: int | None = None
        self.last_error: str | None = None
        self.reorgs = 0
        self._check_database()

    def _check_database(self) -> None:
        fingerprint = json.dumps({"chain_id": self.deployment.chain_id, "contracts": self.addresses})
        stored = self.db.get_meta("deployment")
        if stored is None:
            self.db.set_meta("deployment", fingerprint)
        elif stored != fingerprint:
            raise IndexerError(
                f"the database {self.db.path} indexes another deployment ({stored}); "
                "use a fresh --db for this chain or delete the file"
            )

    @property
    def cursor(self) -> int:
        """The last block whose events are all in the database."""
        value = self.db.get_meta("cursor")
        return int(value) if value is not None else self.start_block - 1

    def _block_headers(self, numbers: list[int]) -> dict[int, dict[str, Any]]:
        if not numbers:
            return {}
        replies = self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        out: dict[int, dict[str, Any]] = {}
        for number, block in zip(numbers, replies, strict=True):
            if block is not None:
                out[number] = {"hash": block["hash"], "time": int(block["timestamp"], 16)}
        return out

    def _stored_hash(self, number: int) -> str | None:
        row = self.db.connect().execute("SELECT hash FROM blocks WHERE number = ?", (number,)).fetchone()
        return row[0] if row else None

    def refresh_head(self) -> int:
        """Read the chain head (number and time)."""
        block = self.rpc.call("eth_getBlockByNumber", ["latest", False])
        self.head = int(block["number"], 16)
        self.head_time = int(block["timestamp"], 16)
        return self.head

    def repair(self) -> int | None:
        """If the chain no longer has the cursor block, roll back to the fork point; returns it (or None)."""
        cursor = self.cursor
        stored = self._stored_hash(cursor)
        if stored is None:
            return None
        chain = self._block_headers([cursor]).get(cursor)
        if chain is not None and chain["hash"] == stored:
            return None
        return self._roll_back_to_fork(cursor)

    def _roll_back_to_fork(self, below: int) -> int:
        conn = self.db.connect()
        fork = self.start_block - 1
        upper = below
        while True:
            rows = conn.execute(
                "SELECT number, hash FROM blocks WHERE number <= ? ORDER BY number DESC LIMIT 64", (upper,)
            ).fetchall()
            if not rows:
                break
            chain = self._block_headers([r["number"] for r in rows])
            match = next((r["number"] for r in rows if chain.get(r["number"], {}).get("hash") == r["hash"]), None)
            if match is not None:
                fork = match
                break
            upper = rows[-1]["number"] - 1
        conn.execute("BEGIN IMMEDIATE")
        try:
            self.db.rollback_above(fork, conn)
            self.db.set_meta("cursor", fork, conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.reorgs += 1
        log.warning("reorg: the chain no longer has block %d as indexed; rolled back to block %d", below, fork)
        return fork

    def sync(self, max_chunks: int | None = None) -> int:
        """Index every confirmed block not yet indexed; returns the new cursor."""
        head = self.refresh_head()
        self.repair()
        target = head - self.confirmations
        started = time.monotonic()
        total = 0
        chunks = 0
        while self.cursor < target and (max_chunks is None or chunks < max_chunks):
            cursor = self.cursor
            end = min(cursor + self.chunk_size, target)
            written = self._index_chunk(cursor, end)
            if written is None:  # the chain changed under us: repair and go on from the fork point
                self._roll_back_to_fork(cursor)
                continue
            total += written
            chunks += 1
            progress = IndexProgress(cursor + 1, end, target, written, total, time.monotonic() - started)
            if end - cursor >= self.chunk_size or end < target or written:
                log.info(
                    "indexed blocks %d-%d of %d (%.0f%%): %d events, %d so far",
                    progress.from_block,
                    progress.to_block,
                    target,
                    progress.percent,
                    written,
                    total,
                )
            if self.on_progress is not None:
                self.on_progress(progress)
        self.last_error = None
        return self.cursor

    def _index_chunk(self, cursor: int, end: int) -> int | None:
        """Index blocks ``cursor + 1 .. end`` in one transaction; ``None`` when a reorg got in the way."""
        logs = self.rpc.call(
            "eth_getLogs", [{"fromBlock": hex(cursor + 1), "toBlock": hex(end), "address": self.addresses}]
        )
        numbers = sorted({int(item["blockNumber"], 16) for item in logs} | {end})
        check_cursor = cursor >= self.start_block and self._stored_hash(cursor) is not None
        headers = self._block_headers(numbers + ([cursor] if check_cursor else []))
        if check_cursor and headers.get(cursor, {}).get("hash") != self._stored_hash(cursor):
            return None
        if any(n not in headers for n in numbers):
            return None
        for item in logs:
            if item.get("removed") or headers[int(item["blockNumber"], 16)]["hash"] != item["blockHash"]:
                return None
        events = []
        for item in logs:
            decoded = self.decoder.decode(item, headers[int(item["blockNumber"], 16)]["time"])
            if decoded is not None:
                events.append(decoded)
        events.sort(key=lambda e: (e.block_number, e.log_index))
        conn = self.db.connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for number in numbers:
                conn.execute(
                    "INSERT OR REPLACE INTO blocks(number, hash, time) VALUES (?,?,?)",
                    (number, headers[number]["hash"], headers[number]["time"]),
                )
            for event in events:
                _store(conn, event)
            self.db.set_meta("cursor", end, conn)
            self.db.set_meta("cursor_time", headers[end]["time"], conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(events)

    def run(self, stop: threading.Event, poll_interval: float = 1.0) -> None:
        """Follow the chain until ``stop`` is set; errors are logged and retried."""
        while not stop.is_set():
            try:
                self.sync()
            except Exception as error:  # the chain may be down for a while: keep trying
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("indexer: %s", self.last_error)
            stop.wait(poll_interval)
