"""Release of a federation's final model (register, commit the watermark) and verification of its lineage.

Release, after the last round is on chain::

    release = release_model(client, coordinator, result, federation_id, "run/release", config=config,
                            partners=[p.address for p in partners], owner=owner)

writes into the release folder

- ``model.safetensors``: the final global arrays (:func:`federation.task.export_safetensors`); its
  SHA-256 is the registered weights hash;
- ``model.metadata.json``: task, metrics, partners, federation and watermark digest; its SHA-256 is the
  registered metadata hash, its ``file://`` URI the metadata URI;
- ``secret/trigger.safetensors`` + ``secret/trigger.json`` (the trigger set) and ``secret/trigger.salt``
  (the commitment's 32-byte salt, hex, mode 0600): keep them secret until a reveal;
- ``release.json``: what was recorded, with transaction hashes.

The coordinator registers the model with the provenance pointer (federation id, final round), as the
registry requires; with ``owner`` given, ownership then moves to the owner (two steps) and the owner
commits the watermark, so that the commitment binds the organisation that licenses the model.

Verification, by anyone holding the file::

    report = verify_lineage("model.safetensors", client)
    for check in report.checks: print(check.name, check.passed, check.detail)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from client_sdk.client import ProvenetClient
from client_sdk.contract_errors import ModelRegistryUnknownModel
from client_sdk.errors import ProvenetError
from client_sdk.hashing import weights_hash
from client_sdk.signing import recover_attestation_signer
from client_sdk.types import MemberStatus
from federation.config import FederationConfig
from federation.results import RunResult
from federation.task import (
    export_safetensors,
    load_safetensors_as_arrayrecord,
    model_to_arrays,
    new_model,
)
from federation.watermark import WatermarkParams, generate_trigger_set, save_trigger_set, watermark_digest

__all__ = [
    "LineageCheck",
    "LineageReport",
    "Release",
    "ReleaseError",
    "initial_global_hash",
    "release_model",
    "verify_lineage",
]

MODEL_FILE = "model.safetensors"
METADATA_FILE = "model.metadata.json"
RELEASE_FILE = "release.json"
METADATA_SCHEMA = "provenet.model-metadata.v1"
TASK = {
    "name": "digits-classification",
    "dataset": "sklearn.datasets.load_digits (8x8, 10 classes)",
    "model": "federation.task.DigitsCNN",
}


class ReleaseError(ProvenetError):
    """The model cannot be released yet (rounds not on chain) or the release folder is inconsistent."""


def initial_global_hash(config: FederationConfig) -> str:
    """``object_id`` of the initial global arrays of a run (what ``createFederation`` should be given)."""
    return model_to_arrays(new_model(config.seed)).object_id


@dataclass(frozen=True)
class Release:
    """What a release recorded on chain and where its files are."""

    model_path: str
    weights_hash: str
    metadata_path: str
    metadata_hash: str
    metadata_uri: str
    federation_id: int
    final_round: int
    final_global_hash: str
    owner: str
    register_tx: str
    watermark_commitment: str | None = None
    watermark_digest: str | None = None
    watermark_tx: str | None = None
    trigger_set_path: str | None = None
    salt_path: str | None = None


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _tx(receipt: Any) -> str:
    return _hex(bytes(receipt["transactionHash"]))


def _round_records(client: ProvenetClient, federation_id: int) -> dict[int, dict]:
    return {record["round"]: record for record in client.federations.round_records(federation_id)}


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def _metadata(
    result: RunResult,
    config: FederationConfig,
    client: ProvenetClient,
    federation_id: int,
    partners: Sequence[str],
    model_sha256: str,
    digest: bytes | None,
    params: WatermarkParams | None,
) -> dict[str, Any]:
    last = result.rounds[-1]
    return {
        "schema": METADATA_SCHEMA,
        "task": TASK,
        "training": {
            key: value
            for key, value in config.to_run_config().items()
            if key
            in (
                "num-partners",
                "num-rounds",
                "local-epochs",
                "lr",
                "batch-size",
                "partitioning",
                "alpha",
                "seed",
                "aggregation",
                "dp",
                "dp-noise-multiplier",
                "dp-clipping-norm",
                "watermark",
            )
        },
        "federation": {
            "chain_id": client.chain_id,
            "federation_log": client.federations.address,
            "federation_id": federation_id,
            "final_round": last.server_round,
            "initial_global_hash": "0x" + result.initial_hash,
            "final_global_hash": "0x" + result.final_hash,
        },
        "partners": [to_checksum_address(p) for p in partners],
        "metrics": {
            "final": last.central,
            "rounds": [
                {"round": r.server_round, "train": r.train, "evaluate": r.evaluate, "central": r.central}
                for r in result.rounds
            ],
        },
        "weights": {"file": MODEL_FILE, "sha256": model_sha256, "format": "safetensors"},
        "watermark": None
        if digest is None or params is None
        else {"digest": _hex(digest), "params": asdict(params), "scheme": "commit-reveal (WatermarkRegistry)"},
    }


def release_model(
    client: ProvenetClient,
    coordinator: LocalAccount,
    result: RunResult,
    federation_id: int,
    release_dir: str | Path,
    *,
    config: FederationConfig,
    partners: Sequence[str],
    owner: LocalAccount | None = None,
) -> Release:
    """Export, register (with the provenance pointer) and, if watermarked, commit the watermark.

    Parameters
    ----------
    client : ProvenetClient
        Connection to the chain.
    coordinator : LocalAccount
        The federation's coordinator; the registry only lets it register a model of its federation.
    result : RunResult
        The finished run; its final global hash must be the final round's on chain.
    federation_id : int
        The federation that trained the model.
    release_dir : str or pathlib.Path
        Folder for the model, its metadata, the secret trigger set and salt, and ``release.json``.
    config : FederationConfig
        The run's settings (task description, watermark parameters).
    partners : Sequence[str]
        The partners' addresses (listed in the metadata).
    owner : LocalAccount, optional
        Who owns the released model; ownership is transferred to it and it commits the watermark.

    Raises
    ------
    ReleaseError
        If the final round is not on chain (yet) or records another global hash.
    """
    release_dir = Path(release_dir)
    release_dir.mkdir(parents=True, exist_ok=True)
    final_round = result.rounds[-1].server_round
    record = _round_records(client, federation_id).get(final_round)
    if record is None:
        head = client.federations.get(federation_id).last_round
        raise ReleaseError(
            f"round {final_round} of federation {federation_id} is not on chain (the chain is at round {head}); "
            "send the pending rounds with `provenet federation send` and release again"
        )
    if record["new_global_hash"].hex() != result.final_hash:
        raise ReleaseError(
            f"round {final_round} is on chain with global hash {_hex(record['new_global_hash'])}, but the run "
            f"ended with {result.final_hash}: this is not the model the federation recorded"
        )
    model_path = export_safetensors(result.final_arrays, release_dir / MODEL_FILE)
    model = weights_hash(model_path)
    digest, params, trigger_set = None, None, None
    if config.watermark:
        trigger_set = generate_trigger_set(config.watermark_seed, config.watermark_size)
        params = WatermarkParams(steps=config.watermark_steps, lr=config.watermark_lr)
        digest = watermark_digest(trigger_set, params)
    metadata = _metadata(result, config, client, federation_id, partners, model.hex(), digest, params)
    metadata_path = release_dir / METADATA_FILE
    metadata_path.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    metadata_hash = hashlib.sha256(metadata_path.read_bytes()).digest()
    metadata_uri = metadata_path.resolve().as_uri()

    receipt = client.models.register(
        coordinator,
        model,
        metadata_uri=metadata_uri,
        metadata_hash=metadata_hash,
        federation_id=federation_id,
        final_round=final_round,
    )
    register_tx = _tx(receipt)
    holder = coordinator
    if owner is not None and owner.address != coordinator.address:
        client.models.transfer_ownership(coordinator, model, owner.address)
        client.models.accept_ownership(owner, model)
        holder = owner

    release = Release(
        model_path=str(model_path),
        weights_hash=_hex(model),
        metadata_path=str(metadata_path),
        metadata_hash=_hex(metadata_hash),
        metadata_uri=metadata_uri,
        federation_id=federation_id,
        final_round=final_round,
        final_global_hash="0x" + result.final_hash,
        owner=holder.address,
        register_tx=register_tx,
    )
    if trigger_set is not None and digest is not None:
        trigger_path, _ = save_trigger_set(trigger_set, release_dir / "secret" / "trigger")
        os.chmod(trigger_path.parent, 0o700)
        salt = os.urandom(32)
        salt_path = release_dir / "secret" / "trigger.salt"
        _write_secret(salt_path, _hex(salt) + "\n")
        commitment = client.watermarks.compute_commitment(holder.address, model, digest, salt)
        commit_receipt = client.watermarks.commit(holder, model, commitment)
        release = Release(
            **{
                **asdict(release),
                "watermark_commitment": _hex(commitment),
                "watermark_digest": _hex(digest),
                "watermark_tx": _tx(commit_receipt),
                "trigger_set_path": str(trigger_path),
                "salt_path": str(salt_path),
            }
        )
    (release_dir / RELEASE_FILE).write_text(json.dumps(asdict(release), indent=2) + "\n", encoding="utf-8")
    return release


@dataclass(frozen=True)
class LineageCheck:
    """One recomputed claim about a model file: its name, whether it holds, and the evidence."""

    name: str
    passed: bool
    detail: str


@dataclass
class LineageReport:
    """Every check of :func:`verify_lineage`, in order."""

    model_file: str
    weights_hash: str
    checks: list[LineageCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return bool(self.checks) and all(check.passed for check in self.checks)

    def add(self, name: str, passed: bool, detail: str) -> None:
        self.checks.append(LineageCheck(name, passed, detail))

    def to_json(self) -> dict[str, Any]:
        return {
            "model_file": self.model_file,
            "weights_hash": self.weights_hash,
            "passed": self.passed,
            "checks": [asdict(check) for check in self.checks],
        }


def _initial_hash(client: ProvenetClient, federation_id: int) -> bytes | None:
    logs = client.federations.contract.events.FederationCreated().get_logs(
        from_block=client.deployment.deploy_block, argument_filters={"federationId": federation_id}
    )
    return bytes(logs[0]["args"]["initialGlobalHash"]) if logs else None


def _check_metadata(report: LineageReport, uri: str, expected: bytes) -> None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        report.add("metadata", True, f"not fetched ({uri or 'no URI'}); registered hash {_hex(expected)}")
        return
    path = Path(unquote(parsed.path))
    if not path.is_file():
        report.add("metadata", False, f"{path} (from the registered URI) is not readable here")
        return
    actual = hashlib.sha256(path.read_bytes()).digest()
    report.add(
        "metadata",
        actual == expected,
        f"{path}: SHA-256 {_hex(actual)}" + ("" if actual == expected else f", registered {_hex(expected)}"),
    )


def verify_lineage(model_file: str | Path, client: ProvenetClient) -> LineageReport:
    """Recompute, from the file and the chain alone, where a released model comes from.

    Checks, in order (a check whose input is missing fails and says why):

    1. ``registered``: the file's SHA-256 is registered, with a provenance pointer (federation, round);
    2. ``metadata``: a ``file://`` metadata URI's file has the registered metadata hash;
    3. ``final-global-hash``: the file, loaded back into an ``ArrayRecord`` in training order, has the
       ``newGlobalHash`` of the final round's ``RoundRecorded`` event;
    4. ``hash-chain``: rounds 1..final are each recorded once, round 1 builds on the federation's
       initial hash and each round on the previous one's new hash;
    5. ``attestations``: every attestation's EIP-712 signature recovers to its signer, who is (or was)
       a member, and it attests the round's previous global hash.
    """
    model_file = Path(model_file)
    model = weights_hash(model_file)
    report = LineageReport(str(model_file), _hex(model))
    try:
        record = client.models.get(model)
    except ModelRegistryUnknownModel:
        report.add("registered", False, f"weights hash {_hex(model)} of {model_file} is not registered")
        return report
    if record.federation_id == 0:
        report.add("registered", False, f"{_hex(model)} is registered by {record.owner} without a provenance pointer")
        return report
    federation_id, final_round = record.federation_id, record.final_round
    report.add(
        "registered",
        True,
        f"{_hex(model)} registered by owner {record.owner}, federation {federation_id}, final round {final_round}",
    )
    _check_metadata(report, record.metadata_uri, record.metadata_hash)

    records = client.federations.round_records(federation_id)
    by_round: dict[int, list[dict]] = {}
    for entry in records:
        by_round.setdefault(entry["round"], []).append(entry)
    final = by_round.get(final_round, [None])[0]
    try:
        loaded = load_safetensors_as_arrayrecord(model_file).object_id
    except Exception as error:  # a file that is not our format cannot be bridged; say why
        report.add("final-global-hash", False, f"{model_file} does not load as an ArrayRecord: {error}")
        loaded = None
    if loaded is not None:
        if final is None:
            report.add("final-global-hash", False, f"no RoundRecorded event for round {final_round}")
        else:
            matches = final["new_global_hash"].hex() == loaded
            report.add(
                "final-global-hash",
                matches,
                f"file loads as object_id 0x{loaded}; round {final_round} recorded "
                f"{_hex(final['new_global_hash'])} (tx {final['tx_hash']})",
            )

    problems: list[str] = []
    previous = _initial_hash(client, federation_id)
    for number in range(1, final_round + 1):
        entries = by_round.get(number, [])
        if len(entries) != 1:
            problems.append(f"round {number} is recorded {len(entries)} times")
            previous = entries[-1]["new_global_hash"] if entries else None
            continue
        entry = entries[0]
        if previous is not None and entry["previous_global_hash"] != previous:
            problems.append(f"round {number} builds on {_hex(entry['previous_global_hash'])}, not on {_hex(previous)}")
        previous = entry["new_global_hash"]
    report.add(
        "hash-chain",
        not problems,
        "; ".join(problems) if problems else f"rounds 1..{final_round} form one chain from the initial hash",
    )

    bad: list[str] = []
    statuses: dict[str, MemberStatus] = {}
    count = 0
    for number in range(1, final_round + 1):
        for entry in by_round.get(number, []):
            for attestation in entry["attestations"]:
                count += 1
                recovered = recover_attestation_signer(attestation, client.chain_id, client.federations.address)
                if recovered != attestation.signer:
                    bad.append(f"round {number}: signature names {attestation.signer}, recovers to {recovered}")
                    continue
                if attestation.previous_global_hash != entry["previous_global_hash"]:
                    bad.append(f"round {number}: {attestation.signer} attests another previous global hash")
                if attestation.signer not in statuses:
                    statuses[attestation.signer] = client.federations.member(federation_id, attestation.signer).status
                if statuses[attestation.signer] not in (MemberStatus.ACTIVE, MemberStatus.REMOVED):
                    bad.append(f"round {number}: {attestation.signer} was never a member")
    report.add(
        "attestations",
        not bad and count > 0,
        "; ".join(bad) if bad else f"{count} attestation(s) by {len(statuses)} member(s), every signature valid",
    )
    return report
