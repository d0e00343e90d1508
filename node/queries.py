"""Reads of the index: models, licences with their computed status, federations, rounds, watermarks.

Current state is computed from the insert-only facts. A licence's status mirrors the contract's
``checkLicense`` (``LicenseRegistry._evaluate``) at a given chain time:

- ``revoked`` / ``suspended``: its last life-cycle event;
- ``expired``: ``expiry != 0 and now >= expiry`` (expiry from issuance or the last renewal);
- ``parent-invalid``: a licence up its parent chain is not active or has expired;
- ``valid`` otherwise (for the scope asked, ``scope-not-granted`` when it lacks a bit).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from client_sdk.types import LicenseReason, Scope
from node.db import Database

__all__ = ["LicenseStatus", "Store", "scope_names"]

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def scope_names(scope: int) -> list[str]:
    return [s.name.lower() for s in Scope if scope & s.value]


def _evidence(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    return {"tx_hash": row["tx_hash"], "block_number": row["block_number"], "block_time": row["block_time"]}


@dataclass(frozen=True)
class LicenseStatus:
    """A licence's status and the contract reason code it corresponds to."""

    status: str
    reason: LicenseReason


class Store:
    """Read access to the node's index."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.connect()

    # -- chain position --------------------------------------------------------------------------

    def cursor(self) -> tuple[int, int]:
        """The last indexed block and its time."""
        block = self.db.get_meta("cursor")
        when = self.db.get_meta("cursor_time")
        return (int(block) if block is not None else -1, int(when) if when is not None else 0)

    # -- models ----------------------------------------------------------------------------------

    def model(self, model: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM models WHERE model = ?", (model,)).fetchone()
        if row is None:
            return None
        record = dict(row)
        record["registered_owner"] = record["owner"]
        record["owner"] = self.model_owner(model) or record["owner"]
        record["pending_owner"] = self._pending_owner(model)
        record["evidence"] = _evidence(row)
        record["parents"] = [
            dict(r)
            for r in self.conn.execute(
                "SELECT parent, position FROM lineage WHERE child = ? ORDER BY position", (model,)
            ).fetchall()
        ]
        record["children"] = [
            r["child"]
            for r in self.conn.execute(
                "SELECT child FROM lineage WHERE parent = ? ORDER BY block_number, log_index", (model,)
            ).fetchall()
        ]
        record["transfers"] = [
            dict(r, evidence=_evidence(r))
            for r in self.conn.execute(
                "SELECT * FROM model_transfers WHERE model = ? ORDER BY block_number, log_index", (model,)
            ).fetchall()
        ]
        return record

    def model_owner(self, model: str) -> str | None:
        row = self.conn.execute(
            "SELECT to_account FROM model_transfers WHERE model = ? AND kind = 'transferred'"
            " ORDER BY block_number DESC, log_index DESC LIMIT 1",
            (model,),
        ).fetchone()
        if row is not None:
            return str(row[0])
        row = self.conn.execute("SELECT owner FROM models WHERE model = ?", (model,)).fetchone()
        return str(row[0]) if row else None

    def _pending_owner(self, model: str) -> str | None:
        row = self.conn.execute(
            "SELECT kind, to_account FROM model_transfers WHERE model = ? ORDER BY block_number DESC, log_index DESC"
            " LIMIT 1",
            (model,),
        ).fetchone()
        if row is None or row["kind"] != "started" or row["to_account"] == ZERO_ADDRESS:
            return None
        return str(row["to_account"])

    def models(self, limit: int, offset: int, owner: str | None = None) -> tuple[list[dict[str, Any]], int]:
        where, args = ("", ()) if owner is None else (" WHERE owner = ?", (owner,))
        total = self.conn.execute(f"SELECT count(*) FROM models{where}", args).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT model FROM models{where} ORDER BY block_number DESC, log_index DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        ).fetchall()
        return [m for m in (self.model(r[0]) for r in rows) if m is not None], total

    def models_owned_by(self, account: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT model FROM models WHERE owner = ? UNION SELECT model FROM model_transfers"
            " WHERE to_account = ? AND kind = 'transferred'",
            (account, account),
        ).fetchall()
        return [r[0] for r in rows if self.model_owner(r[0]) == account]

    def lineage(self, model: str, max_models: int = 64) -> dict[str, Any]:
        """Ancestors and descendants as nodes (with depth: negative above, positive below) and edges."""
        nodes: dict[str, int] = {model: 0}
        edges: list[tuple[str, str]] = []
        frontier = [model]
        while frontier and len(nodes) < max_models:
            current = frontier.pop(0)
            for row in self.conn.execute("SELECT parent FROM lineage WHERE child = ?", (current,)).fetchall():
                edges.append((row[0], current))
                if row[0] not in nodes:
                    nodes[row[0]] = nodes[current] - 1
                    frontier.append(row[0])
        frontier = [model]
        while frontier and len(nodes) < max_models:
            current = frontier.pop(0)
            for row in self.conn.execute("SELECT child FROM lineage WHERE parent = ?", (current,)).fetchall():
                edges.append((current, row[0]))
                if row[0] not in nodes:
                    nodes[row[0]] = nodes[current] + 1
                    frontier.append(row[0])
        owners = {m: self.model_owner(m) for m in nodes}
        return {
            "nodes": [{"model": m, "depth": d, "owner": owners[m]} for m, d in nodes.items()],
            "edges": [{"parent": p, "child": c} for p, c in dict.fromkeys(edges)],
        }

    # -- licences --------------------------------------------------------------------------------

    def _license_row(self, license_id: int) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM licenses WHERE license_id = ?", (license_id,)).fetchone()

    def _life(self, license_id: int) -> tuple[str, int, str]:
        """(state, expiry, holder) of a licence from its events."""
        state, expiry, holder = "active", 0, ""
        row = self._license_row(license_id)
        if row is not None:
            expiry, holder = int(row["expiry"]), str(row["licensee"])
        for event in self.conn.execute(
            "SELECT kind, new_expiry, to_account FROM license_events WHERE license_id = ?"
            " ORDER BY block_number, log_index",
            (license_id,),
        ).fetchall():
            kind = event["kind"]
            if kind in ("suspended", "revoked"):
                state = kind
            elif kind == "reinstated":
                state = "active"
            elif kind == "renewed":
                expiry = int(event["new_expiry"])
            elif kind in ("minted", "transferred"):
                holder = str(event["to_account"])
        return state, expiry, holder

    def license_status(self, license_id: int, now: int, scope: int = 0) -> LicenseStatus:
        """The status of a licence at chain time ``now`` (for ``scope`` if given)."""
        row = self._license_row(license_id)
        if row is None:
            return LicenseStatus("not-licensed", LicenseReason.NOT_LICENSED)
        state, expiry, _ = self._life(license_id)
        if state == "revoked":
            return LicenseStatus("revoked", LicenseReason.REVOKED)
        if state == "suspended":
            return LicenseStatus("suspended", LicenseReason.SUSPENDED)
        if expiry != 0 and now >= expiry:
            return LicenseStatus("expired", LicenseReason.EXPIRED)
        if scope and int(row["scope"]) & scope != scope:
            return LicenseStatus("scope-not-granted", LicenseReason.SCOPE_NOT_GRANTED)
        parent = int(row["parent_id"])
        for _ in range(16):  # the contract bounds depth at 4
            if parent == 0:
                break
            parent_state, parent_expiry, _ = self._life(parent)
            if parent_state != "active" or (parent_expiry != 0 and now >= parent_expiry):
                return LicenseStatus("parent-invalid", LicenseReason.PARENT_INVALID)
            parent_row = self._license_row(parent)
            parent = int(parent_row["parent_id"]) if parent_row is not None else 0
        return LicenseStatus("valid", LicenseReason.NONE)

    def license(self, license_id: int, now: int) -> dict[str, Any] | None:
        row = self._license_row(license_id)
        if row is None:
            return None
        state, expiry, holder = self._life(license_id)
        status = self.license_status(license_id, now)
        record = dict(row)
        record.update(
            state=state,
            expiry=expiry,
            holder=holder,
            status=status.status,
            scope_names=scope_names(int(row["scope"])),
            transferable=bool(row["transferable"]),
            evidence=_evidence(row),
            history=[
                dict(e, evidence=_evidence(e))
                for e in self.conn.execute(
                    "SELECT * FROM license_events WHERE license_id = ?"
                    " AND kind NOT IN ('minted', 'in-use', 'out-of-use') ORDER BY block_number, log_index",
                    (license_id,),
                ).fetchall()
            ],
            sublicenses=[
                r[0]
                for r in self.conn.execute(
                    "SELECT license_id FROM licenses WHERE parent_id = ? ORDER BY license_id", (license_id,)
                ).fetchall()
            ],
        )
        return record

    def licenses_for_model(self, model: str, now: int, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        total = self.conn.execute("SELECT count(*) FROM licenses WHERE model = ?", (model,)).fetchone()[0]
        rows = self.conn.execute(
            "SELECT license_id FROM licenses WHERE model = ? ORDER BY license_id LIMIT ? OFFSET ?",
            (model, limit, offset),
        ).fetchall()
        return [x for x in (self.license(r[0], now) for r in rows) if x is not None], total

    def licenses_for_holder(self, holder: str, now: int, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        candidates = [
            r[0]
            for r in self.conn.execute(
                "SELECT DISTINCT license_id FROM license_events WHERE to_account = ?"
                " AND kind IN ('minted', 'transferred')"
                " ORDER BY license_id",
                (holder,),
            ).fetchall()
        ]
        held = [lid for lid in candidates if self._life(lid)[2] == holder]
        page = held[offset : offset + limit]
        return [x for x in (self.license(lid, now) for lid in page) if x is not None], len(held)

    def held_license(self, model: str, account: str) -> int:
        """The licence ``checkLicense`` considers for ``account``: the contract's ``LicenseInUse`` events."""
        held = 0
        for event in self.conn.execute(
            "SELECT e.license_id, e.kind FROM license_events e"
            " JOIN licenses l ON l.license_id = e.license_id"
            " WHERE l.model = ? AND ((e.kind = 'in-use' AND e.to_account = ?)"
            " OR (e.kind = 'out-of-use' AND e.from_account = ?))"
            " ORDER BY e.block_number, e.log_index",
            (model, account, account),
        ).fetchall():
            if event["kind"] == "in-use":
                held = int(event["license_id"])
            elif held == event["license_id"]:
                held = 0
        return held

    def check(self, model: str, account: str, scope: int, now: int) -> tuple[bool, LicenseReason, int]:
        """The index's answer to ``checkLicense(model, account, scope)`` at chain time ``now``."""
        owner = self.model_owner(model)
        if owner is None:
            return False, LicenseReason.NOT_LICENSED, 0
        if owner == account:
            return True, LicenseReason.NONE, 0
        license_id = self.held_license(model, account)
        if license_id == 0:
            return False, LicenseReason.NOT_LICENSED, 0
        status = self.license_status(license_id, now, scope)
        return status.reason == LicenseReason.NONE, status.reason, license_id

    def offers(self, signer: str, nonce: int) -> list[dict[str, Any]]:
        return [
            dict(r, evidence=_evidence(r))
            for r in self.conn.execute(
                "SELECT * FROM offers WHERE signer = ? AND nonce = ? ORDER BY block_number, log_index",
                (signer, str(nonce)),
            ).fetchall()
        ]

    # -- watermarks ------------------------------------------------------------------------------

    def watermarks_for_model(self, model: str) -> list[dict[str, Any]]:
        out = []
        for row in self.conn.execute(
            "SELECT * FROM watermark_commitments WHERE model = ? ORDER BY block_number, log_index", (model,)
        ).fetchall():
            reveal = self.conn.execute(
                "SELECT * FROM watermark_reveals WHERE commitment = ?", (row["commitment"],)
            ).fetchone()
            claims = self.conn.execute(
                "SELECT * FROM watermark_claims WHERE commitment = ? ORDER BY claim_id", (row["commitment"],)
            ).fetchall()
            out.append(
                {
                    "commitment": row["commitment"],
                    "model": row["model"],
                    "owner": row["owner"],
                    "evidence": _evidence(row),
                    "reveal": None
                    if reveal is None
                    else {
                        "watermark_digest": reveal["watermark_digest"],
                        "salt": reveal["salt"],
                        "evidence": _evidence(reveal),
                    },
                    "claims": [self._claim(c) for c in claims],
                }
            )
        return out

    def _claim(self, row: sqlite3.Row) -> dict[str, Any]:
        return {
            "claim_id": row["claim_id"],
            "commitment": row["commitment"],
            "suspect_hash": row["suspect_hash"],
            "model": row["model"],
            "claimant": row["claimant"],
            "evidence_hash": row["evidence_hash"],
            "evidence_uri": row["evidence_uri"],
            "evidence": _evidence(row),
        }

    def commitment(self, commitment: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM watermark_commitments WHERE commitment = ?", (commitment,)).fetchone()
        if row is None:
            return None
        return next(w for w in self.watermarks_for_model(row["model"]) if w["commitment"] == commitment)

    def claims(self, limit: int, offset: int, model: str | None = None) -> tuple[list[dict[str, Any]], int]:
        where, args = ("", ()) if model is None else (" WHERE model = ?", (model,))
        total = self.conn.execute(f"SELECT count(*) FROM watermark_claims{where}", args).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT * FROM watermark_claims{where} ORDER BY claim_id LIMIT ? OFFSET ?", (*args, limit, offset)
        ).fetchall()
        return [self._claim(r) for r in rows], total

    # -- federations -----------------------------------------------------------------------------

    def federation(self, federation_id: int) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM federations WHERE federation_id = ?", (federation_id,)).fetchone()
        if row is None:
            return None
        record = dict(row)
        record["evidence"] = _evidence(row)
        min_row = self.conn.execute(
            "SELECT min_signers FROM min_signer_events WHERE federation_id = ? ORDER BY block_number DESC,"
            " log_index DESC LIMIT 1",
            (federation_id,),
        ).fetchone()
        if min_row is not None:
            record["min_signers"] = min_row[0]
        head = self.conn.execute(
            "SELECT round, new_global_hash FROM rounds WHERE federation_id = ? ORDER BY round DESC LIMIT 1",
            (federation_id,),
        ).fetchone()
        record["last_round"] = head["round"] if head else 0
        record["last_global_hash"] = head["new_global_hash"] if head else record["initial_global_hash"]
        record["members"] = self.members(federation_id)
        record["member_count"] = sum(1 for m in record["members"] if m["status"] == "active")
        record["models"] = [
            r[0]
            for r in self.conn.execute(
                "SELECT model FROM models WHERE federation_id = ? ORDER BY block_number", (federation_id,)
            ).fetchall()
        ]
        return record

    def federations(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        total = self.conn.execute("SELECT count(*) FROM federations").fetchone()[0]
        rows = self.conn.execute(
            "SELECT federation_id FROM federations ORDER BY federation_id LIMIT ? OFFSET ?", (limit, offset)
        ).fetchall()
        return [f for f in (self.federation(r[0]) for r in rows) if f is not None], total

    def members(self, federation_id: int) -> list[dict[str, Any]]:
        members: dict[str, dict[str, Any]] = {}
        for row in self.conn.execute(
            "SELECT * FROM member_events WHERE federation_id = ? ORDER BY block_number, log_index", (federation_id,)
        ).fetchall():
            entry = members.setdefault(
                row["member"], {"member": row["member"], "status": "invited", "history": [], "rounds": 0, "examples": 0}
            )
            entry["status"] = {"invited": "invited", "joined": "active", "removed": "removed"}[row["kind"]]
            entry["history"].append({"kind": row["kind"], "evidence": _evidence(row)})
        for row in self.conn.execute(
            "SELECT signer, count(*) AS rounds, sum(num_examples) AS examples FROM attestations"
            " WHERE federation_id = ? GROUP BY signer",
            (federation_id,),
        ).fetchall():
            entry = members.setdefault(
                row["signer"], {"member": row["signer"], "status": "unknown", "history": [], "rounds": 0, "examples": 0}
            )
            entry["rounds"], entry["examples"] = row["rounds"], int(row["examples"] or 0)
        return list(members.values())

    def is_member_at(self, federation_id: int, member: str, block: int) -> bool:
        """Whether ``member`` was an active member when block ``block`` was mined (before its events)."""
        row = self.conn.execute(
            "SELECT kind FROM member_events WHERE federation_id = ? AND member = ? AND block_number <= ?"
            " ORDER BY block_number DESC, log_index DESC LIMIT 1",
            (federation_id, member, block),
        ).fetchone()
        return row is not None and row[0] == "joined"

    def rounds(self, federation_id: int, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        total = self.conn.execute("SELECT count(*) FROM rounds WHERE federation_id = ?", (federation_id,)).fetchone()[0]
        rows = self.conn.execute(
            "SELECT * FROM rounds WHERE federation_id = ? ORDER BY round LIMIT ? OFFSET ?",
            (federation_id, limit, offset),
        ).fetchall()
        return [self._round(r) for r in rows], total

    def round(self, federation_id: int, number: int) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT * FROM rounds WHERE federation_id = ? AND round = ?", (federation_id, number)
        ).fetchone()
        return None if row is None else self._round(row)

    def _round(self, row: sqlite3.Row) -> dict[str, Any]:
        record = dict(row)
        record["examples"] = int(row["examples"])
        record["evidence"] = _evidence(row)
        record["attestations"] = [
            {k: a[k] for k in ("position", "signer", "update_hash", "num_examples", "r", "vs")}
            for a in self.conn.execute(
                "SELECT * FROM attestations WHERE federation_id = ? AND round = ? ORDER BY position",
                (row["federation_id"], row["round"]),
            ).fetchall()
        ]
        metrics = self.conn.execute(
            "SELECT metrics_json, sha256, source FROM round_metrics WHERE federation_id = ? AND round = ?",
            (row["federation_id"], row["round"]),
        ).fetchone()
        record["metrics"] = None
        if metrics is not None:
            record["metrics"] = {
                "document": json.loads(metrics["metrics_json"]),
                "sha256": metrics["sha256"],
                "source": metrics["source"],
                "verified": metrics["sha256"] == row["metrics_hash"],
            }
        return record

    def federations_of(self, account: str) -> list[int]:
        rows = self.conn.execute(
            "SELECT federation_id FROM federations WHERE coordinator = ? UNION"
            " SELECT federation_id FROM member_events WHERE member = ? ORDER BY 1",
            (account, account),
        ).fetchall()
        return [r[0] for r in rows]

    def find_hash(self, value: str) -> list[dict[str, Any]]:
        """Everything a 32-byte hash can name: a model, a round's global or update hash, a commitment, a suspect."""
        hits: list[dict[str, Any]] = []
        c = self.conn
        if c.execute("SELECT 1 FROM models WHERE model = ?", (value,)).fetchone():
            hits.append({"kind": "model", "model": value})
        for r in c.execute("SELECT federation_id, round FROM rounds WHERE new_global_hash = ?", (value,)).fetchall():
            hits.append({"kind": "round-global-hash", "federation_id": r[0], "round": r[1]})
        for r in c.execute(
            "SELECT federation_id, round, signer FROM attestations WHERE update_hash = ?", (value,)
        ).fetchall():
            hits.append({"kind": "update-hash", "federation_id": r[0], "round": r[1], "signer": r[2]})
        for r in c.execute("SELECT model FROM watermark_commitments WHERE commitment = ?", (value,)).fetchall():
            hits.append({"kind": "watermark-commitment", "model": r[0], "commitment": value})
        for r in c.execute("SELECT claim_id, model FROM watermark_claims WHERE suspect_hash = ?", (value,)).fetchall():
            hits.append({"kind": "suspect-of-claim", "claim_id": r[0], "model": r[1]})
        for r in c.execute("SELECT license_id FROM license_events WHERE tx_hash = ? LIMIT 5", (value,)).fetchall():
            hits.append({"kind": "licence-transaction", "license_id": r[0]})
        for r in c.execute("SELECT model FROM models WHERE tx_hash = ?", (value,)).fetchall():
            hits.append({"kind": "registration-transaction", "model": r[0]})
        for r in c.execute("SELECT federation_id, round FROM rounds WHERE tx_hash = ?", (value,)).fetchall():
            hits.append({"kind": "round-transaction", "federation_id": r[0], "round": r[1]})
        return hits
