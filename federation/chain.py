"""The on-chain glue of a run: partners' EIP-712 attestation signer and the coordinator's chain hook.

Partner side, :class:`EIP712AttestationSigner` turns the :class:`~federation.attestation.UpdateClaim` of
each train update into the ``"attestation"`` record (all fields ``bytes``):

==========================  ========  =====================================================
key                         bytes     content
==========================  ========  =====================================================
``signer``                  20        the partner's address (who it claims to be)
``federation-id``           8         uint64 big-endian
``round``                   8         uint64 big-endian
``previous-global-hash``    32        ``claim.prev_global_hash`` (an ``ArrayRecord.object_id``)
``update-hash``             32        ``claim.update_hash``
``num-examples``            8         uint64 big-endian
``r``, ``vs``               32, 32    EIP-2098 compact signature of the EIP-712 ``RoundAttestation``
==========================  ========  =====================================================

A SuperNode names ``federation.chain:keystore_signer_factory`` as its ``attestation-signer`` and its
keystore in its node config (``keystore=/path/partner.json password-env=PARTNER_PASSWORD``); chain id,
FederationLog address and federation id come from the run config (``chain-id``, ``federation-log``,
``federation-id``).

Coordinator side, :class:`ChainProvenanceHook` checks each attestation (present, fields equal to the
server's own claim, signature recovers to the claimed signer, signer an active member, one update per
signer), and hands each aggregated round to a :class:`~federation.outbox.RoundOutbox` with the SHA-256
of the round's canonical metrics JSON (:func:`canonical_round_metrics`). The deployment engine's
ServerApp loads it with run config ``provenance-hook="federation.chain:provenance_hook_factory"``.

Usage::

    signer = EIP712AttestationSigner({0: key0, 1: key1}, ChainTarget(31337, federation_log, 7))
    hook = ChainProvenanceHook(client, coordinator, 7, "run/outbox.sqlite", metrics_dir="run/round-metrics")
    run_simulation(config, hook=hook, signer=signer)
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from flwr.app import ConfigRecord, Context, Message, MetricRecord, UserConfig

from client_sdk.accounts import load_account
from client_sdk.client import ProvenetClient, connect
from client_sdk.errors import ChainUnavailable, ProvenetError, ProvenetValueError
from client_sdk.signing import recover_attestation_signer, sign_attestation
from client_sdk.types import Attestation, MemberStatus
from federation.attestation import AttestationError, AttestationSigner, UpdateClaim, reply_attestation
from federation.config import FederationConfig
from federation.outbox import OutboxRow, PendingRound, RoundOutbox, read_outbox_rows
from federation.provenance import AcceptedUpdate, ProvenanceHook

__all__ = [
    "ChainProvenanceHook",
    "ChainTarget",
    "EIP712AttestationSigner",
    "QuorumNotMet",
    "attestation_from_record",
    "attestation_record",
    "canonical_round_metrics",
    "keystore_signer_factory",
    "provenance_hook_factory",
]

log = logging.getLogger(__name__)

METRICS_SCHEMA = "provenet.round-metrics.v1"
_UINT64 = 8


class ChainConfigError(ProvenetValueError):
    """The run or node config lacks what is needed to attest or record on chain."""


class QuorumNotMet(ProvenetError):
    """Fewer valid attestations than the federation's minimum: the round cannot be recorded.

    The log cannot skip a round (the contract requires consecutive rounds on a hash chain), so the run
    stops rather than train on with rounds that could never be recorded.
    """


@dataclass(frozen=True)
class ChainTarget:
    """Where attestations count: the EIP-712 domain (chain id, FederationLog address) and the federation."""

    chain_id: int
    federation_log: str
    federation_id: int

    @classmethod
    def from_run_config(cls, run_config: UserConfig) -> ChainTarget:
        """Read ``chain-id``, ``federation-log`` and ``federation-id`` from a run config."""
        try:
            target = cls(
                chain_id=int(cast(int, run_config["chain-id"])),
                federation_log=to_checksum_address(str(run_config["federation-log"])),
                federation_id=int(cast(int, run_config["federation-id"])),
            )
        except (KeyError, ValueError) as error:
            raise ChainConfigError(
                f"the run config must name chain-id, federation-log and federation-id to sign attestations ({error})"
            ) from None
        if target.chain_id <= 0 or target.federation_id <= 0:
            raise ChainConfigError(
                f"chain-id {target.chain_id} and federation-id {target.federation_id} must be set (positive)"
            )
        return target


def _uint64(value: int) -> bytes:
    return int(value).to_bytes(_UINT64, "big")


def hash32(object_id: str) -> bytes:
    """An ``ArrayRecord.object_id`` (64 hex digits) as the ``bytes32`` the contracts store."""
    raw = bytes.fromhex(object_id)
    if len(raw) != 32:
        raise AttestationError(f"expected a 32-byte object id (64 hex digits), got {object_id!r}")
    return raw


def attestation_record(attestation: Attestation) -> ConfigRecord:
    """The ``"attestation"`` ConfigRecord of a signed attestation (layout in the module docstring)."""
    return ConfigRecord(
        {
            "signer": bytes.fromhex(attestation.signer.removeprefix("0x")),
            "federation-id": _uint64(attestation.federation_id),
            "round": _uint64(attestation.round),
            "previous-global-hash": attestation.previous_global_hash,
            "update-hash": attestation.update_hash,
            "num-examples": _uint64(attestation.num_examples),
            "r": attestation.r,
            "vs": attestation.vs,
        }
    )


_RECORD_SIZES = {
    "signer": 20,
    "federation-id": _UINT64,
    "round": _UINT64,
    "previous-global-hash": 32,
    "update-hash": 32,
    "num-examples": _UINT64,
    "r": 32,
    "vs": 32,
}


def attestation_from_record(record: ConfigRecord) -> Attestation:
    """Parse an ``"attestation"`` record; :class:`AttestationError` names the first bad field."""
    fields: dict[str, bytes] = {}
    for key, size in _RECORD_SIZES.items():
        value = record.get(key)
        if not isinstance(value, bytes) or len(value) != size:
            found = "missing" if value is None else f"{type(value).__name__} of length {len(cast(Any, value))}"
            raise AttestationError(f"attestation field {key!r} must be {size} bytes, found {found}")
        fields[key] = value
    return Attestation(
        signer=to_checksum_address(fields["signer"]),
        federation_id=int.from_bytes(fields["federation-id"], "big"),
        round=int.from_bytes(fields["round"], "big"),
        previous_global_hash=fields["previous-global-hash"],
        update_hash=fields["update-hash"],
        num_examples=int.from_bytes(fields["num-examples"], "big"),
        r=fields["r"],
        vs=fields["vs"],
    )


class EIP712AttestationSigner:
    """An :data:`~federation.attestation.AttestationSigner` that signs claims with partners' keys.

    Picklable (the simulation engine ships it to its Ray actors): it holds raw keys and builds the
    ``LocalAccount`` where it runs.

    Parameters
    ----------
    keys : bytes or Mapping[int, bytes]
        One private key (a SuperNode signs for itself) or one per partner id (simulation, where one
        process plays every partner).
    target : ChainTarget, optional
        Fixed chain id, FederationLog and federation id; if omitted they are read from the run config of
        each call's context.
    """

    def __init__(self, keys: bytes | Mapping[int, bytes], target: ChainTarget | None = None) -> None:
        self._keys: dict[int, bytes] | bytes = bytes(keys) if isinstance(keys, bytes) else dict(keys)
        self.target = target
        self._accounts: dict[int, LocalAccount] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Accounts are rebuilt where the signer lands; only raw keys and settings travel.
        return {**self.__dict__, "_accounts": {}}

    def account_for(self, partner_id: int) -> LocalAccount:
        """The key that signs for ``partner_id``."""
        if partner_id not in self._accounts:
            if isinstance(self._keys, bytes):
                key = self._keys
            elif partner_id in self._keys:
                key = self._keys[partner_id]
            else:
                raise AttestationError(f"no signing key for partner {partner_id}; keys are for {sorted(self._keys)}")
            self._accounts[partner_id] = Account.from_key(key)
        return self._accounts[partner_id]

    def attest(self, claim: UpdateClaim, target: ChainTarget) -> Attestation:
        """Sign ``claim`` for ``target`` with the partner's key."""
        return sign_attestation(
            self.account_for(claim.partner_id),
            federation_id=target.federation_id,
            round=claim.server_round,
            previous_global_hash=hash32(claim.prev_global_hash),
            update_hash=hash32(claim.update_hash),
            num_examples=claim.num_examples,
            chain_id=target.chain_id,
            federation_log=target.federation_log,
        )

    def __call__(self, claim: UpdateClaim, context: Context) -> ConfigRecord:
        target = self.target or ChainTarget.from_run_config(context.run_config)
        return attestation_record(self.attest(claim, target))


def keystore_signer_factory(context: Context) -> AttestationSigner:
    """Node-config ``attestation-signer`` factory: the SuperNode's own key from its keystore.

    Node config keys: ``keystore`` (path of the keystore v3 file) and ``password-env`` (the name of the
    environment variable holding its password; default ``PROVENET_PASSWORD``).
    """
    keystore = str(context.node_config.get("keystore", ""))
    if not keystore:
        raise ChainConfigError(
            "this SuperNode signs attestations but its node config names no keystore; start it with "
            "--node-config 'keystore=/path/to/partner.json password-env=PARTNER_PASSWORD ...'"
        )
    password_env = str(context.node_config.get("password-env", "PROVENET_PASSWORD"))
    account = load_account(keystore, password_env=password_env, prompt=False)
    log.info("attestations of this SuperNode are signed by %s", account.address)
    return EIP712AttestationSigner(bytes(account.key))


def _finite(value: float | int) -> float | int | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def canonical_round_metrics(
    federation_id: int,
    server_round: int,
    metrics: MetricRecord | None,
    accepted: Sequence[tuple[str, AcceptedUpdate]],
) -> bytes:
    """The canonical JSON bytes of a round's metrics, whose SHA-256 is the round's ``metricsHash``.

    The object is::

        {"schema": "provenet.round-metrics.v1", "federation_id": F, "round": R,
         "aggregated": {<metric>: <number>, ...},                    # the strategy's train metrics
         "partners": [{"signer": "0x…", "partner_id": i, "num_examples": n,
                       "metrics": {<metric>: <number>, ...}}, ...]}  # sorted by signer address

    encoded as ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
    allow_nan=False)`` in UTF-8 (Python's shortest round-trip float repr; NaN and infinities become
    ``null``). Anyone holding the file recomputes the hash with ``sha256sum``.
    """
    aggregated = {} if metrics is None else {k: _finite(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    partners = [
        {
            "signer": signer,
            "partner_id": update.claim.partner_id,
            "num_examples": update.claim.num_examples,
            "metrics": {k: _finite(v) for k, v in update.metrics.items()},
        }
        for signer, update in sorted(accepted, key=lambda item: int(item[0], 16))
    ]
    body = {
        "schema": METRICS_SCHEMA,
        "federation_id": federation_id,
        "round": server_round,
        "aggregated": aggregated,
        "partners": partners,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


class ChainProvenanceHook(ProvenanceHook):
    """Verifies partners' EIP-712 attestations and records every round on chain through a durable outbox.

    Parameters
    ----------
    client : ProvenetClient
        Connection to the chain (it may go down during the run).
    coordinator : LocalAccount
        The federation's coordinator (signs ``recordRound``).
    federation_id : int
        The federation on chain.
    outbox_path : str or pathlib.Path
        SQLite file of the outbox (kept across runs and restarts).
    metrics_dir : str or pathlib.Path, optional
        Where ``round-<r>.json`` (the canonical metrics bytes) is written; defaults to the outbox's folder.
    drain_timeout : float
        Seconds :meth:`on_run_finished` waits for the outbox to drain.
    retry_interval, max_retry_interval : float
        Back-off of the outbox's sender while the chain is down.
    """

    def __init__(
        self,
        client: ProvenetClient,
        coordinator: LocalAccount,
        federation_id: int,
        outbox_path: str | Path,
        *,
        metrics_dir: str | Path | None = None,
        drain_timeout: float = 60.0,
        retry_interval: float = 0.5,
        max_retry_interval: float = 2.0,
    ) -> None:
        self.client = client
        self.federation_id = federation_id
        self.target = ChainTarget(client.chain_id, client.federations.address, federation_id)
        state = client.federations.get(federation_id)
        if state.coordinator != coordinator.address:
            raise ChainConfigError(
                f"federation {federation_id} is coordinated by {state.coordinator}, not by {coordinator.address}; "
                "use the coordinator's keystore"
            )
        self.min_signers = state.min_signers
        self.drain_timeout = drain_timeout
        self.outbox_path = Path(outbox_path)
        self.metrics_dir = Path(metrics_dir) if metrics_dir is not None else self.outbox_path.parent / "round-metrics"
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        # Membership as last read from the chain: address -> (round it was read in, status).
        self._membership: dict[str, tuple[int, MemberStatus]] = {}
        for address in self._invited_addresses():
            self._membership[address] = (0, client.federations.member(federation_id, address).status)
        self._signers: dict[int, dict[str, int]] = {}
        self.drained: bool | None = None
        self.outbox = RoundOutbox(
            self.outbox_path,
            client,
            coordinator,
            federation_id,
            retry_interval=retry_interval,
            max_retry_interval=max_retry_interval,
        )
        self.outbox.start()

    def _invited_addresses(self) -> list[str]:
        contract = self.client.federations.contract
        logs = contract.events.MemberInvited().get_logs(
            from_block=self.client.deployment.deploy_block, argument_filters={"federationId": self.federation_id}
        )
        return sorted({to_checksum_address(entry["args"]["member"]) for entry in logs})

    def _member_status(self, server_round: int, address: str) -> tuple[MemberStatus | None, str]:
        """The member's status (read once per round, the last known one while the chain is down)."""
        known = self._membership.get(address)
        if known is not None and known[0] == server_round:
            return known[1], ""
        try:
            status = self.client.federations.member(self.federation_id, address).status
        except ChainUnavailable:
            if known is None:
                return None, "the chain is unreachable and this address's membership was never read"
            log.warning(
                "chain unreachable: using %s's membership as read in round %d (%s)", address, known[0], known[1].name
            )
            return known[1], ""
        self._membership[address] = (server_round, status)
        return status, ""

    def verify_reply(self, reply: Message, claim: UpdateClaim) -> str | None:
        """Accept a reply only with a valid attestation, by an active member, of exactly this update."""
        record = reply_attestation(reply)
        if record is None:
            return "no attestation: the partner's ClientApp has no attestation signer"
        try:
            attestation = attestation_from_record(record)
        except AttestationError as error:
            return f"malformed attestation: {error}"
        expected = {
            "federation id": (attestation.federation_id, self.federation_id),
            "round": (attestation.round, claim.server_round),
            "previous global hash": (attestation.previous_global_hash.hex(), claim.prev_global_hash),
            "update hash": (attestation.update_hash.hex(), claim.update_hash),
            "number of examples": (attestation.num_examples, claim.num_examples),
        }
        for name, (attested, computed) in expected.items():
            if attested != computed:
                return f"attested {name} {attested} differs from the server's {computed}"
        recovered = recover_attestation_signer(attestation, self.target.chain_id, self.target.federation_log)
        if recovered != attestation.signer:
            return (
                f"invalid signature: the attestation names signer {attestation.signer} but its signature "
                f"recovers to {recovered or 'nothing'}"
            )
        status, problem = self._member_status(claim.server_round, attestation.signer)
        if status is None:
            return f"cannot check membership of {attestation.signer}: {problem}"
        if status != MemberStatus.ACTIVE:
            return (
                f"signer {attestation.signer} is not an active member of federation {self.federation_id} "
                f"(status {status.name.lower()})"
            )
        seen = self._signers.setdefault(claim.server_round, {})
        if attestation.signer in seen:
            return f"signer {attestation.signer} already attested an update in round {claim.server_round}"
        seen[attestation.signer] = claim.partner_id
        return None

    def on_round_aggregated(
        self,
        server_round: int,
        prev_global_hash: str,
        new_global_hash: str,
        metrics: MetricRecord | None,
        accepted_replies: Sequence[AcceptedUpdate],
    ) -> None:
        """Write the round's metrics JSON and put the round into the outbox (returns at once)."""
        signed = [
            (attestation_from_record(update.attestation), update)
            for update in accepted_replies
            if update.attestation is not None
        ]
        if len(signed) < self.min_signers:
            raise QuorumNotMet(
                f"round {server_round} has {len(signed)} valid attestation(s) but federation {self.federation_id} "
                f"needs {self.min_signers}; the round cannot be recorded, so the run stops"
            )
        body = canonical_round_metrics(self.federation_id, server_round, metrics, [(a.signer, u) for a, u in signed])
        path = self.metrics_dir / f"round-{server_round:04d}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)
        self.outbox.enqueue(
            PendingRound(
                federation_id=self.federation_id,
                round=server_round,
                previous_global_hash=hash32(prev_global_hash),
                new_global_hash=hash32(new_global_hash),
                metrics_hash=hashlib.sha256(body).digest(),
                attestations=tuple(a for a, _ in signed),
            )
        )

    def on_round_not_aggregated(self, server_round: int, reason: str) -> None:
        """The chain's log cannot skip a round number: a round without a new global model stops the run."""
        raise QuorumNotMet(
            f"round {server_round} produced no new global model ({reason}); federation {self.federation_id}'s log "
            "cannot skip a round, so the run stops"
        )

    def on_run_finished(self) -> None:
        """Wait (bounded) for the outbox to drain, then stop its sender; say what is still pending."""
        self.drained = self.outbox.wait_drained(self.drain_timeout)
        pending = self.outbox.rows(state="pending")
        self.outbox.close()
        if pending:
            log.warning(
                "the chain did not take %d round(s) (%s) within %.0f s; they stay in %s and are sent by "
                "`provenet federation send --outbox %s` (last error: %s)",
                len(pending),
                ", ".join(str(r.round) for r in pending),
                self.drain_timeout,
                self.outbox_path,
                self.outbox_path,
                pending[0].last_error,
            )
        else:
            log.info("every round of federation %d is on chain", self.federation_id)

    def rows(self) -> list[OutboxRow]:
        """The outbox's rows (readable after :meth:`on_run_finished` too)."""
        return read_outbox_rows(self.outbox_path, self.federation_id)


def provenance_hook_factory(context: Context) -> ProvenanceHook:
    """Run-config ``provenance-hook`` factory for the deployment engine's ServerApp process.

    Reads ``rpc-url``, ``deployment`` (manifest path), ``coordinator-keystore``,
    ``coordinator-password-env``, ``federation-id``, ``outbox`` (default ``<output-dir>/outbox.sqlite``)
    and ``chain-wait`` from the run config.
    """
    config = FederationConfig.from_run_config(context.run_config)
    missing = [
        key
        for key, value in (
            ("rpc-url", config.rpc_url),
            ("deployment", config.deployment),
            ("coordinator-keystore", config.coordinator_keystore),
            ("federation-id", config.federation_id),
        )
        if not value
    ]
    if missing:
        raise ChainConfigError(f"the run config lacks {', '.join(missing)}, needed to record rounds on chain")
    if not config.outbox and not config.output_dir:
        raise ChainConfigError("the run config names neither outbox nor output-dir: nowhere to keep the outbox")
    client = connect(config.rpc_url, config.deployment)
    coordinator = load_account(config.coordinator_keystore, password_env=config.coordinator_password_env, prompt=False)
    output = Path(config.output_dir) if config.output_dir else Path(config.outbox).parent
    return ChainProvenanceHook(
        client,
        coordinator,
        config.federation_id,
        config.outbox or output / "outbox.sqlite",
        metrics_dir=output / "round-metrics",
        drain_timeout=config.chain_wait,
    )
