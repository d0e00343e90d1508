"""The audit report of one model: every statement with its evidence, a command to recompute it, and a check.

A statement is a dict::

    {"id": "round-3", "title": "...", "text": "...",
     "evidence": {"tx_hash": "0x…", "block_number": 12, "block_time": 1700000000, "block_time_utc": "…"},
     "commands": ["cast logs --address … --rpc-url …"],
     "check": {"status": "pass" | "fail" | "not-checked", "detail": "…"}}

What the node recomputes itself: the index against the chain (``getModel``, ``getMember``,
``checkLicenseById`` read live), the hash chain of the federation from round 1, every attestation's
EIP-712 signature (``client_sdk.signing.recover_attestation_signer``) and the signer's membership at that
block, the SHA-256 of published round metrics against ``metricsHash``, and the watermark commitment from its
revealed opening. A failed check marks the report as failed; the report never hides one.
"""

from __future__ import annotations

import datetime as dt
import shlex
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak

from client_sdk.client import ProvenetClient
from client_sdk.signing import recover_attestation_signer
from client_sdk.types import Attestation, LicenseReason
from node.metrics import canonical_json
from node.queries import Store

__all__ = ["build_audit", "utc"]

_MODEL_RECORD = "(address,uint64,uint32,uint64,uint64,bytes32,string,bytes32[])"
_ROUND_EVENT = (
    "RoundRecorded(uint64 indexed,uint64 indexed,bytes32,bytes32,bytes32,uint256,"
    "(address,bytes32,uint64,bytes32,bytes32)[])"
)
_FED_EVENT = "FederationCreated(uint64 indexed,address indexed,bytes32,bytes32,uint16)"
_COMMIT_TYPE = (
    "WatermarkCommitment(address owner,uint256 chainId,address registry,bytes32 model,bytes32 watermarkDigest,"
    "bytes32 salt)"
)
_STATUS_REASON = {
    "valid": LicenseReason.NONE,
    "expired": LicenseReason.EXPIRED,
    "revoked": LicenseReason.REVOKED,
    "suspended": LicenseReason.SUSPENDED,
    "parent-invalid": LicenseReason.PARENT_INVALID,
}


def utc(timestamp: int) -> str:
    return dt.datetime.fromtimestamp(int(timestamp), dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _evidence(evidence: dict[str, Any]) -> dict[str, Any]:
    return dict(evidence, block_time_utc=utc(evidence["block_time"]))


def _check(status: str, detail: str) -> dict[str, str]:
    return {"status": status, "detail": detail}


class _Commands:
    """Shell commands a third party runs with Foundry's ``cast`` and coreutils."""

    def __init__(self, rpc_url: str, contracts: dict[str, str]) -> None:
        self.rpc = shlex.quote(rpc_url)
        self.c = contracts

    def call(self, contract: str, signature: str, *args: Any) -> str:
        joined = " ".join(shlex.quote(str(a)) for a in args)
        return f"cast call {self.c[contract]} {shlex.quote(signature)} {joined} --rpc-url {self.rpc}"

    def logs(self, contract: str, block: int, event: str, *topics: Any) -> str:
        joined = " ".join(str(t) for t in topics)
        return (
            f"cast logs --address {self.c[contract]} --from-block {block} --to-block {block} "
            f"{shlex.quote(event)} {joined} --rpc-url {self.rpc}".replace("  ", " ")
        )

    def receipt(self, tx_hash: str) -> str:
        return f"cast receipt {tx_hash} --rpc-url {self.rpc}"

    def block_time(self, block: int) -> str:
        return f"cast block {block} --field timestamp --rpc-url {self.rpc}"


def _chain_read(read: Any) -> tuple[Any, str | None]:
    try:
        return read(), None
    except Exception as error:  # the chain may be unreachable: the check is then not made, visibly
        return None, f"{type(error).__name__}: {error}"


def build_audit(store: Store, client: ProvenetClient, model: str, *, public_rpc_url: str, now: int) -> dict[str, Any]:
    """The audit report of ``model`` (0x-hex weights hash) as JSON-ready dicts; ``None`` fields when unknown."""
    record = store.model(model)
    if record is None:
        raise KeyError(model)
    deployment = client.deployment
    cmd = _Commands(public_rpc_url, deployment.contracts)
    sections: list[dict[str, Any]] = []

    # -- registration ----------------------------------------------------------------------------
    chain_model, error = _chain_read(lambda: client.models.get(model))
    if chain_model is None:
        reg_check = _check("not-checked", f"the chain could not be read: {error}")
    else:
        mismatches = []
        if chain_model.owner != record["owner"]:
            mismatches.append(f"owner on chain {chain_model.owner}, indexed {record['owner']}")
        if ["0x" + p.hex() for p in chain_model.parents] != [p["parent"] for p in record["parents"]]:
            mismatches.append("parents differ")
        if (chain_model.federation_id, chain_model.final_round) != (record["federation_id"], record["final_round"]):
            mismatches.append("provenance pointer differs")
        reg_check = (
            _check("fail", "; ".join(mismatches))
            if mismatches
            else _check("pass", "the chain's getModel agrees with the index (owner, parents, provenance pointer)")
        )
    registration = [
        {
            "id": "registration",
            "title": "Registration of the weights hash",
            "text": (
                f"The weights hash {model} was registered by {record['registered_owner']}"
                f" at {utc(record['block_time'])}; the first registration of a hash wins, so this is priority "
                f"evidence. Current owner: {record['owner']}. Metadata: {record['metadata_uri'] or '(none)'} "
                f"(hash {record['metadata_hash']})."
            ),
            "evidence": _evidence(record["evidence"]),
            "commands": [
                f"sha256sum model.safetensors   # expect {model[2:]}",
                cmd.call("ModelRegistry", f"getModel(bytes32)({_MODEL_RECORD})", model),
                cmd.receipt(record["tx_hash"]),
                cmd.block_time(record["block_number"]),
            ],
            "check": reg_check,
        }
    ]
    for transfer in record["transfers"]:
        registration.append(
            {
                "id": f"ownership-{transfer['block_number']}-{transfer['log_index']}",
                "title": "Ownership transfer " + ("started" if transfer["kind"] == "started" else "completed"),
                "text": f"{transfer['from_account']} → {transfer['to_account']} ({transfer['kind']}).",
                "evidence": _evidence(transfer["evidence"]),
                "commands": [cmd.receipt(transfer["tx_hash"])],
                "check": _check("not-checked", "an event fact; see the receipt"),
            }
        )
    sections.append({"id": "registration", "title": "Registration", "statements": registration})

    # -- lineage ---------------------------------------------------------------------------------
    lineage = []
    for parent in record["parents"]:
        parent_record = store.model(parent["parent"])
        lineage.append(
            {
                "id": f"parent-{parent['position']}",
                "title": f"Derived from {parent['parent'][:10]}…",
                "text": (
                    f"The model declares parent {parent['parent']}"
                    + (f", owned by {parent_record['owner']}" if parent_record else "")
                    + ". The registry checked at registration that the registrant owned the parent or held a "
                    "licence granting DERIVATIVE."
                ),
                "evidence": _evidence(record["evidence"]),
                "commands": [cmd.call("ModelRegistry", f"getModel(bytes32)({_MODEL_RECORD})", parent["parent"])],
                "check": _check("pass", "the parent is registered")
                if parent_record
                else _check("fail", "the parent is not in the index"),
            }
        )
    if not lineage:
        lineage.append(
            {
                "id": "no-parents",
                "title": "No declared parents",
                "text": "The model was registered without parent models.",
                "evidence": _evidence(record["evidence"]),
                "commands": [cmd.call("ModelRegistry", f"getModel(bytes32)({_MODEL_RECORD})", model)],
                "check": reg_check,
            }
        )
    sections.append({"id": "lineage", "title": "Lineage", "statements": lineage})

    # -- federation provenance -------------------------------------------------------------------
    federation_id = int(record["federation_id"])
    if federation_id:
        sections.append(_federation_section(store, client, cmd, record, federation_id))

    # -- licences --------------------------------------------------------------------------------
    sections.append(_license_section(store, client, cmd, model, now))

    # -- watermark -------------------------------------------------------------------------------
    sections.append(_watermark_section(store, client, cmd, model))

    statements = [s for section in sections for s in section["statements"]]
    failed = [s["id"] for s in statements if s["check"]["status"] == "fail"]
    passed = sum(1 for s in statements if s["check"]["status"] == "pass")
    cursor, cursor_time = store.cursor()
    return {
        "model": model,
        "owner": record["owner"],
        "chain_id": deployment.chain_id,
        "rpc_url": public_rpc_url,
        "contracts": dict(deployment.contracts),
        "indexed_to_block": cursor,
        "indexed_to_time_utc": utc(cursor_time) if cursor_time else None,
        "generated_at_chain_time": now,
        "generated_at_chain_time_utc": utc(now),
        "summary": {
            "verdict": "fail" if failed else "pass",
            "checks_passed": passed,
            "checks_failed": len(failed),
            "failed": failed,
            "statements": len(statements),
        },
        "sections": sections,
    }


def _federation_section(
    store: Store, client: ProvenetClient, cmd: _Commands, record: dict[str, Any], federation_id: int
) -> dict[str, Any]:
    statements: list[dict[str, Any]] = []
    federation = store.federation(federation_id)
    if federation is None:
        statements.append(
            {
                "id": "federation",
                "title": f"Federation {federation_id}",
                "text": f"The model points at federation {federation_id}, which is not in the index.",
                "evidence": _evidence(record["evidence"]),
                "commands": [],
                "check": _check("fail", "unknown federation"),
            }
        )
        return {"id": "federation", "title": "Federated training", "statements": statements}
    statements.append(
        {
            "id": "federation",
            "title": f"Federation {federation_id} created",
            "text": (
                f"Coordinator {federation['coordinator']} created federation {federation_id} with initial global "
                f"hash {federation['initial_global_hash']} and a quorum of {federation['min_signers']} signers. "
                f"The model's provenance pointer names round {record['final_round']}."
            ),
            "evidence": _evidence(federation["evidence"]),
            "commands": [cmd.logs("FederationLog", federation["block_number"], _FED_EVENT, federation_id)],
            "check": _check("pass", f"round {record['final_round']} is recorded")
            if store.round(federation_id, int(record["final_round"]))
            else _check("fail", f"round {record['final_round']} is not recorded"),
        }
    )
    fed_log = client.deployment.address("FederationLog")
    rounds, _ = store.rounds(federation_id, limit=100000, offset=0)
    expected_previous = federation["initial_global_hash"]
    for position, round_record in enumerate(rounds, start=1):
        number = round_record["round"]
        problems = []
        if number != position:
            problems.append(f"round {number} where round {position} was expected (gap)")
        if round_record["previous_global_hash"] != expected_previous:
            problems.append(
                f"previous global hash {round_record['previous_global_hash']} does not continue {expected_previous}"
            )
        signers = []
        for item in round_record["attestations"]:
            attestation = Attestation(
                signer=item["signer"],
                federation_id=federation_id,
                round=number,
                previous_global_hash=bytes.fromhex(round_record["previous_global_hash"][2:]),
                update_hash=bytes.fromhex(item["update_hash"][2:]),
                num_examples=int(item["num_examples"]),
                r=bytes.fromhex(item["r"][2:]),
                vs=bytes.fromhex(item["vs"][2:]),
            )
            recovered = recover_attestation_signer(attestation, client.chain_id, fed_log)
            if recovered != item["signer"]:
                problems.append(f"attestation of {item['signer']} recovers to {recovered}")
            elif not store.is_member_at(federation_id, item["signer"], round_record["block_number"]):
                problems.append(f"{item['signer']} was not an active member at block {round_record['block_number']}")
            signers.append(item["signer"])
        metrics = round_record["metrics"]
        if metrics is not None and not metrics["verified"]:
            problems.append(f"published metrics hash {metrics['sha256']} differs from {round_record['metrics_hash']}")
        checked = [
            "hash chain continues",
            f"{len(signers)} attestation signature(s) recover to active members",
        ] + (["metrics SHA-256 equals metricsHash"] if metrics is not None else [])
        statements.append(
            {
                "id": f"round-{number}",
                "title": f"Round {number}",
                "text": (
                    f"Round {number} moved the global model from {round_record['previous_global_hash']} to "
                    f"{round_record['new_global_hash']} on {round_record['examples']} examples, attested by "
                    + ", ".join(
                        f"{a['signer']} ({a['num_examples']} examples, update {a['update_hash']})"
                        for a in round_record["attestations"]
                    )
                    + f". Metrics hash {round_record['metrics_hash']}."
                ),
                "evidence": _evidence(round_record["evidence"]),
                "commands": [
                    cmd.logs("FederationLog", round_record["block_number"], _ROUND_EVENT, federation_id, number)
                ]
                + (
                    [f"printf '%s' {shlex.quote(canonical_json(metrics['document']).decode())} | sha256sum"]
                    if metrics is not None
                    else []
                ),
                "check": _check("fail", "; ".join(problems)) if problems else _check("pass", "; ".join(checked)),
            }
        )
        expected_previous = round_record["new_global_hash"]

    for member in federation["members"]:
        chain_member, error = _chain_read(lambda m=member: client.federations.member(federation_id, m["member"]))
        if chain_member is None:
            member_check = _check("not-checked", f"the chain could not be read: {error}")
        elif (chain_member.rounds, chain_member.examples) == (member["rounds"], member["examples"]):
            member_check = _check("pass", "getMember's counters equal the sum over the recorded attestations")
        else:
            member_check = _check(
                "fail",
                f"chain counts {chain_member.rounds} rounds / {chain_member.examples} examples, "
                f"attestations sum to {member['rounds']} / {member['examples']}",
            )
        last = member["history"][-1]["evidence"] if member["history"] else federation["evidence"]
        statements.append(
            {
                "id": f"member-{member['member']}",
                "title": f"Contribution of {member['member'][:10]}…",
                "text": (
                    f"Member {member['member']} ({member['status']}) attested {member['rounds']} round(s) with "
                    f"{member['examples']} examples in total."
                ),
                "evidence": _evidence(last),
                "commands": [
                    cmd.call(
                        "FederationLog",
                        "getMember(uint64,address)((uint8,uint64,uint128))",
                        federation_id,
                        member["member"],
                    )
                ],
                "check": member_check,
            }
        )
    return {"id": "federation", "title": "Federated training", "statements": statements}


def _license_section(store: Store, client: ProvenetClient, cmd: _Commands, model: str, now: int) -> dict[str, Any]:
    statements: list[dict[str, Any]] = []
    licenses, _ = store.licenses_for_model(model, now, limit=100000, offset=0)
    for lic in licenses:
        scope = int(lic["scope"])
        chain, error = _chain_read(
            lambda lic=lic, scope=scope: client.licenses.contract.functions.checkLicenseById(
                lic["license_id"], lic["holder"], scope
            ).call()
        )
        expected = _STATUS_REASON.get(lic["status"])
        if chain is None:
            check = _check("not-checked", f"the chain could not be read: {error}")
        elif expected is not None and int(chain[1]) == int(expected):
            check = _check("pass", f"checkLicenseById answers {LicenseReason(int(chain[1])).name.lower()}")
        else:
            check = _check(
                "fail", f"index says {lic['status']}, chain answers {LicenseReason(int(chain[1])).name.lower()}"
            )
        expiry = "perpetual" if not lic["expiry"] else f"until {utc(lic['expiry'])}"
        history = "; ".join(f"{e['kind']} at block {e['block_number']} (tx {e['tx_hash']})" for e in lic["history"])
        statements.append(
            {
                "id": f"licence-{lic['license_id']}",
                "title": f"Licence #{lic['license_id']}: {lic['status']}",
                "text": (
                    f"Licence #{lic['license_id']} grants {', '.join(lic['scope_names'])} to {lic['holder']}, {expiry}"
                    + (f", as a sublicence of #{lic['parent_id']}" if lic["parent_id"] else "")
                    + f". Legal text {lic['legal_uri'] or '(none)'} (hash {lic['legal_hash']}). History: {history}."
                ),
                "evidence": _evidence(lic["evidence"]),
                "commands": [
                    cmd.call(
                        "LicenseRegistry",
                        "checkLicenseById(uint256,address,uint8)(bool,uint8)",
                        lic["license_id"],
                        lic["holder"],
                        scope,
                    ),
                    cmd.receipt(lic["tx_hash"]),
                ],
                "check": check,
            }
        )
    if not statements:
        statements.append(
            {
                "id": "no-licences",
                "title": "No licences",
                "text": "No licence has been issued for this model.",
                "evidence": None,
                "commands": [],
                "check": _check("not-checked", "nothing to check"),
            }
        )
    return {"id": "licences", "title": "Licences", "statements": statements}


def _watermark_section(store: Store, client: ProvenetClient, cmd: _Commands, model: str) -> dict[str, Any]:
    statements: list[dict[str, Any]] = []
    registry = client.deployment.address("WatermarkRegistry")
    for watermark in store.watermarks_for_model(model):
        statements.append(
            {
                "id": f"commitment-{watermark['commitment'][:10]}",
                "title": "Watermark committed",
                "text": f"{watermark['owner']} committed to watermark {watermark['commitment']} for this model.",
                "evidence": _evidence(watermark["evidence"]),
                "commands": [
                    cmd.call(
                        "WatermarkRegistry",
                        "getCommitment(bytes32)((bytes32,address,uint64,uint64,bytes32))",
                        watermark["commitment"],
                    )
                ],
                "check": _check("pass", "the commitment is recorded for this model"),
            }
        )
        reveal = watermark["reveal"]
        if reveal is not None:
            computed = (
                "0x"
                + keccak(
                    abi_encode(
                        ["bytes32", "address", "uint256", "address", "bytes32", "bytes32", "bytes32"],
                        [
                            keccak(text=_COMMIT_TYPE),
                            watermark["owner"],
                            client.chain_id,
                            registry,
                            bytes.fromhex(model[2:]),
                            bytes.fromhex(reveal["watermark_digest"][2:]),
                            bytes.fromhex(reveal["salt"][2:]),
                        ],
                    )
                ).hex()
            )
            recompute = (
                "cast keccak $(cast abi-encode 'f(bytes32,address,uint256,address,bytes32,bytes32,bytes32)' "
                f"$(cast keccak {shlex.quote(_COMMIT_TYPE)}) {watermark['owner']} {client.chain_id} {registry} "
                f"{model} {reveal['watermark_digest']} {reveal['salt']})"
            )
            statements.append(
                {
                    "id": f"reveal-{watermark['commitment'][:10]}",
                    "title": "Watermark revealed",
                    "text": (
                        f"The commitment was opened with watermark digest {reveal['watermark_digest']} and salt "
                        f"{reveal['salt']}."
                    ),
                    "evidence": _evidence(reveal["evidence"]),
                    "commands": [recompute],
                    "check": _check("pass", "keccak of the opening equals the commitment")
                    if computed == watermark["commitment"]
                    else _check("fail", f"the opening hashes to {computed}, not {watermark['commitment']}"),
                }
            )
        for claim in watermark["claims"]:
            statements.append(
                {
                    "id": f"claim-{claim['claim_id']}",
                    "title": f"Ownership claim #{claim['claim_id']}",
                    "text": (
                        f"{claim['claimant']} claimed ownership of suspect model {claim['suspect_hash']} on the "
                        f"strength of this watermark; evidence {claim['evidence_uri']} (hash {claim['evidence_hash']})."
                    ),
                    "evidence": _evidence(claim["evidence"]),
                    "commands": [
                        cmd.call(
                            "WatermarkRegistry",
                            "getClaim(uint256)((bytes32,bytes32,bytes32,address,uint64))",
                            claim["claim_id"],
                        ),
                        f"sha256sum evidence-file   # expect {claim['evidence_hash'][2:]}",
                    ],
                    "check": _check("pass", "the claim was filed by the committer after the reveal")
                    if claim["claimant"] == watermark["owner"] and reveal is not None
                    else _check("fail", "the claimant is not the committer or the commitment was not revealed"),
                }
            )
    if not statements:
        statements.append(
            {
                "id": "no-watermark",
                "title": "No watermark",
                "text": "No watermark commitment is recorded for this model.",
                "evidence": None,
                "commands": [],
                "check": _check("not-checked", "nothing to check"),
            }
        )
    return {"id": "watermark", "title": "Watermark", "statements": statements}
